#!/usr/bin/env python3
"""What one small request costs the server, in figures a noisy machine does
not move: user-space instructions (callgrind) and calls into the Swift
runtime (swift_retain, swift_release, swift_beginAccess, swift_allocObject,
counted with uprobes and `perf stat`), per 1 KiB GET over h2c in steady
state.

    python3 tools/request-cost.py --swiftlet .build/release/swiftlet \
        [--swiftlet OTHER-BUILD ...] [--requests 20000] [--skip-callgrind]

Each build serves a 1 KiB file on its own core (taskset); h2load runs on the
other (-c 32 -m 16: under 10,000 requests per connection, the default
limit, for every run). Instructions: the server runs under callgrind, its
counters are zeroed after a warm-up and dumped after N requests. Runtime
calls: two h2load runs of N and 6N requests are counted and the difference
is divided by 5N, which cancels start-up and connection set-up. Needs root
(uprobes), valgrind, perf, h2load and curl. valgrind 3.19 cannot read the
debug information of Swift 6.3 binaries, so callgrind runs on a copy
without it (objcopy --strip-debug).
"""
import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

PROBES = ["swift_retain", "swift_release", "swift_beginAccess", "swift_allocObject"]


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_serving(port, process, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if process.poll() is not None:
            sys.exit(f"request-cost: the server exited with status {process.returncode}")
        probe = subprocess.run(["curl", "-s", "-o", "/dev/null", "--http2-prior-knowledge",
                                f"http://127.0.0.1:{port}/1k.bin"])
        if probe.returncode == 0:
            return
        time.sleep(0.5)
    sys.exit(f"request-cost: nothing served on port {port} after {timeout} s")


def h2load(port, requests):
    result = subprocess.run(["taskset", "-c", "1", "h2load", "-n", str(requests), "-c", "32", "-m", "16",
                             f"http://127.0.0.1:{port}/1k.bin"], capture_output=True, text=True)
    match = re.search(r"(\d+) succeeded", result.stdout)
    if not match or int(match.group(1)) != requests:
        sys.exit(f"request-cost: h2load did not complete {requests} requests:\n{result.stdout[-600:]}")


def instructions(binary, site, requests, work):
    stripped = os.path.join(work, "stripped")
    shutil.copy(binary, stripped)
    subprocess.run(["objcopy", "--strip-debug", stripped], check=True)
    port = free_port()
    out = os.path.join(work, "callgrind.out")
    server = subprocess.Popen(["taskset", "-c", "0", "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                               stripped, "--host", "127.0.0.1", "--port", str(port), site],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until_serving(port, server)
        h2load(port, 2000)
        subprocess.run(["callgrind_control", "-z", str(server.pid)], check=True, capture_output=True)
        h2load(port, requests)
        subprocess.run(["callgrind_control", "-d", str(server.pid)], check=True, capture_output=True)
        time.sleep(1)
    finally:
        server.kill()
        server.wait()
    dumps = sorted(glob.glob(out + ".*"))
    if not dumps:
        sys.exit("request-cost: callgrind wrote no dump")
    with open(dumps[-1]) as dump:
        for line in dump:
            if line.startswith("summary:"):
                return int(line.split()[1]) / requests
    sys.exit("request-cost: no summary in the callgrind dump")


def swift_core():
    for path in ["/opt/swift/usr/lib/swift/linux/libswiftCore.so"] + glob.glob("/usr/share/swift/usr/lib/swift/linux/libswiftCore.so"):
        if os.path.exists(path):
            return path
    sys.exit("request-cost: libswiftCore.so not found")


def runtime_calls(binary, site, requests):
    library = swift_core()
    subprocess.run(["perf", "probe", "-q", "-d", "probe_libswiftCore:*"], capture_output=True)
    for probe in PROBES:
        subprocess.run(["perf", "probe", "-q", "-x", library, probe], check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(["taskset", "-c", "0", binary, "--host", "127.0.0.1", "--port", str(port), site],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    counts = {}
    try:
        wait_until_serving(port, server)
        h2load(port, requests)
        for n in (requests, 6 * requests):
            stat = subprocess.Popen(["perf", "stat", "-x,", "-p", str(server.pid), "-e",
                                     ",".join(f"probe_libswiftCore:{p}" for p in PROBES)],
                                    stderr=subprocess.PIPE, text=True)
            time.sleep(0.5)
            h2load(port, n)
            time.sleep(0.3)
            stat.send_signal(signal.SIGINT)
            _, err = stat.communicate()
            for line in err.splitlines():
                fields = line.split(",")
                if len(fields) > 2 and fields[0].strip().isdigit():
                    counts.setdefault(fields[2].split(":")[-1], []).append(int(fields[0]))
    finally:
        server.kill()
        server.wait()
        subprocess.run(["perf", "probe", "-q", "-d", "probe_libswiftCore:*"], capture_output=True)
    return {probe: (values[1] - values[0]) / (5 * requests) for probe, values in counts.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swiftlet", action="append", required=True, help="a swiftlet binary (repeatable)")
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--skip-callgrind", action="store_true")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        site = os.path.join(work, "site")
        os.mkdir(site)
        with open(os.path.join(site, "1k.bin"), "wb") as file:
            file.write(bytes(range(256)) * 4)
        print("| build | instructions | swift_retain | swift_release | swift_beginAccess | swift_allocObject |")
        print("| --- | ---: | ---: | ---: | ---: | ---: |")
        for binary in arguments.swiftlet:
            if not os.access(binary, os.X_OK):
                sys.exit(f"request-cost: --swiftlet {binary}: not an executable file")
            cost = "—" if arguments.skip_callgrind else f"{instructions(binary, site, arguments.requests, work):,.0f}"
            calls = runtime_calls(binary, site, arguments.requests)
            print(f"| {binary} | {cost} | " + " | ".join(f"{calls.get(p, 0):.1f}" for p in PROBES) + " |", flush=True)


if __name__ == "__main__":
    main()
