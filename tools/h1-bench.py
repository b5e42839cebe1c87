#!/usr/bin/env python3
"""HTTP/1.1 keep-alive: server CPU per request for a 1 KiB file, Swiftlet
against h2o and nginx, side by side in one run.

Each server gets one core (taskset -c 0; one loop, one thread, one worker)
and h2load --h1 runs on the other (taskset -c 1) with -c 32 keep-alive
connections. Servers take turns, round after round, so drift on a noisy
machine hits them alike; the figure is the median over the rounds of the
server process group's CPU time (user + system, /proc/PID/task/*/stat)
divided by the requests served. Ratios are against h2o.

    python3 tools/h1-bench.py --swiftlet .build/release/swiftlet [--rounds 3] [--requests 100000]
"""
import argparse
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(name, swiftlet, port, root, rundir):
    if name == "swiftlet":
        return [swiftlet, "--host", "127.0.0.1", "--port", str(port), "--loops", "1", root]
    if name.startswith("swiftlet="):  # another build
        return [name.split("=", 1)[1], "--host", "127.0.0.1", "--port", str(port), "--loops", "1", root]
    if name == "h2o":
        conf = os.path.join(rundir, "h2o.conf")
        with open(conf, "w") as file:
            file.write(f"num-threads: 1\nerror-log: {rundir}/h2o-error.log\npid-file: {rundir}/h2o.pid\n"
                       + ("user: root\n" if os.geteuid() == 0 else "")
                       + f"listen:\n  host: 127.0.0.1\n  port: {port}\n"
                       f"hosts:\n  default:\n    paths:\n      /:\n        file.dir: {root}\n")
        return ["h2o", "-c", conf]
    if name == "nginx":
        conf = os.path.join(rundir, "nginx.conf")
        with open(conf, "w") as file:
            file.write(f"daemon off;\nmaster_process on;\nworker_processes 1;\npid {rundir}/nginx.pid;\n"
                       f"error_log {rundir}/nginx-error.log;\nevents {{ worker_connections 4096; }}\n"
                       "http {\n  access_log off;\n  sendfile on;\n  keepalive_requests 1000000;\n"
                       f"  server {{\n    listen 127.0.0.1:{port};\n    root {root};\n  }}\n}}\n")
        return ["nginx", "-c", conf, "-p", rundir]
    sys.exit(f"h1-bench: unknown server {name!r} (known: swiftlet, h2o, nginx)")


def group_cpu_seconds(pgid):
    total = 0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) != pgid:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / TICK


def wait_for_port(port, timeout=10):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"h1-bench: nothing listens on port {port}")


def load(process, h2load, url, requests, label):
    """Runs `h2load` (a command prefix) for `requests` against `url`; returns
    the server's CPU microseconds per request, requests/s and h2load's
    output. Exits naming `label` if any request failed."""
    before = group_cpu_seconds(process.pid)
    out = subprocess.run(h2load + ["-n", str(requests), url], capture_output=True, text=True).stdout
    after = group_cpu_seconds(process.pid)
    done = int(re.search(r"(\d+) succeeded", out).group(1))
    if done < requests:
        sys.exit(f"{label} served {done} of {requests} requests:\n{out}")
    rate = float(re.search(r"finished in [\d.]+\w+, ([\d.]+) req/s", out).group(1))
    return (after - before) / done * 1e6, rate, out


def measure(name, swiftlet, root, requests):
    port = free_port()
    rundir = tempfile.mkdtemp(prefix="h1-bench-")
    process = subprocess.Popen(["taskset", "-c", "0"] + command(name, swiftlet, port, root, rundir),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        wait_for_port(port)
        url = f"http://127.0.0.1:{port}/small.bin"
        subprocess.run(["taskset", "-c", "1", "h2load", "--h1", "-n", "3000", "-c", "8", url], capture_output=True)
        cpu, rate, _ = load(process, ["taskset", "-c", "1", "h2load", "--h1", "-c", "32"], url, requests, "h1-bench: " + name)
        return cpu, rate
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        shutil.rmtree(rundir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swiftlet", required=True, help="the swiftlet binary")
    parser.add_argument("--baseline", help="another swiftlet binary to measure alongside (a build to compare with)")
    parser.add_argument("--peers", default="h2o nginx")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=100_000)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="h1-bench-site-")
    os.chmod(root, 0o755)  # nginx's worker runs as another user
    with open(os.path.join(root, "small.bin"), "wb") as file:
        file.write(os.urandom(1024))
    os.chmod(os.path.join(root, "small.bin"), 0o644)
    names = ["swiftlet"] + (["swiftlet=" + os.path.abspath(args.baseline)] if args.baseline else []) + args.peers.split()
    results = {name: [] for name in names}
    for _ in range(args.rounds):
        for name in names:
            results[name].append(measure(name, os.path.abspath(args.swiftlet), root, args.requests))
    shutil.rmtree(root, ignore_errors=True)
    median = {name: sorted(values)[len(values) // 2] for name, values in results.items()}
    base = median.get("h2o", median[names[0]])[0]
    print(f"HTTP/1.1 keep-alive, 1 KiB file, h2load --h1 -c 32, median of {args.rounds} rounds of {args.requests} requests")
    print("| server | CPU per request | ratio to h2o | requests/s |")
    print("| --- | ---: | ---: | ---: |")
    for name in names:
        cpu, rate = median[name]
        print(f"| {name} | {cpu:.2f} µs | {cpu / base:.2f}× | {rate:,.0f} |")


if __name__ == "__main__":
    main()
