#!/usr/bin/env python3
"""Write-path figures for the small-file h2load run (-c 32 -m 32).

For each backend: responses per send system call (epoll: sendmsg calls;
io_uring: io_uring_enter calls, which submit the sends) counted by strace,
and heap allocations counted by an LD_PRELOAD library (tools/alloc-preload).
Every h2load run opens 32 new connections, so allocations = C + a × n: two
runs of different lengths give the steady-state cost per response (a).
The cost of a new connection is counted over 512 connections that each
make one request, 32 at a time (what a connection costs to set up, serve
once and tear down, less one response).

    write-path-bench.py --swiftlet .build/release/swiftlet
"""
import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def build_preload(directory):
    library = os.path.join(directory, "libswiftlet_alloc_count.so")
    subprocess.run(["gcc", "-O2", "-shared", "-fPIC", os.path.join(HERE, "alloc-preload", "alloc_preload.c"),
                    "-o", library], check=True)
    return library


def start(binary, root, io, preload=None):
    env = dict(os.environ)
    if preload:
        env["LD_PRELOAD"] = preload
    process = subprocess.Popen(["taskset", "-c", "0", binary, "--host", "127.0.0.1", "--port", "0", "--io", io,
                                "--max-requests-per-connection", "1000000000", root],
                               stderr=subprocess.PIPE, text=True, env=env)
    while True:
        line = process.stderr.readline()
        match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if match:
            return process, int(match.group(1))
        if not line:
            raise SystemExit("swiftlet did not start")


def h2load(port, requests):
    out = subprocess.run(["taskset", "-c", "1", "h2load", "-n", str(requests), "-c", "32", "-m", "32",
                          "http://127.0.0.1:%d/small.bin" % port], capture_output=True, text=True).stdout
    match = re.search(r"(\d+) succeeded, (\d+) failed", out)
    assert match and match.group(2) == "0", out
    return int(match.group(1))


def churn(port, rounds):
    """`rounds` runs of 32 new connections with one request each."""
    for _ in range(rounds):
        out = subprocess.run(["taskset", "-c", "1", "h2load", "-n", "32", "-c", "32",
                              "http://127.0.0.1:%d/small.bin" % port], capture_output=True, text=True).stdout
        assert "32 succeeded, 0 failed" in out, out
    return 32 * rounds


def allocations(process):
    process.send_signal(signal.SIGUSR2)
    while True:
        line = process.stderr.readline()
        match = re.match(r"allocations=(\d+)", line)
        if match:
            return int(match.group(1))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--swiftlet", required=True)
    parser.add_argument("--requests", type=int, default=200_000)
    args = parser.parse_args()
    binary = os.path.abspath(args.swiftlet)
    work = tempfile.mkdtemp(prefix="write-path-")
    root = os.path.join(work, "site")
    os.makedirs(root)
    with open(os.path.join(root, "small.bin"), "wb") as handle:
        handle.write(os.urandom(1024))
    preload = build_preload(work)
    print("write path, small file (1 KiB), h2load -n %d -c 32 -m 32" % args.requests)
    print("backend   responses per send syscall   allocations per response   per new connection")
    for io in ("uring", "epoll"):
        # Allocations: warm up, then count across a measured run.
        process, port = start(binary, root, io, preload)
        h2load(port, 50_000)
        first = allocations(process)
        short = h2load(port, args.requests // 10)
        second = allocations(process)
        long = h2load(port, args.requests)
        third = allocations(process)
        per_response = ((third - second) - (second - first)) / (long - short)
        if abs(per_response) < 5e-5:
            per_response = 0.0  # a difference of a few allocations over the runs, not "-0.0000"
        # Per new connection, measured directly: connections that each
        # make one request, 32 at a time, after a warm-up of the same.
        churn(port, 4)
        before = allocations(process)
        connections = churn(port, 16)
        per_connection = (allocations(process) - before - per_response * connections) / connections
        process.terminate()
        process.wait()
        # System calls: strace counts while a run goes on.
        process, port = start(binary, root, io)
        h2load(port, 20_000)
        trace_file = os.path.join(work, "strace-%s.txt" % io)
        tracer = subprocess.Popen(["strace", "-c", "-f", "-o", trace_file, "-p", str(process.pid)],
                                  stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        done = h2load(port, args.requests // 4)
        tracer.send_signal(signal.SIGINT)
        tracer.wait()
        process.terminate()
        process.wait()
        calls = {}
        for line in open(trace_file):
            parts = line.split()
            if len(parts) >= 5 and parts[-1].isidentifier() and parts[3].isdigit():
                calls[parts[-1]] = int(parts[3])
        sends = calls.get("sendmsg", 0) + calls.get("writev", 0) + calls.get("io_uring_enter", 0)
        print("%-8s  %26.1f   %24.4f   %18.0f   (%s)" % (io, done / max(sends, 1), per_response, per_connection,
              ", ".join("%s %d" % (k, v) for k, v in sorted(calls.items(), key=lambda kv: -kv[1])[:4])))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
