#!/usr/bin/env python3
"""Server CPU per request of the same small response written with the
callback API and with the async API (tools/async-bench, GET /hello), side by
side in one run: each server pinned to core 0, h2load on core 1, over h2c.
Prints microseconds of server CPU per request and the ratio async /
callback (goal: <= 1.3).

With --instructions, each server also runs under callgrind and the
user-space instructions per request are printed: a figure this noisy
machine does not move (counters zeroed after a warm-up, dumped after the
measured requests; valgrind 3.19 needs a copy without debug information)."""
import argparse
import os
import glob
import re
import shutil
import subprocess
import tempfile
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


def instructions(bench, mode, requests, work):
    stripped = os.path.join(work, "stripped")
    shutil.copy(bench, stripped)
    subprocess.run(["objcopy", "--strip-debug", stripped], check=True)
    out = os.path.join(work, "callgrind-%s.out" % mode)
    process = subprocess.Popen(["taskset", "-c", "0", "valgrind", "--tool=callgrind", "--callgrind-out-file=" + out,
                                stripped, mode], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(re.search(r":(\d+)", process.stdout.readline()).group(1))
        url = "http://127.0.0.1:%d/hello" % port
        subprocess.run(["taskset", "-c", "1", "h2load", "-n", "2000", "-c", "8", "-m", "16", url], capture_output=True)
        subprocess.run(["callgrind_control", "-z", str(process.pid)], check=True, capture_output=True)
        result = subprocess.run(["taskset", "-c", "1", "h2load", "-n", str(requests), "-c", "32", "-m", "16", url],
                                capture_output=True, text=True).stdout
        done = int(re.search(r"(\d+) succeeded", result).group(1))
        subprocess.run(["callgrind_control", "-d", str(process.pid)], check=True, capture_output=True)
        time.sleep(1)
    finally:
        process.kill()
        process.wait()
    for dump in sorted(glob.glob(out + ".*")):
        for line in open(dump):
            if line.startswith("summary:"):
                return int(line.split()[1]) / done
    raise SystemExit("async-cost: no callgrind summary for %s" % mode)


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--bin", default=".build/release", help="folder with the example binaries")
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instructions", action="store_true", help="also count instructions per request (callgrind)")
    args = parser.parse_args()
    bench = os.path.join(args.bin, "swiftlet-async-bench")
    if args.instructions:
        with tempfile.TemporaryDirectory() as work:
            counts = {mode: instructions(bench, mode, 20_000, work) for mode in ("callback", "async")}
        print("GET /hello over h2c, user-space instructions per request (callgrind, 20,000 requests):")
        print("  callback API  %.0f" % counts["callback"])
        print("  async API     %.0f" % counts["async"])
        print("  async / callback = %.2fx" % (counts["async"] / counts["callback"]))
    callback = measure([bench, "callback"], args.requests, args.rounds)
    asynchronous = measure([bench, "async"], args.requests, args.rounds)
    print("GET /hello over h2c, server CPU per request (median of %d rounds of %d requests):" % (args.rounds, args.requests))
    print("  callback API  %.2f us" % callback)
    print("  async API     %.2f us" % asynchronous)
    print("  async / callback = %.2fx" % (asynchronous / callback))


if __name__ == "__main__":
    main()
