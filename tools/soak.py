#!/usr/bin/env python3
"""Soak: a bounded mixed load against one swiftlet process, sampled at a
fixed interval for memory, descriptors and CPU per request.

The load, all at once for --minutes:
  - small files: h2load, 16 connections × 10 streams, 1 KiB file;
  - large files: h2load, 2 connections, 8 MiB file;
  - a page: h2load fetching an HTML page and its 40 assets per connection;
  - connection churn: new connections with one request each, HTTP/2 and HTTP/1.1;
  - slow readers: 4 clients reading an 8 MiB file at 64 KiB/s each;
  - resetting clients: HEADERS then RST_STREAM, 20 streams per second.

Every --interval seconds it prints one line: RSS, anonymous memory, open
descriptors, requests completed in the interval (counted in the server's
access log, which is on) and the server's CPU time per request. With
--check, it exits non-zero unless, comparing the second half of the
samples after --warmup with the first half, peak RSS and anonymous memory
grew by at most --drift (fraction, plus 2 MiB), CPU per request grew by at
most --cpu-drift (getting cheaper is not a failure; a second half over it
is measured again for as long, under the same load, and the newer samples
decide, so a spell of noise on a shared machine is told from a cost that
grows with the run), and open descriptors neither kept growing (the second
half's fewest at most 8 above the first half's most) nor stayed open after
the load stopped (at most 2 more than before it).

    python3 tools/soak.py --swiftlet .build/release/swiftlet --minutes 30
"""
import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "e2e"))
import rawh2  # noqa: E402


def make_site(root):
    os.makedirs(os.path.join(root, "assets"), exist_ok=True)
    with open(os.path.join(root, "small.bin"), "wb") as f:
        f.write(os.urandom(1024))
    with open(os.path.join(root, "large.bin"), "wb") as f:
        f.write(os.urandom(8 << 20))
    links = []
    for index in range(40):
        name = "assets/a%02d.%s" % (index, "css" if index % 2 else "js")
        with open(os.path.join(root, name), "wb") as f:
            f.write(os.urandom(2048 + 512 * index))
        links.append("/" + name)
    with open(os.path.join(root, "index.html"), "w") as f:
        f.write("<!doctype html>" + "".join('<link href="%s">' % link for link in links))
    return links


def h2load_loop(url_list, args, stop, interval):
    """Runs h2load for `interval` seconds at a time."""
    while not stop.is_set():
        subprocess.run(["h2load", "-D", str(int(interval)), *args, *url_list], capture_output=True)


def churn(port, stop):
    """One request per connection, alternating HTTP/2 and HTTP/1.1."""
    use_h2 = True
    while not stop.is_set():
        try:
            if use_h2:
                client = rawh2.Client(port, timeout=10)
                client.send(client.headers(1, "/small.bin"))
                while True:
                    got = client.read_frame()
                    if got is None:
                        break
                    if got[2] == 1 and got[1] & rawh2.END_STREAM:
                        break
                client.close()
            else:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
                    sock.sendall(b"GET /small.bin HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
                    while sock.recv(65536):
                        pass
        except OSError:
            time.sleep(0.1)
        use_h2 = not use_h2
        time.sleep(0.005)


def slow_reader(port, stop):
    while not stop.is_set():
        try:
            with socket.socket() as sock:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
                sock.settimeout(30)
                sock.connect(("127.0.0.1", port))
                sock.sendall(b"GET /large.bin HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n")
                while not stop.is_set():
                    chunk = sock.recv(65536)
                    if not chunk:
                        break
                    time.sleep(1.0)
        except OSError:
            time.sleep(0.1)


def resetter(port, stop):
    while not stop.is_set():
        try:
            client = rawh2.Client(port, timeout=10)
            stream = 1
            while not stop.is_set() and stream < 1999:
                client.send(client.headers(stream, "/small.bin") + rawh2.rst_stream(stream))
                stream += 2
                time.sleep(0.05)
            client.close()
        except OSError:
            time.sleep(0.1)


class LogLines:
    """Counts the lines appended to a file since the last call."""

    def __init__(self, path):
        self.path = path
        self.offset = 0

    def count_new_lines(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return 0
        complete = data.rfind(b"\n") + 1
        self.offset += complete
        return data.count(b"\n", 0, complete)


def sample(pid):
    status = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            status[key] = value.strip()
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    fds = len(os.listdir("/proc/%d/fd" % pid))
    kib = lambda key: int(status[key].split()[0])
    return kib("VmRSS"), kib("RssAnon"), fds, cpu


def cpu_drift(first, second):
    """CPU per request over two runs of samples, and the relative change."""
    before = sum(c for c, _ in first) / max(1, sum(r for _, r in first))
    after = sum(c for c, _ in second) / max(1, sum(r for _, r in second))
    return before, after, (after - before) / before


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swiftlet", required=True, help="the swiftlet binary")
    parser.add_argument("--io", choices=["uring", "epoll"], help="backend (default: the binary's default)")
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--interval", type=float, default=60, help="seconds between samples")
    parser.add_argument("--warmup", type=int, default=2, help="samples before the flatness checks start")
    parser.add_argument("--drift", type=float, default=0.05)
    parser.add_argument("--cpu-drift", type=float, default=0.05)
    parser.add_argument("--check", action="store_true", help="exit 1 if memory, descriptors or CPU per request drift")
    options = parser.parse_args()
    for tool in ("h2load",):
        if shutil.which(tool) is None:
            sys.exit("soak: %s is not installed (make deps installs it)" % tool)

    root = tempfile.mkdtemp(prefix="swiftlet-soak-")
    links = make_site(root)
    # Requests are counted from the access log as they complete (h2load
    # reports only when a run ends, which aliases with the samples).
    log_path = os.path.join(root, "access.log")
    command = [options.swiftlet, "--host", "127.0.0.1", "--port", "0", "--idle-timeout", "60s", "--access-log", log_path]
    if options.io:
        command += ["--io", options.io]
    server = subprocess.Popen(command + [root], stderr=subprocess.PIPE, text=True)
    port = None
    for _ in range(50):
        line = server.stderr.readline()
        if "listening on" in line:
            port = int(line.split("://")[1].split(" ")[0].rsplit(":", 1)[1])
            break
    if port is None:
        server.kill()
        sys.exit("soak: swiftlet did not start")
    base = "http://127.0.0.1:%d" % port

    idle_fds = sample(server.pid)[2]
    stop = threading.Event()
    # h2load does not reconnect after the server's GOAWAY at 10 000 requests
    # per connection: short runs keep every connection under that, so the
    # load stays steady instead of pausing until the next run.
    chunk = 3
    workers = [
        threading.Thread(target=h2load_loop, args=([base + "/small.bin"], ["-c", "16", "-m", "10"], stop, chunk)),
        threading.Thread(target=h2load_loop, args=([base + "/large.bin"], ["-c", "2", "-m", "1"], stop, chunk)),
        threading.Thread(target=h2load_loop, args=([base + "/index.html"] + [base + l for l in links], ["-c", "4", "-m", "41"], stop, chunk)),
        threading.Thread(target=churn, args=(port, stop)),
        threading.Thread(target=resetter, args=(port, stop)),
    ] + [threading.Thread(target=slow_reader, args=(port, stop)) for _ in range(4)]
    for worker in workers:
        worker.daemon = True
        worker.start()

    log = LogLines(log_path)
    samples = []
    costs = []
    deadline = time.time() + options.minutes * 60
    last_cpu = sample(server.pid)[3]
    print("minute   rss MiB  anon MiB   fds  requests  µs CPU/request", flush=True)
    started = time.time()

    def take_sample(seconds):
        nonlocal last_cpu
        time.sleep(seconds)
        rss, anon, fds, cpu = sample(server.pid)
        requests = log.count_new_lines()
        cpu_used = cpu - last_cpu
        per_request = cpu_used / requests * 1e6 if requests else float("nan")
        last_cpu = cpu
        samples.append((rss, anon, fds, per_request))
        costs.append((cpu_used, requests))
        print("%6.1f %9.1f %9.1f %5d %9d %14.1f" % ((time.time() - started) / 60, rss / 1024, anon / 1024, fds, requests, per_request), flush=True)

    while time.time() < deadline and server.poll() is None:
        take_sample(min(options.interval, max(0, deadline - time.time())))
    # This machine has spells where another tenant takes the cores: the
    # load's throughput drops and the server's CPU per request rises for a
    # sample or two, then recovers. A cost that grows with the run keeps
    # growing. So a second half over the limit is measured once more, for
    # as long again, and the verdict is taken on the newer samples.
    planned = len(costs)
    steady_cost = costs[options.warmup:]
    half = len(steady_cost) // 2
    rise = cpu_drift(steady_cost[:half], steady_cost[half:])[2] if half else 0
    if options.check and rise > options.cpu_drift:
        print("soak: CPU per request rose %+.1f%% in the second half: %d more samples to tell a trend from a noisy spell"
              % (rise * 100, len(steady_cost) - half), flush=True)
        for _ in range(len(steady_cost) - half):
            if server.poll() is not None:
                break
            take_sample(options.interval)
    stop.set()
    # Descriptors must all come back once the load is gone: wait for the
    # clients to finish and the server to close their connections.
    for worker in workers:
        worker.join(timeout=15)
    final_fds = idle_fds
    for _ in range(40):
        if server.poll() is not None:
            break
        final_fds = sample(server.pid)[2]
        if final_fds <= idle_fds:
            break
        time.sleep(0.25)
    print("soak: %d descriptors open before the load, %d after it" % (idle_fds, final_fds), flush=True)
    alive = server.poll() is None
    if alive:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
    shutil.rmtree(root, ignore_errors=True)

    if not alive:
        print("soak: the server exited during the run (code %s)" % server.returncode)
        return 1
    if not options.check:
        return 0
    steady = samples[options.warmup:planned]
    steady_cost = costs[options.warmup:planned]
    if len(steady) < 2:
        print("soak: too few samples after warm-up to check")
        return 1
    # Growth is judged between the two halves of the steady samples (the
    # load opens and closes connections all the time, so single samples
    # move): the second half's peak must not exceed the first half's.
    half = len(steady) // 2
    first_half, second_half = steady[:half], steady[half:]
    failures = []
    for index, name in ((0, "RSS"), (1, "anonymous memory")):
        before = max(s[index] for s in first_half)
        after = max(s[index] for s in second_half)
        if after > before * (1 + options.drift) + 2048:
            failures.append("%s peak grew from %.1f to %.1f MiB" % (name, before / 1024, after / 1024))
    # Open descriptors move with the load's connections at the moment of
    # each sample, so a leak is judged by what is left once the load is
    # gone, and by a trend: every later sample above every earlier one.
    if final_fds > idle_fds + 2:
        failures.append("descriptors not given back: %d open after the load, %d before it" % (final_fds, idle_fds))
    before_fds = max(s[2] for s in first_half)
    after_fds = min(s[2] for s in second_half)
    if after_fds > before_fds + 8:
        failures.append("descriptors kept growing: the second half never had fewer than %d open, the first at most %d" % (after_fds, before_fds))
    # CPU per request over each half (single intervals are noisy); when
    # the run was extended, the samples taken after it stand for the second.
    first, second = steady_cost[:half], costs[planned:] or steady_cost[half:]
    if first and second:
        before, after, drift = cpu_drift(first, second)
        print("soak: CPU per request %.1f µs in the first half of the steady run, %.1f µs in the second (%+.1f%%)"
              % (before * 1e6, after * 1e6, drift * 100))
        # Growth is what a soak looks for (structures that fill up, caches
        # that stop working); a run that gets cheaper is the noisy machine
        # (a fresh CI run got 13% cheaper from the first half to the second).
        if drift > options.cpu_drift:
            failures.append("CPU per request grew %+.0f%%" % (drift * 100))
    for failure in failures:
        print("soak: " + failure)
    print("soak: %s" % ("flat" if not failures else "DRIFT"))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
