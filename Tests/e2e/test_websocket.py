"""WebSockets with swiftlet-websocket-echo. Over HTTP/2 (RFC 8441): a raw
HTTP/2 client opening extended CONNECT streams and speaking RFC 6455
frames on them, and the failures a server must answer with a Close code.
Over HTTP/1.1 (RFC 6455 §4): raw handshakes (good and bad) and the python
`websockets` client. Headless Chromium opens one each way."""
import json
import os
import re
import socket as socket_module
import struct
import subprocess
import time

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

import rawh2
from conftest import BINARY, ExampleServer, require
from test_tls import certs, make_certificate  # noqa: F401 (fixture)

ECHO = os.path.join(os.path.dirname(BINARY), "swiftlet-websocket-echo")
ENABLE_CONNECT_PROTOCOL = 0x8


def EchoServer(root, *args):  # noqa: N802 (it makes a server)
    return ExampleServer(ECHO, *args, str(root))


@pytest.fixture(params=["callback", "async"])
def echo(site, request):
    """The echo server, once with each handler API (`--api`)."""
    server = EchoServer(site, "--api", request.param)
    server.api = request.param
    yield server
    server.stop()


def masked(opcode, payload, fin=True, mask=b"\x12\x34\x56\x78", rsv=0):
    """A client frame (RFC 6455 §5.2), masked unless mask is None."""
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    length = len(payload)
    bit = 0x80 if mask is not None else 0
    if length < 126:
        head += bytes([bit | length])
    elif length < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", length)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", length)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def parse_frames(data):
    """The whole server frames (never masked) in `data`: [(fin, opcode, payload)]."""
    frames = []
    while len(data) >= 2:
        length, offset = data[1] & 0x7F, 2
        if length == 126:
            length, offset = struct.unpack(">H", data[2:4])[0], 4
        elif length == 127:
            length, offset = struct.unpack(">Q", data[2:10])[0], 10
        assert data[1] & 0x80 == 0, "a server frame is never masked"
        if len(data) < offset + length:
            break  # not all here yet
        frames.append((bool(data[0] & 0x80), data[0] & 0x0F, data[offset:offset + length]))
        data = data[offset + length:]
    return frames


class Socket:
    """One WebSocket on an extended CONNECT stream of a raw HTTP/2 client."""

    def __init__(self, port, path="/echo", stream=1, version="13"):
        self.client = rawh2.Client(port)
        self.stream = stream
        self.server_settings = None
        while self.server_settings is None:
            kind, flags, _, payload = self.client.read_frame()
            if kind == rawh2.SETTINGS and not flags & rawh2.ACK:
                self.server_settings = dict(struct.unpack(">HI", payload[i:i + 6]) for i in range(0, len(payload), 6))
        block = self.client.encoder.encode([(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"),
                                            (":path", path), (":authority", "localhost"),
                                            ("sec-websocket-version", version)])
        self.client.send(rawh2.frame(rawh2.HEADERS, rawh2.END_HEADERS, stream, block))
        self.status, self.fields, self.ended = None, {}, False
        while self.status is None:
            kind, flags, got, payload = self.client.read_frame()
            if kind == rawh2.HEADERS and got == stream:
                self.fields = {name.decode() if isinstance(name, bytes) else name: value for name, value in payload}
                self.status = self.fields[":status"]
                self.ended = bool(flags & rawh2.END_STREAM)
        self.received = b""

    def send(self, data, end_stream=False):
        """As DATA frames of at most 16 KiB (the default SETTINGS_MAX_FRAME_SIZE)."""
        for start in range(0, max(len(data), 1), 16384):
            last = start + 16384 >= len(data)
            self.client.send(rawh2.frame(rawh2.DATA, rawh2.END_STREAM if end_stream and last else 0, self.stream,
                                         data[start:start + 16384]))

    def frames(self, count):
        """Reads until `count` whole frames came back on the stream."""
        deadline = time.time() + 10
        while len(parse_frames(self.received)) < count and not self.ended and time.time() < deadline:
            frame = self.client.read_frame()
            if frame is None:
                break
            kind, flags, stream, payload = frame
            if kind == rawh2.DATA and stream == self.stream:
                self.received += payload
                self.ended = bool(flags & rawh2.END_STREAM)
                if payload:
                    self.client.send(rawh2.window_update(0, len(payload)) + rawh2.window_update(stream, len(payload)))
            elif kind == rawh2.RST_STREAM and stream == self.stream:
                self.ended = True
        return parse_frames(self.received)

    def until_end(self):
        deadline = time.time() + 10
        while not self.ended and time.time() < deadline:
            frame = self.client.read_frame()
            if frame is None:
                break
            kind, flags, stream, payload = frame
            if stream == self.stream and kind == rawh2.DATA:
                self.received += payload
                self.ended = bool(flags & rawh2.END_STREAM)
            elif stream == self.stream and kind == rawh2.RST_STREAM:
                self.ended = True
        return parse_frames(self.received)


def close_code(frame):
    fin, opcode, payload = frame
    assert opcode == 0x8, frame
    return struct.unpack(">H", payload[:2])[0], payload[2:].decode()


def test_settings_and_the_opening_handshake(echo):
    socket = Socket(echo.port)
    assert socket.server_settings.get(ENABLE_CONNECT_PROTOCOL) == 1
    assert socket.status == "200" and not socket.ended
    assert "sec-websocket-accept" not in socket.fields, "RFC 8441 §5: no accept value over HTTP/2"


def test_messages_come_back(echo):
    socket = Socket(echo.port)
    socket.send(masked(0x1, "héllo".encode()) + masked(0x2, bytes(range(256))))
    frames = socket.frames(2)
    assert frames == [(True, 0x1, "héllo".encode()), (True, 0x2, bytes(range(256)))]
    # Fragmented, with a ping between the fragments: the pong first, then the message whole.
    socket.send(masked(0x1, b"frag", fin=False) + masked(0x9, b"are you there") + masked(0x0, b"mented"))
    frames = socket.frames(4)
    assert frames[2:] == [(True, 0xA, b"are you there"), (True, 0x1, b"fragmented")]
    # A 40 KiB message, in several DATA frames (within the stream's first window).
    big = os.urandom(40 << 10)
    socket.send(masked(0x2, big))
    assert socket.frames(5)[4] == (True, 0x2, big)
    # The closing handshake: our Close comes back with the code, and the stream ends.
    socket.send(masked(0x8, struct.pack(">H", 1000) + b"done"))
    frames = socket.until_end()
    assert close_code(frames[5]) == (1000, "") and socket.ended


def test_a_stream_ended_without_a_close(echo):
    """The client's side ends with no Close frame (an abnormal closure,
    1006 to the application): its last message is still answered, then the
    server's side ends too, with no Close of its own."""
    socket = Socket(echo.port)
    socket.send(masked(0x1, b"last"), end_stream=True)
    frames = socket.until_end()
    assert socket.ended
    if echo.api == "callback":
        assert frames == [(True, 0x1, b"last")]
    else:
        # The async handler's echo comes after the end, in its own turn: the
        # socket was already closed by then, and its task cancelled.
        assert frames in ([], [(True, 0x1, b"last")])


@pytest.mark.parametrize("frame,code", [
    (masked(0x1, b"x", mask=None), 1002),                  # §5.1: unmasked client frame
    (masked(0x1, b"\xc0\x80"), 1007),                       # §8.1: overlong NUL is not UTF-8
    (masked(0x1, b"x", rsv=0x40), 1002),                    # §5.2: RSV1 without an extension
    (masked(0x3, b""), 1002),                               # §5.2: reserved opcode
    (masked(0x9, b"p" * 126), 1002),                        # §5.5: control frame over 125 bytes
    (masked(0x0, b"x"), 1002),                              # §5.4: continuation with nothing to continue
    (masked(0x8, b"\x03"), 1002),                           # §5.5.1: one-byte close payload
    (masked(0x8, struct.pack(">H", 1005)), 1002),           # §7.4.1: 1005 is never sent
    (b"\x82\xff" + struct.pack(">Q", 2 << 20) + b"\x00\x00\x00\x00", 1009),  # over the 1 MiB limit, refused from its header
])
def test_violations_close_with_the_rfc_code(echo, frame, code):
    socket = Socket(echo.port)
    socket.send(frame)
    frames = socket.until_end()
    assert frames and close_code(frames[-1])[0] == code, frames
    assert socket.ended


def test_other_requests(echo, site):
    # A version it does not speak: 400 naming the one it does (RFC 6455 §4.4).
    socket = Socket(echo.port, version="8")
    assert socket.status == "400" and socket.fields.get("sec-websocket-version") == "13"
    # A WebSocket where none is served: 404.
    assert Socket(echo.port, path="/elsewhere").status == "404"
    # Files are served as by swiftlet.
    result = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "http://127.0.0.1:%d/style.css" % echo.port],
                            capture_output=True)
    assert result.stdout == (site / "style.css").read_bytes()


# RFC 6455 over HTTP/1.1: the Upgrade handshake, then frames on the connection.

KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3's example, and its accept value:
ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


def handshake(port, *lines, version="HTTP/1.1", then=b""):
    """Sends an upgrade request (the default fields, overridden or extended
    by `lines`, "Name:" alone to drop one) and `then` in the same write;
    returns the socket, the response head and what followed it."""
    fields = {"host": "Host: localhost", "upgrade": "Upgrade: websocket", "connection": "Connection: Upgrade",
              "sec-websocket-key": "Sec-WebSocket-Key: " + KEY, "sec-websocket-version": "Sec-WebSocket-Version: 13"}
    for line in lines:
        name, _, value = line.partition(":")
        if value.strip():
            fields[name.lower()] = line
        else:
            fields.pop(name.lower(), None)
    request = "GET /echo %s\r\n%s\r\n\r\n" % (version, "\r\n".join(fields.values()))
    sock = socket_module.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(request.encode() + then)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return sock, head.decode(), rest


def read_until_eof(sock, received=b""):
    """Everything the server sends until it closes the connection."""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return received
        received += chunk


def test_http11_handshake_and_frames(echo):
    """RFC 6455 §4.2.2: 101 with the accept value of §1.3's example key; a
    message sent in the same write as the handshake is answered; after the
    closing handshake the server closes the TCP connection (§7.1.1)."""
    sock, head, rest = handshake(echo.port, then=masked(0x1, b"right away"))
    lines = head.split("\r\n")
    assert lines[0] == "HTTP/1.1 101 Switching Protocols", head
    fields = dict(line.lower().split(": ", 1) for line in lines[1:])
    assert fields["upgrade"] == "websocket" and fields["connection"] == "upgrade"
    assert fields["sec-websocket-accept"] == ACCEPT.lower()
    assert "content-length" not in fields and "transfer-encoding" not in fields
    sock.sendall(masked(0x2, bytes(range(256))) + masked(0x8, struct.pack(">H", 1000)))
    frames = parse_frames(read_until_eof(sock, rest))
    assert frames[:2] == [(True, 0x1, b"right away"), (True, 0x2, bytes(range(256)))]
    assert close_code(frames[2]) == (1000, "") and len(frames) == 3
    sock.close()


def test_http11_with_the_websockets_client(echo):
    """The python `websockets` client: text, binary, a fragmented message,
    a 1 MiB message (the limit), ping, 1000 messages in a row, a clean close."""
    with connect("ws://127.0.0.1:%d/echo" % echo.port, max_size=None) as ws:
        assert ws.response.status_code == 101
        ws.send("héllo")
        assert ws.recv(timeout=10) == "héllo"
        ws.send(b"\x01\x02\xff")
        assert ws.recv(timeout=10) == b"\x01\x02\xff"
        ws.send(["frag", "men", "ted"])
        assert ws.recv(timeout=10) == "fragmented"
        big = os.urandom(1 << 20)
        ws.send(big)
        assert ws.recv(timeout=10) == big
        assert ws.ping(b"are you there").wait(10)
        for number in range(1000):
            ws.send(str(number))
        assert [ws.recv(timeout=10) for _ in range(1000)] == [str(number) for number in range(1000)]
        started = time.time()
    # The client's Close was answered and the server closed TCP first
    # (the client waits up to its close_timeout, 10 s, otherwise).
    assert ws.protocol.close_rcvd.code == 1000
    assert time.time() - started < 2


def test_http11_server_close_and_message_limit(echo):
    """A message over the 1 MiB limit: the server fails the connection with
    1009 (§7.4.1) and closes it."""
    with connect("ws://127.0.0.1:%d/echo" % echo.port, max_size=None) as ws:
        ws.send(b"x" * ((1 << 20) + 1))
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)
    assert ws.protocol.close_rcvd.code == 1009


@pytest.mark.parametrize("frame,code", [
    (masked(0x1, b"x", mask=None), 1002),      # §5.1: unmasked client frame
    (masked(0x1, b"\xc0\x80"), 1007),          # §8.1: not UTF-8
    (masked(0x1, b"frag", fin=False) + masked(0x2, b"x"), 1002),  # §5.4: a new message inside a fragmented one
])
def test_http11_violations(echo, frame, code):
    sock, head, rest = handshake(echo.port)
    assert head.startswith("HTTP/1.1 101 ")
    sock.sendall(frame)
    frames = parse_frames(read_until_eof(sock, rest))
    assert frames and close_code(frames[-1])[0] == code, frames
    sock.close()


@pytest.mark.parametrize("lines,status", [
    # §4.2.2 / §4.4: a version it does not speak: 426 naming the one it does.
    (["Sec-WebSocket-Version: 8"], "426 Upgrade Required"),
    # §4.2.1: a handshake that does not match: 400.
    (["Sec-WebSocket-Key:"], "400 Bad Request"),
    (["Sec-WebSocket-Key: short"], "400 Bad Request"),
    (["Connection: keep-alive"], "400 Bad Request"),
])
def test_http11_bad_handshakes(echo, lines, status):
    sock, head, _ = handshake(echo.port, *lines)
    assert head.startswith("HTTP/1.1 " + status), head
    if status.startswith("426"):
        fields = dict(line.lower().split(": ", 1) for line in head.split("\r\n")[1:])
        assert fields["sec-websocket-version"] == "13" and fields["upgrade"] == "websocket"
        assert "upgrade" in fields["connection"]
    sock.close()


def test_http11_requests_that_do_not_switch(echo, site):
    """RFC 9110 §7.8: "A server MUST ignore an Upgrade header field that is
    received in an HTTP/1.0 request" (so /echo is looked up as a file: 404);
    another protocol asked for (curl's h2c upgrade) gets the file over
    HTTP/1.1."""
    sock, head, _ = handshake(echo.port, version="HTTP/1.0")
    assert head.startswith("HTTP/1.1 404 "), head
    sock.close()
    result = subprocess.run(["curl", "-s", "--http2", "-w", "%{http_version}", "http://127.0.0.1:%d/style.css" % echo.port],
                            capture_output=True)
    assert result.stdout == (site / "style.css").read_bytes() + b"1.1"


@pytest.mark.parametrize("over,api", [("h2", "callback"), ("http/1.1", "async")])
def test_chromium_websocket(tmp_path, certs, over, api):  # noqa: F811
    """Headless Chromium loads a page and opens a WebSocket to /echo,
    exchanges text and binary messages and closes cleanly. Over TLS it
    loads the page over HTTP/2 and opens wss:// on the same connection
    (RFC 8441, the server advertises it: the net log shows the extended
    CONNECT); over cleartext it speaks HTTP/1.1 and opens ws:// with
    the Upgrade handshake. One runs with each handler API."""
    require("chromium")
    root = tmp_path / "page"
    root.mkdir()
    (root / "index.html").write_text(
        "<!doctype html><pre id=report>pending</pre><script>"
        "const log = [];"
        "const ws = new WebSocket(location.origin.replace('http', 'ws') + '/echo');"
        "ws.binaryType = 'arraybuffer';"
        "ws.onopen = () => { ws.send('héllo'); ws.send(new Uint8Array([1, 2, 255]).buffer); };"
        "ws.onmessage = (e) => {"
        "  log.push(typeof e.data === 'string' ? 'text:' + e.data : 'binary:' + Array.from(new Uint8Array(e.data)).join(','));"
        "  if (log.length === 2) ws.close(1000, 'bye');"
        "};"
        "ws.onclose = (e) => { log.push('close:' + e.code + ':' + e.wasClean);"
        "  document.getElementById('report').textContent = log.join(';'); };"
        "ws.onerror = () => { log.push('error'); };"
        # Virtual time stands still while a fetch is in flight, not while a
        # WebSocket is open: without a fetch the budget could run out (and
        # the page be dumped) before the socket even sent its messages.
        "const poll = () => { if (!log.some((entry) => entry.startsWith('close'))) "
        "  fetch('/poll.txt', {cache: 'no-store'}).then(poll, poll); };"
        "poll();"
        "</script>\n")
    (root / "poll.txt").write_text("poll\n")
    cert, key = certs["ec"]
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)] if over == "h2" else []
    server = EchoServer(root, "--api", api, *tls)
    net_log = tmp_path / "net-log.json"
    try:
        result = subprocess.run(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--ignore-certificate-errors",
             "--user-data-dir=%s" % (tmp_path / "profile"), "--virtual-time-budget=10000",
             "--log-net-log=%s" % net_log, "--dump-dom", "%s://localhost:%d/" % (server.scheme, server.port)],
            capture_output=True, text=True, timeout=120)
    finally:
        server.stop()
    report = re.search(r'<pre id="report">(.*?)</pre>', result.stdout)
    assert report, result.stdout[-2000:] + result.stderr[-2000:]
    assert report.group(1) == "text:héllo;binary:1,2,255;close:1000:true", report.group(1)
    log = json.loads(net_log.read_text())
    kinds = {number: name for name, number in log["constants"]["logEventTypes"].items()}
    sent = [event["params"]["headers"] for event in log["events"]
            if kinds.get(event["type"]) == "HTTP2_SESSION_SEND_HEADERS"]
    extended_connect = [head for head in sent if ":protocol: websocket" in head]
    assert len(extended_connect) == (1 if over == "h2" else 0), sent
