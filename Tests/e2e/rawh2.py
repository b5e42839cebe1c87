"""HTTP/2 frames by hand, for clients that misbehave on purpose (floods,
dribbles, resets) where a strict library would refuse to."""
import socket
import struct

import hpack

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
ERROR_CODES = {0: "NO_ERROR", 1: "PROTOCOL_ERROR", 3: "FLOW_CONTROL_ERROR", 8: "CANCEL", 11: "ENHANCE_YOUR_CALM"}


def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def settings(*pairs, ack=False):
    return frame(SETTINGS, ACK if ack else 0, 0, b"".join(struct.pack(">HI", k, v) for k, v in pairs))


def ping(payload=0, ack=False):
    return frame(PING, ACK if ack else 0, 0, struct.pack(">Q", payload))


def rst_stream(stream, code=8):
    return frame(RST_STREAM, 0, stream, struct.pack(">I", code))


def window_update(stream, increment):
    return frame(WINDOW_UPDATE, 0, stream, struct.pack(">I", increment))


class Client:
    """A raw HTTP/2 client over a blocking socket."""

    def __init__(self, port, settings_pairs=(), timeout=10, tls_context=None):
        sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls_context is not None:
            sock = tls_context.wrap_socket(sock, server_hostname="localhost")
        self.sock = sock
        self.encoder = hpack.Encoder()
        self.decoder = hpack.Decoder()
        # Received bytes not yet returned as frames start at `self.start`
        # (slicing the front off for every frame would copy the rest each
        # time: quadratic in a buffer of thousands of small frames).
        self.buffer = bytearray()
        self.start = 0
        self.sock.sendall(PREFACE + settings(*settings_pairs) + settings(ack=True))

    def headers(self, stream, path, end_stream=True, method="GET"):
        block = self.encoder.encode([(":method", method), (":scheme", "http"), (":authority", "localhost"), (":path", path)])
        return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, block)

    def send(self, data):
        self.sock.sendall(data)

    def read_frame(self):
        """(type, flags, stream, payload), or None at EOF. Header blocks are
        decoded (the HPACK context must follow every block)."""
        while True:
            available = len(self.buffer) - self.start
            if available >= 9:
                at = self.start
                length = int.from_bytes(self.buffer[at:at + 3], "big")
                if available >= 9 + length:
                    kind, flags = self.buffer[at + 3], self.buffer[at + 4]
                    stream = int.from_bytes(self.buffer[at + 5:at + 9], "big") & 0x7FFFFFFF
                    payload = bytes(self.buffer[at + 9:at + 9 + length])
                    self.start = at + 9 + length
                    if kind == HEADERS:
                        payload = self.decoder.decode(payload)
                    return kind, flags, stream, payload
            try:
                chunk = self.sock.recv(1 << 16)
            except (ConnectionResetError, socket.timeout):
                return None
            if not chunk:
                return None
            del self.buffer[:self.start]
            self.start = 0
            self.buffer += chunk

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def goaway_code(payload):
    return ERROR_CODES.get(struct.unpack(">I", payload[4:8])[0], struct.unpack(">I", payload[4:8])[0])
