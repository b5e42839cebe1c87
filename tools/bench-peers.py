#!/usr/bin/env python3
"""swiftlet against h2o, nginx and nghttpd, in one run (`make bench-peers`).

Drives the shared side-by-side harness h2bench (../shared/bench/h2bench, or
$H2BENCH) twice, cleartext with ratios against h2o and TLS with ratios
against h2o-tls, then measures TLS handshakes: `openssl s_time -new` (a full
handshake per connection, no resumption) against each server, the server
pinned to core 0 and the client to core 1, servers taking turns. The primary
figure everywhere is the server's own CPU time per request or per handshake;
on a 2-core machine the client often saturates first.

    tools/bench-peers.py --swiftlet .build/release/swiftlet [--scale 0.2] [--rounds 3]

Writes a Markdown summary to standard output and the raw figures to
.build/bench/peers.json.
"""
import argparse
import importlib.machinery
import importlib.util
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def find_h2bench():
    for candidate in [os.environ.get("H2BENCH"), os.path.join(REPO, "..", "shared", "bench", "h2bench"),
                      "/work/shared/bench/h2bench"]:
        if candidate and os.path.exists(candidate):
            return os.path.abspath(candidate)
    raise SystemExit("bench-peers: h2bench not found; set H2BENCH=/path/to/h2bench "
                     "(it ships in ../shared/bench next to this repository)")


def load_module(path):
    loader = importlib.machinery.SourceFileLoader("h2bench", path)
    spec = importlib.util.spec_from_loader("h2bench", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def swiftlet_templates(binary):
    common = f"{binary} --host 127.0.0.1 --port {{port}} --max-requests-per-connection 1000000000 --log-level warning"
    return {
        "swiftlet": f"{common} {{root}}",
        "swiftlet-tls": f"{common} --tls-cert {{cert}} --tls-key {{key}} {{root}}",
    }


def run_h2bench(h2bench, templates, tls, args, out):
    label = "swiftlet-tls" if tls else "swiftlet"
    command = [sys.executable, h2bench, "--server", f"{label}={templates[label]}", "--peers", args.peers,
               "--workloads", args.workloads, "--tls", "on" if tls else "off", "--rounds", str(args.rounds),
               "--scale", str(args.scale), "--base", "h2o-tls" if tls else "h2o", "--out", out]
    print("$ " + " ".join(command), file=sys.stderr)
    subprocess.run(command, check=True)
    return json.load(open(out))["summary"]


def s_time(port, seconds, version):
    started = time.monotonic()
    result = subprocess.run(["taskset", "-c", "1", "openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new",
                             "-time", str(seconds), version], capture_output=True, text=True, timeout=seconds + 60)
    elapsed = time.monotonic() - started
    match = re.search(r"(\d+) connections in [\d.]+s;", result.stdout)
    return (int(match.group(1)) if match else 0), elapsed


def handshakes(h2bench_module, templates, args):
    """Full handshakes per second and server CPU per handshake."""
    work = h2bench_module.WORK
    root, certdir, rundir = f"{work}/site", f"{work}/cert", f"{work}/run"
    os.makedirs(rundir, exist_ok=True)
    h2bench_module.make_site(root)
    h2bench_module.make_cert(certdir)
    cert, key = f"{certdir}/cert.pem", f"{certdir}/key.pem"
    entries = [("swiftlet-tls", None)] + [(peer, peer) for peer in args.peers.split() if shutil.which(peer)]
    results = {}
    for version in ["-tls1_3", "-tls1_2"]:
        for _ in range(args.rounds):
            for label, peer in entries:
                port = h2bench_module.free_port()
                command = (templates["swiftlet-tls"].format(port=port, root=root, cert=cert, key=key) if peer is None
                           else h2bench_module.peer_command(peer, True, port, root, cert, key, rundir))
                try:
                    server = h2bench_module.Server(label, command, True, port, rundir)
                except RuntimeError as error:
                    print(f"{label}: {error}", file=sys.stderr)
                    continue
                time.sleep(0.3)
                s_time(port, 1, version)  # warm-up
                cpu = server.cpu_seconds()
                count, elapsed = s_time(port, args.handshake_seconds, version)
                cpu = server.cpu_seconds() - cpu
                server.stop()
                if count == 0:
                    # nginx 1.22 (Debian 12) enables TLS 1.3 only when ssl_protocols says so,
                    # and h2bench's configuration does not: its TLS rows are TLS 1.2.
                    print(f"  handshake {version} {label:14s} no handshakes completed (version not offered?)",
                          file=sys.stderr)
                    continue
                row = {"handshakes": count, "per_second": count / elapsed, "cpu_us": cpu * 1e6 / count}
                results.setdefault(version, {}).setdefault(label, []).append(row)
                print(f"  handshake {version} {label:14s} {row['per_second']:>8,.0f}/s {row['cpu_us']:>8.1f} cpu-µs",
                      file=sys.stderr)
    summary = {}
    for version, by in results.items():
        for label, rows in by.items():
            summary.setdefault(version, {})[label] = {
                "per_second": statistics.median(r["per_second"] for r in rows),
                "cpu_us": statistics.median(r["cpu_us"] for r in rows),
            }
    return summary


def markdown(cleartext, tls, shakes):
    lines = ["| workload | server | req/s | MB/s | server cpu-µs/req | failed | req/s vs h2o | cpu vs h2o |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for summary, base in [(cleartext, "h2o"), (tls, "h2o-tls")]:
        for workload, rows in summary.items():
            reference = rows.get(base)
            for label, row in rows.items():
                rps_ratio = row["rps"] / reference["rps"] if reference else float("nan")
                cpu_ratio = row["cpu_us_per_req"] / reference["cpu_us_per_req"] if reference else float("nan")
                lines.append(f"| {workload} | {label} | {row['rps']:,.0f} | {row['MBps']:,.1f} | "
                             f"{row['cpu_us_per_req']:.2f} | {row['failed']} | {rps_ratio:.2f} | {cpu_ratio:.2f} |")
    lines += ["", "| handshake | server | handshakes/s (client-bound) | server cpu-µs/handshake | cpu vs h2o |",
              "| --- | --- | ---: | ---: | ---: |"]
    for version, rows in shakes.items():
        reference = rows.get("h2o")
        for label, row in rows.items():
            ratio = row["cpu_us"] / reference["cpu_us"] if reference else float("nan")
            lines.append(f"| {version[1:]} | {label} | {row['per_second']:,.0f} | {row['cpu_us']:.1f} | {ratio:.2f} |")
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swiftlet", default=os.path.join(REPO, ".build", "release", "swiftlet"))
    parser.add_argument("--peers", default="h2o nginx nghttpd")
    parser.add_argument("--workloads", default="small large page")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--scale", type=float, default=0.5, help="multiply h2bench's request counts")
    parser.add_argument("--handshake-seconds", type=int, default=4)
    parser.add_argument("--skip", default="", help="comma-separated parts to skip: cleartext, tls, handshakes")
    args = parser.parse_args()
    binary = os.path.abspath(args.swiftlet)
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"bench-peers: {binary} is not an executable (make build)")
    for tool in ["h2load", "taskset", "openssl"]:
        if not shutil.which(tool):
            raise SystemExit(f"bench-peers: {tool} is missing (make deps)")
    h2bench = find_h2bench()
    templates = swiftlet_templates(binary)
    out = os.path.join(REPO, ".build", "bench")
    os.makedirs(out, exist_ok=True)
    skip = set(filter(None, args.skip.split(",")))
    cleartext = {} if "cleartext" in skip else run_h2bench(h2bench, templates, False, args, f"{out}/h2c.json")
    tls = {} if "tls" in skip else run_h2bench(h2bench, templates, True, args, f"{out}/tls.json")
    shakes = {} if "handshakes" in skip else handshakes(load_module(h2bench), templates, args)
    json.dump({"cleartext": cleartext, "tls": tls, "handshakes": shakes}, open(f"{out}/peers.json", "w"), indent=1)
    print(markdown(cleartext, tls, shakes))


if __name__ == "__main__":
    main()
