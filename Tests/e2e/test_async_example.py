"""The async API, through its example program (examples/async): routes on
both protocols, back-pressure, cancellation, trailers both ways, 1xx,
100-continue, errors, and graceful shutdown through its ServiceGroup.
SWIFTLET_IO (uring or epoll) picks the backend, as for every server here."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import httpx
import pytest

import rawh2
from conftest import BINARY, curl

EXAMPLE = os.path.join(os.path.dirname(BINARY), "swiftlet-async-example")


@pytest.fixture
def app(tmp_path):
    process = subprocess.Popen([EXAMPLE, "--port", "0", "--uploads", str(tmp_path)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = process.stdout.readline()
    match = re.match(r"listening on http://127\.0\.0\.1:(\d+) \((uring|epoll)\)", line)
    assert match, line + process.stderr.read()
    if os.environ.get("SWIFTLET_IO"):
        assert match.group(2) == os.environ["SWIFTLET_IO"]
    process.port = int(match.group(1))
    process.base = "http://127.0.0.1:%d" % process.port
    yield process
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        status = process.wait(timeout=15)
        assert status == 0, "exit status %s: %s" % (status, process.stderr.read()[-2000:])


def stats(app):
    return httpx.get(app.base + "/stats").json()


@pytest.mark.parametrize("http2", [True, False], ids=["h2c", "http1"])
def test_json_api(app, http2):
    with httpx.Client(http1=not http2, http2=http2) as client:  # http2 only: prior knowledge
        hello = client.get(app.base + "/hello")
        assert hello.status_code == 200 and hello.text == "hello from an async handler\n"
        assert hello.http_version == ("HTTP/2" if http2 else "HTTP/1.1")
        assert client.get(app.base + "/items").json()[0] == {"id": 1, "name": "apple"}
        created = client.post(app.base + "/items", json={"name": "pear"})
        assert created.status_code == 201
        item = created.json()
        assert client.get(app.base + "/items/%d" % item["id"]).json() == item
        assert client.get(app.base + "/items/999").status_code == 404
        assert client.delete(app.base + "/items").status_code == 405
        assert client.post(app.base + "/items", content=b"not json").status_code == 400
        # collect(upTo:) refuses a body over its limit: 413.
        assert client.post(app.base + "/items", content=b"x" * 5000).status_code == 413
        assert client.get(app.base + "/fail").status_code == 500


def test_upload_streams_to_disk(app, tmp_path):
    payload = os.urandom(3 << 20)
    for http2 in (True, False):
        response = httpx.Client(http1=not http2, http2=http2).post(app.base + "/upload", content=payload)
        assert response.status_code == 201
        stored = response.json()
        assert stored["bytes"] == len(payload)
        with open(stored["path"], "rb") as f:
            assert f.read() == payload


def test_long_lived_stream_with_trailers(app):
    result = curl("-N", "--raw", "-D", "-", app.base + "/stream?count=4&interval=20")
    text = result.stdout.decode()
    assert [line for line in text.splitlines() if line.startswith("tick")] == ["tick %d" % i for i in range(4)]
    client = rawh2.Client(app.port)
    client.send(client.headers(1, "/stream?count=3&interval=1"))
    frames = []
    while True:
        kind, flags, stream, payload = client.read_frame()
        if stream == 1:
            frames.append((kind, flags, payload))
            if flags & rawh2.END_STREAM:
                break
    assert frames[-1][0] == rawh2.HEADERS and ("x-ticks", "3") in frames[-1][2]
    # HTTP/1.1: chunked, with the trailers after the last chunk.
    raw = curl("--raw", "-N", "-H", "te: trailers", app.base + "/stream?count=3&interval=1", http2=False).stdout
    assert raw == (b"7\r\ntick 0\n\r\n" b"7\r\ntick 1\n\r\n" b"7\r\ntick 2\n\r\n" b"0\r\nx-ticks: 3\r\n\r\n"), raw


def test_early_hints(app):
    text = curl("-i", app.base + "/early-hints").stdout.decode()
    assert text.startswith("HTTP/2 103")
    assert "link: </app.css>; rel=preload; as=style" in text
    assert "HTTP/2 200" in text
    text = curl("-i", app.base + "/early-hints", http2=False).stdout.decode()
    assert text.startswith("HTTP/1.1 103 Early Hints")


def test_trailers_both_ways(app):
    client = rawh2.Client(app.port)
    block = client.encoder.encode([(":method", "POST"), (":scheme", "http"), (":authority", "localhost"), (":path", "/echo")])
    client.send(rawh2.frame(rawh2.HEADERS, rawh2.END_HEADERS, 1, block))
    client.send(rawh2.frame(rawh2.DATA, 0, 1, b"hello "))
    client.send(rawh2.frame(rawh2.DATA, 0, 1, b"trailers"))
    trailer_block = client.encoder.encode([("x-checksum", "abc123")])
    client.send(rawh2.frame(rawh2.HEADERS, rawh2.END_HEADERS | rawh2.END_STREAM, 1, trailer_block))
    body, heads = b"", []
    while True:
        kind, flags, stream, payload = client.read_frame()
        if stream != 1:
            continue
        if kind == rawh2.DATA:
            body += payload
        elif kind == rawh2.HEADERS:
            heads.append(payload)
        if flags & rawh2.END_STREAM:
            break
    assert body == b"hello trailers"
    assert heads[-1] == [("x-checksum", "abc123")]


def test_error_after_head_resets_the_stream(app):
    client = rawh2.Client(app.port)
    client.send(client.headers(1, "/fail-midway"))
    while True:
        kind, flags, stream, payload = client.read_frame()
        if kind == rawh2.RST_STREAM and stream == 1:
            assert int.from_bytes(payload, "big") == 2  # INTERNAL_ERROR
            break
        assert not (flags & rawh2.END_STREAM and stream == 1), "the stream ended cleanly"


def test_back_pressure_holds_at_most_the_window(app):
    """A client that sends to /echo but never reads: the handler's writes
    wait, so it stops reading, so the server stops granting window. What the
    client may send is bounded by the initial windows plus what the server
    queued before it stopped."""
    client = rawh2.Client(app.port, settings_pairs=[(4, 65535)])  # our receive window stays 64 KiB
    client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    block = client.encoder.encode([(":method", "POST"), (":scheme", "http"), (":authority", "localhost"), (":path", "/echo")])
    client.send(rawh2.frame(rawh2.HEADERS, rawh2.END_HEADERS, 1, block))
    client.sock.setblocking(False)
    sent, chunk = 0, b"x" * 16384
    granted = 65535  # the stream's initial window
    deadline = time.time() + 3
    pending = b""
    while time.time() < deadline:
        # Read only frames, not DATA payload consumption: we never grant window back.
        try:
            data = client.sock.recv(1 << 20)
            pending += data
        except BlockingIOError:
            pass
        while len(pending) >= 9 and len(pending) >= 9 + int.from_bytes(pending[:3], "big"):
            length = int.from_bytes(pending[:3], "big")
            kind, stream, payload = pending[3], int.from_bytes(pending[5:9], "big") & 0x7FFFFFFF, pending[9:9 + length]
            pending = pending[9 + length:]
            if kind == rawh2.WINDOW_UPDATE and stream == 1:
                granted += int.from_bytes(payload, "big")
        size = min(len(chunk), granted - sent)
        if size > 0:
            try:
                client.sock.send(rawh2.frame(rawh2.DATA, 0, 1, chunk[:size]))
                sent += size
            except BlockingIOError:
                pass
        time.sleep(0.005)
    # Unread response and request data stop the flow within a few windows.
    assert sent < 2 << 20, "the server kept granting window to a client that does not read (%d bytes)" % sent
    client.close()


def test_unread_body_gets_no_credit(app):
    """RFC 9113 §6.9: a handler that never reads its body gives the peer no
    WINDOW_UPDATE for the stream: the client can send the initial window
    (65,535 bytes) and no more."""
    client = rawh2.Client(app.port)
    client.send(client.headers(1, "/ignore", end_stream=False, method="POST"))
    client.sock.settimeout(0.05)
    sent, window, updates = 0, 65535, []
    deadline = time.time() + 1.5
    while time.time() < deadline:
        size = min(16384, window - sent)
        if size > 0:
            client.send(rawh2.frame(rawh2.DATA, 0, 1, b"u" * size))
            sent += size
        try:
            got = client.read_frame()
        except OSError:
            got = None
        if got and got[0] == rawh2.WINDOW_UPDATE and got[2] == 1:
            updates.append(int.from_bytes(got[3], "big"))
            window += updates[-1]
    assert sent == 65535 and updates == []
    client.send(rawh2.rst_stream(1, 8))
    client.close()


def test_returning_without_finishing_finishes(app):
    assert curl(app.base + "/unfinished").stdout == b"left open\n"
    client = rawh2.Client(app.port)
    client.send(client.headers(1, "/unfinished"))
    while True:
        kind, flags, stream, payload = client.read_frame()
        assert kind != rawh2.RST_STREAM
        if stream == 1 and flags & rawh2.END_STREAM:
            break


def test_cancellation_on_reset_and_on_disconnect(app):
    before = stats(app)["cancelled"]
    client = rawh2.Client(app.port)
    client.send(client.headers(1, "/wait", end_stream=False, method="POST"))
    client.send(rawh2.frame(rawh2.DATA, 0, 1, b"part"))
    time.sleep(0.1)
    client.send(rawh2.rst_stream(1, 8))  # CANCEL
    deadline = time.time() + 5
    while stats(app)["cancelled"] < before + 1 and time.time() < deadline:
        time.sleep(0.02)
    assert stats(app)["cancelled"] == before + 1
    client.close()
    # HTTP/1.1: the client goes away mid-body.
    sock = socket.create_connection(("127.0.0.1", app.port))
    sock.sendall(b"POST /wait HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\npartial")
    time.sleep(0.1)
    sock.close()
    deadline = time.time() + 5
    while stats(app)["cancelled"] < before + 2 and time.time() < deadline:
        time.sleep(0.02)
    assert stats(app)["cancelled"] == before + 2


def test_100_continue_only_when_the_body_is_read(app):
    # A body the handler reads: 100 first, then the answer.
    sock = socket.create_connection(("127.0.0.1", app.port), timeout=5)
    body = b'{"name":"fig"}'
    sock.sendall(b"POST /items HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: %d\r\n\r\n" % len(body))
    assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
    sock.sendall(body)
    assert sock.recv(1000).startswith(b"HTTP/1.1 201")
    sock.close()
    # A body it refuses before reading (declared too long): 413, no 100.
    sock = socket.create_connection(("127.0.0.1", app.port), timeout=5)
    sock.sendall(b"POST /items HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ncontent-length: 5000\r\n\r\n")
    assert sock.recv(1000).startswith(b"HTTP/1.1 413")
    sock.close()


def test_graceful_shutdown_through_the_service_group(app):
    """SIGTERM reaches the ServiceGroup, which drains the server: the 64
    streams in flight on 8 connections (and a curl on its own) all complete,
    then the program exits 0."""
    result = {}

    def fetch():
        result["text"] = curl("-N", app.base + "/stream?count=10&interval=50").stdout.decode()

    def load():
        result["h2load"] = subprocess.run(["h2load", "-n", "64", "-c", "8", "-m", "8",
                                           app.base + "/stream?count=10&interval=50"],
                                          capture_output=True, text=True).stdout

    threads = [threading.Thread(target=fetch), threading.Thread(target=load)]
    for thread in threads:
        thread.start()
    time.sleep(0.25)  # every stream started: each takes 0.5 s
    app.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(timeout=20)
    status = app.wait(timeout=15)
    assert status == 0, "exit status %s: %s" % (status, app.stderr.read()[-2000:])
    assert result["text"].count("tick") == 10
    assert "64 succeeded, 0 failed, 0 errored" in result["h2load"], result["h2load"]
    assert "status codes: 64 2xx" in result["h2load"], result["h2load"]
