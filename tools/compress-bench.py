#!/usr/bin/env python3
"""Compression on the fly: server CPU per request for a 50 KiB script sent
compressed, Swiftlet against h2o with `compress: ON` (and nginx with
`gzip on`), side by side in one run.

Each server gets one core (taskset -c 0; one loop, one thread, one worker)
and h2load runs on the other (taskset -c 1), over h2c with -c 16 -m 10,
asking with `accept-encoding` for one coding. h2o 2.2 offers br and gzip,
nginx gzip only; Swiftlet offers br, zstd and gzip and keeps what it
compressed (h2o and nginx compress every response). h2o-precompressed is
h2o serving `app.js.br` and `app.js.gz` made beforehand
(`file.send-compressed: ON`): what an h2o operator does to avoid that cost. Levels are each
server's defaults unless --swiftlet-levels is given (h2o: br quality 1,
gzip level 1; nginx: gzip level 1; Swiftlet: br 5, zstd 6, gzip 6).

Servers take turns, round after round, so drift on a noisy machine hits
them alike; the figure is the median over the rounds of the server process
group's CPU time (user + system) divided by the requests served, and the
bytes of body per response. Ratios are against h2o.

    python3 tools/compress-bench.py --swiftlet .build/release/swiftlet [--codings "br gzip"] [--rounds 3]
"""
import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module

h1 = import_module("h1-bench")


def script(size):
    """Text shaped like a script (keywords, identifiers, indentation)."""
    generator = random.Random(50)
    words = ["function", "return", "const", "let", "var", "if", "else", "for", "document", "window",
             "querySelector", "addEventListener", "length", "push", "map", "filter", "=>", "{", "}", "(", ")",
             ";", "null", "true", "false", "await", "async", "Promise", "this", "new"]
    out, length = [], 0
    while length < size:
        line = "  " * generator.randrange(5) + " ".join(
            generator.choice(words) + ("_%d" % generator.randrange(50) if generator.random() < 0.3 else "")
            for _ in range(generator.randrange(3, 12))) + "\n"
        out.append(line)
        length += len(line)
    return "".join(out)[:size].encode()


def command(name, swiftlet, port, root, rundir, levels):
    if name == "swiftlet":
        return [swiftlet, "--host", "127.0.0.1", "--port", str(port), "--loops", "1"] \
            + (["--compress-levels", levels] if levels else []) + [root]
    if name in ("h2o", "h2o-precompressed"):
        conf = os.path.join(rundir, "h2o.conf")
        if name == "h2o-precompressed":
            root = os.path.join(root, "precompressed")
        with open(conf, "w") as file:
            file.write(f"num-threads: 1\nerror-log: {rundir}/h2o-error.log\npid-file: {rundir}/h2o.pid\n"
                       + ("user: root\n" if os.geteuid() == 0 else "")
                       + f"listen:\n  host: 127.0.0.1\n  port: {port}\n"
                       + ("file.send-compressed: ON\n" if name == "h2o-precompressed" else "compress: ON\n")
                       + f"hosts:\n  default:\n    paths:\n      /:\n        file.dir: {root}\n")
        return ["h2o", "-c", conf]
    if name == "nginx":
        conf = os.path.join(rundir, "nginx.conf")
        with open(conf, "w") as file:
            file.write(f"daemon off;\nmaster_process on;\nworker_processes 1;\npid {rundir}/nginx.pid;\n"
                       f"error_log {rundir}/nginx-error.log;\nevents {{ worker_connections 4096; }}\n"
                       "http {\n  access_log off;\n  include /etc/nginx/mime.types;\n"
                       "  keepalive_requests 1000000;\n  gzip on;\n  gzip_types application/javascript text/javascript;\n"
                       f"  server {{\n    listen 127.0.0.1:{port} http2;\n    root {root};\n  }}\n}}\n")
        return ["nginx", "-c", conf, "-p", rundir]
    sys.exit(f"compress-bench: unknown server {name!r} (known: swiftlet, h2o, h2o-precompressed, nginx)")


def measure(name, swiftlet, root, coding, requests, levels):
    port = h1.free_port()
    rundir = tempfile.mkdtemp(prefix="compress-bench-")
    process = subprocess.Popen(["taskset", "-c", "0"] + command(name, swiftlet, port, root, rundir, levels),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        h1.wait_for_port(port)
        url = f"http://127.0.0.1:{port}/app.js"
        load = ["taskset", "-c", "1", "h2load", "-H", f"accept-encoding: {coding}", "-c", "16", "-m", "10"]
        check = subprocess.run(["curl", "-s", "--http2-prior-knowledge", "-H", f"accept-encoding: {coding}",
                                "-o", "/dev/null", "-D", "-", url], capture_output=True, text=True).stdout.lower()
        served = re.search(r"content-encoding: (\S+)", check)
        served = served.group(1) if served else "identity"
        subprocess.run(load + ["-n", "2000", url], capture_output=True)
        cpu, rate, out = h1.load(process, load, url, requests, "compress-bench: " + name)
        data = int(re.search(r"traffic: .*\((\d+)\) data", out).group(1))
        return cpu, rate, data / requests, served
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=15)
        shutil.rmtree(rundir, ignore_errors=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swiftlet", required=True, help="the swiftlet binary")
    parser.add_argument("--peers", default="h2o h2o-precompressed nginx",
                        help="h2o-precompressed: h2o serving app.js.br and app.js.gz made beforehand at Swiftlet's default levels")
    parser.add_argument("--codings", default="br gzip", help="accept-encoding values to measure, one run each")
    parser.add_argument("--swiftlet-levels", help="--compress-levels for swiftlet, e.g. br=1,gzip=1 (h2o's levels)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=20_000)
    args = parser.parse_args()
    root = tempfile.mkdtemp(prefix="compress-bench-site-")
    os.chmod(root, 0o755)  # nginx's worker runs as another user
    with open(os.path.join(root, "app.js"), "wb") as file:
        file.write(script(50 << 10))
    os.chmod(os.path.join(root, "app.js"), 0o644)
    # For h2o-precompressed: the same file with siblings, at Swiftlet's default levels.
    import brotli, gzip
    siblings = os.path.join(root, "precompressed")
    os.mkdir(siblings)
    os.chmod(siblings, 0o755)
    shutil.copy(os.path.join(root, "app.js"), siblings)
    source = open(os.path.join(root, "app.js"), "rb").read()
    with open(os.path.join(siblings, "app.js.br"), "wb") as file:
        file.write(brotli.compress(source, quality=5))
    with open(os.path.join(siblings, "app.js.gz"), "wb") as file:
        file.write(gzip.compress(source, compresslevel=6))
    names = ["swiftlet"] + args.peers.split()
    print(f"50 KiB script, h2c, h2load -c 16 -m 10, median of {args.rounds} rounds of {args.requests} requests")
    print("| accept-encoding | server | served | CPU per request | ratio to h2o | body bytes | requests/s |")
    print("| --- | --- | --- | ---: | ---: | ---: | ---: |")
    for coding in args.codings.split():
        results = {name: [] for name in names}
        for _ in range(args.rounds):
            for name in names:
                results[name].append(measure(name, os.path.abspath(args.swiftlet), root, coding, args.requests,
                                             args.swiftlet_levels))
        median = {name: sorted(values)[len(values) // 2] for name, values in results.items()}
        base = median.get("h2o", median[names[0]])[0]
        for name in names:
            cpu, rate, size, served = median[name]
            print(f"| {coding} | {name} | {served} | {cpu:.1f} µs | {cpu / base:.2f}× | {size:,.0f} | {rate:,.0f} |")
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
