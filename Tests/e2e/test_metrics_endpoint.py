"""--metrics-listen: the server's metrics in Prometheus text format, scraped
and parsed by prometheus_client (the Python client's own parser), after a
known set of requests."""
import re
import subprocess
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from conftest import BINARY, Server, curl


def scrape(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as response:
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        return response.read().decode()


def samples(text):
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(found, name, **labels):
    return found.get((name, tuple(sorted(labels.items()))), 0)


def test_metrics_after_known_requests(site):
    server = Server(site, "--metrics-listen", "127.0.0.1:0")
    port = int(re.search(r"metrics at http://127\.0\.0\.1:(\d+)/metrics", server.startup + server.process.stderr.readline()).group(1))
    for _ in range(3):
        assert curl(server.url + "/style.css").returncode == 0            # h2c 200
    curl(server.url + "/missing", http2=False)                            # HTTP/1.1 404
    curl("-X", "POST", server.url + "/style.css")                         # 405
    deadline = time.time() + 10
    while True:  # each loop hands its counts over once a second
        found = samples(scrape(port))
        if value(found, "swiftlet_requests_total", status="4xx", method="POST") == 1 or time.time() > deadline:
            break
        time.sleep(0.1)
    assert value(found, "swiftlet_requests_total", status="2xx", method="GET") == 3
    assert value(found, "swiftlet_requests_total", status="4xx", method="GET") == 1
    assert value(found, "swiftlet_requests_total", status="4xx", method="POST") == 1
    assert value(found, "swiftlet_connections_accepted_total") == 5
    assert value(found, "swiftlet_request_duration_seconds_count") == 5
    assert value(found, "swiftlet_bytes_received_total") > 0
    assert value(found, "swiftlet_bytes_sent_total") > 3 * len("body { color: black }\n")
    for state in ("h2", "http/1.1", "handshake"):
        assert value(found, "swiftlet_connections_open", state=state) == 0
    # /style.css opened once, then served from the cache; /missing looked up.
    assert value(found, "swiftlet_file_cache_hits_total") >= 2
    assert value(found, "swiftlet_file_cache_misses_total") >= 2
    assert value(found, "swiftlet_loop_turns_total") > 0
    assert 0 < value(found, "swiftlet_loop_busy_seconds_total") < 10
    # Nothing else answers on the metrics port.
    try:
        urllib.request.urlopen("http://127.0.0.1:%d/" % port, timeout=5)
        raise AssertionError("/ answered on the metrics port")
    except urllib.error.HTTPError as error:
        assert error.code == 404
    assert server.stop() == 0


def test_bad_metrics_address_names_the_flag(site):
    result = subprocess.run([BINARY, "--metrics-listen", "9100", str(site)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 64
    assert "--metrics-listen: '9100' is not HOST:PORT" in result.stderr
