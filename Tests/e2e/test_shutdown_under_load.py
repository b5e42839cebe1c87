"""Graceful shutdown under load: SIGTERM while h2load runs 64 connections
of long streams and new connections keep arriving. Every request the server
accepted completes (the access log, which records every exchange however it
ended, shows only whole responses, as many as h2load counts), new
connections are refused cleanly, and the process exits within the graceful
timeout."""
import errno
import os
import signal
import socket
import ssl
import subprocess
import threading
import time

import pytest

import rawh2
from conftest import Server, require
from test_tls import make_certificate

LONG = 8 << 20


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("shutdown-certs"), "ec", "localhost")


def newcomer(port, context, outcomes, stop):
    """Opens a new connection after another and asks for /small.bin,
    classifying how each ended."""
    while not stop.is_set():
        try:
            client = rawh2.Client(port, timeout=5, tls_context=context)
        except ConnectionRefusedError:
            outcomes.append("refused")
            time.sleep(0.01)
            continue
        except (ConnectionResetError, ssl.SSLError, OSError) as error:
            # Reset in the listen queue, or during the TLS handshake: nothing
            # was processed (the client may retry).
            outcomes.append("refused" if getattr(error, "errno", None) != errno.ETIMEDOUT else "broken: %r" % error)
            continue
        try:
            client.send(client.headers(1, "/small.bin"))
            heard = False
            outcome = None
            while outcome is None:
                got = client.read_frame()
                if got is None:
                    outcome = "refused" if not heard else "broken: closed without GOAWAY"
                    break
                heard = True
                kind, flags, stream, payload = got
                if kind == rawh2.GOAWAY:
                    last = int.from_bytes(payload[:4], "big") & 0x7FFFFFFF
                    if last < 1:
                        outcome = "goaway"  # stream 1 not processed: safe to retry
                elif kind == rawh2.DATA and stream == 1 and flags & rawh2.END_STREAM:
                    outcome = "served"
                elif kind == rawh2.RST_STREAM and stream == 1:
                    outcome = "broken: reset"
            outcomes.append(outcome)
        except OSError as error:
            outcomes.append("refused" if not isinstance(error, socket.timeout) else "broken: timeout")
        finally:
            client.close()


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
def test_sigterm_under_load_loses_no_accepted_request(site, tmp_path, cert, tls):
    require("h2load")
    (site / "long.bin").write_bytes(os.urandom(LONG))
    log = tmp_path / "access.log"
    args = ["--access-log", str(log), "--graceful-timeout", "10s"]
    context = None
    if tls:
        args += ["--tls-cert", str(cert[0]), "--tls-key", str(cert[1])]
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.set_alpn_protocols(["h2"])
    server = Server(site, *args)
    load = subprocess.Popen(["h2load", "-c", "64", "-m", "2", "-n", "1000000", server.url + "/long.bin"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    outcomes = []
    stop = threading.Event()
    arrivals = threading.Thread(target=newcomer, args=(server.port, context, outcomes, stop))
    arrivals.start()
    time.sleep(1.5)
    sent = time.time()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=30)
    took = time.time() - sent
    time.sleep(0.5)  # new connections keep arriving after the exit too
    stop.set()
    arrivals.join(timeout=30)
    output, _ = load.communicate(timeout=60)
    assert code == 0, server.logs()
    assert took <= 10 + 2, "exited %.1f s after SIGTERM (graceful timeout 10 s)" % took

    line = next(l for l in output.splitlines() if l.startswith("requests:")).replace(",", "").split()
    succeeded = int(line[line.index("succeeded") - 1])
    entries = [l.split('"')[2].split() for l in log.read_text().splitlines() if "/long.bin" in l]
    assert succeeded > 100, output
    whole = [e for e in entries if e[0] == "200" and e[1] == str(LONG)]
    assert len(whole) == len(entries), "responses cut short: %s" % [e for e in entries if e not in whole][:5]
    assert len(entries) == succeeded, "the server finished %d responses, h2load received %d" % (len(entries), succeeded)

    print("shutdown: exit %.2f s after SIGTERM; h2load %d whole responses, access log %d; new connections %s"
          % (took, succeeded, len(entries), {o: outcomes.count(o) for o in sorted(set(outcomes))}))
    broken = [o for o in outcomes if o.startswith("broken")]
    assert not broken, broken[:5]
    assert outcomes.count("refused") > 0 and outcomes.count("served") > 0, {o: outcomes.count(o) for o in set(outcomes)}
