#!/usr/bin/env python3
"""Cross-check Swiftlet's HPACK codec against python-hpack (a reference peer).

  hpack_crosscheck.py decode FILE   FILE: {"stories": [[{"wire": hex, "headers": [[n, v], ...]}, ...], ...]}
                                    decodes every wire with python-hpack (one context per story) and
                                    prints "ok N" or the first mismatch.
  hpack_crosscheck.py encode DIR    encodes every raw-data story in DIR with python-hpack and prints
                                    the same JSON shape for Swiftlet to decode.
"""
import json
import os
import sys

from hpack import Decoder, Encoder


def decode(path):
    data = json.load(open(path))
    blocks = 0
    for number, story in enumerate(data["stories"]):
        decoder = Decoder()
        decoder.max_header_list_size = 1 << 20
        for index, case in enumerate(story):
            got = [[n, v] for n, v in decoder.decode(bytes.fromhex(case["wire"]))]
            if got != case["headers"]:
                print(f"mismatch story {number} case {index}: {got[:3]} != {case['headers'][:3]}")
                return 1
            blocks += 1
    print(f"ok {blocks}")
    return 0


def encode(directory):
    stories = []
    for name in sorted(os.listdir(directory)):
        if not name.endswith(".json"):
            continue
        encoder = Encoder()
        story = []
        for case in json.load(open(os.path.join(directory, name)))["cases"]:
            headers = [[k, v] for item in case["headers"] for k, v in item.items()]
            story.append({"wire": encoder.encode([tuple(h) for h in headers]).hex(), "headers": headers})
        stories.append(story)
    json.dump({"stories": stories}, sys.stdout)
    return 0


if __name__ == "__main__":
    mode, argument = sys.argv[1], sys.argv[2]
    sys.exit(decode(argument) if mode == "decode" else encode(argument))
