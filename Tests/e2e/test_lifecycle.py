"""Graceful shutdown under load, and the access log."""
import os
import re
import signal
import socket
import subprocess
import threading
import time

import hpack
import hyperframe.frame

from conftest import Server, curl, require


def graceful_client(port, outcomes, stop):
    """A frame-level client (hyperframe + hpack) that keeps 8 requests in
    flight on one connection, answers PINGs as the graceful shutdown of
    RFC 9113 §6.8 expects, and records each stream's fate and the last
    stream id of the final GOAWAY. (python-h2 closes its side on the first
    GOAWAY and then rejects the server's PING, so it cannot take part.)"""
    sock = socket.create_connection(("127.0.0.1", port), timeout=20)
    encoder, decoder = hpack.Encoder(), hpack.Decoder()
    sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + hyperframe.frame.SettingsFrame(0).serialize())
    buffer = b""
    next_id = 1
    open_streams, bodies, last_ids = {}, {}, []
    going_away = False

    def start():
        nonlocal next_id
        block = encoder.encode([(":method", "GET"), (":scheme", "http"), (":authority", "x"), (":path", "/small.bin")])
        frame = hyperframe.frame.HeadersFrame(next_id, block)
        frame.flags.add("END_HEADERS")
        frame.flags.add("END_STREAM")
        open_streams[next_id] = None
        bodies[next_id] = b""
        next_id += 2
        return frame.serialize()

    sock.sendall(b"".join(start() for _ in range(8)))
    # Read until the server closes: after the final GOAWAY and the last stream.
    while True:
        try:
            data = sock.recv(65536)
        except OSError:
            break
        if not data:
            break
        buffer += data
        out = b""
        while len(buffer) >= 9:
            frame, length = hyperframe.frame.Frame.parse_frame_header(memoryview(buffer[:9]))
            if len(buffer) < 9 + length:
                break
            frame.parse_body(memoryview(buffer[9:9 + length]))
            buffer = buffer[9 + length:]
            if isinstance(frame, hyperframe.frame.SettingsFrame) and "ACK" not in frame.flags:
                ack = hyperframe.frame.SettingsFrame(0)
                ack.flags.add("ACK")
                out += ack.serialize()
            elif isinstance(frame, hyperframe.frame.PingFrame) and "ACK" not in frame.flags:
                pong = hyperframe.frame.PingFrame(0, frame.opaque_data)
                pong.flags.add("ACK")
                out += pong.serialize()
            elif isinstance(frame, hyperframe.frame.HeadersFrame):
                headers = dict(decoder.decode(frame.data))
                open_streams[frame.stream_id] = headers.get(":status")
                if "END_STREAM" in frame.flags:
                    open_streams.pop(frame.stream_id, None)
                    outcomes.append((frame.stream_id, "bad"))
            elif isinstance(frame, hyperframe.frame.DataFrame):
                bodies[frame.stream_id] += frame.data
                if frame.data:
                    out += hyperframe.frame.WindowUpdateFrame(0, len(frame.data)).serialize()
                if "END_STREAM" in frame.flags:
                    status = open_streams.pop(frame.stream_id, None)
                    fine = status == "200" and len(bodies[frame.stream_id]) == 1024
                    outcomes.append((frame.stream_id, "done" if fine else "bad"))
                    if not going_away:
                        out += start()
            elif isinstance(frame, hyperframe.frame.RstStreamFrame):
                open_streams.pop(frame.stream_id, None)
                outcomes.append((frame.stream_id, "reset"))
            elif isinstance(frame, hyperframe.frame.GoAwayFrame):
                going_away = True
                last_ids.append(frame.last_stream_id)
        try:
            if out:
                sock.sendall(out)
        except OSError:
            break
    # Streams above the final last id were never processed: a client retries them.
    final = last_ids[-1] if last_ids else None
    for stream in open_streams:
        outcomes.append((stream, "unprocessed" if final is not None and stream > final else "lost"))
    stop.append(final)
    stop.append(last_ids)
    sock.close()


def test_graceful_shutdown_under_load(site):
    """No request the server accepted fails: every stream at or below the
    final GOAWAY's last stream id completes with its whole body."""
    server = Server(site, "--graceful-timeout", "10s")
    results = [([], []) for _ in range(4)]
    threads = [threading.Thread(target=graceful_client, args=(server.port, outcomes, final))
               for outcomes, final in results]
    for thread in threads:
        thread.start()
    time.sleep(0.7)
    assert server.stop(signal.SIGTERM) == 0, "exit code 0 after a graceful shutdown"
    for thread in threads:
        thread.join(timeout=30)
    total_done = 0
    for outcomes, final in results:
        assert final and final[0] is not None, "each connection got GOAWAY"
        last = final[0]
        assert final[1][0] == 0x7FFFFFFF and len(final[1]) == 2, "two GOAWAYs: 2^31-1, then the last stream id"
        for stream, fate in outcomes:
            if stream <= last:
                assert fate == "done", "stream %d (≤ last id %d) ended %s" % (stream, last, fate)
            else:
                assert fate in ("unprocessed", "reset"), (stream, fate)
        total_done += sum(1 for _, fate in outcomes if fate == "done")
    assert total_done > 100, "the load was real"


def test_sigint_also_shuts_down_gracefully(site):
    server = Server(site)
    assert server.stop(signal.SIGINT) == 0


def test_access_log_lines_and_reopen(site, tmp_path):
    log = tmp_path / "access.log"
    server = Server(site, "--access-log", str(log))
    try:
        curl("-A", "tester/1.0", "-e", "http://ref.example/", "-o", "/dev/null", server.url + "/style.css?x=1")
        curl("-o", "/dev/null", server.url + "/missing", http2=False)
        deadline = time.time() + 5
        while time.time() < deadline and (not log.exists() or log.read_text().count("\n") < 2):
            time.sleep(0.05)
        lines = log.read_text().splitlines()
        assert len(lines) == 2, lines
        assert re.fullmatch(r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "GET /style\.css\?x=1 HTTP/2\.0" 200 22 '
                            r'"http://ref\.example/" "tester/1\.0" h2 1 \d+\.\d{6}', lines[0]), lines[0]
        assert re.fullmatch(r'127\.0\.0\.1 - - \[.*\] "GET /missing HTTP/1\.1" 404 14 "-" "curl/[\d.]+" http/1\.1 0 \d+\.\d{6}', lines[1]), lines[1]
        # logrotate: move the file, signal, and new lines go to a new file.
        os.rename(log, tmp_path / "access.log.1")
        server.process.send_signal(signal.SIGUSR1)
        time.sleep(0.3)
        curl("-o", "/dev/null", server.url + "/index.html")
        deadline = time.time() + 5
        while time.time() < deadline and not log.exists():
            time.sleep(0.05)
        time.sleep(0.3)
        assert "GET /index.html" in log.read_text()
        assert "GET /index.html" not in (tmp_path / "access.log.1").read_text()
    finally:
        server.stop()


def test_access_log_to_stdout(site):
    server = Server(site, "--access-log", "-")
    try:
        curl("-o", "/dev/null", server.url + "/index.html")
        time.sleep(0.4)
    finally:
        server.stop()
    out = server.process.stdout.read()
    assert '"GET /index.html HTTP/2.0" 200' in out


def test_silent_cleartext_connection_is_closed(server):
    """A connection that never sends a byte cannot be held open: the first
    bytes must arrive within the head timeout (--header-block-timeout)."""
    running = server("--header-block-timeout", "300ms")
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as connection:
        started = time.monotonic()
        assert connection.recv(1) == b""
        assert time.monotonic() - started < 8
    assert curl("-o", "/dev/null", "-w", "%{http_code}", running.url + "/").stdout == b"200"


def test_first_request_after_a_quiet_spell_succeeds(server):
    """The loop sleeps while nothing happens; the first connection after a
    quiet spell longer than the first-bytes timeout must not be timed out
    the moment it is accepted (it was: the accept callback measured from
    the time before the wait). Both HTTP/2 and HTTP/1.1, on each backend."""
    for io in ("uring", "epoll"):
        running = server("--io", io, "--header-block-timeout", "500ms")
        time.sleep(1.5)
        result = curl("-o", "/dev/null", "-w", "%{http_code}", running.url + "/")
        assert result.stdout == b"200", (io, result)
        time.sleep(1.5)
        result = curl("--http1.1", "-o", "/dev/null", "-w", "%{http_code}", running.url + "/", http2=False)
        assert result.stdout == b"200", (io, result)
