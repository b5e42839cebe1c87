"""Behind a load balancer: --proxy-protocol (PROXY v1 and v2 before HTTP/1.1,
h2c and TLS), --real-ip-from for x-forwarded-for, and a real HAProxy in
front of two swiftlet instances, one restarted after the other while a
client keeps asking, without one failed request."""
import json
import re
import os
import signal
import socket
import ssl
import struct
import subprocess
import threading
import time
import http.client

import h2.config
import h2.connection
import h2.events
import pytest

from conftest import BINARY, Server, curl, require
from test_metrics_endpoint import samples, scrape, value
from test_tls import make_certificate


def v1(source, source_port, destination=None, destination_port=443):
    family = "TCP6" if ":" in source else "TCP4"
    destination = destination or ("::1" if ":" in source else "127.0.0.1")
    return ("PROXY %s %s %s %d %d\r\n" % (family, source, destination, source_port, destination_port)).encode()


def v2(source, source_port, destination=None, destination_port=443, command=0x21):
    destination = destination or ("::1" if ":" in source else "127.0.0.1")
    if command == 0x20:
        block, family = b"", 0x00
    elif ":" in source:
        block = socket.inet_pton(socket.AF_INET6, source) + socket.inet_pton(socket.AF_INET6, destination)
        block, family = block + struct.pack("!HH", source_port, destination_port), 0x21
    else:
        block = socket.inet_aton(source) + socket.inet_aton(destination) + struct.pack("!HH", source_port, destination_port)
        family = 0x11
    return b"\r\n\r\n\x00\r\nQUIT\n" + bytes([command, family]) + struct.pack("!H", len(block)) + block


def log_lines(path, count, timeout=10):
    """The first `count` JSON access log lines (written every 100 ms)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if os.path.exists(path):
            lines = [json.loads(line) for line in open(path).read().splitlines()]
            if len(lines) >= count:
                return lines
        time.sleep(0.05)
    raise AssertionError("fewer than %d access log lines in %s" % (count, path))


def http1_over(sock, path="/style.css", headers=""):
    sock.sendall(("GET %s HTTP/1.1\r\nHost: x\r\n%sConnection: close\r\n\r\n" % (path, headers)).encode())
    response = b""
    while chunk := sock.recv(65536):
        response += chunk
    return response


@pytest.fixture
def proxied(server, tmp_path):
    log = tmp_path / "access.log"

    def start(*args):
        return server("--proxy-protocol", "--access-log", str(log), "--access-log-format", "json", *args), log
    return start


@pytest.mark.parametrize("header,client", [
    (v1("203.0.113.7", 40000), "203.0.113.7"),
    (v1("2001:db8::7", 40000), "2001:db8::7"),
    (v2("203.0.113.8", 40001), "203.0.113.8"),
    (v2("2001:db8::8", 40001), "2001:db8::8"),
    (v2("203.0.113.9", 1, command=0x20), "127.0.0.1"),
], ids=["v1-tcp4", "v1-tcp6", "v2-tcp4", "v2-tcp6", "v2-local"])
def test_http1_after_a_proxy_header_logs_the_client(proxied, header, client):
    running, log = proxied()
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(header)
        assert http1_over(sock).startswith(b"HTTP/1.1 200")
    assert log_lines(log, 1)[0]["remote"] == client, "LOCAL (the proxy's health check) keeps the connection's address"


def test_header_and_request_in_one_packet(proxied):
    running, log = proxied()
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        # http1_over sends the request right after: one write each, and also
        # glued together below.
        sock.sendall(v2("198.51.100.1", 5) + b"GET /style.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        response = b""
        while chunk := sock.recv(65536):
            response += chunk
    assert response.startswith(b"HTTP/1.1 200")
    assert log_lines(log, 1)[0]["remote"] == "198.51.100.1"


def test_h2c_after_a_proxy_header(proxied):
    running, log = proxied()
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        connection = h2.connection.H2Connection(h2.config.H2Configuration(client_side=True))
        connection.initiate_connection()
        connection.send_headers(1, [(":method", "GET"), (":path", "/style.css"), (":scheme", "http"), (":authority", "x")], end_stream=True)
        sock.sendall(v2("2001:db8::42", 443) + connection.data_to_send())
        status, ended = None, False
        while not ended:
            data = sock.recv(65536)
            assert data, "closed before the response ended"
            for event in connection.receive_data(data):
                if isinstance(event, h2.events.ResponseReceived):
                    status = dict(event.headers)[b":status"]
                if isinstance(event, h2.events.StreamEnded):
                    ended = True
            sock.sendall(connection.data_to_send())
    assert status == b"200"
    line = log_lines(log, 1)[0]
    assert (line["remote"], line["protocol"]) == ("2001:db8::42", "h2")


def test_tls_after_a_proxy_header(proxied, tmp_path):
    cert, key = make_certificate(tmp_path, "proxied", "localhost")
    running, log = proxied("--tls-cert", str(cert), "--tls-key", str(key))
    context = ssl.create_default_context(cafile=str(cert))
    context.set_alpn_protocols(["http/1.1"])
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as raw:
        raw.sendall(v1("192.0.2.77", 1234))
        with context.wrap_socket(raw, server_hostname="localhost") as sock:
            assert http1_over(sock).startswith(b"HTTP/1.1 200")
    line = log_lines(log, 1)[0]
    assert line["remote"] == "192.0.2.77" and line["tls_version"].startswith("TLSv1.")


@pytest.mark.parametrize("first,token", [
    (b"GET /style.css HTTP/1.1\r\nHost: x\r\n\r\n", "proxy_header_missing"),
    (b"PROXY TCP4 300.0.0.1 127.0.0.1 1 2\r\n", "proxy_header_invalid"),
    (b"\r\n\r\n\x00\r\nQUIT\n\x22\x11\x00\x00", "proxy_header_invalid"),
    (b"", "proxy_header_timeout"),
], ids=["missing", "v1-bad-address", "v2-bad-command", "silent"])
def test_connections_without_a_valid_header_are_closed_and_counted(site, first, token):
    running = Server(site, "--proxy-protocol", "--metrics-listen", "127.0.0.1:0", "--header-block-timeout", "200ms")
    try:
        port = int(re.search(r"metrics at http://127\.0\.0\.1:(\d+)/metrics", running.startup + running.process.stderr.readline()).group(1))
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            sock.sendall(first)
            assert sock.recv(4096) == b"", "closed without a byte of reply"
        deadline = time.time() + 10
        while value(samples(scrape(port)), "swiftlet_rejections_total", token=token) != 1:
            assert time.time() < deadline, "%s not counted" % token
            time.sleep(0.1)
    finally:
        running.stop()


def test_graceful_shutdown_waits_for_a_header_in_progress(proxied):
    """A connection still sending its PROXY header when SIGTERM comes is
    served like one still choosing its protocol: the drain waits for it."""
    running, _ = proxied("--graceful-timeout", "5s")
    header = v2("203.0.113.10", 7)
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
        sock.sendall(header[:8])
        time.sleep(0.2)
        running.process.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        sock.sendall(header[8:])
        assert http1_over(sock).startswith(b"HTTP/1.1 200")
    assert running.stop() == 0


def test_real_ip_from_trusted_proxies_only(site, tmp_path):
    log = tmp_path / "access.log"
    running = Server(site, "--real-ip-from", "127.0.0.0/8", "--real-ip-from", "10.0.0.0/8",
                     "--access-log", str(log), "--access-log-format", "json")
    try:
        for forwarded in ("203.0.113.5", "198.51.100.1, 203.0.113.6, 10.1.1.1"):
            assert curl("-H", "x-forwarded-for: " + forwarded, "-o", "/dev/null", running.url + "/style.css").returncode == 0
        lines = log_lines(log, 2)
        assert [line["remote"] for line in lines] == ["203.0.113.5", "203.0.113.6"]
    finally:
        running.stop()
    log.unlink()
    untrusting = Server(site, "--real-ip-from", "10.0.0.0/8", "--access-log", str(log), "--access-log-format", "json")
    try:
        assert curl("-H", "x-forwarded-for: 203.0.113.5", "-o", "/dev/null", untrusting.url + "/style.css").returncode == 0
        assert log_lines(log, 1)[0]["remote"] == "127.0.0.1", "a peer that is not a trusted proxy is itself the client"
    finally:
        untrusting.stop()


def test_bad_real_ip_flag_names_the_flag(site):
    result = subprocess.run([BINARY, "--real-ip-from", "10.0.0.0/33", str(site)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 64
    assert "--real-ip-from: '10.0.0.0/33' is not an IPv4 or IPv6 address or CIDR range" in result.stderr, result.stderr


# MARK: behind HAProxy

HAPROXY_CONFIG = """
global
    log stderr format raw local0 err
defaults
    mode http
    log global
    timeout connect 2s
    timeout client 20s
    timeout server 20s
    retries 5
    option redispatch 1
    retry-on all-retryable-errors
    http-reuse always
frontend web
    bind 127.0.0.1:{front}
    default_backend swiftlets
backend swiftlets
    balance roundrobin
    server s1 127.0.0.1:{one} send-proxy-v2 proto h2 check inter 200ms fall 1 rise 1
    server s2 127.0.0.1:{two} send-proxy-v2 proto h2 check inter 200ms fall 1 rise 1
"""


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_behind_haproxy_with_a_rolling_restart(site, tmp_path):
    require("haproxy")
    ports = [free_port() for _ in range(3)]
    logs = [tmp_path / "one.log", tmp_path / "two.log"]

    def start(index):
        return Server(site, "--listen", "127.0.0.1:%d" % ports[index + 1], "--proxy-protocol",
                      "--access-log", str(logs[index]), "--access-log-format", "json", "--graceful-timeout", "5s")

    instances = [start(0), start(1)]
    config = tmp_path / "haproxy.cfg"
    config.write_text(HAPROXY_CONFIG.format(front=ports[0], one=ports[1], two=ports[2]))
    haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(config)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    failures, successes = [], [0]
    stop = threading.Event()

    def client():
        # HTTP/1.1 keep-alive to HAProxy from 127.0.0.2; HTTP/2 behind it.
        connection = None
        while not stop.is_set():
            try:
                if connection is None:
                    connection = http.client.HTTPConnection("127.0.0.1", ports[0], timeout=10, source_address=("127.0.0.2", 0))
                connection.request("GET", "/style.css")
                response = connection.getresponse()
                body = response.read()
                if response.status != 200 or body != b"body { color: black }\n":
                    failures.append((response.status, body[:100]))
                else:
                    successes[0] += 1
                if response.getheader("connection", "").lower() == "close":
                    connection.close()
                    connection = None
            except Exception as error:  # noqa: BLE001 - every failure counts
                failures.append(repr(error))
                connection = None

    try:
        deadline = time.time() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", ports[0]), timeout=1):
                    break
            except OSError:
                assert time.time() < deadline, "haproxy did not start: " + (haproxy.stdout.read() if haproxy.poll() is not None else "")
                time.sleep(0.05)
        threads = [threading.Thread(target=client) for _ in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1)
        for index in range(2):
            before = successes[0]
            assert instances[index].stop() == 0
            instances[index] = start(index)
            time.sleep(1.5)  # HAProxy's check sees it up again; traffic flows to both
            assert successes[0] > before
        stop.set()
        for thread in threads:
            thread.join(timeout=20)
        assert failures == [], (len(failures), successes[0], failures[:5])
        assert successes[0] > 100
        # Each instance logged the real client, told by the PROXY v2 header.
        for log in logs:
            lines = log_lines(log, 1)
            assert {line["remote"] for line in lines} == {"127.0.0.2"}
            assert {line["protocol"] for line in lines} == {"h2"}
    finally:
        stop.set()
        haproxy.send_signal(signal.SIGTERM)
        try:
            haproxy.wait(timeout=10)
        except subprocess.TimeoutExpired:
            haproxy.kill()
        for instance in instances:
            if instance.process.poll() is None:
                instance.stop()
