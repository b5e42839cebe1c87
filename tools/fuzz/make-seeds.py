#!/usr/bin/env python3
"""Writes the seed corpus of the fuzz targets (tools/fuzz/corpus/).

frames/: what a client sends after the preface and its SETTINGS (the
harness prepends those): requests with and without bodies, CONTINUATION,
padding, trailers, priority signals, flow control, PING, RST_STREAM,
GOAWAY, and a few inputs that break a rule, so mutations start near both
the accepted and the rejected paths.

hpack/: header blocks, each prefixed by a 2-byte big-endian length, decoded
in order by one decoder: the RFC 7541 Appendix C examples (the dynamic
table evolves across blocks) and, when ../shared/hpack-test-case is
present, a few stories from it.

finding-*.bin files are inputs fuzzing once broke us with, kept as
regressions; this script leaves them alone.

The files are committed; run this again only to change the seeds.
Needs the python packages hpack and hyperframe.
"""
import json
import os
import pathlib
import struct

import hpack
from hyperframe import frame as hf

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"


def headers_block(fields, encoder=None):
    return (encoder or hpack.Encoder()).encode(fields)


def request(path=b"/", method=b"GET", extra=()):
    return [(b":method", method), (b":scheme", b"https"), (b":authority", b"example.com"),
            (b":path", path)] + list(extra)


def headers(stream, block, flags=("END_HEADERS", "END_STREAM"), **kw):
    f = hf.HeadersFrame(stream, block, **kw)
    f.flags = set(flags)
    return f.serialize()


def data(stream, payload, flags=("END_STREAM",), pad=0):
    f = hf.DataFrame(stream, payload, pad_length=pad)
    f.flags = set(flags) | ({"PADDED"} if pad else set())
    return f.serialize()


def raw(frame_type, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([frame_type, flags]) + struct.pack(">I", stream) + payload


def frame_seeds():
    seeds = {}
    seeds["get"] = headers(1, headers_block(request(b"/index.html")))
    enc = hpack.Encoder()  # one encoder per seed: its dynamic table spans the seed's blocks
    seeds["get-then-get-indexed"] = (headers(1, headers_block(request(b"/a"), enc))
                                     + headers(3, headers_block(request(b"/ab"), enc)))
    seeds["post-with-body"] = (headers(1, headers_block(request(b"/up", b"POST", [(b"content-length", b"11")])),
                                       flags=("END_HEADERS",))
                               + data(1, b"hello", flags=()) + data(1, b" world"))
    seeds["post-padded-data"] = (headers(1, headers_block(request(b"/upl", b"POST")), flags=("END_HEADERS",))
                                 + data(1, b"abc", pad=7))
    block = headers_block(request(b"/continued", extra=[(b"x-long", b"v" * 200)]))
    seeds["continuation"] = (headers(1, block[:10], flags=("END_STREAM",))
                             + raw(0x9, 0x0, 1, block[10:60]) + raw(0x9, 0x4, 1, block[60:]))
    seeds["trailers"] = (headers(1, headers_block(request(b"/tr", b"POST", [(b"te", b"trailers")])),
                                 flags=("END_HEADERS",))
                         + data(1, b"body", flags=())
                         + headers(1, headers_block([(b"x-checksum", b"abc")])))
    seeds["priority-header-and-update"] = (
        raw(0x10, 0, 0, struct.pack(">I", 5) + b"u=1, i")
        + headers(1, headers_block(request(b"/p", extra=[(b"priority", b"u=2")])))
        + headers(3, headers_block(request(b"/pp")), flags=("END_HEADERS", "END_STREAM", "PRIORITY"),
                  stream_weight=200, depends_on=1, exclusive=True)
        + raw(0x2, 0, 5, struct.pack(">IB", 3, 15)))
    seeds["flow-control"] = (raw(0x8, 0, 0, struct.pack(">I", 1 << 20))
                             + headers(1, headers_block(request(b"/fc")))
                             + raw(0x8, 0, 1, struct.pack(">I", 1000))
                             + raw(0x4, 0, 0, struct.pack(">HI", 4, 100)))
    seeds["ping-settings-ack"] = (raw(0x6, 0, 0, b"12345678") + raw(0x4, 1, 0, b"")
                                  + raw(0x4, 0, 0, struct.pack(">HIHI", 1, 0, 3, 50)))
    seeds["rst-stream"] = (headers(1, headers_block(request(b"/r", b"POST")), flags=("END_HEADERS",))
                           + raw(0x3, 0, 1, struct.pack(">I", 8)))
    seeds["goaway"] = headers(1, headers_block(request(b"/g"))) + raw(0x7, 0, 0, struct.pack(">II", 1, 0) + b"bye")
    seeds["unknown-frame-type"] = raw(0xfa, 0xff, 0, b"ignored") + headers(1, headers_block(request(b"/u")))
    enc = hpack.Encoder()
    seeds["many-streams"] = b"".join(headers(s, headers_block(request(b"/m%d" % s), enc)) for s in range(1, 40, 2))
    # Rule breakers: the engine must answer them with the RFC's error.
    seeds["bad-even-stream"] = headers(2, headers_block(request(b"/even")))
    seeds["bad-data-on-idle"] = data(5, b"x")
    seeds["bad-window-zero"] = raw(0x8, 0, 0, struct.pack(">I", 0))
    seeds["bad-uppercase-name"] = headers(1, headers_block(request(b"/x", extra=[(b"X-Upper", b"1")])))
    seeds["bad-content-length"] = (headers(1, headers_block(request(b"/cl", b"POST", [(b"content-length", b"3")])),
                                           flags=("END_HEADERS",)) + data(1, b"toolong"))
    seeds["bad-interleaved-continuation"] = headers(1, block[:10], flags=()) + raw(0x6, 0, 0, b"12345678")
    return seeds


# RFC 7541 Appendix C.3 (requests without Huffman) and C.4 (with Huffman):
# three blocks each, decoded in order by one decoder.
RFC7541_C3 = ["828684410f7777772e6578616d706c652e636f6d",
              "828684be58086e6f2d6361636865",
              "828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565"]
RFC7541_C4 = ["828684418cf1e3c2e5f23a6ba0ab90f4ff",
              "828684be5886a8eb10649cbf",
              "828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf"]
# C.5.1: a response that fills a 256-byte table (with the size update first).
RFC7541_C5 = ["3fe1014803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d"]


def prefixed(blocks):
    return b"".join(struct.pack(">H", len(b)) + b for b in blocks)


def hpack_seeds():
    seeds = {
        "rfc7541-c3": prefixed(bytes.fromhex(h) for h in RFC7541_C3),
        "rfc7541-c4": prefixed(bytes.fromhex(h) for h in RFC7541_C4),
        "rfc7541-c5-size-update": prefixed(bytes.fromhex(h) for h in RFC7541_C5),
        "never-indexed": prefixed([hpack.Encoder().encode([(b"authorization", b"secret")], huffman=True)]
                                  + [bytes.fromhex("100870617373776f726406736563726574")]),
    }
    shared = HERE.parents[2] / "shared" / "hpack-test-case"
    for story_dir in ("nghttp2", "go-hpack", "python-hpack"):
        path = shared / story_dir / "story_05.json"
        if path.exists():
            cases = json.loads(path.read_text())["cases"][:12]
            seeds[f"story-{story_dir}"] = prefixed(bytes.fromhex(c["wire"]) for c in cases)
    return seeds


def write(kind, seeds):
    directory = CORPUS / kind
    directory.mkdir(parents=True, exist_ok=True)
    for name, payload in seeds.items():
        (directory / f"{name}.bin").write_bytes(payload)
    print(f"{directory.relative_to(HERE.parents[1])}: {len(seeds)} seeds")


if __name__ == "__main__":
    write("frames", frame_seeds())
    write("hpack", hpack_seeds())
