#!/usr/bin/python3
"""Writes the hand-made seed inputs of fuzz-mux and fuzz-session (frames as
docs/protocol.md describes them). Run after a wire-format change; then fuzz
and merge (README.md) to grow the corpora again."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def hdr(t, ch, payload):
    return struct.pack('>BBHI', t, 0, len(payload), ch) + payload


def hello(win=65536, maxch=64, to=1000, infl=262144, name=b'seed'):
    return hdr(1, 0, b'\0SHUTTLE' + struct.pack('>HHIIII', 1, 1, win, maxch, to, infl) + name)


def open4(ch, ip, port):
    return hdr(2, ch, struct.pack('>BBH', 4, 0, port) + bytes(ip))


def open6(ch, port):
    return hdr(2, ch, struct.pack('>BBH', 6, 0, port) + bytes([0xfd] + [0] * 14 + [1]))


def data(ch, b):
    return hdr(4, ch, b)


def window(ch, n):
    return hdr(5, ch, struct.pack('>I', n))


def eof(ch):
    return hdr(6, ch, b'')


def close(ch, r=0):
    return hdr(7, ch, bytes([r]))


def ping(t):
    return hdr(8, 0, struct.pack('>Q', t))


def ack(n):
    return hdr(10, 0, struct.pack('>I', n))


def err(c, m):
    return hdr(11, 0, struct.pack('>H', c) + m)


LO = [127, 0, 0, 1]
SEEDS = {
    'hello': hello(),
    'hello-nolimit': hello(infl=0),
    'hello-junk': b'Last login: today\n' + hello(),
    'open-data-eof-close': hello() + open4(1, LO, 80) + data(1, b'GET / HTTP/1.0\r\n\r\n')
    + eof(1) + close(1),
    'open6-reset': hello() + open6(3, 443) + close(3, 1),
    'window-ping-ack': hello() + open4(2, [10, 0, 0, 1], 22) + window(2, 4096) + ping(12345)
    + ack(0),
    'many-opens': hello() + b''.join(open4(i, [10, 0, 0, i], 1000 + i) for i in range(1, 20)),
    'overcredit': hello() + open4(1, LO, 9) + data(1, b'x' * 9000),
    'error': hello() + err(2, b'bye'),
    'double-close': hello() + open4(1, LO, 9) + close(1) + close(1),
    'data-after-eof': hello() + open4(1, LO, 9) + eof(1) + data(1, b'late'),
    # found by fuzz-session: a PONG nobody asked for, with a token that
    # overflowed the round-trip arithmetic
    'pong-hostile': hello() + hdr(9, 0, struct.pack('>Q', 0x8000000000000000)),
    'data-runs': hello() + open4(1, LO, 9) + open4(2, LO, 9) + data(1, b'a' * 100)
    + data(1, b'b' * 100) + data(2, b'c' * 50) + data(1, b'd'),
}

def result(ch, status, err=0, reason=b''):
    return hdr(3, ch, struct.pack('>BBH', status, 0, err) + reason)


# What a server sends to a client that has channels 1, 2 and 3 open (the
# harness's own HELLO comes first, so these start after it).
CLIENT_SEEDS = {
    'ok-data-eof-close': result(1, 0) + data(1, b'HTTP/1.0 200 OK\r\n\r\n') + eof(1)
    + close(1),
    'refused': result(2, 1, 111, b'Connection refused'),
    'mixed': result(1, 0) + result(2, 4) + window(1, 4096) + data(1, b'x' * 100) + ping(7)
    + hdr(9, 0, struct.pack('>Q', 7)) + ack(0) + close(3, 1),
    'overcredit': result(1, 0) + data(1, b'y' * 9000),
    'data-before-result': data(3, b'early'),
    'open-from-server': open4(9, [10, 0, 0, 1], 22),
    'error': err(1, b'bye'),
    'close-then-data': result(1, 0) + close(1) + data(1, b'late'),
}

d = os.path.join(HERE, 'corpus', 'fuzz-client')
os.makedirs(d, exist_ok=True)
for name, blob in CLIENT_SEEDS.items():
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(blob)

for harness in ('fuzz-mux', 'fuzz-session'):
    d = os.path.join(HERE, 'corpus', harness)
    os.makedirs(d, exist_ok=True)
    for name, blob in SEEDS.items():
        with open(os.path.join(d, 'seed-' + name), 'wb') as f:
            f.write(blob)
