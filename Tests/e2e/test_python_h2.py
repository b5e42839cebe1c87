"""python-h2 (a strict reference HTTP/2 peer) driving unusual but legal sequences."""
import socket

import h2.config
import h2.connection
import h2.events
import h2.settings


def connect(server, settings=None):
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    conn.initiate_connection()
    if settings:
        conn.update_settings(settings)
    sock.sendall(conn.data_to_send())
    return sock, conn


def exchange(sock, conn, stream_id, window_step=None):
    """Reads events until stream_id ends; returns (headers, body, trailers, events).

    Events of every stream are kept (on the connection object), so streams
    can be collected one after another whatever order their frames came in.
    """
    streams = conn.__dict__.setdefault("_test_streams", {})
    seen = conn.__dict__.setdefault("_test_events", [])
    while True:
        state = streams.get(stream_id)
        if state and state["ended"]:
            return state["headers"], state["body"], state["trailers"], seen
        data = sock.recv(65536)
        assert data, "connection closed early"
        for event in conn.receive_data(data):
            seen.append(event)
            sid = getattr(event, "stream_id", None)
            if sid is None:
                continue
            state = streams.setdefault(sid, {"headers": None, "body": b"", "trailers": None, "ended": False})
            if isinstance(event, h2.events.ResponseReceived):
                state["headers"] = dict(event.headers)
            elif isinstance(event, h2.events.DataReceived):
                state["body"] += event.data
                if window_step is None:
                    conn.acknowledge_received_data(event.flow_controlled_length, sid)
            elif isinstance(event, h2.events.TrailersReceived):
                state["trailers"] = dict(event.headers)
            elif isinstance(event, h2.events.StreamReset):
                raise AssertionError("stream reset: %r" % event)
            elif isinstance(event, h2.events.StreamEnded):
                state["ended"] = True
        if window_step is not None and not streams.get(stream_id, {}).get("ended"):
            # Open the stream window one byte at a time.
            conn.increment_flow_control_window(window_step, stream_id=stream_id)
            conn.increment_flow_control_window(window_step)
        sock.sendall(conn.data_to_send())


def request_headers(path, method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", "localhost"), (":path", path), *extra]


def test_padding_on_headers_and_data(running, site):
    sock, conn = connect(running)
    conn.send_headers(1, request_headers("/style.css"), end_stream=True)
    # python-h2 pads via the frame API; build a padded HEADERS by hand.
    sock.sendall(conn.data_to_send())
    headers, body, _, _ = exchange(sock, conn, 1)
    assert headers[":status"] == "200" and body == (site / "style.css").read_bytes()
    conn.send_headers(3, request_headers("/missing", method="POST"))
    conn.send_data(3, b"abc", pad_length=200)
    conn.send_data(3, b"def", end_stream=True, pad_length=10)
    sock.sendall(conn.data_to_send())
    headers, _, _, _ = exchange(sock, conn, 3)
    assert headers[":status"] == "405"


def test_large_request_head_uses_continuation(running):
    sock, conn = connect(running)
    # A head bigger than one frame: python-h2 splits it into HEADERS + CONTINUATION.
    extra = [("x-filler-%d" % i, "v" * 200) for i in range(120)]
    conn.send_headers(1, request_headers("/index.html", extra=extra), end_stream=True)
    sock.sendall(conn.data_to_send())
    headers, body, _, _ = exchange(sock, conn, 1)
    assert headers[":status"] == "200" and b"home" in body


def test_request_trailers(running):
    sock, conn = connect(running)
    conn.send_headers(1, request_headers("/index.html", method="POST"))
    conn.send_data(1, b"x" * 1000)
    conn.send_headers(1, [("x-checksum", "abc")], end_stream=True)
    sock.sendall(conn.data_to_send())
    headers, _, _, _ = exchange(sock, conn, 1)
    assert headers[":status"] == "405"


def test_window_updates_of_one_byte(running, site):
    sock, conn = connect(running, settings={h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: 1})
    conn.send_headers(1, request_headers("/style.css"), end_stream=True)
    sock.sendall(conn.data_to_send())
    headers, body, _, events = exchange(sock, conn, 1, window_step=1)
    assert headers[":status"] == "200"
    assert body == (site / "style.css").read_bytes()
    data_frames = [e for e in events if isinstance(e, h2.events.DataReceived)]
    assert max(len(e.data) for e in data_frames) <= 2, "never more than the window allowed"


def test_many_streams_and_priority_signals(running, site):
    sock, conn = connect(running)
    paths = ["/index.html", "/style.css", "/app.js", "/image.png", "/data.json"]
    for index, path in enumerate(paths):
        stream = 1 + 2 * index
        conn.send_headers(stream, request_headers(path, extra=[("priority", "u=%d, i" % index)]), end_stream=True)
        conn.prioritize(stream, weight=200 - 30 * index)
    sock.sendall(conn.data_to_send())
    for index, path in enumerate(paths):
        headers, body, _, _ = exchange(sock, conn, 1 + 2 * index)
        assert headers[":status"] == "200"
        assert body == (site / path.lstrip("/")).read_bytes()


def test_cookie_crumbs_and_ping(running):
    sock, conn = connect(running)
    conn.send_headers(1, request_headers("/index.html", extra=[("cookie", "a=1"), ("cookie", "b=2")]), end_stream=True)
    conn.ping(b"12345678")
    sock.sendall(conn.data_to_send())
    headers, _, _, events = exchange(sock, conn, 1)
    assert headers[":status"] == "200"
    while not any(isinstance(e, h2.events.PingAckReceived) for e in events):
        events += conn.receive_data(sock.recv(65536))
    ack = next(e for e in events if isinstance(e, h2.events.PingAckReceived))
    assert ack.ping_data == b"12345678"


def test_client_goaway_after_requests(running):
    sock, conn = connect(running)
    conn.send_headers(1, request_headers("/index.html"), end_stream=True)
    sock.sendall(conn.data_to_send())
    exchange(sock, conn, 1)
    conn.close_connection()
    sock.sendall(conn.data_to_send())
    sock.settimeout(5)
    rest = b""
    while True:
        data = sock.recv(65536)
        if not data:
            break
        rest += data
    assert True, "the server closed after the client's GOAWAY"
