#!/usr/bin/env python3
"""Unary gRPC calls per second and server CPU per call: grpc-swift's echo.Echo
service on Swiftlet's transport (swiftlet-grpc-echo) against the same service
on grpc-swift's own NIO HTTP/2 transport (tools/grpc-swift-nio's
grpc-nio-echo), side by side in one run.

Each server runs pinned to core 0; h2load on core 1 sends echo.Echo/Get with
a 5-byte text ("hello") over h2c and TLS, -c 32 -m 32 by default. Rounds
alternate between the servers; the medians are printed with the ratios
swiftlet / nio. Before measuring, one call to each server is checked with
grpcio, since h2load counts any 200 as a success, gRPC errors included."""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from importlib import import_module

cpu_seconds = import_module("async-cost").cpu_seconds
# A gRPC message: not compressed, 4-byte big-endian length, then
# EchoRequest { text = "hello" } (field 1, length-delimited).
MESSAGE = b"\x0a\x05hello"
FRAME = b"\x00" + len(MESSAGE).to_bytes(4, "big") + MESSAGE


def start(command):
    """Starts a server pinned to core 0; returns it and the port of its start-up line."""
    process = subprocess.Popen(["taskset", "-c", "0"] + command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:
        found = re.search(r"listening on https?://[^:]+:(\d+)", line)
        if found:
            return process, int(found.group(1))
    raise SystemExit("%s: exited before its start-up line" % command[0])


def check_call(port, cert):
    import grpc
    if cert:
        credentials = grpc.ssl_channel_credentials(open(cert, "rb").read())
        channel = grpc.secure_channel("127.0.0.1:%d" % port, credentials, options=[("grpc.ssl_target_name_override", "localhost")])
    else:
        channel = grpc.insecure_channel("127.0.0.1:%d" % port)
    with channel:
        answer = channel.unary_unary("/echo.Echo/Get")(MESSAGE, timeout=10)
    if answer != MESSAGE:
        raise SystemExit("echo.Echo/Get on port %d answered %r, not %r" % (port, answer, MESSAGE))


def h2load(port, tls, calls, clients, streams, data):
    url = "%s://127.0.0.1:%d/echo.Echo/Get" % ("https" if tls else "http", port)
    out = subprocess.run(["taskset", "-c", "1", "h2load", "-n", str(calls), "-c", str(clients), "-m", str(streams),
                          "-d", data, "-H", "content-type: application/grpc", "-H", "te: trailers", url],
                         capture_output=True, text=True).stdout
    done = re.search(r"(\d+) succeeded", out)
    rate = re.search(r"finished in [\d.]+m?s, ([\d.]+) req/s", out)
    if not done or not rate or int(done.group(1)) != calls:
        raise SystemExit("h2load against %s did not complete every call:\n%s" % (url, out))
    return int(done.group(1)), float(rate.group(1))


def round_of(command, tls, cert, args, data):
    process, port = start(command)
    try:
        check_call(port, cert)
        h2load(port, tls, 2000, 8, 16, data)  # warm up
        before = cpu_seconds(process.pid)
        done, rate = h2load(port, tls, args.calls, args.clients, args.streams, data)
        after = cpu_seconds(process.pid)
        return rate, (after - before) / done * 1e6
    finally:
        process.terminate()
        process.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swiftlet", default=".build/release/swiftlet-grpc-echo", help="swiftlet-grpc-echo binary")
    parser.add_argument("--nio", default="tools/grpc-swift-nio/.build/release/grpc-nio-echo", help="grpc-nio-echo binary")
    parser.add_argument("--calls", type=int, default=100_000, help="calls per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--clients", type=int, default=32, help="h2load connections (-c)")
    parser.add_argument("--streams", type=int, default=32, help="h2load streams per connection (-m)")
    parser.add_argument("--tls", choices=["no", "yes", "both"], default="both", help="h2c, TLS, or both")
    args = parser.parse_args()
    for binary in (args.swiftlet, args.nio):
        if not os.access(binary, os.X_OK):
            raise SystemExit("grpc-bench: %s is missing (make build grpc-swift-nio)" % binary)
    with tempfile.TemporaryDirectory() as work:
        data = os.path.join(work, "get.grpc")
        open(data, "wb").write(FRAME)
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "1", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
                        "-keyout", key, "-out", cert], check=True, capture_output=True)
        modes = {"no": [False], "yes": [True], "both": [False, True]}[args.tls]
        print("echo.Echo/Get, h2load -c %d -m %d, %d calls per round, median of %d rounds; servers on core 0, h2load on core 1"
              % (args.clients, args.streams, args.calls, args.rounds))
        print("%-5s %-9s %12s %16s" % ("mode", "server", "calls/s", "CPU per call"))
        for tls in modes:
            extra = ["--tls-cert", cert, "--tls-key", key] if tls else []
            servers = {"swiftlet": [args.swiftlet, "--port", "0"] + extra, "nio": [args.nio, "--port", "0"] + extra}
            samples = {name: [] for name in servers}
            for _ in range(args.rounds):
                for name, command in servers.items():
                    samples[name].append(round_of(command, tls, cert if tls else None, args, data))
            medians = {name: (statistics.median(r for r, _ in s), statistics.median(c for _, c in s)) for name, s in samples.items()}
            mode = "TLS" if tls else "h2c"
            for name, (rate, cpu) in medians.items():
                print("%-5s %-9s %12.0f %13.1f us" % (mode, name, rate, cpu))
            print("%-5s swiftlet / nio: %.2fx the calls per second, %.2fx the CPU per call" % (
                mode, medians["swiftlet"][0] / medians["nio"][0], medians["swiftlet"][1] / medians["nio"][1]))


if __name__ == "__main__":
    main()
