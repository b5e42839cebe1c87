#!/usr/bin/env python3
"""Server CPU per request of the same small response written with the
callback API and with the async API (tools/async-bench, GET /hello), side by
side in one run: each server pinned to core 0, h2load on core 1, over h2c.
Prints microseconds of server CPU per request and the ratio async /
callback (goal: <= 1.3)."""
import argparse
import os
import re
import subprocess
import time

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    fields = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def start(command):
    process = subprocess.Popen(["taskset", "-c", "0"] + command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = process.stdout.readline()
    port = int(re.search(r":(\d+)", line).group(1))
    return process, port


def measure(command, requests, rounds):
    results = []
    for _ in range(rounds):
        process, port = start(command)
        try:
            url = "http://127.0.0.1:%d/hello" % port
            subprocess.run(["taskset", "-c", "1", "h2load", "-n", "2000", "-c", "8", "-m", "16", url], capture_output=True)
            before = cpu_seconds(process.pid)
            out = subprocess.run(["taskset", "-c", "1", "h2load", "-n", str(requests), "-c", "32", "-m", "16", url],
                                 capture_output=True, text=True).stdout
            after = cpu_seconds(process.pid)
            done = int(re.search(r"(\d+) succeeded", out).group(1))
            results.append((after - before) / done * 1e6)
        finally:
            process.terminate()
            process.wait(timeout=15)
    results.sort()
    return results[len(results) // 2]


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", default=".build/release", help="folder with the example binaries")
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bench = os.path.join(args.bin, "swiftlet-async-bench")
    callback = measure([bench, "callback"], args.requests, args.rounds)
    asynchronous = measure([bench, "async"], args.requests, args.rounds)
    print("GET /hello over h2c, server CPU per request (median of %d rounds of %d requests):" % (args.rounds, args.requests))
    print("  callback API  %.2f us" % callback)
    print("  async API     %.2f us" % asynchronous)
    print("  async / callback = %.2fx" % (asynchronous / callback))


if __name__ == "__main__":
    main()
