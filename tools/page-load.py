#!/usr/bin/env python3
"""Page-load benchmark: time to the last byte of a page's resources by urgency.

A page of index.html plus 40 assets (10 stylesheets, 10 scripts, 20 images)
is requested at once, as a browser does, with browser-like priorities in
both dialects: the RFC 9218 `priority` header and Chrome's RFC 7540 scheme
(each request an exclusive dependency of the previous one of equal or higher
priority, weights 256/220/147). The client grants connection flow-control
window at a fixed rate, emulating a slow link, so the servers' schedulers,
not loopback bandwidth, decide when each resource completes.

Reported per server (median of rounds): time to the last byte of the most
urgent group (HTML and CSS), of the scripts, and of everything, plus the
ratio against the base server. Servers run pinned to CPU 0, the client on CPU 1.

    page-load.py --swiftlet .build/release/swiftlet [--rounds 3] [--rate-mbit 16]
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import hpack
import hyperframe.frame as hf

GROUPS = [("html", "index.html", 1, 20_000, 0, False, 256)]
GROUPS += [("css", "style%d.css" % i, 1, 30_000, 0, False, 256) for i in range(10)]
GROUPS += [("js", "app%d.js" % i, 1, 60_000, 1, False, 220) for i in range(10)]
GROUPS += [("img", "image%d.jpg" % i, 1, 200_000, 5, True, 147) for i in range(20)]


def make_site(root):
    for _, name, _, size, _, _, _ in GROUPS:
        with open(os.path.join(root, name), "wb") as handle:
            handle.write(os.urandom(size))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(name, command, port):
    process = subprocess.Popen("exec taskset -c 0 " + command, shell=True, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 20
    while time.time() < deadline:
        if process.poll() is not None:
            raise SystemExit("%s exited at start" % name)
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.1)
    raise SystemExit("%s did not listen" % name)


def stop(process):
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=10)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(process.pid, signal.SIGKILL)


def load_page(port, rate_bytes_per_second):
    """One page load; returns {group: seconds to its last byte}."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    encoder, decoder = hpack.Encoder(), hpack.Decoder()
    settings = hf.SettingsFrame(0, settings={hf.SettingsFrame.INITIAL_WINDOW_SIZE: 16 << 20,
                                             hf.SettingsFrame.ENABLE_PUSH: 0})
    out = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + settings.serialize()
    stream_of = {}
    last_by_weight = []  # Chrome's scheme: depend on the last stream of >= weight
    for index, (group, name, _, _, urgency, incremental, weight) in enumerate(GROUPS):
        stream = 1 + 2 * index
        stream_of[stream] = group
        parent = 0
        for previous_stream, previous_weight in reversed(last_by_weight):
            if previous_weight >= weight:
                parent = previous_stream
                break
        last_by_weight.append((stream, weight))
        fields = [(":method", "GET"), (":scheme", "http"), (":authority", "localhost"), (":path", "/" + name),
                  ("priority", "u=%d%s" % (urgency, ", i" if incremental else ""))]
        frame = hf.HeadersFrame(stream, encoder.encode(fields))
        for flag in ("END_HEADERS", "END_STREAM", "PRIORITY"):
            frame.flags.add(flag)
        frame.depends_on, frame.stream_weight, frame.exclusive = parent, weight - 1, True
        out += frame.serialize()
    started = time.monotonic()
    sock.sendall(out)
    buffer = b""
    finished = {}
    pending = set(stream_of)
    granted = 65_535
    consumed = 0
    sock.settimeout(0.005)
    while pending:
        # Grant connection window at the link rate.
        allowed = int(rate_bytes_per_second * (time.monotonic() - started)) + 65_535
        if allowed - granted >= 4096:
            sock.sendall(hf.WindowUpdateFrame(0, allowed - granted).serialize())
            granted = allowed
        try:
            data = sock.recv(1 << 16)
        except socket.timeout:
            continue
        if not data:
            raise RuntimeError("connection closed with %d streams open" % len(pending))
        buffer += data
        replies = b""
        while len(buffer) >= 9:
            frame, length = hf.Frame.parse_frame_header(memoryview(buffer[:9]))
            if len(buffer) < 9 + length:
                break
            frame.parse_body(memoryview(buffer[9:9 + length]))
            buffer = buffer[9 + length:]
            if isinstance(frame, hf.SettingsFrame) and "ACK" not in frame.flags:
                ack = hf.SettingsFrame(0)
                ack.flags.add("ACK")
                replies += ack.serialize()
            elif isinstance(frame, hf.PingFrame) and "ACK" not in frame.flags:
                pong = hf.PingFrame(0, frame.opaque_data)
                pong.flags.add("ACK")
                replies += pong.serialize()
            elif isinstance(frame, hf.HeadersFrame):
                decoder.decode(frame.data)
            elif isinstance(frame, hf.DataFrame):
                consumed += frame.flow_controlled_length
            if isinstance(frame, (hf.DataFrame, hf.HeadersFrame)) and "END_STREAM" in frame.flags:
                pending.discard(frame.stream_id)
                finished[frame.stream_id] = time.monotonic() - started
            elif isinstance(frame, hf.RstStreamFrame) or isinstance(frame, hf.GoAwayFrame):
                raise RuntimeError("server reset: %r" % frame)
        if replies:
            sock.sendall(replies)
    sock.close()
    result = {}
    for stream, seconds in finished.items():
        group = stream_of[stream]
        result[group] = max(result.get(group, 0), seconds)
    result["urgent"] = max(result["html"], result["css"])
    result["all"] = max(finished.values())
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--swiftlet", required=True)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate-mbit", type=float, default=16.0)
    parser.add_argument("--peers", default="h2o nginx nghttpd")
    args = parser.parse_args()
    rate = args.rate_mbit * 1e6 / 8
    root = tempfile.mkdtemp(prefix="page-load-")
    run = tempfile.mkdtemp(prefix="page-load-run-")
    make_site(root)
    servers = {}
    port = free_port()
    servers["swiftlet"] = "%s --host 127.0.0.1 --port %d %s" % (os.path.abspath(args.swiftlet), port, root)
    ports = {"swiftlet": port}
    if "h2o" in args.peers.split() and shutil.which("h2o"):
        port = free_port()
        conf = os.path.join(run, "h2o.conf")
        with open(conf, "w") as handle:
            # As root, h2o would switch to nobody, who cannot write the run directory.
            handle.write("user: root\nnum-threads: 1\nerror-log: %s/h2o.log\npid-file: %s/h2o.pid\nlisten:\n  host: 127.0.0.1\n  port: %d\n"
                         "hosts:\n  default:\n    paths:\n      /:\n        file.dir: %s\n" % (run, run, port, root))
        servers["h2o"] = "h2o -c %s" % conf
        ports["h2o"] = port
    if "nginx" in args.peers.split() and shutil.which("nginx"):
        port = free_port()
        conf = os.path.join(run, "nginx.conf")
        with open(conf, "w") as handle:
            handle.write("daemon off;\nuser root;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s/nginx.log;\n"
                         "events { worker_connections 1024; }\nhttp {\n  access_log off;\n  sendfile on;\n"
                         "  client_body_temp_path %s; proxy_temp_path %s; fastcgi_temp_path %s; uwsgi_temp_path %s; scgi_temp_path %s;\n"
                         "  server { listen 127.0.0.1:%d http2; root %s; }\n}\n" % (run, run, run, run, run, run, run, port, root))
        servers["nginx"] = "nginx -c %s -p %s" % (conf, run)
        ports["nginx"] = port
    if "nghttpd" in args.peers.split() and shutil.which("nghttpd"):
        port = free_port()
        servers["nghttpd"] = "nghttpd -a 127.0.0.1 -n 1 --no-tls %d -d %s" % (port, root)
        ports["nghttpd"] = port
    os.sched_setaffinity(0, {1})
    results = {name: [] for name in servers}
    for round_number in range(args.rounds):
        order = list(servers) if round_number % 2 == 0 else list(reversed(list(servers)))
        for name in order:
            process = start(name, servers[name], ports[name])
            try:
                load_page(ports[name], rate * 10)  # warm the servers' caches, fast
                results[name].append(load_page(ports[name], rate))
            finally:
                stop(process)
            print("  round %d %-9s urgent %.3f s  scripts %.3f s  all %.3f s" % (
                round_number + 1, name, results[name][-1]["urgent"], results[name][-1]["js"], results[name][-1]["all"]),
                file=sys.stderr)
    base = "h2o" if "h2o" in results else "swiftlet"
    print("page load: index.html + 40 assets (%.1f MB), link emulated at %.0f Mbit/s; median of %d rounds"
          % (sum(g[3] for g in GROUPS) / 1e6, args.rate_mbit, args.rounds))
    print("server     HTML+CSS last byte   scripts last byte   everything   urgent ratio vs %s" % base)
    medians = {name: {key: statistics.median(r[key] for r in rounds) for key in ("urgent", "js", "all")}
               for name, rounds in results.items()}
    for name, median in medians.items():
        print("%-9s  %17.3f s  %16.3f s  %9.3f s   %.2f×" % (
            name, median["urgent"], median["js"], median["all"], median["urgent"] / medians[base]["urgent"]))
    shutil.rmtree(root, ignore_errors=True)
    shutil.rmtree(run, ignore_errors=True)


if __name__ == "__main__":
    main()
