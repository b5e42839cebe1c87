"""h2spec (summerwind/h2spec 2.6.0), strict, against the real binary over
h2c (prior knowledge) and TLS; make test-e2e and make test-e2e-epoll run it
on each backend. The tool is built from ../shared/h2spec by `make h2spec`;
where that source is absent (a clone outside this setup) the test says so
and is skipped.

Every one of the 147 cases passes. None contradicts RFC 9113 on the
behaviour it checks for a server: where RFC 9113 relaxed RFC 7540 (the
priority tree, SETTINGS_ENABLE_PUSH values), the strict cases still accept
what this server does.
"""
import os
import re
import subprocess

import pytest

from conftest import Server
from test_tls import make_certificate

H2SPEC = os.environ.get("H2SPEC") or os.path.join(os.path.dirname(__file__), "..", "..", ".build", "h2spec", "h2spec")
SUMMARY = re.compile(r"(\d+) tests, (\d+) passed, (\d+) skipped, (\d+) failed")
CASES = 147


@pytest.fixture(scope="module")
def cert(tmp_path_factory):
    return make_certificate(tmp_path_factory.mktemp("h2spec-certs"), "ec", "localhost")


@pytest.mark.parametrize("tls", [False, True], ids=["h2c", "tls"])
def test_h2spec_strict_passes_every_case(site, cert, tls):
    if not os.path.exists(H2SPEC):
        # Where the Makefile's H2SPEC_SRC looks.
        sources = [os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "h2spec"), "/work/shared/h2spec"]
        if any(os.path.isdir(source) for source in sources):
            pytest.skip("h2spec is not built: run `make h2spec` (make test-e2e does)")
        pytest.skip("h2spec is not built: its source (../shared/h2spec) is absent from this setup")
    args = ("--tls-cert", str(cert[0]), "--tls-key", str(cert[1])) if tls else ()
    server = Server(site, *args)
    try:
        command = [H2SPEC, "-h", "127.0.0.1", "-p", str(server.port), "--strict", "-o", "5"]
        if tls:
            command += ["-t", "-k"]
        result = subprocess.run(command, capture_output=True, text=True, timeout=600)
        summary = SUMMARY.search(result.stdout)
        assert summary, result.stdout + result.stderr
        total, passed, skipped, failed = map(int, summary.groups())
        failures = result.stdout[result.stdout.find("Failures:"):] if failed else ""
        assert (total, passed, failed) == (CASES, CASES, 0), failures
        assert server.process.poll() is None, "the server exited: " + server.logs()
    finally:
        server.stop()
