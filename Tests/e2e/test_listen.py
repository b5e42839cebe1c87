"""Where swiftlet listens: several --listen addresses at once, Unix domain
sockets (mode, stale files, removal at shutdown), systemd socket activation
and sd_notify readiness."""
import json
import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time

import pytest

from conftest import BINARY, Server, curl


def curl_unix(path, url_path, *args, http2=True):
    return curl("--unix-socket", str(path), "-o", "/dev/null", "-w", "%{http_code} %{http_version}", *args,
                "http://localhost" + url_path, http2=http2)


def run_swiftlet(*args, timeout=20):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=timeout)


def test_several_addresses_at_once(site, tmp_path):
    path = tmp_path / "s.sock"
    server = Server(site, "--listen", "127.0.0.1:0", "--listen", "unix:" + str(path), "--listen", "[::1]:0",
                    "--loops", "2", listeners=3)
    try:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", server.addresses[0]), server.addresses
        assert server.addresses[1] == "unix:" + str(path)
        assert re.fullmatch(r"http://\[::1\]:\d+", server.addresses[2]), server.addresses
        for address in (server.addresses[0], server.addresses[2]):
            result = curl("-o", "/dev/null", "-w", "%{http_code}", address + "/style.css")
            assert result.stdout == b"200", (address, result.stderr)
        # Both loops accept from the one Unix socket; h2c and HTTP/1.1 alike.
        for _ in range(8):
            assert curl_unix(path, "/style.css").stdout == b"200 2"
            assert curl_unix(path, "/style.css", http2=False).stdout == b"200 1.1"
    finally:
        assert server.stop() == 0
    assert not path.exists(), "the socket file is removed at shutdown"


def test_unix_socket_client_is_logged_as_unix(site, tmp_path):
    path, log = tmp_path / "s.sock", tmp_path / "access.log"
    server = Server(site, "--listen", "unix:" + str(path), "--access-log", str(log), "--access-log-format", "json")
    try:
        assert curl_unix(path, "/style.css").stdout == b"200 2"
    finally:
        server.stop()
    assert json.loads(log.read_text().splitlines()[0])["remote"] == "unix"


def test_unix_socket_mode(site, tmp_path):
    path = tmp_path / "s.sock"
    server = Server(site, "--listen", "unix:" + str(path), "--unix-socket-mode", "600")
    try:
        mode = os.stat(path).st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600, oct(mode)
    finally:
        server.stop()


def test_stale_socket_file_is_replaced(site, tmp_path):
    path = tmp_path / "s.sock"
    first = Server(site, "--listen", "unix:" + str(path))
    first.stop(signal.SIGKILL)
    assert stat.S_ISSOCK(os.stat(path).st_mode), "a killed server leaves its socket file"
    second = Server(site, "--listen", "unix:" + str(path))
    try:
        assert curl_unix(path, "/style.css").stdout == b"200 2"
    finally:
        second.stop()


def test_live_socket_is_not_taken_over(site, tmp_path):
    path = tmp_path / "s.sock"
    first = Server(site, "--listen", "unix:" + str(path))
    try:
        result = run_swiftlet("--listen", "unix:" + str(path), str(site))
        assert result.returncode == 1
        assert "'%s' is a socket another process is accepting on" % path in result.stderr, result.stderr
        assert curl_unix(path, "/style.css").stdout == b"200 2", "the first server still serves"
    finally:
        first.stop()


def test_a_file_that_is_not_a_socket_is_never_removed(site, tmp_path):
    path = tmp_path / "precious.txt"
    path.write_text("keep me")
    result = run_swiftlet("--listen", "unix:" + str(path), str(site))
    assert result.returncode == 1
    assert "'%s' exists and is not a socket (not removed)" % path in result.stderr, result.stderr
    assert path.read_text() == "keep me"


def test_a_replaced_socket_file_is_left_to_its_new_owner(site, tmp_path):
    """A rolling restart on a Unix socket: the old server stops accepting and
    its file goes at once; the new one binds the path while the old drains,
    and the old one's exit leaves the new file alone."""
    path = tmp_path / "s.sock"
    old = Server(site, "--listen", "unix:" + str(path), "--graceful-timeout", "5s")
    # A response in flight (8 MiB read slowly) keeps the old server draining.
    held = socket.socket(socket.AF_UNIX)
    held.connect(str(path))
    held.sendall(b"GET /large.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    received = held.recv(4096)
    assert received.startswith(b"HTTP/1.1 200")
    old.process.send_signal(signal.SIGTERM)
    deadline = time.time() + 10
    while path.exists() and time.time() < deadline:
        time.sleep(0.01)
    assert not path.exists(), "the draining server gave the path up"
    new = Server(site, "--listen", "unix:" + str(path))
    try:
        assert curl_unix(path, "/style.css").stdout == b"200 2", "the new server serves the path"
        while chunk := held.recv(1 << 16):
            received += chunk
        held.close()
        assert len(received) - received.index(b"\r\n\r\n") - 4 == 8 << 20, "the old server finished its response"
        assert old.stop() == 0
        assert path.exists() and curl_unix(path, "/style.css").stdout == b"200 2"
    finally:
        new.stop()


@pytest.mark.parametrize("text,message", [
    ("foo", "--listen: 'foo' is not HOST:PORT, [IPV6]:PORT, unix:PATH or systemd"),
    ("127.0.0.1:99999", "--listen: 99999 is out of range"),
    ("unix:", "--listen: 'unix:': the Unix socket path must be 1 to 107 bytes"),
    ("unix:/" + "x" * 120, "the Unix socket path must be 1 to 107 bytes"),
])
def test_bad_listen_flag_names_the_flag(site, text, message):
    result = run_swiftlet("--listen", text, str(site))
    assert result.returncode == 64
    assert message in result.stderr, result.stderr


def test_listen_and_host_cannot_be_combined(site):
    result = run_swiftlet("--listen", "127.0.0.1:0", "--port", "0", str(site))
    assert result.returncode == 64
    assert "--listen replaces --host and --port" in result.stderr, result.stderr


def test_unix_socket_mode_without_a_unix_socket(site):
    result = run_swiftlet("--unix-socket-mode", "600", str(site))
    assert result.returncode == 64
    assert "--unix-socket-mode applies to --listen unix:PATH addresses, and none is given" in result.stderr


# MARK: systemd

# Run in the child: moves the passed sockets to descriptors 3, 4, …, sets
# LISTEN_PID to its own pid (exec keeps it) and LISTEN_FDS, then execs.
ACTIVATE = """
import fcntl, os, sys
count = int(sys.argv[1])
fds = [int(fd) for fd in sys.argv[2:2 + count]]
high = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]
for fd in fds:
    os.close(fd)
for index, fd in enumerate(high):
    os.dup2(fd, 3 + index)
    os.close(fd)
os.environ["LISTEN_PID"] = str(os.getpid())
os.environ["LISTEN_FDS"] = str(count)
os.execv(sys.argv[2 + count], sys.argv[2 + count:])
"""


def activated(site, sockets, notify_path, *args, listeners=1):
    """Starts swiftlet as systemd would: the sockets as descriptors 3, 4, …,
    LISTEN_PID and LISTEN_FDS set for it, NOTIFY_SOCKET to `notify_path`."""
    fds = [sock.fileno() for sock in sockets]
    prefix = (sys.executable, "-c", ACTIVATE, str(len(fds)), *map(str, fds))
    env = dict(os.environ, NOTIFY_SOCKET=str(notify_path))
    return Server(site, "--listen", "systemd", *args, prefix=prefix, env=env, listeners=listeners, pass_fds=tuple(fds))


def test_systemd_socket_activation_and_notify(site, tmp_path):
    tcp = socket.socket()
    tcp.bind(("127.0.0.1", 0))
    tcp.listen(16)
    unix_path = tmp_path / "activated.sock"
    unix = socket.socket(socket.AF_UNIX)
    unix.bind(str(unix_path))
    unix.listen(16)
    notify_path = tmp_path / "notify"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    notify.settimeout(10)
    server = activated(site, [tcp, unix], notify_path, "--loops", "2", listeners=2)
    try:
        port = tcp.getsockname()[1]
        assert server.addresses == ["http://127.0.0.1:%d" % port, "unix:" + str(unix_path)]
        ready = notify.recv(4096).decode().split("\n")
        assert "READY=1" in ready and "MAINPID=%d" % server.process.pid in ready, ready
        result = curl("-o", "/dev/null", "-w", "%{http_code}", "http://127.0.0.1:%d/style.css" % port)
        assert result.stdout == b"200", result.stderr
        assert curl_unix(unix_path, "/style.css").stdout == b"200 2"
        server.process.send_signal(signal.SIGTERM)
        assert notify.recv(4096) == b"STOPPING=1"
        assert server.stop() == 0
        assert unix_path.exists(), "a socket systemd made is systemd's to remove"
        # systemd still holds the sockets: a connection made now waits for
        # the next instance instead of being refused.
        waiting = socket.create_connection(("127.0.0.1", port), timeout=5)
        waiting.close()
    finally:
        for sock in (tcp, unix, notify):
            sock.close()


def test_systemd_without_sockets_says_so(site):
    env = {key: value for key, value in os.environ.items() if not key.startswith("LISTEN_")}
    result = subprocess.run([BINARY, "--listen", "systemd", str(site)], capture_output=True, text=True, env=env, timeout=20)
    assert result.returncode == 1
    assert "systemd socket activation: no sockets were passed" in result.stderr, result.stderr
