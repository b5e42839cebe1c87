"""TLS: real clients (curl, nghttp, h2load, openssl s_client, python ssl,
headless Chromium) against the real binary with --tls-cert/--tls-key."""
import hashlib
import os
import re
import signal
import socket
import ssl
import struct
import subprocess
import time

import pytest

from conftest import BINARY, Server, require


def openssl(*args, cwd=None, input=None):
    require("openssl")
    return subprocess.run(["openssl", *args], capture_output=True, text=True, cwd=cwd, input=input, timeout=60)


def make_certificate(directory, stem, name, rsa=False, extra_names=()):
    cert, key = directory / (stem + ".pem"), directory / (stem + ".key")
    algorithm = ["-newkey", "rsa:2048"] if rsa else ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
    names = ",".join("DNS:" + n for n in (name, *extra_names))
    if name == "localhost":
        names += ",IP:127.0.0.1"
    result = openssl("req", "-x509", *algorithm, "-nodes", "-days", "30", "-subj", "/CN=" + name,
                     "-addext", "subjectAltName=" + names, "-keyout", str(key), "-out", str(cert))
    assert result.returncode == 0, result.stderr
    return cert, key


@pytest.fixture(scope="session")
def certs(tmp_path_factory):
    directory = tmp_path_factory.mktemp("certs")
    made = {
        "ec": make_certificate(directory, "ec", "localhost"),
        "rsa": make_certificate(directory, "rsa", "localhost", rsa=True),
        "other": make_certificate(directory, "other", "other.test", extra_names=("*.wild.test",)),
    }
    # An expired certificate needs explicit dates: `openssl ca` gives them.
    ca = directory / "ca"
    ca.mkdir()
    (ca / "index.txt").write_text("")
    (ca / "serial").write_text("01\n")
    (ca / "ca.cnf").write_text("[ca]\ndefault_ca = d\n[d]\ndatabase = index.txt\nnew_certs_dir = .\n"
                               "serial = serial\npolicy = p\ndefault_md = sha256\n[p]\ncommonName = supplied\n")
    assert openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                   "-subj", "/CN=expired.test", "-keyout", "expired.key", "-out", "expired.csr", cwd=ca).returncode == 0
    result = openssl("ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", "expired.key", "-in", "expired.csr",
                     "-startdate", "20200101000000Z", "-enddate", "20200201000000Z", "-out", "expired.pem", cwd=ca)
    assert result.returncode == 0, result.stderr
    made["expired"] = (ca / "expired.pem", ca / "expired.key")
    return made


def tls_args(*pairs):
    args = []
    for cert, key in pairs:
        args += ["--tls-cert", str(cert), "--tls-key", str(key)]
    return args


@pytest.fixture
def tls_server(server, certs):
    def start(*args, pairs=None, root=None):
        return server(*tls_args(*(pairs or [certs["ec"]])), *args, root=root)
    return start


def curl_tls(*args):
    require("curl")
    return subprocess.run(["curl", "-sk", "--max-time", "20", *args], capture_output=True, timeout=30)


def s_client(port, *args, input=""):
    return openssl("s_client", "-connect", "127.0.0.1:%d" % port, *args, input=input)


# MARK: serving

@pytest.mark.parametrize("io", ["uring", "epoll"])
def test_curl_h2_and_http11_over_tls(tls_server, site, io, tmp_path):
    running = tls_server("--io", io)
    assert running.scheme == "https"
    assert "(h2, http/1.1 over TLS for localhost;" in running.startup
    for flag, version in [("--http2", b"2"), ("--http1.1", b"1.1")]:
        result = curl_tls(flag, "-w", "\n%{http_code} %{http_version}", running.url + "/style.css")
        body, _, summary = result.stdout.rpartition(b"\n")
        assert summary == b"200 " + version
        assert body == (site / "style.css").read_bytes()
        out = tmp_path / "large.out"
        result = curl_tls(flag, "-o", str(out), "-w", "%{http_code}", running.url + "/large.bin")
        assert result.stdout == b"200"
        assert hashlib.sha256(out.read_bytes()).digest() == hashlib.sha256((site / "large.bin").read_bytes()).digest()


def test_nghttp_over_tls(tls_server):
    require("nghttp")
    running = tls_server()
    result = subprocess.run(["nghttp", "-nv", running.url + "/index.html"], capture_output=True, text=True, timeout=20)
    assert result.returncode == 0, result.stderr
    assert "recv SETTINGS frame" in result.stdout
    assert ":status: 200" in result.stdout


@pytest.mark.parametrize("io", ["uring", "epoll"])
def test_h2load_over_tls(tls_server, io):
    require("h2load")
    running = tls_server("--io", io)
    result = subprocess.run(["h2load", "-n", "20000", "-c", "16", "-m", "16", running.url + "/small.bin"],
                            capture_output=True, text=True, timeout=120)
    assert "20000 succeeded, 0 failed, 0 errored" in result.stdout, result.stdout
    assert "Application protocol: h2" in result.stdout


def test_h2load_many_connections(tls_server):
    """400 connections of 10 requests: handshakes dominate."""
    require("h2load")
    running = tls_server()
    result = subprocess.run(["h2load", "-n", "4000", "-c", "400", "-m", "1", running.url + "/small.bin"],
                            capture_output=True, text=True, timeout=120)
    assert "4000 succeeded, 0 failed, 0 errored" in result.stdout, result.stdout


# MARK: versions, ALPN, resumption, SNI

def test_tls_versions(tls_server):
    running = tls_server()
    refused = s_client(running.port, "-tls1_1")
    assert "alert protocol version" in refused.stdout + refused.stderr
    assert "Cipher is (NONE)" in refused.stdout
    for flag, name in [("-tls1_2", "TLSv1.2"), ("-tls1_3", "TLSv1.3")]:
        accepted = s_client(running.port, flag)
        assert "New, %s, Cipher is" % name in accepted.stdout, accepted.stdout + accepted.stderr


def test_alpn(tls_server):
    running = tls_server()
    assert "ALPN protocol: h2" in s_client(running.port, "-alpn", "h2,http/1.1").stdout
    assert "ALPN protocol: h2" in s_client(running.port, "-alpn", "http/1.1,h2").stdout, "the server's preference wins"
    assert "ALPN protocol: http/1.1" in s_client(running.port, "-alpn", "http/1.1").stdout
    assert "No ALPN negotiated" in s_client(running.port).stdout
    assert "No ALPN negotiated" in s_client(running.port, "-alpn", "spdy/3").stdout


@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_session_resumption(tls_server, tmp_path, version):
    running = tls_server()
    session = tmp_path / "session"
    # A request answered and a close by the server: TLS 1.3 tickets arrive
    # after the handshake, so s_client must stay until they do.
    request = "GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    first = s_client(running.port, version, "-ign_eof", "-sess_out", str(session), input=request)
    assert first.stdout.count("New, TLS") == 1
    assert "HTTP/1.1 200 OK" in first.stdout
    second = s_client(running.port, version, "-sess_in", str(session))
    assert "Reused, TLS" in second.stdout, second.stdout


def test_session_id_resumption_without_tickets(tls_server, tmp_path):
    running = tls_server()
    session = tmp_path / "session"
    s_client(running.port, "-tls1_2", "-no_ticket", "-sess_out", str(session))
    assert "Reused, TLSv1.2" in s_client(running.port, "-tls1_2", "-no_ticket", "-sess_in", str(session)).stdout


def test_sni_selects_the_certificate(tls_server, certs):
    running = tls_server(pairs=[certs["ec"], certs["rsa"], certs["other"]])
    assert "for localhost, other.test, *.wild.test;" in running.startup

    def subject(*args):
        return re.search(r"subject=(.*)", s_client(running.port, *args).stdout).group(1)

    assert "other.test" in subject("-servername", "other.test")
    assert "other.test" in subject("-servername", "a.wild.test")
    assert "localhost" in subject("-servername", "unknown.test")
    assert "localhost" in subject()
    # localhost has an ECDSA and an RSA certificate: the client's signature
    # algorithms choose.
    assert "Peer signature type: RSA" in s_client(running.port, "-tls1_2", "-sigalgs", "RSA+SHA256").stdout
    assert "Peer signature type: ECDSA" in s_client(running.port, "-tls1_2", "-sigalgs", "ECDSA+SHA256").stdout


def test_sighup_reloads_certificates(server, certs, tmp_path):
    live_cert, live_key = tmp_path / "live.pem", tmp_path / "live.key"
    live_cert.write_bytes(certs["ec"][0].read_bytes())
    live_key.write_bytes(certs["ec"][1].read_bytes())
    running = server("--tls-cert", str(live_cert), "--tls-key", str(live_key))

    def fingerprint():
        out = s_client(running.port).stdout
        pem = out[out.index("-----BEGIN CERTIFICATE-----"):out.index("-----END CERTIFICATE-----") + 25]
        return openssl("x509", "-noout", "-fingerprint", "-sha256", input=pem).stdout

    def file_fingerprint(path):
        return openssl("x509", "-noout", "-fingerprint", "-sha256", "-in", str(path)).stdout

    assert fingerprint() == file_fingerprint(certs["ec"][0])
    live_cert.write_bytes(certs["other"][0].read_bytes())
    live_key.write_bytes(certs["other"][1].read_bytes())
    running.process.send_signal(signal.SIGHUP)
    line = running.process.stderr.readline()
    assert "SIGHUP: certificates reloaded for other.test, *.wild.test" in line
    assert fingerprint() == file_fingerprint(certs["other"][0])

    live_cert.write_text("garbage\n")
    running.process.send_signal(signal.SIGHUP)
    line = running.process.stderr.readline()
    assert "certificates not reloaded, the old ones stay in use: no PEM certificate in %s" % live_cert in line
    assert fingerprint() == file_fingerprint(certs["other"][0])


# MARK: bad input

@pytest.mark.parametrize("case", ["missing", "mismatch", "expired", "key-is-cert", "unpaired", "bad-ciphers"])
def test_bad_certificate_input_names_the_problem(site, certs, case):
    ec_cert, ec_key = certs["ec"]
    rsa_cert, rsa_key = certs["rsa"]
    args, code, message = {
        "missing": (["--tls-cert", "/nonexistent/cert.pem", "--tls-key", str(ec_key)], 1,
                    "cannot read certificate file /nonexistent/cert.pem: No such file or directory"),
        "mismatch": (["--tls-cert", str(ec_cert), "--tls-key", str(rsa_key)], 1,
                     "private key %s does not match certificate %s" % (rsa_key, ec_cert)),
        "expired": (["--tls-cert", str(certs["expired"][0]), "--tls-key", str(certs["expired"][1])], 1,
                    "certificate %s expired on Feb  1 00:00:00 2020 GMT" % certs["expired"][0]),
        "key-is-cert": (["--tls-cert", str(ec_cert), "--tls-key", str(ec_cert)], 1,
                        "no usable PEM private key (unencrypted) in %s" % ec_cert),
        "unpaired": (["--tls-cert", str(ec_cert)], 64,
                     "--tls-cert is given 1 time(s) and --tls-key 0: give them in pairs"),
        "bad-ciphers": (["--tls-cert", str(ec_cert), "--tls-key", str(ec_key), "--tls-ciphers", "NOPE"], 1,
                        "invalid TLS cipher list NOPE"),
    }[case]
    result = subprocess.run([BINARY, "--port", "0", *args, str(site)], capture_output=True, text=True, timeout=20)
    assert result.returncode == code
    assert message in result.stderr, result.stderr


def test_plain_http_on_the_tls_port_gets_a_plain_answer(tls_server):
    running = tls_server()
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as connection:
        connection.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while True:
            data = connection.recv(4096)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"This port speaks HTTPS: use an https:// URL.\n")
    assert curl_tls("-o", "/dev/null", "-w", "%{http_code}", running.url + "/").stdout == b"200"


def test_garbage_handshake_closes_and_the_server_carries_on(tls_server):
    running = tls_server()
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as connection:
        connection.sendall(b"\x16\x03\x01\x00\x05" + b"\xff" * 5)
        data = connection.recv(4096)
        assert data[:1] in (b"", b"\x15"), "an alert or a close"
    assert curl_tls("-o", "/dev/null", "-w", "%{http_code}", running.url + "/").stdout == b"200"


def test_silent_connection_is_closed_after_the_handshake_timeout(tls_server):
    running = tls_server("--handshake-timeout", "300ms")
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as connection:
        started = time.monotonic()
        assert connection.recv(1) == b""
        assert time.monotonic() - started < 8


def test_prohibited_cipher_gets_inadequate_security(tls_server, certs):
    """RFC 9113 §9.2.2: with a TLS 1.2 suite Appendix A lists, h2 (when the
    client offers nothing else) ends in GOAWAY INADEQUATE_SECURITY; a client
    that also offers http/1.1 gets that instead."""
    running = tls_server("--tls-ciphers", "AES128-SHA:ECDHE-RSA-AES128-GCM-SHA256", pairs=[certs["rsa"]])

    def connect(protocols):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("AES128-SHA")
        context.set_alpn_protocols(protocols)
        raw = socket.create_connection(("127.0.0.1", running.port), timeout=10)
        return context.wrap_socket(raw)

    with connect(["h2", "http/1.1"]) as connection:
        assert connection.selected_alpn_protocol() == "http/1.1"
        assert connection.cipher()[0] == "AES128-SHA"

    with connect(["h2"]) as connection:
        assert connection.selected_alpn_protocol() == "h2"
        connection.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        received = b""
        while True:
            try:
                data = connection.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not data:
                break
            received += data
        frames = []
        while len(received) >= 9:
            length = int.from_bytes(received[:3], "big")
            frames.append((received[3], received[9:9 + length]))
            received = received[9 + length:]
        assert frames[0][0] == 0x4, "the server preface (SETTINGS) comes first"
        goaway = [payload for kind, payload in frames if kind == 0x7]
        assert goaway, frames
        last_stream, code = struct.unpack(">II", goaway[0][:8])
        assert code == 0xC  # INADEQUATE_SECURITY
        assert b"prohibited" in goaway[0][8:]


# MARK: a browser

def test_chromium_loads_a_page_over_h2(tls_server, tmp_path):
    """Headless Chromium loads a page with a stylesheet, scripts and images;
    the page reports each resource's protocol (Resource Timing API)."""
    require("chromium")
    root = tmp_path / "page"
    root.mkdir()
    (root / "index.html").write_text(
        "<!doctype html><html><head><title>t</title><link rel=stylesheet href=/a.css>"
        "<script src=/b.js></script></head><body>"
        "<img src=/c.svg><img src=/d.svg><img src=/big.svg><pre id=report>pending</pre><script>"
        "window.addEventListener('load', () => {"
        "  const entries = [performance.getEntriesByType('navigation')[0], ...performance.getEntriesByType('resource')];"
        "  document.getElementById('report').textContent ="
        "    entries.map(e => new URL(e.name).pathname + ' ' + e.nextHopProtocol + ' ' + e.responseStatus).join(';');"
        "});</script></body></html>\n")
    (root / "a.css").write_text("body { color: #333 }\n")
    (root / "b.js").write_text("window.loaded = true;\n")
    svg = "<svg xmlns='http://www.w3.org/2000/svg' width='8' height='8'><rect width='8' height='8'/></svg>\n"
    (root / "c.svg").write_text(svg)
    (root / "d.svg").write_text(svg)
    # 2 MB: more than the initial flow-control windows.
    (root / "big.svg").write_text(svg[:-7] + "<!--" + "x" * (2 << 20) + "--></svg>\n")
    running = tls_server(root=root)
    result = subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
         "--user-data-dir=%s" % (tmp_path / "profile"), "--virtual-time-budget=10000",
         "--dump-dom", "https://localhost:%d/" % running.port],
        capture_output=True, text=True, timeout=120)
    report = re.search(r'<pre id="report">(.*?)</pre>', result.stdout)
    assert report, result.stdout[-2000:] + result.stderr[-2000:]
    entries = dict((line.split(" ")[0], line.split(" ")[1:]) for line in report.group(1).split(";"))
    assert set(entries) == {"/", "/a.css", "/b.js", "/c.svg", "/d.svg", "/big.svg"}, entries
    for path, (protocol, status) in entries.items():
        assert protocol == "h2", (path, protocol)
        assert status == "200", (path, status)
