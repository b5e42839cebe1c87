#!/usr/bin/env python3
"""Memory per idle connection: open N HTTP/2 connections to a server and
read what its memory grew by, after the handshake and after one request on
each, for swiftlet and peers in one run.

    python3 tools/idle-memory.py --swiftlet .build/release/swiftlet \
        [--peers "h2o nghttpd"] [--connections 2000] [--tls]

Memory is the proportional set size (Pss, /proc/PID/smaps_rollup) summed
over the server's process group, so a master process and its workers count
once each and shared libraries are split among their users. Per connection
= (Pss with the connections open - Pss before) / N. The client (python h2)
completes each handshake (preface, both SETTINGS and their ACKs) and, for
the second figure, one GET of a 1 KiB file whose response it reads whole;
then it only holds the socket. Every server runs on core 0 with one worker;
h2o's HTTP/2 idle timeout is raised from 10 s to 600 s (opening the
connections takes longer) and its connection limit from 1024.
"""
import argparse
import os
import resource
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time

import h2.config
import h2.connection
import h2.events


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(name, binary, tls, port, root, cert, key, rundir):
    if name == "swiftlet":
        extra = ["--tls-cert", cert, "--tls-key", key] if tls else []
        return [binary, "--host", "127.0.0.1", "--port", str(port), "--loops", "1"] + extra + [root]
    if name == "h2o":
        conf = os.path.join(rundir, "h2o.conf")
        tls_part = f"\n  ssl:\n    certificate-file: {cert}\n    key-file: {key}" if tls else ""
        with open(conf, "w") as file:
            # h2o closes idle HTTP/2 connections after 10 s by default, less
            # than opening them all takes here, and accepts 1024 connections.
            file.write(f"num-threads: 1\nmax-connections: 100000\nhttp2-idle-timeout: 600\nerror-log: {rundir}/h2o-error.log\npid-file: {rundir}/h2o.pid\n"
                       + ("user: root\n" if os.geteuid() == 0 else "")
                       + f"listen:\n  host: 127.0.0.1\n  port: {port}{tls_part}\n"
                       f"hosts:\n  default:\n    paths:\n      /:\n        file.dir: {root}\n")
        return ["h2o", "-c", conf]
    if name == "nghttpd":
        if tls:
            return ["nghttpd", "-a", "127.0.0.1", "-n", "1", str(port), key, cert, "-d", root]
        return ["nghttpd", "-a", "127.0.0.1", "-n", "1", "--no-tls", str(port), "-d", root]
    sys.exit(f"idle-memory: unknown peer {name!r} (known: h2o, nghttpd)")


def pss_kib(group):
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.getpgid(int(entry)) != group:
                continue
            with open(f"/proc/{entry}/smaps_rollup") as rollup:
                for line in rollup:
                    if line.startswith("Pss:"):
                        total += int(line.split()[1])
        except (ProcessLookupError, FileNotFoundError, PermissionError):
            continue
    return total


class Client:
    """One HTTP/2 connection driven by python h2, blocking."""

    def __init__(self, port, context):
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.sock = context.wrap_socket(raw, server_hostname="localhost") if context else raw
        self.h2 = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))
        self.h2.initiate_connection()
        self.sock.sendall(self.h2.data_to_send())
        self.wait(lambda events: any(isinstance(e, h2.events.SettingsAcknowledged) for e in events))

    def wait(self, done):
        seen = []
        while not done(seen):
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("the server closed the connection")
            seen += self.h2.receive_data(data)
            for event in seen:
                if isinstance(event, h2.events.DataReceived):
                    self.h2.acknowledge_received_data(event.flow_controlled_length, event.stream_id)
            self.sock.sendall(self.h2.data_to_send())

    def get(self, path):
        stream = self.h2.get_next_available_stream_id()
        self.h2.send_headers(stream, [(":method", "GET"), (":path", path), (":scheme", "http"),
                                      (":authority", "localhost")], end_stream=True)
        self.sock.sendall(self.h2.data_to_send())
        self.wait(lambda events: any(isinstance(e, h2.events.StreamEnded) and e.stream_id == stream for e in events))


def measure(name, binary, tls, count, root, cert, key):
    with tempfile.TemporaryDirectory() as rundir:
        port = free_port()
        server = subprocess.Popen(["taskset", "-c", "0"] + command(name, binary, tls, port, root, cert, key, rundir),
                                  stdout=subprocess.DEVNULL, stderr=open(os.path.join(rundir, "server.log"), "w"), start_new_session=True)
        context = None
        if tls:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            context.set_alpn_protocols(["h2"])
        clients = []
        try:
            deadline = time.time() + 30
            while True:
                try:
                    Client(port, context).sock.close()
                    break
                except OSError:
                    if time.time() > deadline or server.poll() is not None:
                        sys.exit(f"idle-memory: {name} did not serve on port {port}")
                    time.sleep(0.2)
            time.sleep(1)
            before = pss_kib(server.pid)
            for _ in range(count):
                clients.append(Client(port, context))
            time.sleep(2)
            handshake = pss_kib(server.pid)
            for client in clients:
                client.get("/1k.bin")
            time.sleep(2)
            request = pss_kib(server.pid)
        except OSError as error:
            with open(os.path.join(rundir, "server.log")) as log:
                tail = log.read()[-1500:]
            sys.exit(f"idle-memory: {name}: a connection failed ({error}) with {len(clients)} open; the server said:\n{tail}")
        finally:
            for client in clients:
                client.sock.close()
            os.killpg(server.pid, 15)
            server.wait(timeout=30)
    return (handshake - before) / count, (request - before) / count


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--swiftlet", required=True)
    parser.add_argument("--peers", default="h2o nghttpd")
    parser.add_argument("--connections", type=int, default=2000)
    parser.add_argument("--tls", action="store_true", help="over TLS (ALPN h2) instead of h2c")
    arguments = parser.parse_args()
    if not os.access(arguments.swiftlet, os.X_OK):
        sys.exit(f"idle-memory: --swiftlet {arguments.swiftlet}: not an executable file")
    if arguments.connections < 1:
        sys.exit(f"idle-memory: --connections must be at least 1 (got {arguments.connections})")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = arguments.connections * 2 + 256
    if hard < wanted:
        sys.exit(f"idle-memory: --connections {arguments.connections} needs {wanted} descriptors; the hard limit is {hard}")
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, wanted), hard))
    with tempfile.TemporaryDirectory() as work:
        root = os.path.join(work, "site")
        os.mkdir(root)
        with open(os.path.join(root, "1k.bin"), "wb") as file:
            file.write(bytes(range(256)) * 4)
        cert, key = os.path.join(work, "cert.pem"), os.path.join(work, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                        "-days", "1", "-subj", "/CN=localhost", "-keyout", key, "-out", cert],
                       check=True, capture_output=True)
        servers = ["swiftlet"] + [peer for peer in arguments.peers.split() if shutil.which(peer)]
        mode = "TLS" if arguments.tls else "h2c"
        print(f"| server ({mode}, {arguments.connections} connections) | KiB per connection after the handshake | after one request |")
        print("| --- | ---: | ---: |")
        for name in servers:
            handshake, request = measure(name, arguments.swiftlet, arguments.tls, arguments.connections, root, cert, key)
            print(f"| {name} | {handshake:.1f} | {request:.1f} |", flush=True)


if __name__ == "__main__":
    main()
