"""Interop with grpc-swift's own client: tools/grpc-swift-nio's
grpc-swift-echo-client (grpc-swift 2 over its NIO HTTP/2 transport) calls
swiftlet-grpc-echo over h2c and TLS and checks every answer: the four call
kinds with string and -bin metadata, 1000 messages on one stream, 4 MiB each
way, a deadline that passes, a client cancel mid-stream, an unknown method
and 200 calls at once. The same checks also run against grpc-swift's own NIO
server (grpc-nio-echo), which shows they test the protocol and not a
Swiftlet quirk.

The client is in a package of its own (SwiftNIO and swift-nio-ssl take
minutes to build); `make test-grpc-swift` builds it and runs this file.
GRPC_SWIFT_NIO_BIN names the folder of its binaries."""
import os
import subprocess

import pytest

from conftest import BINARY, ExampleServer
from test_tls import certs  # noqa: F401 (fixture)

ECHO = os.path.join(os.path.dirname(BINARY), "swiftlet-grpc-echo")
NIO_BIN = os.environ.get("GRPC_SWIFT_NIO_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "tools", "grpc-swift-nio", ".build", "release")
CLIENT = os.path.join(NIO_BIN, "grpc-swift-echo-client")
NIO_ECHO = os.path.join(NIO_BIN, "grpc-nio-echo")
CHECKS = ["unary", "server-streaming", "client-streaming", "bidirectional-1000", "large-4MiB", "deadline", "cancel",
          "unimplemented", "concurrent-200"]

pytestmark = pytest.mark.skipif(
    not os.access(CLIENT, os.X_OK) and not os.environ.get("GRPC_SWIFT_NIO_BIN"),
    reason="grpc-swift's NIO client is not built: make test-grpc-swift builds it and runs these tests")


@pytest.fixture(scope="module", params=["swiftlet h2c", "swiftlet tls", "nio h2c", "nio tls"])
def target(request, certs):  # noqa: F811
    """A running echo server and the client's arguments to reach it."""
    server, mode = request.param.split()
    cert, key = certs["ec"]
    tls = ["--tls-cert", str(cert), "--tls-key", str(key)] if mode == "tls" else []
    if server == "swiftlet":
        running = ExampleServer(ECHO, *tls)
    else:
        running = ExampleServer(NIO_ECHO, *tls, swiftlet=False)
    yield ["--port", str(running.port)] + (["--tls-ca", str(cert)] if mode == "tls" else [])
    status = running.stop()
    if server == "swiftlet":
        assert status == 0, "swiftlet-grpc-echo shuts down gracefully on SIGTERM"


@pytest.mark.parametrize("check", CHECKS)
def test_grpc_swift_client(target, check):
    result = subprocess.run([CLIENT, *target, "--check", check], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "ok " + check, result.stdout + result.stderr
    assert result.returncode == 0
