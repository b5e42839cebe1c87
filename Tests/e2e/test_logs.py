"""Structured logs: the access log as JSON lines (--access-log-format json)
and diagnostics as JSON lines (--log-format json), read back with Python's
json module."""
import json
import socket
import ssl
import subprocess
import time

import pytest

from conftest import BINARY, Server, curl
from test_tls import make_certificate


def json_lines(path):
    with open(path) as file:
        return [json.loads(line) for line in file if line.strip()]


def wait_for_lines(path, count):
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            if len(json_lines(path)) >= count:
                return json_lines(path)
        except (FileNotFoundError, json.JSONDecodeError):
            pass
        time.sleep(0.05)
    raise AssertionError("access log has fewer than %d lines" % count)


def test_json_access_log_over_h2c_and_http1(site, tmp_path):
    log = tmp_path / "access.json"
    server = Server(site, "--access-log", str(log), "--access-log-format", "json")
    curl("-A", 'agent "quoted" \\ slash', "-e", "https://example.org/from", server.url + "/style.css")
    curl(server.url + "/missing", http2=False)
    # A path that is not UTF-8 still makes valid JSON.
    with socket.create_connection(("127.0.0.1", server.port)) as sock:
        sock.sendall(b"GET /\xff\xfe HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        while sock.recv(4096):
            pass
    lines = wait_for_lines(log, 3)
    first, second, third = lines[:3]
    assert set(first) == {"time", "remote", "protocol", "method", "path", "status", "bytes", "duration", "stream",
                          "tls_version", "tls_cipher", "user_agent", "referer"}
    assert first["protocol"] == "h2" and first["method"] == "GET" and first["path"] == "/style.css"
    assert first["status"] == 200 and first["bytes"] == len("body { color: black }\n") and first["stream"] == 1
    assert first["user_agent"] == 'agent "quoted" \\ slash' and first["referer"] == "https://example.org/from"
    assert first["tls_version"] is None and first["tls_cipher"] is None
    assert first["remote"] == "127.0.0.1" and isinstance(first["duration"], float)
    assert first["time"].endswith("Z") and first["time"][10] == "T" and len(first["time"]) == 24
    assert second["protocol"] == "http/1.1" and second["status"] == 404 and second["stream"] == 0
    assert third["path"] == "/\u00ff\u00fe"
    server.stop()


def test_json_access_log_over_tls(site, tmp_path):
    cert, key = make_certificate(tmp_path, "ec", "localhost")
    log = tmp_path / "access.json"
    server = Server(site, "--tls-cert", str(cert), "--tls-key", str(key), "--access-log", str(log),
                    "--access-log-format", "json")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", server.port)) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            sock.sendall(b"GET /index.html HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
            while sock.recv(4096):
                pass
            version, cipher = sock.version(), sock.cipher()[0]
    line = wait_for_lines(log, 1)[0]
    assert line["tls_version"] == version and line["tls_cipher"] == cipher
    server.stop()


def test_json_diagnostics(site):
    server = Server(site, "--log-format", "json", "--log-level", "debug")
    curl(server.url + "/")
    assert server.stop() == 0
    lines = [json.loads(line) for line in (server.startup + server.logs()).splitlines() if line.strip()]
    assert any("listening on http://127.0.0.1:%d" % server.port in line["message"] for line in lines)
    for line in lines:
        assert {"time", "level", "label", "source", "message"} <= set(line)
        assert line["level"] in {"trace", "debug", "info", "notice", "warning", "error", "critical"}


@pytest.mark.parametrize("flag,value,allowed", [
    ("--access-log-format", "xml", "combined, json"),
    ("--log-format", "yaml", "text, json"),
])
def test_bad_format_names_the_flag_and_the_choices(site, flag, value, allowed):
    result = subprocess.run([BINARY, flag, value, str(site)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 64
    assert "%s: '%s' is not one of %s" % (flag, value, allowed) in result.stderr
