"""End-to-end tests: the real `swiftlet` binary and real clients.

SWIFTLET_BIN names the binary (make test-e2e sets it to the release build).
SWIFTLET_IO, when set (uring or epoll), is passed as --io to every server a
test starts without an --io of its own, so the whole suite can run on each
backend (make test-e2e-epoll). SWIFTLET_LOOPS likewise sets --loops (the
ThreadSanitizer run serves with two loops).
Each server is started on port 0; the port is read from its start-up line.
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import time

import pytest

BINARY = os.environ.get("SWIFTLET_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", ".build", "release", "swiftlet")
LISTENING = re.compile(r"listening on (https?)://([^ ]+):(\d+) \(")
LISTENING_ANY = re.compile(r"listening on (\S+) \(")


class ExampleServer:
    """A running example server (swiftlet-grpc-echo, swiftlet-websocket-echo):
    port 0, SWIFTLET_IO's backend as --io; `scheme` and `port` come from its
    start-up line, which ends with the backend it runs on, checked here.
    `swiftlet=False` is for a peer's server that has no backends (grpc-swift's
    grpc-nio-echo)."""

    def __init__(self, binary, *args, swiftlet=True):
        io = ["--io", os.environ["SWIFTLET_IO"]] if os.environ.get("SWIFTLET_IO") and swiftlet else []
        self.process = subprocess.Popen([binary, "--port", "0", *io, *args], stderr=subprocess.PIPE, text=True)
        seen = ""
        for line in self.process.stderr:  # a log line may come first
            seen += line
            match = re.search(r"listening on (https?)://127\.0\.0\.1:(\d+)", line)
            if match:
                self.scheme, self.port = match.group(1), int(match.group(2))
                wanted = {"uring": "(io_uring)", "epoll": "(epoll)"}.get(os.environ.get("SWIFTLET_IO", ""))
                assert not swiftlet or wanted is None or line.rstrip().endswith(wanted), line
                return
        self.process.kill()
        raise RuntimeError("%s did not start: %s" % (os.path.basename(binary), seen))

    def stop(self):
        """Stops it with SIGTERM and returns its exit status."""
        self.process.terminate()
        return self.process.wait(timeout=15)


class Server:
    """A running swiftlet process. Without --listen among the arguments it
    listens on 127.0.0.1, port 0; `listeners` is how many "listening on"
    lines to wait for (one per address), collected in `addresses`."""

    def __init__(self, root, *args, env=None, prefix=(), listeners=1, pass_fds=()):
        self.root = root
        args = list(args)
        if os.environ.get("SWIFTLET_IO") and "--io" not in args:
            args = ["--io", os.environ["SWIFTLET_IO"], *args]
        if os.environ.get("SWIFTLET_LOOPS") and "--loops" not in args:
            args = ["--loops", os.environ["SWIFTLET_LOOPS"], *args]
        self.args = args
        address = [] if "--listen" in args else ["--host", "127.0.0.1", "--port", "0"]
        self.process = subprocess.Popen(
            [*prefix, BINARY, *address, *args, str(root)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, pass_fds=pass_fds)
        self.startup = ""
        self.addresses = []
        self.port = None
        deadline = time.time() + 20
        while time.time() < deadline:
            line = self.process.stderr.readline()
            if not line:
                break
            self.startup += line
            match = LISTENING.search(line)
            if match and self.port is None:
                self.scheme, self.host, self.port = match.group(1), match.group(2), int(match.group(3))
            match = LISTENING_ANY.search(line)
            if match:
                self.addresses.append(match.group(1))
                if len(self.addresses) == listeners:
                    return
        self.process.kill()
        raise RuntimeError("swiftlet did not start: " + self.startup + (self.process.stderr.read() or ""))

    @property
    def url(self):
        return "%s://127.0.0.1:%d" % (self.scheme, self.port)

    def stop(self, sig=signal.SIGTERM, timeout=15):
        if self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def cpu_seconds(self):
        """User + system CPU time of the whole process (every thread) so far."""
        with open("/proc/%d/stat" % self.process.pid) as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def anonymous_memory(self):
        """Anonymous resident memory in bytes (RssAnon)."""
        with open("/proc/%d/status" % self.process.pid) as status:
            for line in status:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1]) * 1024
        return 0

    def open_fds(self):
        return len(os.listdir("/proc/%d/fd" % self.process.pid))

    def logs(self):
        return self.process.stderr.read() if self.process.poll() is not None else ""


@pytest.fixture
def site(tmp_path):
    """A document root with the files the tests use."""
    root = tmp_path / "site"
    root.mkdir()
    (root / "index.html").write_text("<!doctype html><title>home</title><p>home</p>\n")
    (root / "style.css").write_text("body { color: black }\n")
    (root / "app.js").write_text("console.log('hi')\n")
    (root / "data.json").write_text('{"a": 1}\n')
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    (root / "notes.unknownext").write_bytes(b"x")
    (root / "small.bin").write_bytes(os.urandom(1024))
    (root / "large.bin").write_bytes(os.urandom(8 << 20))
    (root / "docs").mkdir()
    (root / "docs" / "index.html").write_text("<p>docs</p>\n")
    (root / "empty").mkdir()
    (root / "text.txt").write_text("hello text\n" * 100)
    (root / "text.txt.gz").write_bytes(b"GZIPPED-CONTENT")
    (root / "text.txt.br").write_bytes(b"BROTLI-CONTENT")
    (root / "a b.txt").write_text("space\n")
    return root


@pytest.fixture
def server(site):
    servers = []

    def start(*args, root=None):
        server = Server(root or site, *args)
        servers.append(server)
        return server

    start.default = None
    yield start
    for server in servers:
        if server.process.poll() is None:
            server.stop()


@pytest.fixture
def running(server):
    """One server with default flags."""
    return server()


def require(tool):
    if shutil.which(tool) is None:
        pytest.fail("%s is not installed (make deps installs it)" % tool)


def curl(*args, http2=True):
    require("curl")
    command = ["curl", "-s", "--max-time", "20"]
    if http2:
        command.append("--http2-prior-knowledge")
    result = subprocess.run(command + list(args), capture_output=True)
    return result


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def evict(path):
    """Drops a file's pages from the page cache (written back first)."""
    fd = os.open(str(path), os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
