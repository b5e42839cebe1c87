"""The swiftlet command line: start-up line, --help, --version, flag validation."""
import re
import subprocess

import pytest

from conftest import BINARY, Server


def run(*args):
    return subprocess.run([BINARY, *args], capture_output=True, text=True, timeout=20)


def test_startup_line(site):
    server = Server(site)
    try:
        line = server.startup.strip().splitlines()[-1]
        assert re.fullmatch(r"swiftlet \d+\.\d+\.\d+ listening on http://127\.0\.0\.1:\d+ "
                            r"\(h2c, http/1\.1; (io_uring|epoll); 1 loop\)", line), line
        assert server.port != 0, "--port 0 reports the real port"
    finally:
        assert server.stop() == 0


@pytest.mark.parametrize("io,name", [("uring", "io_uring"), ("epoll", "epoll")])
def test_startup_line_names_backend_and_loops(site, io, name):
    server = Server(site, "--io", io, "--loops", "2")
    try:
        assert "; %s; 2 loops)" % name in server.startup
    finally:
        server.stop()


def test_version():
    result = run("--version")
    assert result.returncode == 0 and re.fullmatch(r"\d+\.\d+\.\d+\n", result.stdout)


def test_help_groups_flags_with_defaults_and_ranges():
    result = run("--help")
    assert result.returncode == 0
    for group in ["LISTENING:", "HTTP/2:", "FLOOD AND ABUSE LIMITS:", "TIMEOUTS:", "FILES:", "LOGGING:"]:
        assert group in result.stdout.upper()
    assert "--max-concurrent-streams" in result.stdout and "1...10000" in result.stdout and "(default: 100)" in result.stdout



def test_help_shows_each_default_once():
    """Our help texts state defaults the parser cannot show (transformed
    values); it adds its own for the rest: never both."""
    result = run("--help")
    options = re.split(r"\n  (?=-)", result.stdout)
    repeated = [option.split()[0] for option in options if option.count("default:") > 1]
    assert repeated == [], repeated
@pytest.mark.parametrize("flag,value,message", [
    ("--port", "70000", "--port: 70000 is out of range (allowed: 0...65535)"),
    ("--port", "abc", "--port: 'abc' is not a whole number (allowed: 0...65535)"),
    ("--loops", "0", "--loops: 0 is out of range (allowed: 1...256)"),
    ("--max-concurrent-streams", "0", "--max-concurrent-streams: 0 is out of range (allowed: 1...10000)"),
    ("--initial-window-size", "3G", "--initial-window-size: 3G is out of range (allowed: 0...2147483647)"),
    ("--connection-window-size", "1K", "--connection-window-size: 1K is out of range (allowed: 65535...2147483647)"),
    ("--stream-window-size", "x", "--stream-window-size: 'x' is not a size like 65536, 64K, 16M or 1G"),
    ("--max-frame-size", "1000", "--max-frame-size: 1000 is out of range (allowed: 16K...1M)"),
    ("--header-table-size", "1M", "--header-table-size: 1M is out of range (allowed: 0...64K)"),
    ("--max-header-list-size", "10", "--max-header-list-size: 10 is out of range (allowed: 1K...1M)"),
    ("--max-requests-per-connection", "0", "--max-requests-per-connection: 0 is out of range (allowed: 1...1000000000)"),
    ("--idle-timeout", "0s", "--idle-timeout: 0s is out of range (allowed: 1s...3600s)"),
    ("--idle-timeout", "soon", "--idle-timeout: 'soon' is not a duration like 500ms, 10s or 2m"),
    ("--handshake-timeout", "10m", "--handshake-timeout: 10m is out of range (allowed: 100ms...300s)"),
    ("--write-timeout", "2h", "--write-timeout: 2h is out of range (allowed: 1s...3600s)"),
    ("--graceful-timeout=-1", None, "--graceful-timeout: '-1' is not a duration"),
    ("--file-cache-size", "65G", "--file-cache-size: 65G is out of range (allowed: 0...64G)"),
    ("--reset-burst", "1", "--reset-burst: 1 is out of range (allowed: 10...1000000)"),
    ("--io", "kqueue", "--io"),
    ("--log-level", "loud", "--log-level: 'loud' is not one of trace, debug, info, notice, warning, error, critical"),
])
def test_flag_validation(site, flag, value, message):
    result = run(*([flag] if value is None else [flag, value]), str(site))
    assert result.returncode == 64, result.stderr
    assert message in result.stderr, result.stderr


def test_missing_root(tmp_path):
    result = run(str(tmp_path / "nope"))
    assert result.returncode == 64
    assert "root '%s' does not exist" % (tmp_path / "nope") in result.stderr


def test_root_not_a_directory(site):
    result = run(str(site / "style.css"))
    assert result.returncode == 64 and "is not a directory" in result.stderr


def test_port_in_use(site):
    first = Server(site)
    try:
        result = run("--host", "127.0.0.1", "--port", str(first.port), str(site))
        assert result.returncode == 1 and "Address already in use" in result.stderr
    finally:
        first.stop()


def test_ipv6_listener(site):
    process = subprocess.Popen([BINARY, "--host", "::1", "--port", "0", str(site)], stderr=subprocess.PIPE, text=True)
    try:
        lines = ""
        match = None
        while match is None:
            line = process.stderr.readline()
            assert line, lines
            lines += line
            match = re.search(r"listening on http://\[::1\]:(\d+)", line)
        result = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-o", "/dev/null", "-w", "%{http_code}",
                                 "http://[::1]:%s/" % match.group(1)], capture_output=True, text=True, timeout=10)
        assert result.stdout == "200"
    finally:
        process.terminate()
        process.wait()
