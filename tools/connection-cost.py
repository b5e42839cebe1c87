#!/usr/bin/env python3
"""Server CPU per new HTTP/2 connection, swiftlet builds against h2o, in one run
(`make bench-connection-cost`).

Each round opens connections that make one request each: h2load with
`-n 32 -c 32` (32 new h2c connections, one GET of a 1 KiB file on each),
`--batches` times in a row. The figure is the server's CPU time over the
round divided by the connections: accepting, the preface and SETTINGS, one
request, the close. Servers are started by the shared harness h2bench
(../shared/bench/h2bench, or $H2BENCH) with one worker pinned to core 0;
h2load runs on core 1; servers take turns, medians of `--rounds`.

    tools/connection-cost.py --swiftlet .build/release/swiftlet [--swiftlet OTHER] [--peers h2o]
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
bench_peers = __import__("importlib").import_module("bench-peers")


def churn(port, batches):
    """`batches` runs of 32 new connections with one request each; returns the connections."""
    for _ in range(batches):
        out = subprocess.run(["taskset", "-c", "1", "h2load", "-n", "32", "-c", "32",
                              f"http://127.0.0.1:{port}/small.txt"], capture_output=True, text=True).stdout
        match = re.search(r"(\d+) succeeded, (\d+) failed", out)
        if not match or match.group(1) != "32":
            raise SystemExit(f"connection-cost: h2load did not complete its requests:\n{out[-600:]}")
    return 32 * batches


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swiftlet", action="append", required=True, help="a swiftlet binary (repeat to compare builds)")
    parser.add_argument("--peers", default="h2o", help="built-in h2bench peers (default: h2o)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batches", type=int, default=50, help="runs of 32 connections per round")
    args = parser.parse_args()
    h2bench = bench_peers.load_module(bench_peers.find_h2bench())
    work = h2bench.WORK
    root, rundir = f"{work}/site", f"{work}/run"
    os.makedirs(rundir, exist_ok=True)
    h2bench.make_site(root)
    entries = [(os.path.basename(os.path.dirname(os.path.abspath(binary))) + ":" + os.path.basename(binary)
                if len(args.swiftlet) > 1 else "swiftlet", os.path.abspath(binary)) for binary in args.swiftlet]
    entries += [(peer, None) for peer in args.peers.split() if shutil.which(peer)]
    results = {}
    for _ in range(args.rounds):
        for label, binary in entries:
            port = h2bench.free_port()
            command = (f"{binary} --host 127.0.0.1 --port {port} --log-level warning {root}" if binary
                       else h2bench.peer_command(label, False, port, root, None, None, rundir))
            server = h2bench.Server(label, command, False, port, rundir)
            try:
                time.sleep(0.3)
                churn(port, 4)  # warm-up: pools and caches reach their size
                cpu = server.cpu_seconds()
                connections = churn(port, args.batches)
                cpu = server.cpu_seconds() - cpu
            finally:
                server.stop()
            per_connection = cpu * 1e6 / connections
            results.setdefault(label, []).append(per_connection)
            print(f"  {label:24s} {per_connection:8.1f} cpu-µs per connection", file=sys.stderr)
    base = statistics.median(results["h2o"]) if "h2o" in results else None
    print(f"| server | server cpu-µs per new h2c connection (median of {args.rounds}) | vs h2o |")
    print("| --- | ---: | ---: |")
    for label, values in results.items():
        median = statistics.median(values)
        ratio = f"{median / base:.2f}" if base else "—"
        print(f"| {label} | {median:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
