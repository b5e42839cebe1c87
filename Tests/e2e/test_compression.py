"""Compression on the fly: files of compressible types are sent in the
coding the client prefers (br, zstd, gzip), each file version compressed
once and cached; decoded here with the reference Python bindings (brotli,
zstandard, gzip) and with curl's own decoders."""
import concurrent.futures
import gzip
import random
import re
import subprocess
import time

import brotli
import httpx
import pytest
import zstandard

from conftest import BINARY, Server, curl
from test_metrics_endpoint import samples, scrape, value
from test_static_files import fetch

DECODE = {
    "br": brotli.decompress,
    "zstd": lambda data: zstandard.ZstdDecompressor().decompress(data),
    "gzip": gzip.decompress,
}


def script(size, seed=1):
    """Text shaped like a script: repeated keywords, some variety."""
    generator = random.Random(seed)
    words = ["function", "return", "const", "let", "document", "querySelector", "addEventListener",
             "=>", "{", "}", "(", ")", ";", "await", "Promise", "this", "null"]
    out = []
    length = 0
    while length < size:
        line = " ".join(generator.choice(words) + ("_%d" % generator.randrange(99) if generator.random() < 0.3 else "")
                        for _ in range(generator.randrange(3, 12))) + "\n"
        out.append(line)
        length += len(line)
    return "".join(out)[:size].encode()


@pytest.fixture
def compressible(site):
    (site / "app.js").write_bytes(script(50 << 10))
    (site / "data.json").write_bytes(b'{"items": [' + b", ".join(b'{"id": %d, "name": "item"}' % i for i in range(500)) + b"]}\n")
    return site


@pytest.mark.parametrize("coding", ["br", "zstd", "gzip"])
def test_each_coding_decodes_to_the_file(compressible, server, coding):
    running = server()
    original = (compressible / "app.js").read_bytes()
    status, fields, body = fetch(running, "/app.js", "Accept-Encoding: " + coding)
    assert status == 200 and fields["content-encoding"] == coding
    assert DECODE[coding](body) == original
    assert int(fields["content-length"]) == len(body) < len(original) // 2
    assert fields["vary"] == "accept-encoding"
    assert fields["content-type"] == "text/javascript; charset=utf-8"
    assert re.fullmatch(r'"[0-9a-f]+-c800-[0-9a-f]+-%s\d+"' % coding, fields["etag"]), fields["etag"]
    assert "accept-ranges" not in fields, "ranges are served from the file as it is"
    # Over HTTP/1.1 too.
    status, fields, body = fetch(running, "/app.js", "Accept-Encoding: " + coding, http2=False)
    assert status == 200 and fields["content-encoding"] == coding and DECODE[coding](body) == original


def test_without_accept_encoding_the_file_as_it_is_varies(compressible, running):
    status, fields, body = fetch(running, "/app.js")
    assert status == 200 and "content-encoding" not in fields
    assert body == (compressible / "app.js").read_bytes()
    assert fields["vary"] == "accept-encoding" and fields["accept-ranges"] == "bytes"


@pytest.mark.parametrize("accept,coding", [
    ("gzip, deflate, br, zstd", "br"),                # equal quality: br, then zstd, then gzip
    ("gzip, zstd", "zstd"),
    ("br;q=0.5, zstd;q=0.8, gzip;q=0.9", "gzip"),     # the highest quality wins
    ("*;q=0.5, br;q=0", "zstd"),
    ("identity, br;q=0.5", None),                     # identity asked for with more
    ("deflate", None),
    ("br;q=0, zstd;q=0, gzip;q=0", None),
])
def test_coding_chosen_by_quality(compressible, running, accept, coding):
    status, fields, body = fetch(running, "/data.json", "Accept-Encoding: " + accept)
    assert status == 200 and fields.get("content-encoding") == coding
    original = (compressible / "data.json").read_bytes()
    assert (DECODE[coding](body) if coding else body) == original
    assert fields["vary"] == "accept-encoding"


def test_configured_order_breaks_ties(compressible, server):
    running = server("--compress-codings", "gzip,zstd")
    assert fetch(running, "/app.js", "Accept-Encoding: br, zstd, gzip")[1]["content-encoding"] == "gzip"
    assert fetch(running, "/app.js", "Accept-Encoding: br, zstd")[1]["content-encoding"] == "zstd"
    assert "content-encoding" not in fetch(running, "/app.js", "Accept-Encoding: br")[1], "br is not offered"
    assert fetch(running, "/app.js", "Accept-Encoding: br;q=0.5, zstd;q=0.9, gzip;q=0.8")[1]["content-encoding"] == "zstd"


def test_etags_differ_per_coding_and_validate(compressible, running):
    etags = {accept: fetch(running, "/app.js", "Accept-Encoding: " + accept)[1]["etag"]
             for accept in ("br", "zstd", "gzip", "identity")}
    assert len(set(etags.values())) == 4, etags
    status, fields, body = fetch(running, "/app.js", "Accept-Encoding: br", "If-None-Match: " + etags["br"])
    assert status == 304 and body == b"" and fields["etag"] == etags["br"] and fields["vary"] == "accept-encoding"
    assert fetch(running, "/app.js", "Accept-Encoding: br", "If-None-Match: " + etags["gzip"])[0] == 200
    assert fetch(running, "/app.js", "Accept-Encoding: br", "If-None-Match: " + etags["identity"])[0] == 200
    assert fetch(running, "/app.js", "If-None-Match: " + etags["identity"])[0] == 304
    since = fetch(running, "/app.js", "Accept-Encoding: br")[1]["last-modified"]
    assert fetch(running, "/app.js", "Accept-Encoding: br", "If-Modified-Since: " + since)[0] == 304


def test_head_has_the_fields_of_get(compressible, running):
    _, get, body = fetch(running, "/app.js", "Accept-Encoding: zstd")
    status, head, empty = fetch(running, "/app.js", "Accept-Encoding: zstd", method="HEAD")
    assert status == 200 and empty == b""
    for name in ("content-encoding", "content-length", "etag", "vary", "content-type"):
        assert head[name] == get[name], name


def test_ranges_are_served_from_the_file_as_it_is(compressible, running):
    original = (compressible / "app.js").read_bytes()
    status, fields, body = fetch(running, "/app.js", "Accept-Encoding: br", "Range: bytes=100-199")
    assert status == 206 and body == original[100:200]
    assert "content-encoding" not in fields and fields["vary"] == "accept-encoding"
    assert fields["content-range"] == "bytes 100-199/%d" % len(original)
    # If-Range with the compressed form's ETag names another representation: the whole file, compressed.
    etag = fetch(running, "/app.js", "Accept-Encoding: br")[1]["etag"]
    status, fields, body = fetch(running, "/app.js", "Accept-Encoding: br", "Range: bytes=0-9", "If-Range: " + etag)
    assert status == 200 and len(body) == len(original) and "content-encoding" not in fields


def test_what_is_not_compressed(compressible, server):
    running = server()
    # Below --compress-min-size (512 bytes by default): no negotiation, no vary.
    status, fields, body = fetch(running, "/style.css", "Accept-Encoding: br")
    assert "content-encoding" not in fields and "vary" not in fields
    # Not a compressible type.
    (compressible / "photo.png").write_bytes(script(4096))
    status, fields, body = fetch(running, "/photo.png", "Accept-Encoding: br")
    assert "content-encoding" not in fields and "vary" not in fields
    # A compressible type whose bytes do not shrink: sent as it is, remembered.
    (compressible / "noise.txt").write_bytes(random.Random(3).randbytes(4096))
    for _ in range(2):
        status, fields, body = fetch(running, "/noise.txt", "Accept-Encoding: br")
        assert "content-encoding" not in fields and fields["vary"] == "accept-encoding"
        assert body == (compressible / "noise.txt").read_bytes()
    # A precompressed sibling wins, and stands in for compression on the fly.
    status, fields, body = fetch(running, "/text.txt", "Accept-Encoding: br")
    assert body == b"BROTLI-CONTENT"
    status, fields, body = fetch(running, "/text.txt", "Accept-Encoding: zstd")
    assert "content-encoding" not in fields and body.startswith(b"hello text")


def test_flags_turn_it_off_and_choose_types_levels_and_size(compressible, server):
    off = server("--compress", "off")
    assert "content-encoding" not in fetch(off, "/app.js", "Accept-Encoding: br")[1]
    json_only = server("--compress-types", "application/json", "--compress-min-size", "0")
    assert "content-encoding" not in fetch(json_only, "/app.js", "Accept-Encoding: br")[1]
    assert fetch(json_only, "/data.json", "Accept-Encoding: br")[1]["content-encoding"] == "br"
    fast = server("--compress-levels", "gzip=1")
    best = server("--compress-levels", "gzip=9,br=11")
    _, fast_fields, fast_body = fetch(fast, "/app.js", "Accept-Encoding: gzip")
    _, best_fields, best_body = fetch(best, "/app.js", "Accept-Encoding: gzip")
    assert fast_fields["etag"].endswith('-gzip1"') and best_fields["etag"].endswith('-gzip9"')
    assert len(best_body) < len(fast_body)
    assert gzip.decompress(fast_body) == gzip.decompress(best_body) == (compressible / "app.js").read_bytes()
    assert fetch(best, "/app.js", "Accept-Encoding: br")[1]["etag"].endswith('-br11"')
    large_only = server("--compress-min-size", "1M")
    assert "content-encoding" not in fetch(large_only, "/app.js", "Accept-Encoding: br")[1]


def test_a_changed_file_is_compressed_again(compressible, running):
    first = fetch(running, "/app.js", "Accept-Encoding: br")
    (compressible / "app.js").write_bytes(script(60 << 10, seed=2))
    deadline = time.time() + 5
    while True:  # the file cache revalidates within a second
        status, fields, body = fetch(running, "/app.js", "Accept-Encoding: br")
        if fields["etag"] != first[1]["etag"] or time.time() > deadline:
            break
        time.sleep(0.2)
    assert fields["etag"] != first[1]["etag"]
    assert brotli.decompress(body) == (compressible / "app.js").read_bytes()


def test_large_file_compressed_once_for_all_loops_and_clients(compressible):
    """A 4 MiB script (compressed on the compression thread, not on a loop)
    asked for by 24 clients at once over two loops, h2c and HTTP/1.1: every
    response decodes to the file and it was compressed once per coding."""
    original = script(4 << 20, seed=5)
    (compressible / "bundle.js").write_bytes(original)
    server = Server(compressible, "--loops", "2", "--metrics-listen", "127.0.0.1:0")
    try:
        port = int(re.search(r"metrics at http://127\.0\.0\.1:(\d+)/metrics",
                             server.startup + server.process.stderr.readline()).group(1))

        def get(index):
            coding = ["br", "gzip"][index % 2]
            args = ["-H", "Accept-Encoding: " + coding, "-D", "-", "-o", "-"]
            result = curl(*args, server.url + "/bundle.js", http2=index % 3 != 0)
            head, _, body = result.stdout.partition(b"\r\n\r\n")
            assert b"content-encoding: " + coding.encode() in head.lower(), head
            return DECODE[coding](body) == original

        with concurrent.futures.ThreadPoolExecutor(24) as pool:
            assert all(pool.map(get, range(24)))
        found = samples(scrape(port))
        assert value(found, "swiftlet_compressions_total", outcome="compressed") == 2
        assert value(found, "swiftlet_compression_cache_entries") == 2
        assert value(found, "swiftlet_compression_cache_bytes") > 0
        # Later requests are answered from the cache.
        assert get(0) and get(1)
        found = samples(scrape(port))
        assert value(found, "swiftlet_compressions_total", outcome="compressed") == 2
        assert value(found, "swiftlet_compression_cache_hits_total") >= 2
    finally:
        assert server.stop() == 0


def test_a_client_gone_while_its_file_compresses(compressible, running):
    """Requests waiting for a compression are dropped when their stream is
    reset or their connection closes; the server carries on."""
    (compressible / "bundle.js").write_bytes(script(8 << 20, seed=6))
    for _ in range(3):
        subprocess.run(["curl", "-s", "--http2-prior-knowledge", "--max-time", "0.05", "-H", "Accept-Encoding: br",
                        "-o", "/dev/null", running.url + "/bundle.js"])
    status, fields, body = fetch(running, "/bundle.js", "Accept-Encoding: br")
    assert status == 200 and brotli.decompress(body) == (compressible / "bundle.js").read_bytes()
    assert running.process.poll() is None


def test_real_clients_decode_it(compressible, running):
    original = (compressible / "app.js").read_bytes()
    for coding in ("br", "zstd", "gzip"):
        result = curl("--compressed", "-H", "Accept-Encoding: " + coding, running.url + "/app.js")
        assert result.returncode == 0 and result.stdout == original, coding
    with httpx.Client(http2=True, http1=False) as client:
        response = client.get(running.url + "/app.js")  # advertises gzip, deflate, br, zstd
        assert response.http_version == "HTTP/2" and response.headers["content-encoding"] == "br"
        assert response.content == original


@pytest.mark.parametrize("flag,value,message", [
    ("--compress", "yes", "--compress: 'yes' is not one of on, off"),
    ("--compress-codings", "br,deflate", "--compress-codings: 'deflate' is not one of br, zstd, gzip"),
    ("--compress-codings", "br,br", "--compress-codings: br is given twice"),
    ("--compress-levels", "br=12", "--compress-levels: br level '12' is out of range (allowed: 0...11)"),
    ("--compress-levels", "zstd=0", "--compress-levels: zstd level '0' is out of range (allowed: 1...19)"),
    ("--compress-levels", "gzip", "--compress-levels: 'gzip' is not CODING=LEVEL with CODING one of br, zstd, gzip"),
    ("--compress-min-size", "2G", "--compress-min-size: 2G is out of range (allowed: 0...1G)"),
    ("--compress-types", "text", "--compress-types: 'text' is not a media type like text/css or text/*"),
    ("--compress-types", ",", "--compress-types: give at least one media type"),
    ("--compress-cache-size", "65G", "--compress-cache-size: 65G is out of range (allowed: 0...64G)"),
])
def test_flag_validation(site, flag, value, message):
    result = subprocess.run([BINARY, flag, value, str(site)], capture_output=True, text=True, timeout=20)
    assert result.returncode == 64, result.stderr
    assert message in result.stderr, result.stderr
