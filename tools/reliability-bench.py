#!/usr/bin/env python3
"""What attacks and bad conditions cost a swiftlet binary, side by side for
several binaries in one run (e.g. before and after a change):

  cold      40 × 8 MiB over 4 connections, pages evicted, server on CPU 0:
            transfers completed, wall time, server CPU seconds (given up after 60 s)
  flood     8 s PING flood from one connection that never reads: server CPU
  dribble   8 s of a client keeping its window 4 bytes wide (reconnecting
            when cut off): server CPU, tiny DATA frames received
  connflood 5000 idle connections opened while one client requests 1 KiB
            files: its p99 before and during; anonymous memory before,
            after one flood and after eight
  reset     HEADERS + RST_STREAM pairs in one write: responses per reset stream

    python3 tools/reliability-bench.py --swiftlet old/swiftlet --swiftlet .build/release/swiftlet
"""
import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "Tests", "e2e"))
import conftest  # noqa: E402
import rawh2  # noqa: E402
import test_reliability as reliability  # noqa: E402


def server(binary, root, *args, prefix=()):
    conftest.BINARY = binary
    return conftest.Server(root, *args, prefix=prefix)


def cold(binary, root):
    s = server(binary, root, prefix=reliability.ONE_CORE)
    try:
        conftest.evict(root / "large.bin")
        before = s.cpu_seconds()
        started = time.time()
        try:
            done, _ = reliability.h2load(s.url + "/large.bin", "-n", "40", "-c", "4", "-m", "1", "-T", "20", timeout=60)
        except reliability.subprocess.TimeoutExpired:
            done = 0  # h2load still waiting after a minute
        return "%d/40 done in %.1f s, %.2f s CPU" % (done, time.time() - started, s.cpu_seconds() - before)
    finally:
        s.stop()


def flood(binary, root):
    s = server(binary, root)
    try:
        before = s.cpu_seconds()
        code = reliability.flood(s.port, lambda: rawh2.ping(1) * 1000, 8)
        return "%s, %.2f s CPU" % (code, s.cpu_seconds() - before)
    finally:
        s.stop()


def dribble(binary, root):
    s = server(binary, root)
    try:
        before = s.cpu_seconds()
        frames, _ = reliability.window_dribble(s.port)
        return "%.2f s CPU, %d tiny frames" % (s.cpu_seconds() - before, frames)
    finally:
        s.stop()


def connflood(binary, root):
    s = server(binary, root, "--idle-timeout", "60s")
    try:
        reliability.request_latencies(s.port, 0.5)
        unloaded = reliability.p99(reliability.request_latencies(s.port, 3))
        start = s.anonymous_memory()
        attack = reliability.connection_flood(s.port)
        loaded = reliability.p99(reliability.request_latencies(s.port, 3))
        attack.wait(timeout=60)
        time.sleep(2.5)
        one = s.anonymous_memory()
        for _ in range(7):
            reliability.connection_flood(s.port, hold=0.2).wait(timeout=60)
        time.sleep(2.5)
        eight = s.anonymous_memory()
        mib = 1 << 20
        return "p99 %.2f → %.2f ms; anon %.1f → %.1f → %.1f MiB" % (
            unloaded * 1e3, loaded * 1e3, start / mib, one / mib, eight / mib)
    finally:
        s.stop()


def reset(binary, root):
    s = server(binary, root)
    try:
        resets, responses = reliability.reset_stream_responses(s.port)
        return "%d responses to %d reset streams (%.1f%%)" % (responses, resets, 100 * responses / max(resets, 1))
    finally:
        s.stop()


MEASURES = {"cold": cold, "flood": flood, "dribble": dribble, "connflood": connflood, "reset": reset}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swiftlet", action="append", required=True, help="a binary (repeat to compare)")
    parser.add_argument("--only", choices=sorted(MEASURES), action="append", help="run only these measures")
    options = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="swiftlet-reliability-"))
    try:
        (root / "small.bin").write_bytes(os.urandom(1024))
        (root / "large.bin").write_bytes(os.urandom(8 << 20))
        for name in options.only or list(MEASURES):
            for binary in options.swiftlet:
                print("%-9s %-50s %s" % (name, binary[-50:], MEASURES[name](binary, root)), flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
