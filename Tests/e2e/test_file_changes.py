"""Files that change while they are being sent (the server sends from
mmap'ed pages): a file truncated or written in place must not crash the
server nor reach a client as a complete body made of two versions under one
ETag; the stream is reset (HTTP/2) or the connection closed (HTTP/1.1). A
file replaced by rename, or deleted, is sent whole in the version the ETag
names. Each case also with the file's pages evicted first."""
import os
import socket

import pytest

import rawh2
from conftest import Server, curl, evict

SIZE = 8 << 20


def truncate_short(path):
    os.truncate(path, 1 << 20)


def truncate_empty(path):
    os.truncate(path, 0)


def overwrite_in_place(path):
    with open(path, "r+b") as f:
        f.seek(SIZE // 2)
        f.write(os.urandom(4096))


def replace_by_rename(path):
    fresh = path.with_name(path.name + ".new")
    fresh.write_bytes(os.urandom(SIZE))
    os.replace(fresh, path)


def delete(path):
    os.unlink(path)


BROKEN = [truncate_short, truncate_empty, overwrite_in_place]
KEPT = [replace_by_rename, delete]


def start_transfer(server, path):
    """An HTTP/2 GET that stops after the first 64 KiB (the default windows)."""
    client = rawh2.Client(server.port)
    client.send(client.headers(1, "/" + path.name))
    body = b""
    headers = None
    while len(body) < 65535:
        kind, flags, stream, payload = client.read_frame()
        if kind == rawh2.HEADERS and stream == 1:
            headers = dict(payload)
        elif kind == rawh2.DATA and stream == 1:
            body += payload
    return client, headers, body


def finish_transfer(client, body):
    """Opens the windows wide and reads stream 1 to its end: ('end', body)
    or ('reset', body)."""
    client.send(rawh2.window_update(0, 1 << 30) + rawh2.window_update(1, 1 << 30))
    while True:
        got = client.read_frame()
        if got is None:
            return "closed", body
        kind, flags, stream, payload = got
        if stream != 1:
            continue
        if kind == rawh2.DATA:
            body += payload
            if flags & rawh2.END_STREAM:
                return "end", body
        elif kind == rawh2.RST_STREAM:
            return "reset", body


def still_serves(server):
    result = curl("-o", "/dev/null", "-w", "%{http_code}", server.url + "/small.bin")
    assert result.stdout == b"200", "the server no longer serves: %r" % result
    assert server.process.poll() is None, "the server died"


@pytest.mark.parametrize("cold", [False, True], ids=["cached", "cold"])
@pytest.mark.parametrize("change", BROKEN + KEPT, ids=lambda f: f.__name__)
def test_file_changed_during_http2_transfer(site, change, cold):
    server = Server(site)
    try:
        path = site / "changing.bin"
        original = os.urandom(SIZE)
        path.write_bytes(original)
        if cold:
            evict(path)
        client, headers, body = start_transfer(server, path)
        assert headers[":status"] == "200" and headers["content-length"] == str(SIZE)
        change(path)
        outcome, body = finish_transfer(client, body)
        client.close()
        if change in BROKEN:
            assert outcome == "reset", "%s: the body %s (%d bytes) instead of RST_STREAM" % (change.__name__, outcome, len(body))
            assert len(body) < SIZE
        else:
            assert outcome == "end" and body == original, "%s: %s after %d bytes" % (change.__name__, outcome, len(body))
        assert original.startswith(body), "bytes of another version were sent"
        still_serves(server)
    finally:
        server.stop()


@pytest.mark.parametrize("change", BROKEN + KEPT, ids=lambda f: f.__name__)
def test_file_changed_during_http11_transfer(site, change):
    """HTTP/1.1 has no stream reset: the connection closes before the
    announced content-length, which every client reports as an error.

    HTTP/1.1 has no flow-control window either: up to the output budget
    (256 KiB) of the file is queued by reference ahead of what the kernel
    took, and a write in place that lands in that stretch reaches the client
    before the next slice's check sees the change. So for an in-place write
    the body may end in bytes of the new version; what holds is that it is
    cut short. (HTTP/2 queues no more than the client's window, so there
    the check below holds for every change.)"""
    server = Server(site)
    try:
        path = site / "changing.bin"
        original = os.urandom(SIZE)
        path.write_bytes(original)
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        sock.connect(("127.0.0.1", server.port))
        sock.settimeout(10)
        sock.sendall(b"GET /changing.bin HTTP/1.1\r\nHost: localhost\r\n\r\n")
        received = sock.recv(65536)
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, body = received.split(b"\r\n\r\n", 1)
        assert b"content-length: %d" % SIZE in head.lower()
        change(path)
        while len(body) < SIZE:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            body += chunk
        sock.close()
        if change in BROKEN:
            assert len(body) < SIZE, "%s: a complete body after the file changed" % change.__name__
        else:
            assert body == original
        if change is not overwrite_in_place:
            assert original.startswith(body), "bytes of another version were sent"
        still_serves(server)
    finally:
        server.stop()
