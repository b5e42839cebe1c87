"""The static handler, point by point, over HTTP/2 (curl) and HTTP/1.1 (raw)."""
import os
import socket

import brotli
import pytest

from conftest import curl


def fetch(server, path, *headers, method=None, http2=True):
    args = ["-D", "-", "-o", "-", "--path-as-is"]
    for header in headers:
        args += ["-H", header]
    if method == "HEAD":
        args = ["-I", "--path-as-is"] + args[4:]
    elif method:
        args += ["-X", method]
    result = curl(*args, server.url + path, http2=http2)
    raw = result.stdout
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        fields.setdefault(name.strip().lower(), value.strip())
    return status, fields, body


def raw_http1(server, request):
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data


def test_get_and_head(running, site):
    status, fields, body = fetch(running, "/style.css")
    assert status == 200 and body == (site / "style.css").read_bytes()
    assert fields["content-length"] == str(len(body))
    status, head_fields, body = fetch(running, "/style.css", method="HEAD")
    assert status == 200 and body == b""
    assert head_fields["content-length"] == fields["content-length"]


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_other_methods_get_405_with_allow(running, method):
    status, fields, _ = fetch(running, "/style.css", method=method)
    assert status == 405 and fields["allow"] == "GET, HEAD"


@pytest.mark.parametrize("path", ["/../etc/passwd", "/docs/../../etc/passwd", "/%2e%2e/etc/passwd",
                                  "/%2E%2E%2Fetc%2Fpasswd", "/docs/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2fetc/passwd"])
def test_traversal_is_refused(running, path):
    status, _, body = fetch(running, path)
    assert status in (400, 404) and b"root:" not in body


def test_traversal_over_http1_raw(running):
    response = raw_http1(running, b"GET /../../etc/passwd HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert response.split(b"\r\n")[0] in (b"HTTP/1.1 400 Bad Request", b"HTTP/1.1 404 Not Found")
    assert b"root:" not in response


def test_nul_is_refused(running):
    status, _, _ = fetch(running, "/style.css%00.png")
    assert status == 400


def test_query_is_ignored_and_percent_decoding_happens_once(running, site):
    status, _, body = fetch(running, "/style.css?v=123")
    assert status == 200 and body == (site / "style.css").read_bytes()
    status, _, body = fetch(running, "/a%20b.txt")
    assert status == 200 and body == b"space\n"
    status, _, _ = fetch(running, "/a%2520b.txt")
    assert status == 404, "%25 decodes to a literal %, not a second round"


def test_symlinks_outside_the_root_are_refused(server, site, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    os.symlink(secret, site / "out.txt")
    os.symlink("../secret.txt", site / "out-relative.txt")
    os.symlink(site / "style.css", site / "in.css")
    os.symlink("style.css", site / "in-relative.css")
    plain = server()
    assert fetch(plain, "/out.txt")[0] == 404
    assert fetch(plain, "/in.css")[0] == 404, "without --follow-symlinks no symlink is followed"
    assert fetch(plain, "/in-relative.css")[0] == 404
    following = server("--follow-symlinks")
    assert fetch(following, "/in.css")[0] == 200, "an absolute symlink inside the root"
    assert fetch(following, "/in-relative.css")[0] == 200
    assert fetch(following, "/out-relative.txt")[0] == 404
    status, _, body = fetch(following, "/out.txt")
    assert status == 404 and b"secret" not in body, "a symlink leading outside the root is refused even when following"


def test_directories(running):
    status, fields, _ = fetch(running, "/docs")
    assert status == 301 and fields["location"] == "/docs/"
    status, fields, _ = fetch(running, "/docs?x=1")
    assert status == 301 and fields["location"] == "/docs/?x=1"
    status, _, body = fetch(running, "/docs/")
    assert status == 200 and body == b"<p>docs</p>\n"
    assert fetch(running, "/empty/")[0] == 404
    status, _, body = fetch(running, "/")
    assert status == 200 and b"home" in body


@pytest.mark.parametrize("path,content_type", [
    ("/index.html", "text/html; charset=utf-8"), ("/style.css", "text/css; charset=utf-8"),
    ("/app.js", "text/javascript; charset=utf-8"), ("/data.json", "application/json"),
    ("/image.png", "image/png"), ("/text.txt", "text/plain; charset=utf-8"),
    ("/notes.unknownext", "application/octet-stream")])
def test_content_types(running, path, content_type):
    assert fetch(running, path)[1]["content-type"] == content_type


def test_validators_and_conditional_requests(running):
    _, fields, _ = fetch(running, "/style.css")
    etag, modified = fields["etag"], fields["last-modified"]
    assert etag.startswith('"') and etag.endswith('"'), "a strong ETag"
    assert fetch(running, "/style.css", "If-None-Match: " + etag)[0] == 304
    assert fetch(running, "/style.css", 'If-None-Match: "nope", W/' + etag)[0] == 304, "weak comparison"
    assert fetch(running, "/style.css", "If-None-Match: *")[0] == 304
    assert fetch(running, "/style.css", "If-Modified-Since: " + modified)[0] == 304
    assert fetch(running, "/style.css", "If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT")[0] == 200
    # If-None-Match wins over If-Modified-Since (RFC 9110 §13.2.2).
    assert fetch(running, "/style.css", 'If-None-Match: "other"', "If-Modified-Since: " + modified)[0] == 200


def test_ranges(running, site):
    data = (site / "large.bin").read_bytes()
    status, fields, body = fetch(running, "/large.bin", "Range: bytes=100-199")
    assert status == 206 and body == data[100:200]
    assert fields["content-range"] == "bytes 100-199/%d" % len(data)
    status, _, body = fetch(running, "/large.bin", "Range: bytes=-10")
    assert status == 206 and body == data[-10:]
    status, fields, body = fetch(running, "/large.bin", "Range: bytes=0-0,10-19")
    assert status == 206 and fields["content-type"].startswith("multipart/byteranges; boundary=")
    boundary = fields["content-type"].split("boundary=")[1].encode()
    parts = [p for p in body.split(b"--" + boundary) if p.strip() not in (b"", b"--")]
    assert len(parts) == 2 and parts[0].endswith(b"\r\n\r\n" + data[0:1] + b"\r\n") and data[10:20] in parts[1]
    status, fields, _ = fetch(running, "/large.bin", "Range: bytes=%d-" % (len(data) + 5))
    assert status == 416 and fields["content-range"] == "bytes */%d" % len(data)
    _, whole, _ = fetch(running, "/large.bin", method="HEAD")
    assert fetch(running, "/large.bin", "Range: bytes=0-9", "If-Range: " + whole["etag"])[0] == 206
    status, _, body = fetch(running, "/large.bin", "Range: bytes=0-9", 'If-Range: "stale"')
    assert status == 200 and len(body) == len(data)


def test_precompressed_siblings(running):
    status, fields, body = fetch(running, "/text.txt", "Accept-Encoding: gzip, br")
    assert status == 200 and body == b"BROTLI-CONTENT" and fields["content-encoding"] == "br"
    assert fields["vary"] == "accept-encoding" and fields["content-type"] == "text/plain; charset=utf-8"
    status, fields, body = fetch(running, "/text.txt", "Accept-Encoding: gzip")
    assert body == b"GZIPPED-CONTENT" and fields["content-encoding"] == "gzip"
    status, fields, body = fetch(running, "/text.txt", "Accept-Encoding: br;q=0, gzip;q=0")
    assert body.startswith(b"hello text") and "content-encoding" not in fields and fields["vary"] == "accept-encoding"


@pytest.mark.parametrize("accept,coding", [
    ("gzip, deflate, br, zstd", "br"),          # equal quality: br, then zstd, then gzip
    ("gzip, zstd", "zstd"),
    ("br;q=0.5, zstd;q=0.8, gzip;q=0.9", "gzip"),  # the highest quality wins
    ("*;q=0.5, br;q=0", "zstd"),                # the wildcard covers what is not named
    ("identity, br;q=0.5", None),               # identity asked for with more
    ("deflate", None),
])
def test_precompressed_sibling_chosen_by_quality(running, site, accept, coding):
    (site / "text.txt.zst").write_bytes(b"ZSTD-CONTENT")
    status, fields, body = fetch(running, "/text.txt", "Accept-Encoding: " + accept)
    expected = {"br": b"BROTLI-CONTENT", "zstd": b"ZSTD-CONTENT", "gzip": b"GZIPPED-CONTENT", None: None}[coding]
    assert status == 200 and fields.get("content-encoding") == coding
    assert body == expected if coding else body.startswith(b"hello text")
    assert fields["vary"] == "accept-encoding"


def test_each_encoding_has_its_own_etag(running, site):
    (site / "text.txt.zst").write_bytes(b"ZSTD-CONTENT")
    etags = {accept: fetch(running, "/text.txt", "Accept-Encoding: " + accept)[1]["etag"] for accept in ("br", "zstd", "gzip", "identity")}
    assert len(set(etags.values())) == 4, etags
    status, _, _ = fetch(running, "/text.txt", "Accept-Encoding: zstd", "If-None-Match: " + etags["zstd"])
    assert status == 304
    status, _, _ = fetch(running, "/text.txt", "Accept-Encoding: zstd", "If-None-Match: " + etags["br"])
    assert status == 200


def test_no_precompressed_flag(server, site):
    plain = server("--no-precompressed", "--compress", "off")
    status, fields, body = fetch(plain, "/text.txt", "Accept-Encoding: br")
    assert body.startswith(b"hello text") and "content-encoding" not in fields
    # Compression on the fly stands in for the sibling it ignores.
    on_the_fly = server("--no-precompressed")
    status, fields, body = fetch(on_the_fly, "/text.txt", "Accept-Encoding: br")
    assert fields["content-encoding"] == "br" and body != b"BROTLI-CONTENT"
    assert brotli.decompress(body) == (site / "text.txt").read_bytes()


def test_404_page(server, site):
    (site / "404.html").write_text("<h1>custom missing</h1>\n")
    running = server()
    status, fields, body = fetch(running, "/nothing-here")
    assert status == 404 and body == b"<h1>custom missing</h1>\n" and fields["content-type"] == "text/html; charset=utf-8"


def test_cache_control_flag(server):
    running = server("--cache-control", "public, max-age=3600")
    assert fetch(running, "/style.css")[1]["cache-control"] == "public, max-age=3600"


def test_index_flag(server, site):
    (site / "docs" / "start.html").write_text("start\n")
    running = server("--index", "start.html")
    status, _, body = fetch(running, "/docs/")
    assert status == 200 and body == b"start\n"


def test_date_and_server_fields(running):
    fields = fetch(running, "/style.css")[1]
    assert fields["server"] == "swiftlet" and fields["date"].endswith(" GMT")


def test_file_changes_are_seen(running, site):
    assert fetch(running, "/text.txt")[2].startswith(b"hello text")
    import time
    time.sleep(1.1)
    (site / "text.txt").write_text("changed\n")
    assert fetch(running, "/text.txt")[2] == b"changed\n"
