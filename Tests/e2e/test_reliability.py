"""Never stall, never spin: cold files on one core, what an attack costs
once it is detected, and idle connections that cost nothing.

CPU figures are the server process's user + system time (/proc), every
thread included. The bounds are wide (several times what a correct server
uses, a small fraction of what the failure each test guards against costs)."""
import os
import re
import select
import socket
import ssl
import subprocess
import time

import pytest

import rawh2
from conftest import Server, evict, require
from test_tls import make_certificate

ONE_CORE = ("taskset", "-c", "0")


def h2load(url, *args, timeout=120):
    require("h2load")
    result = subprocess.run(["taskset", "-c", "1", "h2load", *args, url], capture_output=True, text=True, timeout=timeout)
    for line in result.stdout.splitlines():
        if line.startswith("requests:"):
            parts = line.replace(",", "").split()
            return int(parts[parts.index("succeeded") - 1]), result.stdout
    return 0, result.stdout + result.stderr


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("reliability-certs"), "ec", "localhost")


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
def test_cold_large_files_on_one_core(site, cert, tls):
    """40 × 8 MiB over 4 connections with the file's pages evicted, the
    server on one CPU: every transfer completes, and the server's CPU time
    is of the order of the same load with the file cached (a loop that
    polled for pages, as before, spun for the whole timeout and sent nothing)."""
    args = ("--tls-cert", str(cert[0]), "--tls-key", str(cert[1])) if tls else ()
    server = Server(site, *args, prefix=ONE_CORE)
    try:
        url = server.url + "/large.bin"
        done, output = h2load(url, "-n", "40", "-c", "4", "-m", "1", "-T", "20")
        assert done == 40, output
        before = server.cpu_seconds()
        done, output = h2load(url, "-n", "40", "-c", "4", "-m", "1", "-T", "20")
        assert done == 40, output
        cached = server.cpu_seconds() - before
        evict(site / "large.bin")
        before = server.cpu_seconds()
        done, output = h2load(url, "-n", "40", "-c", "4", "-m", "1", "-T", "20")
        cold = server.cpu_seconds() - before
        assert done == 40, "cold file: %s" % output
        assert cold <= 3 * cached + 0.5, "cold %.2f s of CPU, cached %.2f s" % (cold, cached)
    finally:
        server.stop()


def test_cold_file_over_http11(site):
    """The same for one cold 1 MiB file over HTTP/1.1 and h2c with curl."""
    server = Server(site, prefix=ONE_CORE)
    try:
        path = site / "f.bin"
        path.write_bytes(os.urandom(1 << 20))
        for http2 in (False, True):
            evict(path)
            command = ["curl", "-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}", "-m", "10"]
            command += ["--http2-prior-knowledge"] if http2 else ["--http1.1"]
            result = subprocess.run(command + [server.url + "/f.bin"], capture_output=True, text=True)
            assert result.stdout == "200 %d" % (1 << 20), (http2, result.stdout, result.stderr)
    finally:
        server.stop()


def flood(port, make_chunk, seconds):
    """Sends what make_chunk() returns, as fast as the socket takes it,
    for `seconds`, never reading. Returns whether a GOAWAY arrived (read
    at the end)."""
    client = rawh2.Client(port)
    client.sock.setblocking(False)
    deadline = time.time() + seconds
    pending = b""
    while time.time() < deadline:
        if not pending:
            pending = make_chunk()
        _, writable, _ = select.select([], [client.sock], [], 0.05)
        if not writable:
            continue
        try:
            sent = client.sock.send(pending)
            pending = pending[sent:]
        except (BlockingIOError, InterruptedError):
            continue
        except OSError:
            break  # reset by the server after its linger
    client.sock.setblocking(True)
    client.sock.settimeout(5)
    saw_goaway = None
    while True:
        got = client.read_frame()
        if got is None:
            break
        if got[0] == rawh2.GOAWAY:
            saw_goaway = rawh2.goaway_code(got[3])
            break
    client.close()
    return saw_goaway


def reset_pairs(client_state):
    client, stream = client_state
    chunk = b""
    for _ in range(64):
        chunk += client.headers(stream[0], "/small.bin") + rawh2.rst_stream(stream[0])
        stream[0] += 2
    return chunk


@pytest.mark.parametrize("kind", ["ping", "settings", "reset"])
def test_flood_after_goaway_costs_nothing(site, kind):
    """§5.4.1: after the GOAWAY for a connection error the endpoint MUST
    close the TCP connection. The server stops reading at once: an 8 s flood
    from one connection costs at most 0.3 s of server CPU (it cost 3.3 to
    3.7 s when the server went on reading and discarding)."""
    server = Server(site)
    try:
        before = server.cpu_seconds()
        # Each send holds 4000 frames (about 64 KiB, one server read), so
        # the first read already queues more ACKs than the server allows.
        # With sends of 1000 a quick server could answer read after read
        # until the ACKs overfilled this client's receive buffer; the GOAWAY
        # then waited in the server's socket buffer and was lost when the
        # server reset the connection at the end of its linger.
        if kind == "ping":
            make = lambda: rawh2.ping(1) * 4000
        elif kind == "settings":
            make = lambda: rawh2.settings((6, 4096)) * 4000
        else:
            encoder_client = rawh2.Client.__new__(rawh2.Client)
            import hpack
            encoder_client.encoder = hpack.Encoder()
            state = (encoder_client, [1])
            make = lambda: reset_pairs(state)
        code = flood(server.port, make, 8)
        used = server.cpu_seconds() - before
        assert code == "ENHANCE_YOUR_CALM"
        assert used <= 0.3, "%.2f s of server CPU during an 8 s %s flood" % (used, kind)
    finally:
        server.stop()


def window_dribble(port, seconds=8):
    """A client that sets SETTINGS_INITIAL_WINDOW_SIZE to 4, asks for an
    8 MiB file and opens the window 4 bytes per DATA frame received,
    reconnecting whenever it is cut off, for `seconds`. Returns the tiny
    frames received and the GOAWAY codes seen."""
    deadline = time.time() + seconds
    codes = []
    tiny_frames = 0
    while time.time() < deadline:
        client = rawh2.Client(port, settings_pairs=[(4, 4)])
        client.send(rawh2.window_update(0, 1 << 30) + client.headers(1, "/large.bin"))
        while time.time() < deadline:
            got = client.read_frame()
            if got is None:
                break
            kind, _, stream, payload = got
            if kind == rawh2.DATA and stream == 1:
                tiny_frames += 1
                client.send(rawh2.window_update(1, 4))
            elif kind == rawh2.GOAWAY:
                codes.append(rawh2.goaway_code(payload))
                if codes[-1] != "NO_ERROR":
                    break
        client.close()
    return tiny_frames, codes


def test_window_dribble_is_cut_off(site):
    """A client that keeps its stream window a few bytes wide and opens it
    a few bytes at a time gets a graceful GOAWAY, then ENHANCE_YOUR_CALM;
    while it keeps trying for 8 s (reconnecting each time), the server
    spends under 25% of a core (it spent 3.25 s, nearly half, before)."""
    server = Server(site)
    try:
        before = server.cpu_seconds()
        tiny_frames, codes = window_dribble(server.port)
        used = server.cpu_seconds() - before
        assert "NO_ERROR" in codes and "ENHANCE_YOUR_CALM" in codes, codes[:10]
        assert used < 0.25 * 8, "%.2f s of server CPU over 8 s of dribble (%d tiny frames)" % (used, tiny_frames)
        print("dribble: %.2f s of server CPU over 8 s, %d tiny frames, %d GOAWAYs" % (used, tiny_frames, len(codes)))
    finally:
        server.stop()


def reset_stream_responses(port, connections=20):
    """Opens `connections` connections one after another; on each sends
    batches of 20 HEADERS + RST_STREAM pairs in one write (then a PING, whose
    ACK follows every answer to the batch) until 1000 streams or a GOAWAY.
    Returns (reset streams, responses received to them)."""
    resets = responses = 0
    for _ in range(connections):
        client = rawh2.Client(port)
        stream = 1
        alive = True
        while alive and stream < 2 * 1000:
            batch = b""
            for _ in range(20):
                batch += client.headers(stream, "/small.bin") + rawh2.rst_stream(stream)
                stream += 2
                resets += 1
            try:
                client.send(batch + rawh2.ping(7))
            except OSError:
                break
            while True:
                got = client.read_frame()
                if got is None or got[0] == rawh2.GOAWAY:
                    alive = False
                    break
                if got[0] == rawh2.HEADERS:
                    responses += 1
                elif got[0] == rawh2.PING and got[1] & rawh2.ACK:
                    break
        client.close()
    return resets, responses


def test_rapid_reset_produces_no_responses(site):
    """HEADERS followed in the same write by its RST_STREAM: the stream is
    reset before its handler starts, so at most 1% of the reset streams
    get a response (every one did before)."""
    server = Server(site)
    try:
        resets, responses = reset_stream_responses(server.port)
        assert resets >= 10000
        assert responses <= resets // 100, "%d responses to %d reset streams" % (responses, resets)
    finally:
        server.stop()


def test_idle_connections_cost_no_cpu(site):
    """1000 idle HTTP/2 connections (preface and SETTINGS exchanged, then
    nothing): over 10 s the server uses about no CPU, and its loop counts
    almost no turn that did nothing (a loop that polled would count
    thousands)."""
    server = Server(site, "--idle-timeout", "60s", "--log-level", "debug")
    sockets = []
    try:
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
            sock.sendall(rawh2.PREFACE + rawh2.settings() + rawh2.settings(ack=True))
            sockets.append(sock)
        time.sleep(1)  # handshakes done
        before = server.cpu_seconds()
        time.sleep(10)
        used = server.cpu_seconds() - before
        assert used <= 0.1, "%.2f s of CPU over 10 s with 1000 idle connections" % used
    finally:
        for sock in sockets:
            sock.close()
        server.stop()
    stopped = re.search(r"stopped after (\d+) turns, (\d+) empty turns", server.logs())
    assert stopped, server.logs()[-2000:]
    turns, empty = int(stopped.group(1)), int(stopped.group(2))
    print("idle: %d turns, %d empty" % (turns, empty))
    assert empty <= 50, "%d of %d turns did nothing" % (empty, turns)


FLOOD_CLIENT = """
import socket, sys, time
sys.path.insert(0, %r)
import rawh2
socks = []
for _ in range(%d):
    s = socket.create_connection(("127.0.0.1", %d))
    s.sendall(rawh2.PREFACE + rawh2.settings() + rawh2.settings(ack=True))
    socks.append(s)
time.sleep(%f)
"""


def connection_flood(port, count=5000, hold=1.0):
    """A process that opens `count` idle HTTP/2 connections, holds them
    for `hold` seconds, then exits (closing them all)."""
    import sys
    code = FLOOD_CLIENT % (os.path.dirname(__file__), count, port, hold)
    return subprocess.Popen([sys.executable, "-c", code])


def request_latencies(port, seconds):
    """Sequential 1 KiB GETs on one connection for `seconds`: sorted latencies (s)."""
    client = rawh2.Client(port)
    latencies = []
    stream = 1
    deadline = time.time() + seconds
    while time.time() < deadline:
        started = time.perf_counter()
        client.send(client.headers(stream, "/small.bin"))
        while True:
            got = client.read_frame()
            assert got is not None, "the legitimate connection was closed"
            kind, flags, sid, payload = got
            if sid == stream and flags & rawh2.END_STREAM and kind in (rawh2.DATA, rawh2.HEADERS):
                if kind == rawh2.DATA:
                    client.send(rawh2.window_update(0, len(payload)))
                break
        latencies.append(time.perf_counter() - started)
        stream += 2
        time.sleep(0.001)
    client.close()
    return sorted(latencies)


def p99(values):
    return values[int(len(values) * 0.99)]


def test_connection_flood_is_fair_and_memory_comes_back(site):
    """While 5000 idle connections are opened, an established connection
    keeps being served (new connections are set up a few per turn, between
    other work); after they close, the memory they took is given back, and
    ten floods in a row end where one does. How long its requests wait
    during the flood is a figure of tools/reliability-bench.py (item 4), not
    asserted here: timing on this shared 2-core machine varies by 10x from
    day to day."""
    server = Server(site, "--idle-timeout", "60s")
    try:
        request_latencies(server.port, 0.5)  # warm up
        start = server.anonymous_memory()
        flood = connection_flood(server.port)
        served = request_latencies(server.port, 3)
        flood.wait(timeout=60)
        # Sequential requests with a 1 ms pause: a loop busy only with the
        # flood's set-up (never starving the established connection) serves
        # hundreds in 3 s; one that stalled for the burst would serve few.
        assert len(served) >= 100, "%d requests in 3 s during the flood (p99 %.1f ms)" % (len(served), p99(served) * 1e3)
        time.sleep(2.5)  # closes handled; the loop trims within a second
        after_one = server.anonymous_memory()
        for _ in range(9):
            connection_flood(server.port, hold=0.2).wait(timeout=60)
        time.sleep(2.5)
        after_ten = server.anonymous_memory()
        mib = 1 << 20
        assert after_one <= start + 8 * mib, "%.1f MiB after one flood, %.1f before" % (after_one / mib, start / mib)
        assert after_ten <= after_one + 4 * mib, "%.1f MiB after ten floods, %.1f after one" % (after_ten / mib, after_one / mib)
    finally:
        server.stop()
