"""The embedding guide's example program (examples/embedding) works as documented."""
import os
import re
import signal
import subprocess
import time

from conftest import BINARY, curl, free_port

EXAMPLE = os.path.join(os.path.dirname(BINARY), "swiftlet-embedding-example")


def test_embedding_example(tmp_path):
    port = free_port()
    process = subprocess.Popen([EXAMPLE, str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = process.stdout.readline()
        assert re.match(r"listening on http://127\.0\.0\.1:%d \((uring|epoll)\)" % port, line), line
        base = "http://127.0.0.1:%d" % port
        assert curl(base + "/hello").stdout == b"hello from swiftlet\n"
        payload = os.urandom(300_000)
        upload = tmp_path / "upload.bin"
        upload.write_bytes(payload)
        assert curl("--data-binary", "@%s" % upload, base + "/echo").stdout == payload
        assert curl("--data-binary", "@%s" % upload, base + "/count", http2=False).stdout == b"received 300000 bytes\n"
        assert curl(base + "/work").stdout == b"sum 499999500000\n"
        started = time.time()
        assert curl("-o", "/dev/null", "-w", "%{http_code}", base + "/later").stdout == b"204"
        assert time.time() - started >= 0.09
        assert curl("-o", "/dev/null", "-w", "%{http_code}", base + "/nope").stdout == b"404"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=15) == 0
