#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Conformance test of a Shuttle server against docs/protocol.md.

    conformance.py [--only NAME[,NAME...]] [--list] -- SERVER-COMMAND [ARGS...]

Each case spawns SERVER-COMMAND with the mux on its stdin and stdout, plays
the client, and prints one TAP line. The frame codec below is written from
docs/protocol.md alone, not from either server: a difference between the
document and a server fails here, whichever of the two is wrong.

Every wait has a deadline (a hang is a failure). Besides what each case
asserts, a monitor checks every frame the server sends against the document
(header, lengths, field ranges, channel life, credit, in-flight limit) and
fails the case on any violation. Stdlib only.
"""

import collections
import errno
import hashlib
import ipaddress
import os
import queue
import random
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "lib"))
from harness import Fail, check  # noqa: E402

ANSWER = 5.0  # seconds any single answer may take
EXIT = 5.0  # seconds a server may take to exit once it should

# ------------------------------------------------------------ the protocol

MAGIC = b"\0SHUTTLE"
HDR = struct.Struct(">BBHI")
HELLO_FIXED = struct.Struct(">8sHHIIII")

HELLO, OPEN, OPEN_RESULT, DATA, WINDOW, EOF, CLOSE, PING, PONG, ACK, ERROR = range(1, 12)
DNS_QUERY, DNS_REPLY, ROUTES_GET, ROUTES, HOSTS_WATCH, HOST = range(0x0C, 0x12)
DGRAM, DGRAM_CLOSE = 0x12, 0x13  # version 2
LANES, BOND = 0x14, 0x15  # version 3
NAMES = {
    DGRAM: "DGRAM", DGRAM_CLOSE: "DGRAM_CLOSE", LANES: "LANES", BOND: "BOND",
    HELLO: "HELLO", OPEN: "OPEN", OPEN_RESULT: "OPEN_RESULT", DATA: "DATA",
    WINDOW: "WINDOW", EOF: "EOF", CLOSE: "CLOSE", PING: "PING", PONG: "PONG",
    ACK: "ACK", ERROR: "ERROR", DNS_QUERY: "DNS_QUERY", DNS_REPLY: "DNS_REPLY",
    ROUTES_GET: "ROUTES_GET", ROUTES: "ROUTES", HOSTS_WATCH: "HOSTS_WATCH", HOST: "HOST",
}
# Payload length bounds per type (the table in "Frames").
LENGTHS = {
    HELLO: (28, 92), OPEN: (4, 20), OPEN_RESULT: (4, 132), DATA: (1, 32768),
    WINDOW: (4, 4), EOF: (0, 0), CLOSE: (1, 1), PING: (8, 8), PONG: (8, 8),
    ACK: (4, 4), ERROR: (2, 514), DNS_QUERY: (16, 4116), DNS_REPLY: (0, 32768),
    ROUTES_GET: (0, 0), ROUTES: (0, 32768), HOSTS_WATCH: (0, 4096), HOST: (7, 271),
    DGRAM: (8, 65527), DGRAM_CLOSE: (4, 4), LANES: (20, 20), BOND: (4, 4),
}
# On channel 0. DNS_QUERY and DNS_REPLY carry a query id (≠ 0) there instead.
SESSION_TYPES = {HELLO, PING, PONG, ACK, ERROR, ROUTES_GET, ROUTES, HOSTS_WATCH, HOST, LANES, BOND}
# Names and routes ("Names and routes").
DNS_MIN, DNS_MAX_QUERY, DNS_MAX_PENDING, DNS_TIMEOUT = 12, 4096, 256, 5.0
MAX_HOSTNAME = 253

MAX_DATA = 32768
ACK_EVERY = 32 * 1024
MIN_WINDOW, MAX_CREDIT = 4096, 16 * 1024 * 1024
MAX_CHANNELS = 1048576
MIN_INFLIGHT = 128 * 1024

# Datagrams ("Datagrams: UDP and ping (version 2)").
VERSION = 3
K_ECHO, K_UDP = 1, 17
R_DONE, R_LIMIT, R_NO_ECHO, R_FAILED = range(4)
MAX_DGRAM_DATA = 65507
MAX_ASSOCS = 4096

# Lanes ("Lanes: one session over several ssh channels (version 3)").
LANE_MAGIC = b"\0SHLANE1"
SEG = struct.Struct(">II")
MAX_SEGMENT = 65536

E_VERSION, E_MALFORMED, E_FLOW, E_CHANNEL, E_LIMIT, E_INTERNAL = range(1, 7)
S_OK, S_REFUSED, S_NETUNREACH, S_HOSTUNREACH, S_TIMEDOUT, S_FAILED, S_NORES = range(7)


def name_of(ftype):
    return NAMES.get(ftype, "type 0x%02x" % ftype)


def frame(ftype, channel=0, payload=b"", flags=0, length=None):
    """One frame; @length lies about the payload length when given."""
    n = len(payload) if length is None else length
    return HDR.pack(ftype, flags, n, channel) + payload


def hello_frame(vmin=1, vmax=1, window=2 << 20, max_channels=65536,
                connect_timeout=10000, inflight=768 * 1024, name=b"conformance"):
    fixed = HELLO_FIXED.pack(MAGIC, vmin, vmax, window, max_channels, connect_timeout, inflight)
    return frame(HELLO, 0, fixed + name)


def open_payload(host, port):
    addr = ipaddress.ip_address(host)
    family = 4 if addr.version == 4 else 6
    return struct.pack(">BBH", family, 0, port) + addr.packed


def dns_query_payload(resolver, msg):
    """@resolver: (host, port), or (None, port) for the server's own."""
    host, port = resolver
    if host is None:
        return struct.pack(">BBH", 0, 0, port) + msg
    return open_payload(host, port) + msg


def parse_routes(p):
    """ROUTES entries as (ipaddress network or None, family, prefix, raw
    address), or a string saying what is wrong."""
    out, off = [], 0
    while off < len(p):
        fam = p[off]
        alen = {4: 4, 6: 16}.get(fam)
        if alen is None:
            return "entry at offset %d has family %d" % (off, fam)
        if off + 2 + alen > len(p):
            return "entry at offset %d is cut short" % off
        prefix = p[off + 1]
        if prefix > alen * 8:
            return "entry at offset %d: prefix /%d for family %d" % (off, prefix, fam)
        raw = p[off + 2:off + 2 + alen]
        out.append((fam, prefix, raw))
        off += 2 + alen
    return out


def route_text(fam, prefix, raw):
    return "%s/%d" % (ipaddress.ip_address(raw), prefix)


def valid_hostname(name):
    """The name check of "Hosts": ASCII letters, digits, '-', '_', dots
    between labels of 1 to 63 characters that neither start nor end with
    '-' (and 253 bytes, from the table)."""
    if not 0 < len(name) <= MAX_HOSTNAME:
        return False
    ok = set(b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_")
    return all(0 < len(label) <= 63 and set(label) <= ok and label[:1] != b"-"
               and label[-1:] != b"-" for label in name.split(b"."))


def dgram_payload(host, kind, port, data):
    addr = ipaddress.ip_address(host)
    return struct.pack(">BBH", addr.version, kind, port) + addr.packed + data


def parse_dgram(p):
    """(family, kind, port, address text, data) of a DGRAM payload, or a
    string saying what is wrong with it."""
    if len(p) < 4:
        return "DGRAM of %d bytes" % len(p)
    fam, kind, port = struct.unpack_from(">BBH", p)
    alen = {4: 4, 6: 16}.get(fam)
    if alen is None or kind not in (K_UDP, K_ECHO):
        return "DGRAM with family %d, kind %d" % (fam, kind)
    if len(p) < 4 + alen or len(p) - 4 - alen > MAX_DGRAM_DATA:
        return "DGRAM of family %d with %d bytes" % (fam, len(p))
    return fam, kind, port, str(ipaddress.ip_address(p[4:4 + alen])), p[4 + alen:]


def u32(ftype, channel, value):
    return frame(ftype, channel, struct.pack(">I", value))


def u64(ftype, value):
    return frame(ftype, 0, struct.pack(">Q", value))


class Hello:
    def __init__(self, payload):
        (self.magic, self.version_min, self.version_max, self.channel_window,
         self.max_channels, self.connect_timeout, self.inflight_limit) = HELLO_FIXED.unpack_from(payload)
        self.name = payload[HELLO_FIXED.size:]


class Frame:
    __slots__ = ("type", "channel", "payload")

    def __init__(self, ftype, channel, payload):
        self.type, self.channel, self.payload = ftype, channel, payload

    def u32(self):
        return struct.unpack(">I", self.payload)[0]

    def u64(self):
        return struct.unpack(">Q", self.payload)[0]

    def code(self):
        return struct.unpack_from(">H", self.payload)[0]

    def text(self, offset):
        return self.payload[offset:].decode("utf-8", "replace")

    def __str__(self):
        s = "%s ch %d len %d" % (name_of(self.type), self.channel, len(self.payload))
        if self.type == ERROR:
            s += " code %d %r" % (self.code(), self.text(2))
        elif self.type == OPEN_RESULT:
            s += " status %d errno %d %r" % (self.payload[0], self.code_at(2), self.text(4))
        elif self.type == CLOSE:
            s += " reason %d" % self.payload[0]
        return s

    def code_at(self, offset):
        return struct.unpack_from(">H", self.payload, offset)[0]


def header_problem(ftype, flags, length, channel):
    """What is wrong with a header, by the document alone; None if nothing."""
    if ftype not in NAMES:
        return "unknown frame type 0x%02x" % ftype
    if flags != 0:
        return "%s with flags 0x%02x" % (name_of(ftype), flags)
    lo, hi = LENGTHS[ftype]
    if not lo <= length <= hi:
        return "%s with len %d (allowed %d ... %d)" % (name_of(ftype), length, lo, hi)
    if (ftype in SESSION_TYPES) != (channel == 0):
        return "%s on channel %d" % (name_of(ftype), channel)
    return None


def is_utf8(b):
    try:
        b.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


class Skip(Exception):
    """The machine cannot run the case (not the server's fault)."""


def need_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
    except OSError as e:
        raise Skip("no IPv6 loopback here (%s)" % e.strerror)


# ------------------------------------------------------- one server process

class Chan:
    """What the client knows of one channel."""

    def __init__(self, granted, credit):
        self.granted = granted  # DATA bytes we let the server send, in total
        self.received = 0
        self.credit = credit  # DATA bytes we may still send
        self.result = None  # OPEN_RESULT status
        self.server_eof = self.server_closed = False
        self.client_eof = self.client_closed = False


class Server:
    """A server process, a reader thread that decodes and checks its frames
    (and ACKs DATA as a client must), and a writer thread, so neither side
    ever blocks the other."""

    def __init__(self, argv, env=None):
        self.argv = argv
        self.err = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, bufsize=0,
                                     env=dict(os.environ, **env) if env else None)
        self.frames = queue.Queue()
        self.lock = threading.Lock()
        self.violations = []
        self.hello = None  # the server's HELLO
        self.first_bytes = b""
        self.frames_seen = 0
        self.window = None  # what our HELLO granted per channel
        self.inflight = 0  # our HELLO's in-flight limit, 0: none
        self.channels = {}
        self.rx_total = self.acked_total = 0  # DATA received / acknowledged by us
        self.tx_total = self.server_acked = 0  # DATA sent / acknowledged by the server
        self.max_unacked = 0
        self.withhold_ack = False
        self.eof_seen = False
        self.dns_waiting = set()  # DNS_QUERY ids without their DNS_REPLY yet
        self.routes_asked = 0  # ROUTES_GET sent, minus ROUTES received
        self.hosts_watched = False
        self.host_pairs = set()  # (address text, name) from HOST frames
        self.version = 1  # agreed in the handshake
        self.assocs = {}  # association in use -> {"family", "kind", "ours", "theirs"} (closed)
        self.lanes_offer = None  # (family, count, port, token) from LANES
        self.lanes_event = threading.Event()
        self.bond_sent = None  # the lane set of our BOND
        self.raw = None  # after the server's BOND: its lane-0 bytes, unparsed
        self.wq = collections.deque()
        self.wcv = threading.Condition()
        self.write_error = None
        # Each thread owns its pipe and closes it when done: closing a pipe
        # under a thread still in os.read() would let the next case's
        # pipe take the fd number, and this thread steal its bytes.
        self.reader = threading.Thread(target=self._read_loop, daemon=True)
        self.writer = threading.Thread(target=self._write_loop, daemon=True)
        self.reader.start()
        self.writer.start()

    # ---------------------------------------------------------- monitor

    def violation(self, msg):
        if msg not in self.violations and len(self.violations) < 20:
            self.violations.append(msg)

    def _read_loop(self):
        fd = self.proc.stdout.fileno()
        buf = bytearray()
        garbled = False
        # CONFORMANCE_DUMP=FILE: everything the server wrote, for debugging.
        dump = os.environ.get("CONFORMANCE_DUMP")
        dump = open("%s.%d" % (dump, self.proc.pid), "wb") if dump else None
        while True:
            try:
                chunk = os.read(fd, 1 << 18)
            except OSError:
                chunk = b""
            if not chunk:
                break
            if dump:
                dump.write(chunk)
            if len(self.first_bytes) < 16:
                self.first_bytes += chunk[:16 - len(self.first_bytes)]
            if garbled:
                continue
            with self.lock:
                if self.raw is not None:
                    self.raw += chunk
                    continue
            buf += chunk
            pos = 0
            while len(buf) - pos >= HDR.size:
                ftype, flags, length, channel = HDR.unpack_from(buf, pos)
                problem = header_problem(ftype, flags, length, channel)
                if problem:
                    with self.lock:
                        self.violation("the server sent %s (after %d frames; bytes there: %s)"
                                       % (problem, self.frames_seen,
                                          bytes(buf[pos:pos + 24]).hex(" ")))
                    garbled = True
                    break
                if len(buf) - pos < HDR.size + length:
                    break
                payload = bytes(buf[pos + HDR.size:pos + HDR.size + length])
                pos += HDR.size + length
                f = Frame(ftype, channel, payload)
                with self.lock:
                    keep = self._on_frame(f)
                    if f.type == BOND:
                        # Segments from here on: the case reads them.
                        self.raw = bytearray(buf[pos:])
                if keep:
                    self.frames.put(f)
                if f.type == BOND:
                    pos = len(buf)
                    break
            del buf[:pos]
        if dump:
            dump.close()
        self.proc.stdout.close()
        self.frames.put(None)

    def _on_frame(self, f):
        """Checks one frame from the server; returns whether a case sees it.
        Runs under self.lock."""
        self.frames_seen += 1
        if self.frames_seen == 1 and f.type != HELLO:
            self.violation("the server's first frame is %s, not HELLO" % name_of(f.type))
        if f.type == HELLO:
            if self.frames_seen != 1:
                self.violation("the server sent HELLO twice")
            return True
        p = f.payload
        if f.type in (OPEN_RESULT, DATA, WINDOW, EOF, CLOSE):
            ch = self.channels.get(f.channel)
            if ch is None:
                self.violation("%s for channel %d, which the client never opened"
                               % (name_of(f.type), f.channel))
                return True
            if ch.server_closed:
                self.violation("%s for channel %d after the server closed it"
                               % (name_of(f.type), f.channel))
                return True
        if f.type in (DGRAM, DGRAM_CLOSE):
            return self._on_dgram(f)
        if f.type == LANES:
            if self.version < 3:
                self.violation("LANES in a version-%d session" % self.version)
            if self.lanes_offer is not None:
                self.violation("a second LANES")
            fam, count, port = struct.unpack_from(">BBH", p)
            if fam not in (4, 6) or not 1 <= count <= 7 or port == 0:
                self.violation("malformed LANES: %s" % p.hex(" "))
            self.lanes_offer = (fam, count, port, p[4:20])
            self.lanes_event.set()
            return False
        if f.type == BOND:
            mask = struct.unpack(">I", p)[0]
            if self.bond_sent is None:
                self.violation("BOND from the server before ours")
            elif mask != self.bond_sent:
                self.violation("BOND 0x%x does not answer ours (0x%x)" % (mask, self.bond_sent))
            return True
        if f.type in (OPEN, DNS_QUERY, ROUTES_GET, HOSTS_WATCH):
            self.violation("the server sent %s (only the client sends it)" % name_of(f.type))
        elif f.type == DNS_REPLY:
            # "exactly one DNS_REPLY carrying the same id"
            if f.channel not in self.dns_waiting:
                self.violation("DNS_REPLY for query id %d, which the client is not waiting for"
                               % f.channel)
            self.dns_waiting.discard(f.channel)
        elif f.type == ROUTES:
            if self.routes_asked <= 0:
                self.violation("ROUTES without a ROUTES_GET")
            self.routes_asked -= 1
            entries = parse_routes(p)
            if isinstance(entries, str):
                self.violation("ROUTES: " + entries)
        elif f.type == HOST:
            alen = {4: 4, 6: 16}.get(p[0])
            if not self.hosts_watched:
                self.violation("HOST without a HOSTS_WATCH")
            if alen is None or p[1] != 0 or not 2 + alen < len(p) <= 2 + alen + MAX_HOSTNAME:
                self.violation("malformed HOST: %s" % p.hex(" "))
                return True
            name = p[2 + alen:]
            if not valid_hostname(name):
                # The client ignores it; a server that sends it anyway is not
                # what the doc's sources and check are about.
                self.violation("HOST with the name %r, which does not pass the name check" % name)
            pair = (str(ipaddress.ip_address(p[2:2 + alen])), name.decode("ascii", "replace"))
            if pair in self.host_pairs:
                self.violation("HOST %s %s sent twice" % pair)
            self.host_pairs.add(pair)
        elif f.type == OPEN_RESULT:
            status, zero, err = struct.unpack_from(">BBH", p)
            if status > S_NORES or zero != 0:
                self.violation("OPEN_RESULT with status %d, second byte %d" % (status, zero))
            if not is_utf8(p[4:]):
                self.violation("OPEN_RESULT reason is not UTF-8: %r" % p[4:])
            if ch.result is not None:
                self.violation("second OPEN_RESULT for channel %d" % f.channel)
            ch.result = status
            if status != S_OK:
                ch.server_closed = True  # counts as the server's CLOSE
                self._maybe_free(f.channel)
        elif f.type == DATA:
            if ch.result != S_OK:
                self.violation("DATA on channel %d before its OPEN_RESULT" % f.channel)
            if ch.server_eof:
                self.violation("DATA on channel %d after EOF" % f.channel)
            ch.received += len(p)
            if ch.received > ch.granted:
                self.violation("channel %d: the server sent %d bytes of DATA with %d credit"
                               % (f.channel, ch.received, ch.granted))
            self.rx_total += len(p)
            unacked = self.rx_total - self.acked_total
            self.max_unacked = max(self.max_unacked, unacked)
            if self.inflight and unacked > self.inflight:
                self.violation("%d bytes of DATA unacknowledged, the client's in-flight limit is %d"
                               % (unacked, self.inflight))
            if unacked >= ACK_EVERY and not self.withhold_ack:
                self._ack_locked()
        elif f.type == WINDOW:
            inc = struct.unpack(">I", p)[0]
            if inc == 0 or ch.credit + inc > MAX_CREDIT:
                self.violation("WINDOW %d on channel %d with %d credit left"
                               % (inc, f.channel, ch.credit))
            ch.credit += inc
            return False
        elif f.type == EOF:
            if ch.server_eof:
                self.violation("EOF twice on channel %d" % f.channel)
            ch.server_eof = True
        elif f.type == CLOSE:
            if p[0] > 1:
                self.violation("CLOSE with reason %d" % p[0])
            ch.server_closed = True
            self._maybe_free(f.channel)
        elif f.type == PING:
            self._queue(u64(PONG, f.u64()))
            return False
        elif f.type == ACK:
            self.server_acked += f.u32()
            if self.server_acked > self.tx_total:
                self.violation("the server acknowledged %d bytes of DATA, %d were sent"
                               % (self.server_acked, self.tx_total))
            return False
        elif f.type == ERROR:
            if not is_utf8(p[2:]):
                self.violation("ERROR message is not UTF-8: %r" % p[2:])
        return True

    def _on_dgram(self, f):
        if self.version < 2:
            self.violation("%s in a version-%d session" % (name_of(f.type), self.version))
            return True
        a = self.assocs.get(f.channel)
        if a is None:
            self.violation("%s for association %d, which is not in use"
                           % (name_of(f.type), f.channel))
            return True
        if a["theirs"]:
            self.violation("%s for association %d after the server's DGRAM_CLOSE"
                           % (name_of(f.type), f.channel))
            return True
        if f.type == DGRAM_CLOSE:
            reason, zero, _ = struct.unpack(">BBH", f.payload)
            if reason > R_FAILED or zero != 0:
                self.violation("DGRAM_CLOSE with reason %d, second byte %d" % (reason, zero))
            a["theirs"] = True
            if a["ours"]:
                del self.assocs[f.channel]
            return True
        d = parse_dgram(f.payload)
        if isinstance(d, str):
            self.violation(d)
            return True
        if (d[0], d[1]) != (a["family"], a["kind"]):
            self.violation("DGRAM of family %d kind %d on an association of family %d kind %d"
                           % (d[0], d[1], a["family"], a["kind"]))
        # "A DGRAM's payload counts like DATA for ACK and for the sender's
        # in-flight limit."
        self.rx_total += len(f.payload)
        unacked = self.rx_total - self.acked_total
        self.max_unacked = max(self.max_unacked, unacked)
        if self.inflight and unacked > self.inflight:
            self.violation("%d bytes unacknowledged, the client's in-flight limit is %d"
                           % (unacked, self.inflight))
        if unacked >= ACK_EVERY and not self.withhold_ack:
            self._ack_locked()
        if a["ours"]:
            return False  # in flight before our DGRAM_CLOSE: allowed, ignored
        return True

    def dgram(self, n, host, kind, port, data):
        """DGRAM on association @n (created by the first one)."""
        p = dgram_payload(host, kind, port, data)
        with self.lock:
            if n not in self.assocs:
                self.assocs[n] = {"family": p[0], "kind": kind, "ours": False, "theirs": False}
            self.tx_total += len(p)
        self._queue(frame(DGRAM, n, p))

    def dgram_close(self, n, reason=R_DONE, err=0):
        with self.lock:
            a = self.assocs[n]
            a["ours"] = True
            if a["theirs"]:
                del self.assocs[n]
        self._queue(frame(DGRAM_CLOSE, n, struct.pack(">BBH", reason, 0, err)))

    def _maybe_free(self, n):
        ch = self.channels.get(n)
        if ch and ch.server_closed and ch.client_closed:
            del self.channels[n]

    def _ack_locked(self):
        unacked = self.rx_total - self.acked_total
        if unacked:
            self._queue(u32(ACK, 0, unacked))
            self.acked_total += unacked

    def release_acks(self):
        """Ends withholding ACKs and sends the one owed."""
        with self.lock:
            self.withhold_ack = False
            if self.rx_total - self.acked_total >= ACK_EVERY:
                self._ack_locked()

    # ----------------------------------------------------------- output

    def _write_loop(self):
        fd = self.proc.stdin.fileno()
        try:
            while True:
                with self.wcv:
                    while not self.wq:
                        self.wcv.wait()
                    items = []
                    while self.wq and self.wq[0] is not None and len(items) < 64:
                        items.append(self.wq.popleft())
                    if not items:
                        return  # close_input()
                data = memoryview(b"".join(items))
                while data:
                    n = os.write(fd, data)
                    data = data[n:]
        except OSError as e:
            self.write_error = e
        finally:
            self.proc.stdin.close()

    def _queue(self, b):
        with self.wcv:
            self.wq.append(b)
            self.wcv.notify()

    def send(self, b):
        """Raw bytes, for malformed input. Only the DATA and DGRAM bytes
        they carry are counted (the server may ACK them)."""
        pos = 0
        while len(b) - pos >= HDR.size:
            ftype, flags, length, channel = HDR.unpack_from(b, pos)
            if header_problem(ftype, flags, length, channel) or len(b) - pos < HDR.size + length:
                break
            if ftype in (DATA, DGRAM):
                with self.lock:
                    self.tx_total += length
            pos += HDR.size + length
        self._queue(b)

    def close_input(self):
        self._queue(None)

    def handshake(self, **kw):
        """Reads the server's HELLO, then sends ours (@kw: hello_frame())."""
        self.wait_hello()
        self.send_hello(**kw)
        return self.hello

    def send_hello(self, **kw):
        args = dict(window=2 << 20, inflight=768 * 1024)
        args.update(kw)
        with self.lock:
            self.window = args["window"]
            self.inflight = args["inflight"]
            vmax = args.get("vmax", 1)
            if self.hello and args.get("vmin", 1) <= min(vmax, self.hello.version_max):
                self.version = min(vmax, self.hello.version_max)
        self._queue(hello_frame(**args))

    def wait_hello(self):
        f = self.next(what="the server's HELLO")
        check(f.type == HELLO, "the server's first frame is %s, not HELLO" % name_of(f.type))
        self.hello = Hello(f.payload)
        return self.hello

    def open(self, n, host, port, extra=b""):
        """OPEN (plus @extra raw bytes in the same write: DATA right after)."""
        with self.lock:
            self.channels[n] = Chan(self.window, self.hello.channel_window)
        self._queue(frame(OPEN, n, open_payload(host, port)) + extra)

    def dns_query(self, qid, resolver, msg):
        with self.lock:
            self.dns_waiting.add(qid)
        self._queue(frame(DNS_QUERY, qid, dns_query_payload(resolver, msg)))

    def routes_get(self):
        with self.lock:
            self.routes_asked += 1
        self._queue(frame(ROUTES_GET))

    def hosts_watch(self, seeds):
        with self.lock:
            self.hosts_watched = True
        self._queue(frame(HOSTS_WATCH, 0, seeds))

    def data(self, n, b):
        out = []
        with self.lock:
            ch = self.channels[n]
            for i in range(0, len(b), MAX_DATA):
                piece = b[i:i + MAX_DATA]
                ch.credit -= len(piece)
                self.tx_total += len(piece)
                out.append(frame(DATA, n, piece))
        self._queue(b"".join(out))

    def grant(self, n, inc):
        with self.lock:
            self.channels[n].granted += inc
        self._queue(u32(WINDOW, n, inc))

    def eof(self, n):
        with self.lock:
            self.channels[n].client_eof = True
        self._queue(frame(EOF, n))

    def close(self, n, reset=False):
        with self.lock:
            self.channels[n].client_closed = True
            self._maybe_free(n)
        self._queue(frame(CLOSE, n, bytes([1 if reset else 0])))

    def room(self, n):
        """DATA bytes we may send on channel @n now: its credit, and what the
        in-flight limit we announced leaves (it binds us too)."""
        with self.lock:
            r = self.channels[n].credit
            if self.inflight:
                r = min(r, self.inflight - (self.tx_total - self.server_acked))
            return r

    # ------------------------------------------------------------ input

    def next(self, timeout=ANSWER, what="an answer"):
        """The next frame a case sees; fails on timeout or end of output."""
        try:
            f = self.frames.get(timeout=timeout)
        except queue.Empty:
            raise Fail("no answer within %gs (waiting for %s)" % (timeout, what))
        if f is None:
            self.frames.put(None)
            self.eof_seen = True
            raise Fail("the server ended the session while the test waited for %s%s"
                       % (what, self.stderr_hint()))
        return f

    def poll(self, timeout):
        """The next frame within @timeout, or None; fails at end of output."""
        try:
            f = self.frames.get(timeout=timeout)
        except queue.Empty:
            return None
        if f is None:
            self.frames.put(None)
            self.eof_seen = True
            raise Fail("the server ended the session" + self.stderr_hint())
        return f

    def expect(self, ftype, channel=None, timeout=ANSWER, what=None):
        what = what or name_of(ftype) + ("" if channel is None else " on channel %d" % channel)
        f = self.next(timeout, what)
        check(f.type == ftype and (channel is None or f.channel == channel),
              "expected %s, got %s" % (what, f))
        return f

    def quiet(self, seconds):
        """Frames arriving within @seconds (none expected, usually)."""
        out, end = [], time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return out
            f = self.poll(left)
            if f is not None:
                out.append(f)

    def ping_alive(self, allow=()):
        """The session still works: a PING gets its PONG (frames of the
        types in @allow may come before it)."""
        token = random.getrandbits(64)
        self._queue(u64(PING, token))
        while True:
            f = self.next(what="PONG (is the session still up?)")
            if f.type not in allow:
                break
        check(f.type == PONG, "expected PONG (is the session still up?), got %s" % f)
        check(f.u64() == token, "PONG %#x for PING %#x" % (f.u64(), token))

    def expect_error(self, code, exit_nonzero=True):
        """The server answers ERROR @code, closes its output and exits."""
        while True:
            try:
                f = self.next(what="ERROR %d" % code)
            except Fail as e:
                if self.eof_seen:
                    raise Fail("the server ended the session without ERROR %d%s"
                               % (code, self.stderr_hint()))
                raise e
            if f.type == ERROR:
                break
        check(f.code() == code, "expected ERROR %d, got ERROR %d (%r)"
              % (code, f.code(), f.text(2)))
        self.expect_end()
        self.expect_exit(nonzero=exit_nonzero)
        return f

    def expect_end(self):
        """Nothing more, then the end of the server's output."""
        try:
            f = self.frames.get(timeout=EXIT)
        except queue.Empty:
            raise Fail("the server did not close its output within %gs" % EXIT)
        check(f is None, "frame after the end of the session: %s" % f)
        self.frames.put(None)
        self.eof_seen = True

    def expect_exit(self, nonzero=None):
        try:
            rc = self.proc.wait(EXIT)
        except subprocess.TimeoutExpired:
            raise Fail("the server did not exit within %gs" % EXIT)
        check(rc >= 0, "the server died of signal %d%s" % (-rc, self.stderr_hint()))
        if nonzero is True:
            check(rc != 0, "the server exited with status 0 after a protocol error")
        elif nonzero is False:
            check(rc == 0, "the server exited with status %d after a clean end%s"
                  % (rc, self.stderr_hint()))
        return rc

    def stderr_text(self):
        self.err.seek(0)
        return self.err.read().decode("utf-8", "replace")

    def stderr_hint(self):
        lines = self.stderr_text().strip().splitlines()
        return (" (stderr: %s)" % " | ".join(lines[-3:])) if lines else ""

    def stop(self):
        """Ends the process, asserting that it ends cleanly when its input
        does (when it is still running)."""
        problems = []
        self.close_input()  # ends the writer thread in any case
        if self.proc.poll() is None:
            try:
                rc = self.proc.wait(EXIT)
                if rc < 0:
                    problems.append("the server died of signal %d after its input ended" % -rc)
                elif rc != 0 and self.window is not None:  # after our HELLO
                    problems.append("the server exited with status %d after its input ended%s"
                                    % (rc, self.stderr_hint()))
            except subprocess.TimeoutExpired:
                problems.append("the server did not exit within %gs after its input ended" % EXIT)
                self.proc.kill()
                self.proc.wait()
        elif self.proc.returncode < 0:
            problems.append("the server died of signal %d" % -self.proc.returncode)
        err = self.stderr_text()
        if "Traceback (most recent call last)" in err:
            problems.append("a Python traceback on stderr:")
            problems.extend(err.strip().splitlines()[-8:])
        for word in ("AddressSanitizer", "runtime error:", "CRITICAL", "Segmentation"):
            if word in err:
                problems.append("stderr says %r: %s" % (word, err.strip().splitlines()[-1]))
        self.reader.join(EXIT)  # it closes the pipe at its end
        self.writer.join(EXIT)
        self.err.close()
        return problems


# ------------------------------------------------------ the remote network

class Peer:
    """A TCP listener that stands for a host on the server's network."""

    def __init__(self, host="127.0.0.1", backlog=64):
        self.host = host
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]

    def accept(self, timeout=ANSWER):
        self.sock.settimeout(timeout)
        try:
            conn, _ = self.sock.accept()
        except socket.timeout:
            raise Fail("the server did not connect to %s:%d within %gs"
                       % (self.host, self.port, timeout))
        conn.settimeout(ANSWER)
        return conn

    def close(self):
        self.sock.close()


def closed_port(host="127.0.0.1"):
    """A bound socket that does not listen: connecting to its port is
    refused, and nobody else takes the port while it stays open."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
    s.bind((host, 0))
    return s, s.getsockname()[1]


class Blackhole:
    """A listener whose accept queue is full: Linux drops further SYNs, so a
    connect() to it neither succeeds nor fails until it times out. Needs no
    route, no root and no network."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self.fillers = []
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", self.port))
            self.fillers.append(c)
            time.sleep(0.05)
            try:
                c.getpeername()
            except OSError:
                return  # this one hangs: the queue is full
        raise Fail("could not fill a listener's accept queue to make a blackhole")

    def close(self):
        for c in self.fillers:
            c.close()
        self.sock.close()


def recv_exact(conn, n, timeout=ANSWER):
    conn.settimeout(timeout)
    out = bytearray()
    try:
        while len(out) < n:
            b = conn.recv(n - len(out))
            if not b:
                raise Fail("the remote socket got end-of-file after %d of %d bytes" % (len(out), n))
            out += b
    except socket.timeout:
        raise Fail("the remote socket got %d of %d bytes within %gs" % (len(out), n, timeout))
    return bytes(out)


def recv_eof(conn, timeout=ANSWER):
    """Reads until end-of-file; returns what came before it."""
    conn.settimeout(timeout)
    out = bytearray()
    try:
        while True:
            b = conn.recv(65536)
            if not b:
                return bytes(out)
            out += b
    except socket.timeout:
        raise Fail("no end-of-file on the remote socket within %gs (got %d bytes)"
                   % (timeout, len(out)))


def reset(conn):
    """Closes @conn with a TCP reset."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def collect_data(srv, n, quiet_s=1.0, limit=None):
    """DATA payload on channel @n until nothing arrives for @quiet_s (or
    more than @limit bytes came); the caller grants no credit meanwhile."""
    got = bytearray()
    while limit is None or len(got) <= limit:
        f = srv.poll(quiet_s)
        if f is None:
            break
        check(f.type == DATA and f.channel == n, "expected DATA on channel %d, got %s" % (n, f))
        got += f.payload
    return bytes(got)


# ------------------------------------------------------------------ cases

CASES = []


def case(name, description):
    def register(fn):
        CASES.append((name, description, fn))
        return fn
    return register


def opened(srv, n, peer, extra=b""):
    """OPEN channel @n to @peer; returns the accepted socket."""
    srv.open(n, peer.host, peer.port, extra)
    f = srv.expect(OPEN_RESULT, n)
    check(f.payload[0] == S_OK, "OPEN to %s:%d failed: %s" % (peer.host, peer.port, f))
    check(f.code_at(2) == 0, "OPEN_RESULT ok with errno %d" % f.code_at(2))
    return peer.accept()


@case("handshake", "the server sends a sane HELLO first, without waiting for the client")
def t_handshake(srv, diag):
    h = srv.wait_hello()
    hdr = srv.first_bytes[:8]
    check(hdr[:2] == bytes([HELLO, 0]) and hdr[4:8] == b"\0\0\0\0",
          "the server's output does not start with a HELLO header: %r" % srv.first_bytes)
    check(h.magic == MAGIC, "magic %r" % h.magic)
    check(h.version_min == 1 and h.version_max == VERSION,
          "version range %d ... %d, not 1 ... %d" % (h.version_min, h.version_max, VERSION))
    check(MIN_WINDOW <= h.channel_window <= MAX_CREDIT, "channel_window %d" % h.channel_window)
    check(1 <= h.max_channels <= MAX_CHANNELS, "max_channels %d" % h.max_channels)
    check(h.connect_timeout == 0, "server → client connect_timeout %d, not 0" % h.connect_timeout)
    check(h.inflight_limit == 0, "server → client inflight_limit %d, not 0" % h.inflight_limit)
    check(len(h.name) <= 64, "name of %d bytes" % len(h.name))
    check(is_utf8(h.name) and h.name.decode().isprintable() and h.name.strip(),
          "name %r is not printable text" % h.name)
    diag("server %r: versions %d-%d, channel_window %d, max_channels %d"
         % (h.name.decode(), h.version_min, h.version_max, h.channel_window, h.max_channels))
    srv.send_hello()
    srv.ping_alive()


@case("version-range", "a client speaking versions 1 to 9 gets version 3 (datagrams work)")
def t_version_range(srv, diag):
    srv.handshake(vmin=1, vmax=9)
    with UdpEcho() as echo:
        srv.dgram(1, echo.host, K_UDP, echo.port, b"v2")
        expect_dgram(srv, 1, echo.host, echo.port, b"v2")
    srv.ping_alive()


@case("version-mismatch", "a client speaking only versions 4-5 gets ERROR 1 and the server exits")
def t_version_mismatch(srv, diag):
    srv.handshake(vmin=4, vmax=5)
    srv.expect_error(E_VERSION)


@case("hello-bounds", "HELLO with channel_window 1024 (below 4 KiB) is an error")
def t_hello_bounds(srv, diag):
    srv.handshake(window=1024)
    srv.expect_error(E_MALFORMED)


@case("hello-inflight-bounds", "HELLO with inflight_limit 64 KiB (not 0, below 128 KiB) is an error")
def t_hello_inflight(srv, diag):
    srv.handshake(inflight=64 * 1024)
    srv.expect_error(E_MALFORMED)


@case("hello-name-invalid-utf8", "a HELLO name of 64 bytes of invalid UTF-8 is accepted")
def t_hello_name(srv, diag):
    srv.handshake(name=b"\xff\xfe\xc3\x28\x80" * 12 + b"\xe2\x82\x00\x1b")
    srv.ping_alive()


@case("hello-name-too-long", "a HELLO name of 65 bytes is an error")
def t_hello_name_long(srv, diag):
    srv.handshake(name=b"n" * 65)
    srv.expect_error(E_MALFORMED)


@case("ping", "PING gets a PONG with the same token, at once and in order")
def t_ping(srv, diag):
    srv.handshake()
    tokens = [0, 1, 2 ** 64 - 1, random.getrandbits(64), 0x0102030405060708]
    for t in tokens:
        srv.send(u64(PING, t))
    for t in tokens:
        f = srv.expect(PONG)
        check(f.u64() == t, "PONG %#x, expected %#x" % (f.u64(), t))


@case("stdin-eof", "the server exits with status 0 when its input ends")
def t_stdin_eof(srv, diag):
    srv.handshake()
    srv.ping_alive()
    srv.close_input()
    srv.expect_end()
    srv.expect_exit(nonzero=False)


@case("eof-before-hello", "input ending before the client's HELLO: the server exits non-zero")
def t_eof_before_hello(srv, diag):
    srv.wait_hello()
    srv.close_input()
    srv.expect_end()
    srv.expect_exit(nonzero=True)


def relay_small(srv, n, peer):
    conn = opened(srv, n, peer)
    srv.data(n, b"ping from the client\n")
    check(recv_exact(conn, 21) == b"ping from the client\n", "the remote end got other bytes")
    conn.sendall(b"pong from the remote end\n")
    f = srv.expect(DATA, n)
    check(f.payload == b"pong from the remote end\n", "DATA %r" % f.payload)
    return conn


@case("open-ipv4", "OPEN to 127.0.0.1 connects; DATA both ways")
def t_open_v4(srv, diag):
    srv.handshake()
    relay_small(srv, 1, Peer("127.0.0.1")).close()


@case("open-ipv6", "OPEN to ::1 connects; DATA both ways")
def t_open_v6(srv, diag):
    need_ipv6()
    srv.handshake()
    relay_small(srv, 7, Peer("::1")).close()


@case("data-before-result", "DATA sent right after OPEN reaches the remote end")
def t_data_early(srv, diag):
    srv.handshake()
    peer = Peer()
    early = bytes(range(256)) * 64
    srv.open(1, peer.host, peer.port)
    srv.data(1, early)
    conn = peer.accept()
    f = srv.expect(OPEN_RESULT, 1)
    check(f.payload[0] == S_OK, "OPEN failed: %s" % f)
    check(recv_exact(conn, len(early)) == early, "the remote end got other bytes")


def bulk(srv, n, conn, up, down, timeout=120.0):
    """Relays @up to the remote end and @down from it at once, with credit
    and ACKs as a client must, both directions ending with EOF; checks the
    bytes on arrival."""
    got_up, errors = [], []

    def remote_rx():
        try:
            got_up.append(recv_eof(conn, timeout))
        except Exception as e:
            errors.append("remote read: %s" % e)

    def remote_tx():
        try:
            conn.settimeout(timeout)
            conn.sendall(down)
            conn.shutdown(socket.SHUT_WR)
        except Exception as e:
            errors.append("remote write: %s" % e)

    threads = [threading.Thread(target=fn, daemon=True) for fn in (remote_rx, remote_tx)]
    for t in threads:
        t.start()
    sent, eof_sent, consumed, eof_recv = 0, False, 0, False
    server_closed = False
    got_down = bytearray()
    end = time.monotonic() + timeout
    progress = time.monotonic()
    while not (eof_sent and eof_recv):
        now = time.monotonic()
        check(now < end, "transfer not done within %gs" % timeout)
        check(now - progress < 10, "transfer stalled for 10 s: sent %d/%d, received %d/%d, "
              "credit %d" % (sent, len(up), len(got_down), len(down), srv.room(n)))
        while sent < len(up):
            k = min(MAX_DATA, srv.room(n), len(up) - sent)
            if k <= 0:
                break
            srv.data(n, up[sent:sent + k])
            sent += k
            progress = time.monotonic()
        if sent == len(up) and not eof_sent:
            srv.eof(n)
            eof_sent = True
        f = srv.poll(0.01)
        if f is None:
            continue
        progress = time.monotonic()
        if f.type == CLOSE and f.channel == n and eof_sent and eof_recv:
            # Both EOFs are through: the server may close before we do.
            check(f.payload[0] == 0, "CLOSE reason %d after a clean end" % f.payload[0])
            server_closed = True
            break
        check(f.channel == n and f.type in (DATA, EOF),
              "unexpected %s during the transfer (sent %d/%d%s, received %d/%d%s)"
              % (f, sent, len(up), " + EOF" if eof_sent else "", len(got_down), len(down),
                 " + EOF" if eof_recv else ""))
        if f.type == EOF:
            eof_recv = True
            continue
        check(not eof_recv, "DATA after EOF")
        got_down += f.payload
        consumed += len(f.payload)
        if consumed >= srv.window // 2:
            srv.grant(n, consumed)
            consumed = 0
    for t in threads:
        t.join(timeout)
    check(not errors, "; ".join(errors))
    check(len(got_down) == len(down), "received %d bytes, the remote end sent %d"
          % (len(got_down), len(down)))
    check(bytes(got_down) == down, "the bytes received differ from those the remote end sent")
    check(got_up and len(got_up[0]) == len(up), "the remote end got %d bytes, the client sent %d"
          % (len(got_up[0]) if got_up else -1, len(up)))
    check(got_up[0] == up, "the bytes the remote end got differ from those the client sent")
    return server_closed


def bulk_case(srv, diag, host, size):
    srv.handshake(window=2 << 20, inflight=768 * 1024)
    peer = Peer(host)
    conn = opened(srv, 1, peer)
    up, down = os.urandom(size), os.urandom(size + 12345)
    t0 = time.monotonic()
    server_closed = bulk(srv, 1, conn, up, down)
    dt = time.monotonic() - t0
    diag("%d + %d bytes in %.2f s; at most %d bytes unacknowledged toward the client"
         % (len(up), len(down), dt, srv.max_unacked))
    # Both EOFs are through and delivered: either side may close first.
    if not server_closed:
        f = srv.poll(2.0)
        if f is not None:
            check(f.type == CLOSE and f.channel == 1, "expected CLOSE, got %s" % f)
            server_closed = True
    srv.close(1)
    if not server_closed:
        srv.expect(CLOSE, 1)
    check(srv.quiet(0.3) == [], "frames after CLOSE")
    conn.close()


@case("bulk-ipv4", "8 MiB each way at once over 127.0.0.1, byte-exact, with WINDOW and ACK")
def t_bulk_v4(srv, diag):
    bulk_case(srv, diag, "127.0.0.1", 8 << 20)


@case("bulk-ipv6", "2 MiB each way at once over ::1, byte-exact")
def t_bulk_v6(srv, diag):
    need_ipv6()
    bulk_case(srv, diag, "::1", 2 << 20)


@case("server-acks", "the server ACKs DATA it reads: less than 32 KiB stays unacknowledged")
def t_server_acks(srv, diag):
    srv.handshake()
    peer = Peer()
    conn = opened(srv, 1, peer)
    payload = os.urandom(100000)
    for i in range(0, len(payload), 2500):
        srv.data(1, payload[i:i + 2500])
    check(recv_exact(conn, len(payload)) == payload, "the remote end got other bytes")
    end = time.monotonic() + ANSWER
    while time.monotonic() < end:
        with srv.lock:
            acked = srv.server_acked
        if acked > len(payload) - ACK_EVERY:
            break
        time.sleep(0.02)
    check(acked > len(payload) - ACK_EVERY,
          "the server acknowledged %d of %d bytes within %gs" % (acked, len(payload), ANSWER))
    diag("acknowledged %d of %d bytes" % (acked, len(payload)))


@case("half-close-client-first", "EOF from the client half-closes; the server closes after both EOFs")
def t_half_close_client(srv, diag):
    srv.handshake()
    peer = Peer()
    conn = opened(srv, 1, peer)
    srv.data(1, b"request")
    srv.eof(1)
    check(recv_eof(conn) == b"request", "the remote end got other bytes before EOF")
    conn.sendall(b"answer after the half-close")  # the other direction still works
    conn.shutdown(socket.SHUT_WR)
    f = srv.expect(DATA, 1)
    check(f.payload == b"answer after the half-close", "DATA %r" % f.payload)
    srv.expect(EOF, 1)
    # The server has seen both EOFs and delivered everything first.
    f = srv.expect(CLOSE, 1, what="the server's CLOSE after EOF both ways")
    check(f.payload[0] == 0, "CLOSE reason %d after a clean end" % f.payload[0])
    srv.close(1)
    check(srv.quiet(0.3) == [], "frames after both CLOSEs")
    conn.close()
    # Both CLOSEs passed: the number is free again.
    relay_small(srv, 1, peer).close()


@case("half-close-remote-first", "EOF from the remote end half-closes; the client can still send")
def t_half_close_remote(srv, diag):
    srv.handshake()
    peer = Peer()
    conn = opened(srv, 1, peer)
    conn.sendall(b"banner")
    conn.shutdown(socket.SHUT_WR)
    f = srv.expect(DATA, 1)
    check(f.payload == b"banner", "DATA %r" % f.payload)
    srv.expect(EOF, 1)
    srv.data(1, b"still sending")
    check(recv_exact(conn, 13) == b"still sending", "the remote end got other bytes")
    srv.eof(1)
    check(recv_eof(conn) == b"", "bytes before EOF")
    # Both EOFs: the client may close, or the server may already have.
    f = srv.poll(1.0)
    srv.close(1)
    if f is None:
        f = srv.expect(CLOSE, 1)
    check(f.type == CLOSE and f.channel == 1, "expected CLOSE, got %s" % f)
    check(srv.quiet(0.3) == [], "frames after both CLOSEs")


@case("close-normal", "CLOSE 0 delivers the data sent before it, then an orderly end (FIN)")
def t_close_normal(srv, diag):
    srv.handshake()
    peer = Peer()
    conn = opened(srv, 1, peer)
    payload = os.urandom(min(1 << 20, srv.hello.channel_window))  # within the credit
    srv.data(1, payload)
    srv.close(1)
    f = srv.expect(CLOSE, 1, what="the CLOSE answering ours")
    try:
        got = recv_eof(conn)
    except ConnectionResetError:
        raise Fail("the remote end saw a reset, not an orderly close")
    check(got == payload, "the remote end got %d bytes, %d were sent before CLOSE"
          % (len(got), len(payload)))
    check(srv.quiet(0.3) == [], "frames after both CLOSEs")
    srv.ping_alive()


@case("close-reset", "CLOSE 1 resets the remote connection (RST)")
def t_close_reset(srv, diag):
    srv.handshake()
    peer = Peer()
    conn = opened(srv, 1, peer)
    srv.close(1, reset=True)
    srv.expect(CLOSE, 1, what="the CLOSE answering ours")
    try:
        b = conn.recv(10)
        raise Fail("the remote end read %r, not a reset" % b)
    except ConnectionResetError:
        pass
    except socket.timeout:
        raise Fail("the remote end saw nothing within %gs" % ANSWER)
    srv.ping_alive()


@case("remote-reset", "a reset from the remote end gives CLOSE 1; frames after it are ignored")
def t_remote_reset(srv, diag):
    srv.handshake()
    peer = Peer()
    conn = opened(srv, 1, peer)
    reset(conn)
    f = srv.expect(CLOSE, 1, what="CLOSE after the remote reset")
    check(f.payload[0] == 1, "CLOSE reason %d after a reset" % f.payload[0])
    # Frames the client sent before it learned of the CLOSE are ignored.
    srv.send(frame(DATA, 1, b"late") + u32(WINDOW, 1, 4096) + frame(EOF, 1))
    srv.ping_alive()
    srv.close(1)
    check(srv.quiet(0.3) == [], "the server answered a CLOSE that completes its own")


@case("refused", "OPEN to a closed port: refused with ECONNREFUSED; frames until our CLOSE ignored")
def t_refused(srv, diag):
    srv.handshake()
    hold, port = closed_port()
    srv.open(3, "127.0.0.1", port)
    f = srv.expect(OPEN_RESULT, 3)
    check(f.payload[0] == S_REFUSED, "expected status 1 (refused), got %s" % f)
    check(f.code_at(2) == errno.ECONNREFUSED, "errno %d, expected ECONNREFUSED (%d)"
          % (f.code_at(2), errno.ECONNREFUSED))
    diag("reason: %r" % f.text(4))
    srv.send(frame(DATA, 3, b"sent before the client learned") + frame(EOF, 3))
    srv.ping_alive()
    srv.close(3)
    check(srv.quiet(0.3) == [], "a CLOSE answered a failed OPEN_RESULT")
    relay_small(srv, 3, Peer()).close()  # the number is free again
    hold.close()


@case("refused-ipv6", "OPEN to a closed port on ::1: refused")
def t_refused_v6(srv, diag):
    need_ipv6()
    srv.handshake()
    hold, port = closed_port("::1")
    srv.open(1, "::1", port)
    f = srv.expect(OPEN_RESULT, 1)
    check(f.payload[0] == S_REFUSED and f.code_at(2) == errno.ECONNREFUSED,
          "expected status 1 with ECONNREFUSED, got %s" % f)
    srv.close(1)
    hold.close()


@case("connect-timeout", "OPEN to a blackhole times out within the HELLO's connect_timeout")
def t_timeout(srv, diag):
    srv.handshake(connect_timeout=1000)
    hole = Blackhole()
    t0 = time.monotonic()
    srv.open(1, "127.0.0.1", hole.port)
    f = srv.expect(OPEN_RESULT, 1, timeout=1.0 + ANSWER)
    dt = time.monotonic() - t0
    check(f.payload[0] == S_TIMEDOUT, "expected status 4 (timed out), got %s" % f)
    check(f.code_at(2) == errno.ETIMEDOUT, "errno %d, expected ETIMEDOUT" % f.code_at(2))
    check(0.9 <= dt <= 2.0, "answered after %.2f s for a 1 s connect_timeout" % dt)
    diag("timed out after %.2f s" % dt)
    srv.close(1)
    hole.close()


@case("unroutable", "OPEN to 192.0.2.1 (TEST-NET-1) fails within the connect_timeout")
def t_unroutable(srv, diag):
    srv.handshake(connect_timeout=1000)
    t0 = time.monotonic()
    srv.open(1, "192.0.2.1", 9)
    f = srv.expect(OPEN_RESULT, 1, timeout=1.0 + ANSWER)
    dt = time.monotonic() - t0
    status, err = f.payload[0], f.code_at(2)
    expected = {S_NETUNREACH: (errno.ENETUNREACH, errno.ENETDOWN),
                S_HOSTUNREACH: (errno.EHOSTUNREACH, errno.EHOSTDOWN),
                S_TIMEDOUT: (errno.ETIMEDOUT,)}
    # Some networks answer with a reset (a REJECT rule): refused is fine too.
    expected[S_REFUSED] = (errno.ECONNREFUSED,)
    check(status in expected, "expected status 1, 2, 3 or 4, got %s" % f)
    check(err in expected[status], "status %d with errno %d" % (status, err))
    check(dt <= 2.0, "answered after %.2f s for a 1 s connect_timeout" % dt)
    diag("status %d (%s) after %.2f s" % (status, os.strerror(err), dt))
    srv.close(1)


@case("close-while-connecting", "CLOSE during connect is answered with CLOSE, never OPEN_RESULT")
def t_close_connecting(srv, diag):
    srv.handshake(connect_timeout=1500)
    hole = Blackhole()
    srv.open(1, "127.0.0.1", hole.port)
    time.sleep(0.3)
    srv.close(1)
    srv.expect(CLOSE, 1, what="CLOSE answering the CLOSE during connect")
    late = srv.quiet(2.0)
    check(late == [], "after CLOSE: %s" % ", ".join(map(str, late)))
    relay_small(srv, 1, Peer()).close()
    hole.close()


@case("credit-window", "the server sends no more DATA than the window granted (WINDOW withheld)")
def t_credit(srv, diag):
    window = 65536
    srv.handshake(window=window)
    peer = Peer()
    conn = opened(srv, 1, peer)
    total = 1 << 20
    payload = os.urandom(total)
    sender = threading.Thread(target=lambda: conn.sendall(payload), daemon=True)
    conn.settimeout(60)
    sender.start()
    got = collect_data(srv, 1, limit=window)
    check(len(got) <= window, "%d bytes of DATA with %d credit" % (len(got), window))
    check(len(got) == window, "only %d bytes of DATA with %d credit (and more waiting)"
          % (len(got), window))
    srv.grant(1, 10000)
    more = collect_data(srv, 1, limit=10000)
    check(len(more) == 10000, "%d bytes of DATA after WINDOW 10000" % len(more))
    got += more
    consumed = len(got)
    while len(got) < total:
        srv.grant(1, consumed)
        consumed = 0
        f = srv.expect(DATA, 1)
        got += f.payload
        consumed += len(f.payload)
        while True:
            f = srv.poll(0.05)
            if f is None:
                break
            check(f.type == DATA and f.channel == 1, "expected DATA, got %s" % f)
            got += f.payload
            consumed += len(f.payload)
    check(got == payload, "the bytes received differ from those sent")
    sender.join(ANSWER)
    srv.close(1, reset=True)
    srv.expect(CLOSE, 1)


@case("inflight-limit", "the server keeps at most the client's in-flight limit unacknowledged")
def t_inflight(srv, diag):
    limit = MIN_INFLIGHT
    srv.handshake(window=MAX_CREDIT, inflight=limit)
    with srv.lock:
        srv.withhold_ack = True
    peer = Peer()
    conn = opened(srv, 1, peer)
    total = 1 << 20
    payload = os.urandom(total)

    def remote():
        # Uneven pieces with pauses: the server's reads come short, and frames
        # do not line up with the limit by luck.
        try:
            for i in range(0, 256 * 1024, 3001):
                conn.sendall(payload[i:min(i + 3001, 256 * 1024)])
                time.sleep(0.0005)
            conn.sendall(payload[256 * 1024:])
        except OSError:
            pass
    conn.settimeout(60)
    threading.Thread(target=remote, daemon=True).start()
    got = collect_data(srv, 1, quiet_s=1.5, limit=total)
    diag("%d bytes arrived with ACKs withheld (limit %d)" % (len(got), limit))
    check(len(got) <= limit, "%d bytes unacknowledged, the limit is %d" % (len(got), limit))
    check(len(got) > limit - ACK_EVERY, "only %d bytes with an in-flight limit of %d"
          % (len(got), limit))
    srv.release_acks()
    got += collect_data(srv, 1, quiet_s=2.0, limit=total)
    check(got == payload, "received %d bytes of %d, or other bytes" % (len(got), total))
    srv.close(1, reset=True)
    srv.expect(CLOSE, 1)


@case("round-robin", "within the in-flight limit the server serves channels in turn")
def t_round_robin(srv, diag):
    limit = MIN_INFLIGHT
    srv.handshake(window=4 << 20, inflight=limit)
    with srv.lock:
        srv.withhold_ack = True
    peer = Peer()
    bulk_conn = opened(srv, 1, peer)
    bulk_conn.settimeout(60)
    threading.Thread(target=lambda: bulk_conn.sendall(bytes(2 << 20)), daemon=True).start()
    first = collect_data(srv, 1, limit=limit)
    check(0 < len(first) <= limit, "%d bytes with ACKs withheld, limit %d" % (len(first), limit))
    # The limit is reached; control frames still pass it.
    srv.open(2, peer.host, peer.port)
    f = srv.expect(OPEN_RESULT, 2, what="OPEN_RESULT while the in-flight limit is reached")
    check(f.payload[0] == S_OK, "OPEN failed: %s" % f)
    small_conn = peer.accept()
    small_conn.sendall(b"small")
    late = srv.quiet(0.3)
    check(late == [], "DATA past the in-flight limit: %s" % ", ".join(map(str, late)))
    # Room for one frame at a time: the small reply must get the next turn.
    behind = 0
    for _ in range(8):
        with srv.lock:
            srv.acked_total += ACK_EVERY
        srv.send(u32(ACK, 0, ACK_EVERY))
        small = None
        for f in srv.quiet(0.3):
            if f.channel == 2:
                small = small or f
            elif small is None and f.type == DATA:
                behind += len(f.payload)  # only what came before the reply
        if small:
            check(small.type == DATA and small.payload == b"small", "got %s" % small)
            break
    else:
        raise Fail("no turn for channel 2 after 8 ACKs of 32 KiB (%d bytes of channel 1)" % behind)
    diag("%d bytes of the bulk channel before the small reply" % behind)
    check(behind <= 2 * MAX_DATA, "%d bytes of another channel went first" % behind)


@case("max-channels", "OPEN beyond the server's max_channels is ERROR 5")
def t_max_channels(srv, diag):
    srv.handshake()
    m = srv.hello.max_channels
    hold, port = closed_port()
    # Refused channels stay open (their numbers in use) until the client's
    # CLOSE, and cost the server no socket.
    blob = bytearray()
    for n in range(1, m + 1):
        with srv.lock:
            srv.channels[n] = Chan(srv.window, srv.hello.channel_window)
        blob += frame(OPEN, n, open_payload("127.0.0.1", port))
    srv.send(bytes(blob))
    timeout = 10 + m * 0.0005
    end = time.monotonic() + timeout
    for i in range(m):
        f = srv.next(max(0.1, end - time.monotonic()),
                     "OPEN_RESULT %d of %d (%gs in all)" % (i + 1, m, timeout))
        check(f.type == OPEN_RESULT and f.payload[0] != S_OK, "expected a failed OPEN_RESULT, got %s" % f)
    # A CLOSE frees a number for a new channel.
    srv.close(1)
    srv.open(1, "127.0.0.1", port)
    srv.expect(OPEN_RESULT, 1)
    diag("%d channels open" % m)
    srv.send(frame(OPEN, m + 1, open_payload("127.0.0.1", port)))
    srv.expect_error(E_LIMIT)
    hold.close()


# ---------------------------------------------------------- hostile input

def hostile(name, description, payload, code, handshake=True, setup=None, hello=None):
    """A case: after the handshake (our HELLO made with @hello) and @setup,
    @payload gets ERROR @code."""
    def run(srv, diag):
        if handshake:
            srv.handshake(**(hello or {}))
        else:
            srv.wait_hello()
        if setup:
            setup(srv)
        srv.send(payload(srv) if callable(payload) else payload)
        srv.expect_error(code)
    case(name, description)(run)


def with_channel(srv):
    srv.peer = Peer()
    srv.conn = opened(srv, 1, srv.peer)


def connecting_channel(srv):
    """Channel 1 in connect() for a long time: it returns no credit."""
    srv.hole = Blackhole()
    srv.open(1, "127.0.0.1", srv.hole.port)


hostile("unknown-type", "frame type 0x14 is ERROR 2", frame(0x14), E_MALFORMED)
hostile("unknown-type-ff", "frame type 0xff on a channel is ERROR 2", frame(0xFF, 1, b"x"), E_MALFORMED)
hostile("flags", "PING with flags 1 is ERROR 2", frame(PING, 0, bytes(8), flags=1), E_MALFORMED)
hostile("len-over-max-header-only", "a PING header with len 9 is ERROR 2 before any payload",
        HDR.pack(PING, 0, 9, 0), E_MALFORMED)
hostile("len-over-max-eof", "EOF with len 1 is ERROR 2", frame(EOF, 1, b"x"), E_MALFORMED,
        setup=with_channel)
hostile("len-under-min", "WINDOW with len 3 is ERROR 2", frame(WINDOW, 1, b"\0\0\1"), E_MALFORMED,
        setup=with_channel)
hostile("data-len-0", "DATA of length 0 is ERROR 2", frame(DATA, 1), E_MALFORMED, setup=with_channel)
hostile("data-len-32769", "DATA of length 32769 is ERROR 2 (header alone)",
        HDR.pack(DATA, 0, 32769, 1), E_MALFORMED, setup=with_channel)
hostile("data-len-65535", "DATA of length 65535 is ERROR 2",
        frame(DATA, 1, b"z" * 65535), E_MALFORMED, setup=with_channel)
hostile("session-frame-on-channel", "PING on channel 5 is ERROR 2",
        frame(PING, 5, bytes(8)), E_MALFORMED)
hostile("ack-on-channel", "ACK on channel 1 is ERROR 2", u32(ACK, 1, 1), E_MALFORMED,
        setup=with_channel)
hostile("channel-frame-on-0", "WINDOW on channel 0 is ERROR 2", u32(WINDOW, 0, 4096), E_MALFORMED)
hostile("open-on-0", "OPEN on channel 0 is ERROR 2",
        frame(OPEN, 0, open_payload("127.0.0.1", 9)), E_MALFORMED)
hostile("data-unknown-channel", "DATA on a channel never opened is ERROR 4",
        frame(DATA, 42, b"hello"), E_CHANNEL)
hostile("window-unknown-channel", "WINDOW on a channel never opened is ERROR 4",
        u32(WINDOW, 42, 4096), E_CHANNEL)
hostile("close-unknown-channel", "CLOSE on a channel never opened is ERROR 4",
        frame(CLOSE, 42, b"\0"), E_CHANNEL)
hostile("data-beyond-credit", "DATA beyond the server's channel_window is ERROR 3",
        lambda srv: b"".join(frame(DATA, 1, b"c" * min(MAX_DATA, srv.hello.channel_window + 1 - i))
                             for i in range(0, srv.hello.channel_window + 1, MAX_DATA)),
        E_FLOW, setup=connecting_channel)
hostile("window-over-16mib", "WINDOW raising the credit above 16 MiB is ERROR 3",
        u32(WINDOW, 1, 1), E_FLOW, setup=with_channel, hello={"window": MAX_CREDIT})
hostile("window-zero", "WINDOW 0 is ERROR 2", u32(WINDOW, 1, 0), E_MALFORMED, setup=with_channel)
hostile("duplicate-open", "OPEN of a channel in use is ERROR 4",
        lambda srv: frame(OPEN, 1, open_payload("127.0.0.1", srv.peer.port)), E_CHANNEL,
        setup=with_channel)
hostile("reopen-before-close", "OPEN of a refused channel before the client's CLOSE is ERROR 4",
        lambda srv: frame(OPEN, 1, open_payload("127.0.0.1", srv.port)), E_CHANNEL,
        setup=lambda srv: refused_channel(srv))
hostile("open-family-5", "OPEN with family 5 is ERROR 2",
        frame(OPEN, 1, struct.pack(">BBH", 5, 0, 80) + bytes(4)), E_MALFORMED)
hostile("open-family-4-len-20", "OPEN with family 4 and 16 address bytes is ERROR 2",
        frame(OPEN, 1, struct.pack(">BBH", 4, 0, 80) + bytes(16)), E_MALFORMED)
hostile("open-family-6-len-8", "OPEN with family 6 and 4 address bytes is ERROR 2",
        frame(OPEN, 1, struct.pack(">BBH", 6, 0, 80) + bytes(4)), E_MALFORMED)
hostile("open-len-12", "OPEN of length 12 is ERROR 2",
        frame(OPEN, 1, struct.pack(">BBH", 4, 0, 80) + bytes(8)), E_MALFORMED)
hostile("open-byte-1", "OPEN with a non-zero second byte is ERROR 2",
        frame(OPEN, 1, struct.pack(">BBH", 4, 1, 80) + bytes([127, 0, 0, 1])), E_MALFORMED)
hostile("open-port-0", "OPEN to port 0 is ERROR 2",
        frame(OPEN, 1, struct.pack(">BBH", 4, 0, 0) + bytes([127, 0, 0, 1])), E_MALFORMED)
hostile("open-result-from-client", "OPEN_RESULT from the client is ERROR 2",
        frame(OPEN_RESULT, 1, bytes(4)), E_MALFORMED, setup=with_channel)
hostile("close-reason-2", "CLOSE with reason 2 is ERROR 2", frame(CLOSE, 1, b"\2"), E_MALFORMED,
        setup=with_channel)
hostile("data-after-eof", "DATA after the client's EOF is ERROR 2",
        frame(EOF, 1) + frame(DATA, 1, b"late"), E_MALFORMED, setup=with_channel)
hostile("eof-twice", "EOF twice is ERROR 2", frame(EOF, 1) + frame(EOF, 1), E_MALFORMED,
        setup=with_channel)
hostile("hello-twice", "a second HELLO is ERROR 2", hello_frame(), E_MALFORMED)
hostile("first-frame-not-hello", "PING before HELLO is ERROR 2", u64(PING, 1), E_MALFORMED,
        handshake=False)
hostile("garbage-before-hello", "text instead of HELLO is ERROR 2 (the server skips nothing)",
        b"GET / HTTP/1.1\r\nHost: example\r\n\r\n", E_MALFORMED, handshake=False)
hostile("garbage-after-hello", "garbage bytes after the handshake are ERROR 2",
        b"\xde\xad\xbe\xef" * 64, E_MALFORMED)
hostile("hello-bad-magic", "HELLO with a wrong magic is ERROR 2",
        lambda srv: hello_frame().replace(MAGIC, b"\0SHUTTLX"), E_MALFORMED, handshake=False)
hostile("hello-version-0", "HELLO with version_min 0 is ERROR 2",
        hello_frame(vmin=0, vmax=1), E_MALFORMED, handshake=False)
hostile("ack-too-much", "ACK for more bytes than in flight is ERROR 3", u32(ACK, 0, 1), E_FLOW)
hostile("error-len-515", "ERROR with len 515 is ERROR 2",
        HDR.pack(ERROR, 0, 515, 0) + b"\0\6" + b"\xff" * 513, E_MALFORMED)


# ------------------------------------------------------ names and routes

def dns_msg(dns_id, name):
    """A DNS query for @name, type A (what an application's resolver sends)."""
    q = b"".join(bytes([len(l)]) + l for l in name.encode().split(b".")) + b"\0"
    return struct.pack(">HHHHHH", dns_id, 0x0100, 1, 0, 0, 0) + q + struct.pack(">HH", 1, 1)


def dns_answer(query, addr="192.0.2.53", size=None):
    """The answer to @query: one A record (padded with junk to @size bytes:
    the server relays bytes, it does not parse them)."""
    end = 12
    while query[end]:
        end += 1 + query[end]
    question = query[12:end + 5]
    msg = (struct.pack(">HHHHHH", struct.unpack_from(">H", query)[0], 0x8180, 1, 1, 0, 0)
           + question + struct.pack(">HHHIH", 0xC00C, 1, 1, 60, 4)
           + ipaddress.ip_address(addr).packed)
    if size is not None:
        msg += os.urandom(size - len(msg))
    return msg


def dns_id(msg):
    return struct.unpack_from(">H", msg)[0]


class DnsResponder:
    """A UDP DNS server on the server's network, in a thread of the test.
    @delay: seconds before each answer; @size: answers of that many bytes;
    @spoof: each answer comes first from another port (the server must not
    take it), then from the right one; @collect: answer nothing until that
    many queries are in, then all of them, the last first."""

    def __init__(self, host="127.0.0.1", delay=0.0, size=None, spoof=False, collect=0, port=0):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.bind((host, port))
        self.host, self.port = host, self.sock.getsockname()[1]
        self.other = socket.socket(fam, socket.SOCK_DGRAM) if spoof else None
        if self.other:
            self.other.bind((host, 0))
        self.delay, self.size, self.collect = delay, size, collect
        self.queries = []  # (message, from)
        self.answers = {}  # DNS id -> the answer sent
        self.lock = threading.Lock()
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    @property
    def addr(self):
        return (self.host, self.port)

    def _answer(self, q, src):
        a = dns_answer(q, size=self.size)
        with self.lock:
            self.answers[dns_id(q)] = a
        if self.other:
            self.other.sendto(dns_answer(q, "198.51.100.66"), src)
            time.sleep(0.2)
        self.sock.sendto(a, src)

    def _run(self):
        self.sock.settimeout(0.2)
        held = []
        while not self.stopped:
            try:
                q, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.lock:
                self.queries.append((q, src))
            if self.collect:
                held.append((q, src))
                if len(held) == self.collect:
                    for q, src in reversed(held):
                        self._answer(q, src)
                continue
            if self.delay:
                threading.Timer(self.delay, self._answer, (q, src)).start()
            else:
                self._answer(q, src)

    def close(self):
        self.stopped = True
        self.thread.join(1.0)
        self.sock.close()
        if self.other:
            self.other.close()


def silent_resolver(host="127.0.0.1"):
    """A bound UDP socket that never reads: queries to it get no answer and
    no ICMP error either."""
    s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    return s, (host, s.getsockname()[1])


def dns_replies(srv, ids, timeout=ANSWER, allow=()):
    """{id: payload} of the DNS_REPLY frames for @ids; other frames are
    errors unless their type is in @allow."""
    got, end = {}, time.monotonic() + timeout
    while len(got) < len(ids):
        f = srv.next(max(0.01, end - time.monotonic()),
                     "DNS_REPLY for %d of %d queries" % (len(ids) - len(got), len(ids)))
        if f.type in allow:
            continue
        check(f.type == DNS_REPLY and f.channel in ids and f.channel not in got,
              "expected DNS_REPLY for one of %d queries, got %s" % (len(ids), f))
        got[f.channel] = f.payload
    return got


def dns_roundtrip(srv, qid, responder, name):
    msg = dns_msg(random.getrandbits(16), name)
    srv.dns_query(qid, responder.addr, msg)
    reply = dns_replies(srv, [qid])[qid]
    with responder.lock:
        seen = [q for q, _ in responder.queries if q == msg]
        answer = responder.answers.get(dns_id(msg))
    check(seen, "the resolver did not get the query's DNS message as sent")
    check(reply == answer, "DNS_REPLY %r is not the resolver's answer %r" % (reply[:40], answer[:40]
                                                                            if answer else None))


@case("dns-udp-ipv4", "DNS_QUERY to a resolver at 127.0.0.1: one DNS_REPLY, the same id, its answer")
def t_dns_v4(srv, diag):
    srv.handshake()
    r = DnsResponder()
    dns_roundtrip(srv, 1, r, "www.example.com")
    # The id is free again once answered; ids are not channel numbers.
    dns_roundtrip(srv, 1, r, "again.example.com")
    # Query id 7 while channel 7 is in use (refused, our CLOSE not yet sent).
    hold, port = closed_port()
    srv.open(7, "127.0.0.1", port)
    srv.expect(OPEN_RESULT, 7)
    dns_roundtrip(srv, 7, r, "same-number-as-a-channel.example")
    srv.close(7)
    hold.close()
    dns_roundtrip(srv, 0xFFFFFFFF, r, "the-largest-id.example")
    r.close()


@case("dns-udp-ipv6", "DNS_QUERY to a resolver at ::1, port given")
def t_dns_v6(srv, diag):
    need_ipv6()
    srv.handshake()
    r = DnsResponder("::1")
    dns_roundtrip(srv, 42, r, "v6.example.com")
    r.close()


@case("dns-many", "64 queries in flight at once; answers in reverse order reach the right ids")
def t_dns_many(srv, diag):
    srv.handshake()
    n = 64
    # The resolver answers only when all 64 are in: a server that waits for
    # one answer before it sends the next query never gets any.
    r = DnsResponder(collect=n)
    msgs = {}
    for i in range(n):
        qid = 1000 + 7 * i
        msgs[qid] = dns_msg(i, "host%d.example" % i)
        srv.dns_query(qid, r.addr, msgs[qid])
    got = dns_replies(srv, list(msgs), timeout=2 * ANSWER)
    with r.lock:
        answers = dict(r.answers)
    for qid, msg in msgs.items():
        check(got[qid] == answers.get(dns_id(msg)),
              "query id %d got the answer to another query (or none)" % qid)
    r.close()


@case("dns-no-answer", "a resolver that never answers: an empty DNS_REPLY after 5 s; meanwhile "
      "errors, late, spoofed and oversized answers, channels and PINGs all work")
def t_dns_no_answer(srv, diag):
    srv.handshake()
    hold, silent = silent_resolver()
    refused_sock, refused_port = closed_port()  # UDP to it: ICMP port unreachable
    refused_sock.close()
    refused_sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    refused_sock.bind(("127.0.0.1", 0))
    refused = ("127.0.0.1", refused_sock.getsockname()[1])
    refused_sock.close()  # nobody there now: an error from the kernel
    late = DnsResponder(delay=3.0)  # inside the 5 s: must be relayed
    spoof = DnsResponder(spoof=True)
    big = DnsResponder(size=40000)  # more than 32 768 bytes: no answer
    exact = DnsResponder(size=32768)  # the most a DNS_REPLY carries
    t0 = time.monotonic()
    srv.dns_query(1, silent, dns_msg(1, "silent.example"))
    srv.dns_query(2, refused, dns_msg(2, "refused.example"))
    srv.dns_query(3, late.addr, dns_msg(3, "late.example"))
    srv.dns_query(4, spoof.addr, dns_msg(4, "spoofed.example"))
    srv.dns_query(5, big.addr, dns_msg(5, "big.example"))
    srv.dns_query(6, exact.addr, dns_msg(6, "exact.example"))
    # The server's own resolver can be anything here (its /etc/resolv.conf):
    # what the doc promises is one DNS_REPLY within the 5 s, whatever it is.
    srv.dns_query(7, (None, 53), dns_msg(7, "example.com"))
    got, when = {}, {}
    end = t0 + DNS_TIMEOUT + ANSWER

    def take(what):
        """The next frame that is not a DNS_REPLY (those are noted); None
        once all 7 replies are in."""
        while len(got) < 7:
            f = srv.next(max(0.01, end - time.monotonic()), what)
            if f.type != DNS_REPLY:
                return f
            check(1 <= f.channel <= 7 and f.channel not in got,
                  "DNS_REPLY for query id %d (again?)" % f.channel)
            got[f.channel], when[f.channel] = f.payload, time.monotonic() - t0
    # The session lives on while queries wait: a channel and a PING.
    peer = Peer()
    srv.open(100, peer.host, peer.port)
    f = take("OPEN_RESULT while DNS queries wait")
    check(f is not None and f.type == OPEN_RESULT and f.channel == 100 and f.payload[0] == S_OK,
          "expected a good OPEN_RESULT on channel 100, got %s" % f)
    conn = peer.accept()
    srv.data(100, b"ping")
    check(recv_exact(conn, 4) == b"ping", "the remote end got other bytes")
    conn.sendall(b"pong")
    f = take("DATA while DNS queries wait")
    check(f is not None and f.type == DATA and f.payload == b"pong", "expected DATA 'pong', got %s" % f)
    srv.send(u64(PING, 99))
    f = take("PONG while DNS queries wait")
    check(f is not None and f.type == PONG and f.u64() == 99, "expected PONG 99, got %s" % f)
    t_alive = time.monotonic() - t0
    f = take("DNS_REPLY for %s" % sorted(set(range(1, 8)) - set(got)))
    check(f is None, "expected DNS_REPLY, got %s" % f)
    check(t_alive < DNS_TIMEOUT - 1, "the channel and the PING took %.1f s while a query waited"
          % t_alive)
    diag("answered after: %s" % ", ".join("%d: %.1fs" % (i, when[i]) for i in sorted(when)))
    check(got[1] == b"", "a DNS_REPLY of %d bytes from a resolver that never answers" % len(got[1]))
    check(when[1] >= DNS_TIMEOUT - 0.5, "the server gave up after %.1f s, not 5 s" % when[1])
    check(got[2] == b"", "a DNS_REPLY of %d bytes from a port nobody listens on" % len(got[2]))
    with late.lock, spoof.lock, exact.lock:
        check(got[3] and got[3] == late.answers.get(3),
              "an answer after 3 s (within the 5 s) was not relayed: %r" % got[3][:40])
        check(got[4] and got[4] == spoof.answers.get(4),
              "an answer from another port was taken for the resolver's: %r" % got[4][:40])
        check(got[6] == exact.answers.get(6), "an answer of 32 768 bytes came as %d bytes"
              % len(got[6]))
    check(got[5] == b"", "an answer of 40 000 bytes came as a DNS_REPLY of %d bytes" % len(got[5]))
    srv.ping_alive()
    srv.close(100, reset=True)
    srv.expect(CLOSE, 100)
    for r in (late, spoof, big, exact):
        r.close()
    hold.close()
    conn.close()


def silent_queries(srv, n, first_id=1):
    srv.hold, resolver = silent_resolver()
    for i in range(n):
        srv.dns_query(first_id + i, resolver, dns_msg(i, "q%d.example" % i))
    srv.ping_alive()  # all of them in, none answered yet (5 s)


hostile("dns-duplicate-id", "DNS_QUERY with the id of a query still waiting is ERROR 5",
        lambda srv: frame(DNS_QUERY, 3, dns_query_payload(("127.0.0.1", 53), dns_msg(9, "a.b"))),
        E_LIMIT, setup=lambda srv: silent_queries(srv, 3))
hostile("dns-257", "a 257th query while 256 wait is ERROR 5",
        lambda srv: frame(DNS_QUERY, 257, dns_query_payload(("127.0.0.1", 53), dns_msg(9, "a.b"))),
        E_LIMIT, setup=lambda srv: silent_queries(srv, DNS_MAX_PENDING))
hostile("dns-query-on-0", "DNS_QUERY with query id 0 is ERROR 2",
        frame(DNS_QUERY, 0, dns_query_payload(("127.0.0.1", 53), dns_msg(1, "a.b"))), E_MALFORMED)
hostile("dns-query-short", "DNS_QUERY with a message of 11 bytes (no DNS header) is ERROR 2",
        frame(DNS_QUERY, 1, dns_query_payload(("127.0.0.1", 53), bytes(11))), E_MALFORMED)
hostile("dns-query-long", "DNS_QUERY with a message of 4097 bytes is ERROR 2",
        frame(DNS_QUERY, 1, dns_query_payload(("127.0.0.1", 53), bytes(4097))), E_MALFORMED)
hostile("dns-query-family-5", "DNS_QUERY with family 5 is ERROR 2",
        frame(DNS_QUERY, 1, struct.pack(">BBH", 5, 0, 53) + bytes(4) + dns_msg(1, "a.b")),
        E_MALFORMED)
hostile("dns-query-port-0", "DNS_QUERY to port 0 is ERROR 2",
        frame(DNS_QUERY, 1, dns_query_payload(("127.0.0.1", 0), dns_msg(1, "a.b"))), E_MALFORMED)
hostile("dns-reply-from-client", "DNS_REPLY from the client is ERROR 2",
        frame(DNS_REPLY, 1, dns_msg(1, "a.b")), E_MALFORMED)
hostile("routes-from-client", "ROUTES from the client is ERROR 2",
        frame(ROUTES, 0, bytes([4, 8, 10, 0, 0, 0])), E_MALFORMED)
hostile("host-from-client", "HOST from the client is ERROR 2",
        frame(HOST, 0, bytes([4, 0, 127, 0, 0, 1]) + b"localhost"), E_MALFORMED)
hostile("routes-get-len-1", "ROUTES_GET with a payload is ERROR 2", frame(ROUTES_GET, 0, b"x"),
        E_MALFORMED)
hostile("routes-get-on-channel", "ROUTES_GET on channel 1 is ERROR 2", frame(ROUTES_GET, 1),
        E_MALFORMED)
hostile("hosts-watch-len-4097", "HOSTS_WATCH of 4097 bytes is ERROR 2 (header alone)",
        HDR.pack(HOSTS_WATCH, 0, 4097, 0), E_MALFORMED)
hostile("hosts-watch-twice", "a second HOSTS_WATCH is ERROR 2",
        frame(HOSTS_WATCH, 0, b"localhost") + frame(HOSTS_WATCH, 0, b"localhost"), E_MALFORMED)
hostile("open-family-0-len-8", "OPEN with family 0 and an address is ERROR 2",
        frame(OPEN, 1, struct.pack(">BBH", 0, 0, 53) + bytes([127, 0, 0, 1])), E_MALFORMED)


def resolv_conf_resolver():
    """The server's resolver by the doc (the test runs on the server's
    machine): the first nameserver of /etc/resolv.conf, else 127.0.0.1."""
    try:
        with open("/etc/resolv.conf") as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        w = line.split()
        if len(w) >= 2 and w[0] == "nameserver":
            try:
                return str(ipaddress.ip_address(w[1]))
            except ValueError:
                continue
    return "127.0.0.1"


def bindable(host):
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


@case("resolver-family-0", "OPEN and DNS_QUERY with family 0 go to the server's resolver")
def t_resolver(srv, diag):
    srv.handshake(connect_timeout=1000)
    host = resolv_conf_resolver()
    if not bindable(host):
        # Not on this machine (e.g. a LAN resolver): the test cannot listen
        # there, so only the doc's "exactly one OPEN_RESULT" is checked.
        srv.send(frame(OPEN, 1, struct.pack(">BBH", 0, 0, 53)))
        with srv.lock:
            srv.channels[1] = Chan(srv.window, srv.hello.channel_window)
        f = srv.expect(OPEN_RESULT, 1, timeout=1.0 + ANSWER)
        diag("only OPEN_RESULT checked: the resolver %s is not on this machine; OPEN family 0 "
             "to port 53: %s" % (host, f))
        srv.close(1, reset=True)
        if f.payload[0] == S_OK:
            srv.expect(CLOSE, 1)
        # (dns-no-answer checks that DNS_QUERY family 0 gets its one reply.)
        return
    # Resolver on this machine (127.0.0.53, 127.0.0.1, ...): listen there on a
    # free port; family 0 with that port must reach us.
    peer = Peer(host)
    srv.send(frame(OPEN, 1, struct.pack(">BBH", 0, 0, peer.port)))
    with srv.lock:
        srv.channels[1] = Chan(srv.window, srv.hello.channel_window)
    f = srv.expect(OPEN_RESULT, 1)
    check(f.payload[0] == S_OK, "OPEN family 0 to %s port %d: %s" % (host, peer.port, f))
    conn = peer.accept()
    srv.data(1, b"\0\x10tcp dns message")
    check(recv_exact(conn, 18) == b"\0\x10tcp dns message", "the resolver got other bytes")
    r = DnsResponder(host)
    msg = dns_msg(77, "family-zero.example")
    srv.dns_query(5, (None, r.port), msg)
    reply = dns_replies(srv, [5])[5]
    with r.lock:
        check(reply and reply == r.answers.get(77), "DNS_QUERY family 0 got %r" % reply[:40])
    diag("the server's resolver is %s" % host)
    r.close()
    conn.close()


@case("dns-tcp", "TCP DNS through an ordinary channel to a resolver on the server's network")
def t_dns_tcp(srv, diag):
    srv.handshake()
    peer = Peer()
    conn = opened(srv, 1, peer)
    msg = dns_msg(0x1234, "tcp.example")
    srv.data(1, struct.pack(">H", len(msg)) + msg)
    n = struct.unpack(">H", recv_exact(conn, 2))[0]
    check(recv_exact(conn, n) == msg, "the resolver got another message")
    answer = dns_answer(msg)
    conn.sendall(struct.pack(">H", len(answer)) + answer)
    got = b""
    while len(got) < 2 + len(answer):
        got += srv.expect(DATA, 1).payload
    check(got == struct.pack(">H", len(answer)) + answer, "the client got another answer")
    srv.close(1)
    srv.expect(CLOSE, 1)


ROUTE_EXCLUDED = [ipaddress.ip_network(n) for n in
                  ("127.0.0.0/8", "169.254.0.0/16", "224.0.0.0/4", "::1/128", "fe80::/10",
                   "ff00::/8")]


def kernel_routes():
    """The set the doc describes, read here (same machine as the server):
    /proc/net/route and /proc/net/ipv6_route, routes that are up and not
    reject routes, not local, anycast or cached entries; host bits cleared;
    no default, loopback, link-local or multicast network."""
    nets = set()
    with open("/proc/net/route") as f:
        for line in f.read().splitlines()[1:]:
            w = line.split()
            flags = int(w[3], 16)
            if not flags & 0x1 or flags & 0x200:
                continue
            # Printed as numbers in host byte order.
            dest = ipaddress.IPv4Address(struct.pack("=I", int(w[1], 16)))
            mask = ipaddress.IPv4Address(struct.pack("=I", int(w[7], 16)))
            nets.add(ipaddress.ip_network("%s/%s" % (dest, mask), strict=False))
    if os.path.exists("/proc/net/ipv6_route"):
        with open("/proc/net/ipv6_route") as f:
            for line in f.read().splitlines():
                w = line.split()
                flags = int(w[8], 16)
                if not flags & 0x1 or flags & (0x200 | 0x80000000 | 0x00100000 | 0x01000000):
                    continue
                addr = ipaddress.IPv6Address(bytes.fromhex(w[0]))
                nets.add(ipaddress.ip_network("%s/%d" % (addr, int(w[1], 16)), strict=False))
    return {n for n in nets if n.prefixlen and not any(
        n.version == x.version and n.subnet_of(x) for x in ROUTE_EXCLUDED)}


@case("routes", "ROUTES_GET: one ROUTES frame, well-formed, the kernel's networks and no others")
def t_routes(srv, diag):
    if not os.path.exists("/proc/net/route"):
        raise Skip("no /proc/net/route here")
    srv.handshake()
    expected = kernel_routes()
    srv.routes_get()
    f = srv.expect(ROUTES)
    entries = parse_routes(f.payload)
    check(not isinstance(entries, str), "ROUTES: %s" % entries)
    got = []
    for fam, prefix, raw in entries:
        net = ipaddress.ip_network((raw, prefix), strict=False)
        check(net.network_address.packed == raw, "ROUTES entry %s has host bits set"
              % route_text(fam, prefix, raw))
        check(prefix != 0, "ROUTES has a default route %s" % net)
        check(not any(net.version == x.version and net.subnet_of(x) for x in ROUTE_EXCLUDED),
              "ROUTES has %s (loopback, link-local or multicast)" % net)
        got.append(net)
    check(len(got) == len(set(got)), "ROUTES lists a network twice: %s"
          % sorted(str(n) for n in got if got.count(n) > 1))
    diag("ROUTES: %s" % (", ".join(map(str, got)) or "none"))
    check(set(got) == expected, "ROUTES differs from the kernel's table: missing %s, extra %s"
          % (sorted(map(str, expected - set(got))), sorted(map(str, set(got) - expected))))
    # Each ROUTES_GET is answered; the table has not changed meanwhile.
    srv.routes_get()
    g = srv.expect(ROUTES, what="ROUTES for a second ROUTES_GET")
    check(g.payload == f.payload or set(parse_routes(g.payload)) == set(entries),
          "a second ROUTES differs")
    srv.ping_alive()


def names_no_host(addr):
    """The addresses the doc says a server never sends in HOST: loopback,
    unspecified, multicast, IPv6 link-local."""
    return (addr.is_loopback or addr.is_unspecified or addr.is_multicast
            or int(addr) >> 24 in (0, 127) if addr.version == 4 else
            addr.is_loopback or addr.is_unspecified or addr.is_multicast or addr.is_link_local)


def etc_hosts_pairs(limit=200):
    """(address, name) pairs of /etc/hosts the doc's check lets through."""
    pairs = []
    try:
        with open("/etc/hosts", "rb") as f:
            lines = f.read().splitlines()
    except OSError:
        return pairs
    for line in lines:
        w = line.split(b"#", 1)[0].split()
        if len(w) < 2:
            continue
        try:
            addr = ipaddress.ip_address(w[0].decode())
        except (ValueError, UnicodeDecodeError):
            continue
        if names_no_host(addr):
            continue
        for name in w[1:]:
            if valid_hostname(name):
                pairs.append((str(addr), name.decode()))
    return pairs[:limit]


@case("hosts-watch", "HOSTS_WATCH: HOST frames for /etc/hosts and the seed names, each pair once")
def t_hosts_watch(srv, diag):
    srv.handshake()
    expected = set(etc_hosts_pairs())
    # The seed names, looked up here as the server would (same machine).
    seeds = ["localhost"]
    for seed in seeds:
        try:
            for info in socket.getaddrinfo(seed, None, 0, socket.SOCK_STREAM):
                addr = ipaddress.ip_address(info[4][0].split("%")[0])
                if not names_no_host(addr):
                    expected.add((str(addr), seed))
        except OSError:
            pass
    # A bad name among the seeds and empty items do not end the session.
    srv.hosts_watch(b" localhost ,bad name!,,x" + b"y" * 300)
    # At least a second even when all is there: long enough for the first
    # scan's pairs that must not come (localhost's) to arrive if sent.
    start = time.monotonic()
    end = start + 2 * ANSWER
    while True:
        with srv.lock:
            missing = expected - srv.host_pairs
        if (not missing and time.monotonic() > start + 1.0) or time.monotonic() > end:
            break
        f = srv.poll(0.2)
        check(f is None or f.type == HOST, "expected HOST, got %s" % f)
    with srv.lock:
        pairs = set(srv.host_pairs)
    diag("%d HOST pairs, e.g. %s" % (len(pairs), sorted(pairs)[:6]))
    check(not missing, "no HOST within %gs for %s" % (2 * ANSWER, sorted(missing)[:10]))
    # "localhost" (a seed, and in every /etc/hosts) is 127.0.0.1 and ::1 here.
    bad = sorted(p for p in pairs if names_no_host(ipaddress.ip_address(p[0])))
    check(not bad, "HOST for addresses that name no host of the network: %s" % bad[:10])
    srv.ping_alive(allow=(HOST,))


def refused_channel(srv):
    srv.hold, srv.port = closed_port()
    srv.open(1, "127.0.0.1", srv.port)
    f = srv.expect(OPEN_RESULT, 1)
    check(f.payload[0] == S_REFUSED, "expected refused, got %s" % f)


@case("peer-error-invalid-utf8", "ERROR of 514 bytes with invalid UTF-8 from the client ends the server")
def t_peer_error(srv, diag):
    srv.handshake()
    srv.ping_alive()
    srv.send(frame(ERROR, 0, struct.pack(">H", E_INTERNAL) + (b"\xc3\x28\xff\xfe\x80\x1b[2J" * 64)[:512]))
    # The session is over: nothing but, at most, an ERROR back; then exit.
    end = time.monotonic() + EXIT
    while True:
        try:
            f = srv.frames.get(timeout=max(0, end - time.monotonic()))
        except queue.Empty:
            raise Fail("the server did not close its output within %gs" % EXIT)
        if f is None:
            break
        check(f.type == ERROR, "%s after the client's ERROR" % f)
    srv.expect_exit(nonzero=True)


@case("truncated-header-eof", "half a frame header, then end of input: the server exits")
def t_truncated_header(srv, diag):
    srv.handshake()
    srv.ping_alive()
    srv.send(HDR.pack(PING, 0, 8, 0)[:5])
    srv.close_input()
    srv.expect_end()
    srv.expect_exit()


@case("truncated-payload-eof", "a frame cut in its payload, then end of input: the server exits")
def t_truncated_payload(srv, diag):
    srv.handshake()
    with_channel(srv)
    srv.send(HDR.pack(DATA, 0, 1000, 1) + b"x" * 10)
    srv.close_input()
    srv.expect_end()
    srv.expect_exit()


@case("truncated-hello-eof", "part of a HELLO, then end of input: the server exits")
def t_truncated_hello(srv, diag):
    srv.wait_hello()
    srv.send(hello_frame()[:20])
    srv.close_input()
    srv.expect_end()
    srv.expect_exit()


# ------------------------------------------------------------------- lanes


def lanes_offered(srv, timeout=2.0):
    """A version-3 handshake and the server's LANES, or Skip when it offers
    none (a server need not: "Lanes")."""
    srv.handshake(vmax=3)
    if not srv.lanes_event.wait(timeout):
        raise Skip("the server offers no lanes")
    return srv.lanes_offer


def lane_connect(offer, index, token=None):
    fam, count, port, tok = offer
    host = "127.0.0.1" if fam == 4 else "::1"
    c = socket.create_connection((host, port), timeout=ANSWER)
    c.sendall(LANE_MAGIC + (tok if token is None else token) + struct.pack(">I", index))
    return c


def bond(srv, mask):
    with srv.lock:
        srv.bond_sent = mask
    srv.send(u32(BOND, 0, mask))


@case("lanes-offer", "LANES is well-formed; the lane port answers the token and closes on another")
def t_lanes_offer(srv, diag):
    offer = lanes_offered(srv)
    fam, count, port, tok = offer
    diag("lanes: %d offered on %s port %d" % (count, "127.0.0.1" if fam == 4 else "::1", port))
    bad = lane_connect(offer, 1, token=bytes(16) if tok != bytes(16) else b"\1" * 16)
    check(recv_eof(bad) == b"", "a lane hello with the wrong token got an answer")
    bad.close()
    good = lane_connect(offer, 1)
    answer = recv_exact(good, 28)
    check(answer == LANE_MAGIC + tok + struct.pack(">I", 1),
          "the answer to lane 1's hello is %s" % answer.hex(" "))
    good.close()
    srv.ping_alive()


@case("lanes-v2-none", "a version-2 session gets no LANES")
def t_lanes_v2(srv, diag):
    srv.handshake(vmax=2)
    srv.ping_alive()
    check(not srv.lanes_event.wait(1.0), "LANES in a version-2 session")


@case("bond-unconnected-lane", "BOND naming a lane that never connected is ERROR 2")
def t_bond_unconnected(srv, diag):
    srv.handshake(vmax=3)
    srv.lanes_event.wait(2.0)  # offered or not, lane 2 never connects
    bond(srv, 0b101)
    srv.expect_error(E_MALFORMED)


def read_segments(srv, lanes, want, timeout=ANSWER):
    """The server's stream after its BOND, rebuilt from lane 0 (srv.raw) and
    @lanes (index -> socket), until @want(frames) is true; returns the frames."""
    bufs = {i: bytearray() for i in lanes}
    stream, nxt, frames = bytearray(), 0, []
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        for i, c in lanes.items():
            c.settimeout(0.05)
            try:
                b = c.recv(1 << 16)
                check(b, "lane %d closed" % i)
                bufs[i] += b
            except socket.timeout:
                pass
        with srv.lock:
            lane0 = bytes(srv.raw or b"")
            if srv.raw is not None:
                del srv.raw[:]
        bufs.setdefault(0, bytearray())
        bufs[0] += lane0
        progress = True
        while progress:
            progress = False
            for i, b in bufs.items():
                if len(b) >= SEG.size:
                    seq, n = SEG.unpack_from(b)
                    check(1 <= n <= MAX_SEGMENT, "lane %d: segment of %d bytes" % (i, n))
                    check(seq >= nxt, "lane %d: segment %d after %d" % (i, seq, nxt))
                    if seq == nxt and len(b) >= SEG.size + n:
                        stream += b[SEG.size:SEG.size + n]
                        del b[:SEG.size + n]
                        nxt += 1
                        progress = True
        while len(stream) >= HDR.size:
            ftype, flags, length, channel = HDR.unpack_from(stream)
            problem = header_problem(ftype, flags, length, channel)
            check(problem is None, "after BOND the server sent %s" % problem)
            if len(stream) < HDR.size + length:
                break
            frames.append(Frame(ftype, channel, bytes(stream[HDR.size:HDR.size + length])))
            del stream[:HDR.size + length]
        if want(frames):
            return frames
    raise Fail("after BOND: %d frames, none of them what was asked for" % len(frames))


def bonded_lane(srv):
    """Lane 1 connected and answered, then BOND both ways; returns lane 1."""
    lane = lane_connect(lanes_offered(srv), 1)
    recv_exact(lane, 28)
    bond(srv, 0b11)
    f = srv.expect(BOND, what="the server's BOND")
    check(f.u32() == 0b11, "the server's BOND says 0x%x" % f.u32())
    return lane


@case("lanes-bond", "after BOND both ways, a PING sent as a segment on lane 1 gets its PONG")
def t_lanes_bond(srv, diag):
    lane = bonded_lane(srv)
    token = random.getrandbits(64)
    lane.sendall(SEG.pack(0, 16) + u64(PING, token))
    frames = read_segments(srv, {1: lane}, lambda fs: any(x.type == PONG for x in fs))
    pong = [x for x in frames if x.type == PONG][0]
    check(pong.u64() == token, "PONG %#x for PING %#x" % (pong.u64(), token))
    lane.close()


@case("bond-bad-segment", "after BOND, a segment of 0 bytes is a protocol error: the session ends")
def t_bond_bad_segment(srv, diag):
    lane = bonded_lane(srv)
    lane.sendall(SEG.pack(0, 0))
    # No ERROR after BOND ("Lanes"): the server ends the session.
    check(recv_eof(lane) == b"", "lane 1 still carries data after a bad segment")
    srv.expect_exit(nonzero=True)
    lane.close()


# ------------------------------------------------------------------- main

# ------------------------------------------------------------- datagrams

class UdpEcho:
    """A UDP echo service on the server's network, in a thread of the test.
    @other: answers come from a second socket, another port."""

    def __init__(self, host="127.0.0.1", other=False):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.sock.bind((host, 0))
        self.host, self.port = host, self.sock.getsockname()[1]
        self.out = socket.socket(fam, socket.SOCK_DGRAM) if other else self.sock
        if other:
            self.out.bind((host, 0))
        self.out_port = self.out.getsockname()[1]
        self.received = []  # (data, source)
        self.stopped = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.2)
        while not self.stopped:
            try:
                data, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            self.received.append((data, src))
            self.out.sendto(data, src)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stopped = True
        self.thread.join(1.0)
        self.sock.close()
        if self.out is not self.sock:
            self.out.close()


def expect_dgram(srv, n, host, port, data, kind=K_UDP, timeout=ANSWER):
    """The server's DGRAM on association @n from @host:@port with @data."""
    f = srv.expect(DGRAM, n, timeout=timeout)
    d = parse_dgram(f.payload)
    check(not isinstance(d, str), "malformed DGRAM: %s" % (d,))
    fam, k, p, addr, got = d
    want = ipaddress.ip_address(host)
    check(fam == want.version and k == kind, "DGRAM of family %d kind %d" % (fam, k))
    check(addr == str(want) and p == port,
          "DGRAM from %s port %d, expected %s port %d" % (addr, p, want, port))
    check(got == data, "DGRAM with %d bytes (%r...), expected %d bytes"
          % (len(got), got[:16], len(data)))
    return f


def v2(srv, **kw):
    srv.handshake(vmax=2, **kw)
    check(srv.version == 2, "the server's HELLO offers versions %d ... %d"
          % (srv.hello.version_min, srv.hello.version_max))


def udp_echo_case(srv, diag, host):
    v2(srv)
    with UdpEcho(host) as echo:
        n = 0
        for size in (1, 1400, 60000):
            n += 1
            data = os.urandom(size)
            srv.dgram(n, host, K_UDP, echo.port, data)
            expect_dgram(srv, n, host, echo.port, data)
            # Another datagram on the same association: the same socket.
            srv.dgram(n, host, K_UDP, echo.port, data[::-1])
            expect_dgram(srv, n, host, echo.port, data[::-1])
        sources = {src[1] for _, src in echo.received}
        check(len(sources) == 3, "%d source ports for 3 associations" % len(sources))
        srv.dgram(9, host, K_UDP, echo.port, b"")
        expect_dgram(srv, 9, host, echo.port, b"")
    srv.ping_alive()


@case("udp-echo-ipv4", "DGRAM of 1, 1400 and 60000 bytes to a UDP echo service on 127.0.0.1, "
      "each answered on its association")
def t_udp_v4(srv, diag):
    udp_echo_case(srv, diag, "127.0.0.1")


@case("udp-echo-ipv6", "the same on ::1")
def t_udp_v6(srv, diag):
    need_ipv6()
    udp_echo_case(srv, diag, "::1")


@case("udp-other-port", "datagrams from another port of the peer come back, from that port")
def t_udp_other(srv, diag):
    v2(srv)
    with UdpEcho(other=True) as echo:
        srv.dgram(1, echo.host, K_UDP, echo.port, b"hello")
        expect_dgram(srv, 1, echo.host, echo.out_port, b"hello")
    srv.ping_alive()


@case("udp-ack", "the server ACKs DGRAM payload it reads; its own DGRAMs stay within the "
      "client's in-flight limit")
def t_udp_ack(srv, diag):
    v2(srv, inflight=128 * 1024)
    sink, _ = silent_resolver()
    port = sink.getsockname()[1]
    data = bytes(30000)
    try:
        for _ in range(3):
            srv.dgram(1, "127.0.0.1", K_UDP, port, data)
        srv.ping_alive(allow=(ACK,))
        deadline = time.monotonic() + ANSWER
        while srv.server_acked < 3 * 30008 - ACK_EVERY and time.monotonic() < deadline:
            time.sleep(0.05)
        check(srv.server_acked >= 3 * 30008 - ACK_EVERY,
              "the server acknowledged %d of %d bytes of DGRAM payload"
              % (srv.server_acked, 3 * 30008))
    finally:
        sink.close()
    # An echo service that answers 60 000 bytes 8 times while we withhold
    # ACK: what exceeds 128 KiB must be dropped, not queued.
    with UdpEcho() as echo:
        with srv.lock:
            srv.withhold_ack = True
        big = os.urandom(60000)
        for _ in range(8):
            srv.dgram(2, echo.host, K_UDP, echo.port, big)
        got = [f for f in srv.quiet(1.5) if f.type == DGRAM]
        check(1 <= len(got) <= 2, "%d DGRAMs of 60000 bytes came with a 128 KiB in-flight limit "
              "and no ACK" % len(got))
        srv.release_acks()
    srv.ping_alive(allow=(DGRAM,))


@case("dgram-close-client", "DGRAM_CLOSE from the client is answered; the number is free again")
def t_dgram_close_client(srv, diag):
    v2(srv)
    with UdpEcho() as echo:
        srv.dgram(1, echo.host, K_UDP, echo.port, b"one")
        expect_dgram(srv, 1, echo.host, echo.port, b"one")
        srv.dgram_close(1)
        f = srv.expect(DGRAM_CLOSE, 1)
        check(f.payload[0] == R_DONE, "answered with reason %d" % f.payload[0])
        # Free again: the first DGRAM makes a new association (a new socket).
        srv.dgram(1, echo.host, K_UDP, echo.port, b"two")
        expect_dgram(srv, 1, echo.host, echo.port, b"two")
        check(echo.received[0][1] != echo.received[1][1],
              "the reused number kept the old socket (source %s)" % (echo.received[0][1],))
    srv.ping_alive()


@case("dgram-idle", "an idle association is closed by the server (SHUTTLE_TEST_DGRAM_IDLE_MS=600): "
      "DGRAMs until the client answers are ignored, then the number is free")
def t_dgram_idle(srv, diag):
    v2(srv)
    with UdpEcho() as echo:
        t0 = time.monotonic()
        srv.dgram(1, echo.host, K_UDP, echo.port, b"x")
        expect_dgram(srv, 1, echo.host, echo.port, b"x")
        f = srv.expect(DGRAM_CLOSE, 1, timeout=5.0)
        dt = time.monotonic() - t0
        check(f.payload[0] == R_DONE, "idle close with reason %d" % f.payload[0])
        check(0.5 <= dt <= 3.0, "closed after %.2f s of a 0.6 s idle timeout" % dt)
        diag("closed after %.2f s" % dt)
        srv.dgram(1, echo.host, K_UDP, echo.port, b"ignored")
        srv.ping_alive()
        srv.dgram_close(1)
        srv.dgram(1, echo.host, K_UDP, echo.port, b"again")
        expect_dgram(srv, 1, echo.host, echo.port, b"again")
        check([d for d, _ in echo.received] == [b"x", b"again"],
              "the echo service got %r" % [d for d, _ in echo.received])


t_dgram_idle.env = {"SHUTTLE_TEST_DGRAM_IDLE_MS": "600"}


@case("dgram-limit", "4096 associations are served; one more gets DGRAM_CLOSE 1, no error")
def t_dgram_limit(srv, diag):
    v2(srv)
    sink, _ = silent_resolver()
    port = sink.getsockname()[1]
    try:
        for n in range(1, MAX_ASSOCS + 1, 256):
            srv.send(b"".join(frame(DGRAM, i, dgram_payload("127.0.0.1", K_UDP, port, b""))
                              for i in range(n, min(n + 256, MAX_ASSOCS + 1))))
        with srv.lock:
            for i in range(1, MAX_ASSOCS + 1):
                srv.assocs[i] = {"family": 4, "kind": K_UDP, "ours": False, "theirs": False}
        srv.ping_alive()
        check(not [i for i, a in srv.assocs.items() if a["theirs"]],
              "the server closed associations below its limit")
        srv.dgram(MAX_ASSOCS + 1, "127.0.0.1", K_UDP, port, b"")
        f = srv.expect(DGRAM_CLOSE, MAX_ASSOCS + 1, timeout=10.0)
        check(f.payload[0] == R_LIMIT, "DGRAM_CLOSE with reason %d, not 1" % f.payload[0])
        srv.dgram_close(MAX_ASSOCS + 1)
        # Closing one makes room.
        srv.dgram_close(7)
        srv.expect(DGRAM_CLOSE, 7)
        with UdpEcho() as echo:
            srv.dgram(MAX_ASSOCS + 2, echo.host, K_UDP, echo.port, b"room")
            expect_dgram(srv, MAX_ASSOCS + 2, echo.host, echo.port, b"room")
    finally:
        sink.close()
    srv.ping_alive()


# ICMP echo needs the user in net.ipv4.ping_group_range. As root the case
# runs the server in a network namespace of its own, with the range set
# (that namespace's loopback is where the echo goes); otherwise it takes
# the machine as it is and checks whichever answer the setting calls for.

def private_ns(permit):
    """A prefix for the server's command: a new network namespace with lo
    up and ping_group_range permitting everyone (@permit) or nobody; None
    when that is impossible (not root)."""
    if os.geteuid() != 0:
        return None
    rng = "0 2147483647" if permit else "1 0"
    return ["unshare", "-n", "sh", "-c",
            "ip link set lo up && echo '%s' >/proc/sys/net/ipv4/ping_group_range && exec \"$@\""
            % rng, "sh"]


def ping_permitted():
    try:
        with open("/proc/sys/net/ipv4/ping_group_range") as f:
            lo, hi = map(int, f.read().split())
    except OSError:
        return False
    return any(lo <= g <= hi for g in [os.getegid()] + os.getgroups())


def echo_case(srv, diag, host):
    v2(srv)
    permitted = srv.ns_permit if srv.ns_permit is not None else ping_permitted()
    data = os.urandom(56)
    srv.dgram(1, host, K_ECHO, 7, data)
    if not permitted:
        f = srv.expect(DGRAM_CLOSE, 1)
        check(f.payload[0] == R_NO_ECHO, "DGRAM_CLOSE with reason %d, not 2" % f.payload[0])
        err = f.code_at(2)
        check(err in (errno.EACCES, errno.EPERM), "errno %d, not EACCES" % err)
        diag("ping not permitted here: DGRAM_CLOSE 2, errno %d" % err)
        srv.dgram_close(1)
    else:
        expect_dgram(srv, 1, host, 7, data, kind=K_ECHO)
        srv.dgram(1, host, K_ECHO, 8, b"")
        expect_dgram(srv, 1, host, 8, b"", kind=K_ECHO)
        srv.dgram(1, host, K_ECHO, 65535, bytes(1400))
        expect_dgram(srv, 1, host, 65535, bytes(1400), kind=K_ECHO)
    srv.ping_alive()


@case("echo-ipv4", "echo to 127.0.0.1: replies with the sequence numbers and payloads sent")
def t_echo_v4(srv, diag):
    echo_case(srv, diag, "127.0.0.1")


@case("echo-ipv6", "echo to ::1: replies with the sequence numbers and payloads sent")
def t_echo_v6(srv, diag):
    echo_case(srv, diag, "::1")


@case("echo-refused", "echo where ping_group_range leaves the user out: DGRAM_CLOSE 2 with EACCES")
def t_echo_refused(srv, diag):
    echo_case(srv, diag, "127.0.0.1")


t_echo_v4.ns, t_echo_v6.ns, t_echo_refused.ns = True, True, False


@case("old-server", "SHUTTLE_TEST_PROTOCOL_MAX=1 makes a version-1 server: HELLO 1 ... 1, "
      "and a DGRAM is ERROR 2")
def t_old_server(srv, diag):
    h = srv.handshake(vmax=2)
    check(h.version_max == 1, "version_max %d" % h.version_max)
    srv.ping_alive()
    srv.send(frame(DGRAM, 1, dgram_payload("127.0.0.1", K_UDP, 9, b"x")))
    srv.expect_error(E_MALFORMED)


t_old_server.env = {"SHUTTLE_TEST_PROTOCOL_MAX": "1"}


hostile("dgram-in-v1", "a client that offered only version 1 gets no datagrams: DGRAM is ERROR 2",
        frame(DGRAM, 1, dgram_payload("127.0.0.1", K_UDP, 9, b"x")), E_MALFORMED)
hostile("dgram-close-in-v1", "DGRAM_CLOSE in a version-1 session is ERROR 2",
        frame(DGRAM_CLOSE, 1, bytes(4)), E_MALFORMED)
hostile("dgram-close-unknown", "DGRAM_CLOSE for an association not in use is ERROR 4",
        frame(DGRAM_CLOSE, 42, bytes(4)), E_CHANNEL, hello={"vmax": 2})
hostile("dgram-on-0", "DGRAM on association 0 is ERROR 2",
        frame(DGRAM, 0, dgram_payload("127.0.0.1", K_UDP, 9, b"x")), E_MALFORMED,
        hello={"vmax": 2})
hostile("dgram-kind-6", "DGRAM of kind 6 is ERROR 2",
        frame(DGRAM, 1, dgram_payload("127.0.0.1", 6, 9, b"x")), E_MALFORMED, hello={"vmax": 2})
hostile("dgram-family-6-short", "DGRAM of family 6 with 4 address bytes is ERROR 2",
        frame(DGRAM, 1, struct.pack(">BBH", 6, K_UDP, 9) + bytes(4)), E_MALFORMED,
        hello={"vmax": 2})
hostile("dgram-ipv4-65508", "DGRAM of family 4 with 65 508 bytes of data is ERROR 2",
        frame(DGRAM, 1, dgram_payload("127.0.0.1", K_UDP, 9, bytes(65508))), E_MALFORMED,
        hello={"vmax": 2})
hostile("dgram-len-65528", "DGRAM with len 65528 is ERROR 2 (header alone)",
        HDR.pack(DGRAM, 0, 65528, 1), E_MALFORMED, hello={"vmax": 2})
hostile("dgram-kind-change", "a second DGRAM of another kind on an association is ERROR 2",
        frame(DGRAM, 1, dgram_payload("127.0.0.1", K_UDP, 9, b"a"))
        + frame(DGRAM, 1, dgram_payload("127.0.0.1", K_ECHO, 9, b"a")), E_MALFORMED,
        hello={"vmax": 2})
hostile("dgram-family-change", "a second DGRAM of another family on an association is ERROR 2",
        frame(DGRAM, 1, dgram_payload("127.0.0.1", K_UDP, 9, b"a"))
        + frame(DGRAM, 1, dgram_payload("::1", K_UDP, 9, b"a")), E_MALFORMED, hello={"vmax": 2})
hostile("dgram-close-reason-4", "DGRAM_CLOSE with reason 4 is ERROR 2",
        frame(DGRAM, 1, dgram_payload("127.0.0.1", K_UDP, 9, b"a"))
        + frame(DGRAM_CLOSE, 1, bytes([4, 0, 0, 0])), E_MALFORMED, hello={"vmax": 2})
hostile("dgram-close-twice", "DGRAM_CLOSE twice (the number is free after the first) is ERROR 4",
        frame(DGRAM_CLOSE, 1, bytes(4)) + frame(DGRAM_CLOSE, 1, bytes(4)), E_CHANNEL,
        hello={"vmax": 2},
        setup=lambda srv: srv.dgram(1, "127.0.0.1", K_UDP, 9, b"a"))


def main(argv):
    if "--" not in argv:
        sys.stderr.write(__doc__)
        return 2
    opts, command = argv[1:argv.index("--")], argv[argv.index("--") + 1:]
    only = None
    it = iter(opts)
    for o in it:
        if o == "--only":
            only = set(next(it).split(","))
        elif o == "--list":
            for name, desc, _ in CASES:
                print("%-28s %s" % (name, desc))
            return 0
        else:
            sys.stderr.write("unknown option %s\n" % o)
            return 2
    if not command:
        sys.stderr.write("no server command after --\n")
        return 2
    cases = [c for c in CASES if only is None or c[0] in only]
    if only and len(cases) != len(only):
        sys.stderr.write("unknown case in --only\n")
        return 2
    print("1..%d" % len(cases), flush=True)
    failed = 0
    for i, (name, desc, fn) in enumerate(cases, 1):
        notes, problems, skip = [], [], None
        t0 = time.monotonic()
        ns = getattr(fn, "ns", None)
        prefix = private_ns(ns) if ns is not None else None
        srv = Server((prefix or []) + command, env=getattr(fn, "env", None))
        srv.ns_permit = ns if prefix else None
        try:
            fn(srv, notes.append)
        except Fail as e:
            problems.append(str(e))
        except Skip as e:
            skip = str(e)
        except Exception as e:  # a bug in this test: report, go on
            import traceback
            problems.append("test error: %r" % e)
            problems.extend(traceback.format_exc().strip().splitlines()[-6:])
        problems.extend(srv.stop())
        with srv.lock:
            problems.extend("protocol violation: " + v for v in srv.violations)
        dt = time.monotonic() - t0
        if problems:
            failed += 1
        print("%s %d - %s: %s (%.1fs)%s" % ("not ok" if problems else "ok", i, name, desc, dt,
                                            " # SKIP " + skip if skip and not problems else ""))
        for line in problems + notes:
            for part in str(line).splitlines():
                print("# " + part)
        sys.stdout.flush()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
