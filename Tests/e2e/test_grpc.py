"""gRPC on Swiftlet (SwiftletGRPC) with swiftlet-grpc-echo, called by
python's grpcio (the echo proto compiled by grpcio-tools in the test) over
h2c and TLS: the four call kinds, large messages, 1000 messages on one
stream, metadata both ways, refusals with their status codes; and a raw
HTTP/2 client for what grpcio hides (the server's own deadline, a cancel
mid-stream, requests that are not gRPC)."""
import importlib
import os
import re
import struct
import subprocess
import sys
import time

import grpc
import pytest
from grpc_tools import protoc

import rawh2
from conftest import BINARY, ExampleServer
from test_tls import certs, make_certificate  # noqa: F401 (fixture)

ECHO = os.path.join(os.path.dirname(BINARY), "swiftlet-grpc-echo")
PROTO = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "grpc-echo", "echo.proto")


@pytest.fixture(scope="module")
def echo_pb(tmp_path_factory):
    """echo_pb2 and echo_pb2_grpc, generated from the example's proto."""
    out = tmp_path_factory.mktemp("echo_pb")
    include = os.path.join(os.path.dirname(protoc.__file__), "_proto")
    status = protoc.main(["protoc", "-I", os.path.dirname(PROTO), "-I", include, "--python_out=%s" % out,
                          "--grpc_python_out=%s" % out, os.path.basename(PROTO)])
    assert status == 0
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("echo_pb2"), importlib.import_module("echo_pb2_grpc")
    finally:
        sys.path.remove(str(out))


def EchoServer(*args):  # noqa: N802 (it makes a server)
    return ExampleServer(ECHO, *args)


@pytest.fixture(scope="module", params=["h2c", "tls"])
def channel(request, certs):  # noqa: F811
    """A grpcio channel to the echo server, over h2c and over TLS."""
    if request.param == "h2c":
        server = EchoServer()
        chan = grpc.insecure_channel("127.0.0.1:%d" % server.port, options=LARGE)
    else:
        cert, key = certs["ec"]
        server = EchoServer("--tls-cert", str(cert), "--tls-key", str(key))
        credentials = grpc.ssl_channel_credentials(root_certificates=cert.read_bytes())  # self-signed
        chan = grpc.secure_channel("localhost:%d" % server.port, credentials, options=LARGE)
    yield chan
    chan.close()
    server.stop()


LARGE = [("grpc.max_receive_message_length", 64 << 20), ("grpc.max_send_message_length", 64 << 20)]


def stub(echo_pb, chan):
    return echo_pb[1].EchoStub(chan)


def request(echo_pb, text):
    return echo_pb[0].EchoRequest(text=text)


def test_unary(echo_pb, channel):
    response, call = stub(echo_pb, channel).Get.with_call(request(echo_pb, "hello"), timeout=10)
    assert response.text == "hello"
    assert call.code() == grpc.StatusCode.OK


def test_server_streaming(echo_pb, channel):
    responses = stub(echo_pb, channel).Expand(request(echo_pb, "one two three"), timeout=10)
    assert [r.text for r in responses] == ["one", "two", "three"]


def test_client_streaming(echo_pb, channel):
    response = stub(echo_pb, channel).Collect(iter([request(echo_pb, w) for w in ["one", "two", "three"]]), timeout=10)
    assert response.text == "one two three"


def test_bidirectional_1000_messages_on_one_stream(echo_pb, channel):
    texts = ["message %d" % n for n in range(1000)]
    responses = stub(echo_pb, channel).Update(iter([request(echo_pb, t) for t in texts]), timeout=30)
    assert [r.text for r in responses] == texts


def test_4_mib_messages_both_ways(echo_pb, channel):
    text = "x" * (4 << 20)
    assert stub(echo_pb, channel).Get(request(echo_pb, text), timeout=30).text == text
    responses = stub(echo_pb, channel).Update(iter([request(echo_pb, text), request(echo_pb, "small")]), timeout=30)
    assert [len(r.text) for r in responses] == [4 << 20, 5]


def test_metadata_round_trip(echo_pb, channel):
    """Request metadata x-… comes back as response metadata and trailing
    metadata; binary values (-bin) go base64 on the wire both ways."""
    metadata = (("x-user", "ada"), ("x-key-bin", b"\x00\x01\xfe\xff"))
    response, call = stub(echo_pb, channel).Get.with_call(request(echo_pb, "m"), metadata=metadata, timeout=10)
    assert response.text == "m"
    assert ("x-user", "ada") in call.initial_metadata()
    assert ("x-key-bin", b"\x00\x01\xfe\xff") in call.initial_metadata()
    assert ("x-user", "ada") in call.trailing_metadata()
    assert ("x-key-bin", b"\x00\x01\xfe\xff") in call.trailing_metadata()


def test_unknown_method_is_unimplemented(channel):
    call = channel.unary_unary("/echo.Echo/Nope", request_serializer=lambda b: b, response_deserializer=lambda b: b)
    with pytest.raises(grpc.RpcError) as failure:
        call(b"", timeout=10)
    assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_compressed_requests_are_unimplemented(echo_pb, channel):
    """grpc-encoding gzip is not negotiated: UNIMPLEMENTED, and the answer
    names what the server accepts (grpc-accept-encoding: identity)."""
    with pytest.raises(grpc.RpcError) as failure:
        stub(echo_pb, channel).Get(request(echo_pb, "z" * 1000), timeout=10, compression=grpc.Compression.Gzip)
    assert failure.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_client_deadline(echo_pb, channel):
    """A bidirectional call whose client never ends its side: the deadline
    (sent as grpc-timeout) ends it with DEADLINE_EXCEEDED."""
    def forever():
        yield request(echo_pb, "first")
        time.sleep(5)

    started = time.time()
    responses = stub(echo_pb, channel).Update(forever(), timeout=0.5)
    with pytest.raises(grpc.RpcError) as failure:
        list(responses)
    assert failure.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert time.time() - started < 3


def test_message_over_the_limit():
    server = EchoServer("--max-message-size", "1024")
    try:
        chan = grpc.insecure_channel("127.0.0.1:%d" % server.port)
        call = chan.unary_unary("/echo.Echo/Get", request_serializer=lambda b: b, response_deserializer=lambda b: b)
        with pytest.raises(grpc.RpcError) as failure:
            call(b"\x0a\x80\x10" + b"y" * 2048, timeout=10)
        assert failure.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert call(b"\x0a\x02ok", timeout=10) == b"\x0a\x02ok", "the connection still serves"
        chan.close()
    finally:
        server.stop()


# Raw HTTP/2: what grpcio does not let a test see.

@pytest.fixture(scope="module")
def h2c():
    server = EchoServer()
    yield server
    server.stop()


def grpc_headers(client, stream, path="/echo.Echo/Update", extra=(), end_stream=False):
    block = client.encoder.encode([(":method", "POST"), (":scheme", "http"), (":authority", "localhost"), (":path", path),
                                   ("content-type", "application/grpc"), ("te", "trailers"), *extra])
    return rawh2.frame(rawh2.HEADERS, rawh2.END_HEADERS | (rawh2.END_STREAM if end_stream else 0), stream, block)


def message(text):
    encoded = text.encode()
    return b"\x00" + struct.pack(">I", len(encoded) + 2) + b"\x0a" + bytes([len(encoded)]) + encoded


def read_stream(client, stream, until_end=True, deadline=10):
    """Frames of `stream`: (heads, data bytes, ended, reset code)."""
    heads, data, ended, reset = [], b"", False, None
    stop = time.time() + deadline
    while not ended and reset is None and time.time() < stop:
        frame = client.read_frame()
        if frame is None:
            break
        kind, flags, got, payload = frame
        if got != stream:
            continue
        if kind == rawh2.HEADERS:
            heads.append({(n.decode() if isinstance(n, bytes) else n): (v.decode() if isinstance(v, bytes) else v)
                          for n, v in payload})
            ended = bool(flags & rawh2.END_STREAM)
        elif kind == rawh2.DATA:
            data += payload
            ended = bool(flags & rawh2.END_STREAM)
            if not until_end and data:
                break
        elif kind == rawh2.RST_STREAM:
            reset = struct.unpack(">I", payload)[0]
    return heads, data, ended, reset


def test_server_enforces_grpc_timeout(h2c):
    """grpc-timeout: 200m and a client that sends nothing more: the server
    itself ends the call with DEADLINE_EXCEEDED (4) in its trailers."""
    client = rawh2.Client(h2c.port)
    started = time.time()
    client.send(grpc_headers(client, 1, extra=[("grpc-timeout", "200m")]))
    heads, _, ended, _ = read_stream(client, 1)
    assert ended and heads[-1].get("grpc-status") == "4", heads
    assert 0.15 < time.time() - started < 3
    # The client's side is still open (it never sent END_STREAM): closing
    # the connection ends it (a real client resets the stream on the status).
    client.close()


def test_client_cancel_mid_stream(h2c):
    """RST_STREAM (CANCEL) in the middle of a bidirectional call: the server
    stops that stream, and the connection serves the next call."""
    client = rawh2.Client(h2c.port)
    client.send(grpc_headers(client, 1) + rawh2.frame(rawh2.DATA, 0, 1, message("first")))
    heads, data, ended, _ = read_stream(client, 1, until_end=False)
    assert heads[0][":status"] == "200" and data.endswith(b"first") and not ended
    client.send(rawh2.rst_stream(1, 8))
    client.send(grpc_headers(client, 3, path="/echo.Echo/Get") + rawh2.frame(rawh2.DATA, rawh2.END_STREAM, 3, message("next")))
    heads, data, ended, _ = read_stream(client, 3)
    assert ended and heads[-1].get("grpc-status") == "0" and data.endswith(b"next")
    client.close()


def test_trailers_only_and_not_grpc(h2c):
    """A malformed path gets a Trailers-Only UNIMPLEMENTED (one HEADERS with
    END_STREAM); a request that is not gRPC gets plain HTTP answers."""
    client = rawh2.Client(h2c.port)
    client.send(grpc_headers(client, 1, path="/no-method", end_stream=True))
    heads, data, ended, _ = read_stream(client, 1)
    assert len(heads) == 1 and ended and data == b""
    assert heads[0][":status"] == "200" and heads[0]["grpc-status"] == "12" and heads[0]["content-type"] == "application/grpc"
    client.close()
    get = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge",
                          "http://127.0.0.1:%d/echo.Echo/Get" % h2c.port], capture_output=True, text=True)
    assert get.stdout == "405"
    text = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--http2-prior-knowledge", "-d", "x",
                           "-H", "content-type: text/plain", "http://127.0.0.1:%d/echo.Echo/Get" % h2c.port],
                          capture_output=True, text=True)
    assert text.stdout == "415"
    http11 = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--http1.1", "-d", "x",
                             "-H", "content-type: application/grpc", "http://127.0.0.1:%d/echo.Echo/Get" % h2c.port],
                            capture_output=True, text=True)
    assert http11.stdout == "505"


def test_flag_validation():
    result = subprocess.run([ECHO, "--max-message-size", "0"], capture_output=True, text=True, timeout=20)
    assert result.returncode != 0 and "--max-message-size" in result.stderr
    result = subprocess.run([ECHO, "--tls-cert", "/nonexistent.pem"], capture_output=True, text=True, timeout=20)
    assert result.returncode != 0 and "--tls-key" in result.stderr


def test_sigterm_drains_calls_in_progress(echo_pb):
    """SIGTERM: the call in progress goes on to its end (GOAWAY lets it
    finish), then the server exits 0; new connections are refused."""
    import queue
    import signal as signals
    server = EchoServer()
    try:
        chan = grpc.insecure_channel("127.0.0.1:%d" % server.port)
        outgoing = queue.Queue()
        responses = stub(echo_pb, chan).Update(iter(outgoing.get, None), timeout=20)
        outgoing.put(request(echo_pb, "before"))
        assert next(responses).text == "before"
        server.process.send_signal(signals.SIGTERM)
        time.sleep(0.5)
        outgoing.put(request(echo_pb, "after"))
        assert next(responses).text == "after"
        outgoing.put(None)
        assert list(responses) == [] and responses.code() == grpc.StatusCode.OK
        assert server.process.wait(timeout=10) == 0
        refused = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "http://127.0.0.1:%d/" % server.port],
                                 capture_output=True)
        assert refused.returncode == 7, "connection refused"
        chan.close()
    finally:
        if server.process.poll() is None:
            server.stop()


def test_memory_stays_flat_over_many_calls(tmp_path):
    """Thousands of unary calls (h2load, 16 at a time on 4 connections) leave
    the server's resident memory where the first thousand put it. A function
    value re-wrapped on every call once grew a chain of thunks by one link
    per RPC: about 300 bytes and a little more CPU per call, without end."""
    message = b"\x0a\x05hello"  # EchoRequest { text = "hello" }
    data = tmp_path / "get.grpc"
    data.write_bytes(b"\x00" + len(message).to_bytes(4, "big") + message)
    server = EchoServer()

    def calls(count):
        out = subprocess.run(["h2load", "-n", str(count), "-c", "4", "-m", "4", "-d", str(data),
                              "-H", "content-type: application/grpc", "-H", "te: trailers",
                              "http://127.0.0.1:%d/echo.Echo/Get" % server.port],
                             capture_output=True, text=True, timeout=120).stdout
        assert "%d succeeded" % count in out, out

    def resident_kib():
        status = open("/proc/%d/status" % server.process.pid).read()
        return int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))

    try:
        calls(2000)
        before = resident_kib()
        calls(10000)
        grown = resident_kib() - before
        assert grown < 1024, "resident memory grew %d KiB over 10 000 calls" % grown
    finally:
        server.stop()
