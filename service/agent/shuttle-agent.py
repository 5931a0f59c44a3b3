#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""shuttle-agent: the server end of the Shuttle mux (docs/protocol.md) in Python.

The client uploads this file over the ssh pipe and runs it when the remote
host has no shuttle-server. It speaks the SERVER role exactly like
service/session.c does: the mux on fds 0 and 1, one non-blocking TCP
connection per channel, per-channel credit, the session-level ACK limit the
client's HELLO asks for, and an ERROR frame plus exit 1 on any protocol
violation. One file, standard library only, nothing written to disk.
Names and routes (--dns, -N, -H): DNS queries are relayed from UDP sockets
in the same loop; the host watch scans in one thread of its own, since
reverse lookups and tools block.

Runs on Python 3.6 and later. What it relies on, by version:
  3.3  os.readv / os.writev, BlockingIOError, time.monotonic, select.epoll
  3.4  selectors (the fallback poller off Linux), O(1) `del bytearray[:n]`
  3.5  automatic EINTR retry (PEP 475), C OrderedDict
  3.6  nothing newer: no f-string `=`, no asyncio.run, no walrus, no reliance
       on dict order (OrderedDict where order matters). Constants added later
       (fcntl.F_SETPIPE_SZ, socket.SO_MARK on some builds) are spelled out.

Started either as a script (`python3 shuttle-agent.py [-v...]`) or by a
stage-1 loader that execs this source in __main__ with a global
`shuttle_src` (the source as bytes) and sys.argv already set.
"""

import collections
import errno
import fcntl
import linecache
import os
import re
import select
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import traceback

NAME = 'shuttle-agent.py'

# Started from the loader, there is no file to read the source lines of a
# traceback from: hand linecache the source (mtime None: checkcache keeps it),
# and print tracebacks with the traceback module, which asks linecache (the
# interpreter's built-in printer reads files from disk only).
if isinstance(globals().get('shuttle_src'), (bytes, bytearray)):
    _lines = bytes(globals()['shuttle_src']).decode('utf-8', 'replace').splitlines(True)
    linecache.cache[NAME] = (sum(map(len, _lines)), None, _lines, NAME)
    del _lines
    sys.excepthook = traceback.print_exception

# ------------------------------------------------------------------ protocol

VERSION = 3                 # 2: datagrams (DGRAM, DGRAM_CLOSE); 3: lanes, never offered here
MAGIC = b'\0SHUTTLE'
HDR_LEN = 8
MAX_DATA = 32768
MAX_NAME = 64
MAX_REASON = 128
MAX_ERROR_MSG = 512
MIN_WINDOW = 4096
MAX_WINDOW = 16 * 1024 * 1024
MAX_CHANNELS = 1 << 20
MAX_CONNECT_TIMEOUT_MS = 600000
ACK_EVERY = 32 * 1024
MIN_INFLIGHT = 4 * ACK_EVERY
MIN_INFLIGHT_V2 = 8 * 1024  # version 2: receivers ACK within ACK_DELAY
ACK_DELAY = 0.001           # the remainder under ACK_EVERY is ACKed this soon
# Adaptive in-flight limit under the client's ceiling (docs/protocol.md,
# "Latency control"; the same rule as the C server's service/latency.c).
LC_START = 256 * 1024
LC_TARGET = 0.0007          # queueing we accept, seconds, plus base / 16 (lc_target)
LC_WINDOW = 30.0
LC_SAMPLE_MAX = 1.0
LC_FILTER = 3               # the smallest of the last 3 samples: one late ACK is noise
LC_RATES = 8                # delivery rates kept for the bandwidth-delay product
LC_STARTUP_GAIN = 2.5
LC_STARTUP_ROUNDS = 2
HELLO_FIXED = len(MAGIC) + 2 + 2 + 4 + 4 + 4 + 4

HELLO, OPEN, OPEN_RESULT, DATA, WINDOW, EOF, CLOSE, PING, PONG, ACK, ERROR = range(1, 12)
DNS_QUERY, DNS_REPLY, ROUTES_GET, ROUTES, HOSTS_WATCH, HOST = range(0x0c, 0x12)
DGRAM, DGRAM_CLOSE = 0x12, 0x13
TYPE_NAMES = {HELLO: 'HELLO', OPEN: 'OPEN', OPEN_RESULT: 'OPEN_RESULT', DATA: 'DATA',
              WINDOW: 'WINDOW', EOF: 'EOF', CLOSE: 'CLOSE', PING: 'PING', PONG: 'PONG',
              ACK: 'ACK', ERROR: 'ERROR', DNS_QUERY: 'DNS_QUERY', DNS_REPLY: 'DNS_REPLY',
              ROUTES_GET: 'ROUTES_GET', ROUTES: 'ROUTES', HOSTS_WATCH: 'HOSTS_WATCH',
              HOST: 'HOST', DGRAM: 'DGRAM', DGRAM_CLOSE: 'DGRAM_CLOSE'}
# Datagrams (version 2, as mux.h has them).
K_ECHO, K_UDP = 1, 17
R_DONE, R_LIMIT, R_NO_ECHO, R_FAILED = 0, 1, 2, 3
MAX_DGRAM_DATA = 65507
MAX_DGRAM = 4 + 16 + MAX_DGRAM_DATA
MAX_ASSOCS = 4096           # associations with a socket
MAX_ASSOCS_IN_USE = 2 * MAX_ASSOCS  # numbers in use, closed ones not yet answered too
DGRAM_IDLE = 300.0
DGRAM_READS = 16            # datagrams read per socket and wakeup
ICMP_ECHO = {socket.AF_INET: (8, 0), socket.AF_INET6: (128, 129)}  # request, reply
NO_ECHO_ERRNOS = (errno.EACCES, errno.EPERM, errno.EPROTONOSUPPORT, errno.EAFNOSUPPORT,
                  errno.ESOCKTNOSUPPORT)


def test_knob(name, default):
    """Test-only settings from the environment (HACKING.md)."""
    try:
        v = int(os.environ.get(name, ''))
    except ValueError:
        return default
    return v if v > 0 else default
# Names and routes (as mux.h has them).
DNS_MIN = 12                # a DNS header
DNS_MAX_QUERY = 4096        # a query's message
DNS_MAX_PENDING = 256
DNS_TIMEOUT = 5.0           # how long we wait for a resolver's answer
MAX_SEEDS = 4096            # HOSTS_WATCH payload
MAX_HOSTNAME = 253
# Address length by the family byte of OPEN and DNS_QUERY (0: the server's resolver).
ADDR_LEN = {0: 0, 4: 4, 6: 16}
# Per type: (smallest payload, largest payload, session frame on channel 0).
FRAME_RULES = [None] * 256
FRAME_RULES[HELLO] = (HELLO_FIXED, HELLO_FIXED + MAX_NAME, True)
FRAME_RULES[OPEN] = (4, 20, False)
FRAME_RULES[OPEN_RESULT] = (4, 4 + MAX_REASON, False)
FRAME_RULES[DATA] = (1, MAX_DATA, False)
FRAME_RULES[WINDOW] = (4, 4, False)
FRAME_RULES[EOF] = (0, 0, False)
FRAME_RULES[CLOSE] = (1, 1, False)
FRAME_RULES[PING] = (8, 8, True)
FRAME_RULES[PONG] = (8, 8, True)
FRAME_RULES[ACK] = (4, 4, True)
FRAME_RULES[ERROR] = (2, 2 + MAX_ERROR_MSG, True)
FRAME_RULES[DNS_QUERY] = (4 + DNS_MIN, 4 + 16 + DNS_MAX_QUERY, False)  # channel: the query id
FRAME_RULES[DNS_REPLY] = (0, MAX_DATA, False)
FRAME_RULES[ROUTES_GET] = (0, 0, True)
FRAME_RULES[ROUTES] = (0, MAX_DATA, True)
FRAME_RULES[HOSTS_WATCH] = (0, MAX_SEEDS, True)
FRAME_RULES[HOST] = (2 + 4 + 1, 2 + 16 + MAX_HOSTNAME, True)
FRAME_RULES[DGRAM] = (4 + 4, MAX_DGRAM, False)      # channel: the association
FRAME_RULES[DGRAM_CLOSE] = (4, 4, False)

ST_OK, ST_REFUSED, ST_NET_UNREACHABLE, ST_HOST_UNREACHABLE = 0, 1, 2, 3
ST_TIMED_OUT, ST_FAILED, ST_NO_RESOURCES = 4, 5, 6

E_VERSION, E_MALFORMED, E_FLOW, E_CHANNEL, E_LIMIT, E_INTERNAL = 1, 2, 3, 4, 5, 6

HDR = struct.Struct('>BBHI')
HDR_U32 = struct.Struct('>BBHII')
HDR_U8 = struct.Struct('>BBHIB')
HDR_RESULT = struct.Struct('>BBHIBBH')
HELLO_BODY = struct.Struct('>8sHHIIII')

# What this server grants and accepts: the same as shuttle --server.
CHANNEL_WINDOW = 2 * 1024 * 1024
SERVER_MAX_CHANNELS = 65536
DEFAULT_CONNECT_TIMEOUT_MS = 10000

# Data path sizes (see docs/architecture.md): one DATA frame of at most CHUNK
# per channel per round; data enters the output only while less than
# FILL_LOW is queued, up to FILL_HIGH, so control frames never wait long.
CHUNK = 32768
FILL_LOW = 32 * 1024
FILL_HIGH = 128 * 1024
# Channels whose last read was under BULK_MIN go first and may pass the
# in-flight limit by PRIORITY_RESERVE in all (session.c, the same numbers).
BULK_MIN = 16 * 1024
PRIORITY_RESERVE = 64 * 1024
# Datagrams with at most this much data, and every echo, may use the reserve
# too (session.c, DGRAM_SMALL).
DGRAM_SMALL = 512
INBUF_CAP = 256 * 1024
BATCH_MAX = 64          # DATA frames of one channel per writev()
IOV_MAX = 1024
# A client that sends control frames but never reads our answers must not
# make us buffer without end: stop reading it above this much output.
OUT_PAUSE = 8 * 1024 * 1024
PIPE_SIZE = 1024 * 1024
F_SETPIPE_SZ = 1031     # Linux; fcntl.F_SETPIPE_SZ only exists from 3.10
SO_MARK = getattr(socket, 'SO_MARK', 36)
BYPASS_MARK = 0x5368    # SH_FIREWALL_BYPASS_MARK: our sockets skip the redirect rules
LINGER_RESET = struct.pack('ii', 1, 0)

NO_RESOURCES_ERRNOS = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def open_status(err):
    """Maps a connect() errno to an OPEN_RESULT status (as mux.c does)."""
    if err == 0:
        return ST_OK
    if err == errno.ECONNREFUSED:
        return ST_REFUSED
    if err in (errno.ENETUNREACH, errno.ENETDOWN):
        return ST_NET_UNREACHABLE
    if err in (errno.EHOSTUNREACH, errno.EHOSTDOWN):
        return ST_HOST_UNREACHABLE
    if err == errno.ETIMEDOUT:
        return ST_TIMED_OUT
    if err in NO_RESOURCES_ERRNOS:
        return ST_NO_RESOURCES
    return ST_FAILED


def printable(b, limit=MAX_ERROR_MSG):
    """Peer-supplied bytes for a log line: one printable line, bounded."""
    return ''.join(chr(c) if 0x20 <= c < 0x7f else '?' for c in bytes(b[:limit]))


# ------------------------------------------------------------------- logging

VERBOSITY = 0


def log(level, msg):
    """level 0: errors (always), 1: -v, 2: -vv."""
    if VERBOSITY >= level:
        try:
            os.write(2, ('shuttle-agent: %s\n' % msg).encode('utf-8', 'replace'))
        except OSError:
            pass


class ProtocolError(Exception):
    """The client broke the protocol: ERROR frame, exit 1, no traceback."""

    def __init__(self, code, msg):
        Exception.__init__(self, msg)
        self.code = code
        self.msg = msg


class SessionEnd(Exception):
    """The session is over: msg None on a clean end (EOF from the client)."""

    def __init__(self, msg=None, status=0):
        Exception.__init__(self, msg)
        self.msg = msg
        self.status = status


# -------------------------------------------------------------------- poller

POLL_IN, POLL_OUT = 1, 4        # select.EPOLLIN, select.EPOLLOUT


class Poller:
    """Level-triggered readiness for fds, each with one callback(readable, writable).
    epoll on Linux, else whatever selectors picks. Interest 0 means unregistered,
    so a socket we are not interested in never wakes us up (not even on errors)."""

    def __init__(self):
        self.watch = {}         # fd -> [mask, callback]
        self.ep = getattr(select, 'epoll', None)
        if self.ep is not None:
            self.ep = self.ep()
            self.ep_err = select.EPOLLERR | select.EPOLLHUP
        else:
            self.sel = selectors.DefaultSelector()

    @staticmethod
    def _sel_events(mask):
        return ((selectors.EVENT_READ if mask & POLL_IN else 0)
                | (selectors.EVENT_WRITE if mask & POLL_OUT else 0))

    def set(self, fd, mask, cb):
        w = self.watch.get(fd)
        if w is None:
            if mask:
                self.watch[fd] = [mask, cb]
                if self.ep is not None:
                    self.ep.register(fd, mask)
                else:
                    self.sel.register(fd, self._sel_events(mask), cb)
        elif w[0] != mask:
            if not mask:
                self.remove(fd)
                return
            w[0] = mask
            if self.ep is not None:
                self.ep.modify(fd, mask)
            else:
                self.sel.modify(fd, self._sel_events(mask), cb)

    def remove(self, fd):
        if self.watch.pop(fd, None) is None:
            return
        try:
            if self.ep is not None:
                self.ep.unregister(fd)
            else:
                self.sel.unregister(fd)
        except (OSError, KeyError, ValueError):
            pass

    def poll(self, timeout):
        """[(callback, readable, writable)], callbacks resolved now: an fd closed
        and reused later in the same batch does not get the old fd's event."""
        out = []
        if self.ep is not None:
            watch = self.watch
            err = self.ep_err
            for fd, ev in self.ep.poll(-1 if timeout is None else timeout):
                w = watch.get(fd)
                if w is not None:
                    out.append((w[1], bool(ev & (POLL_IN | err)), bool(ev & (POLL_OUT | err))))
        else:
            for key, ev in self.sel.select(timeout):
                out.append((key.data, bool(ev & selectors.EVENT_READ),
                            bool(ev & selectors.EVENT_WRITE)))
        return out


# ---------------------------------------------------------- names and routes

RESOLV_CONF = '/etc/resolv.conf'
LOCALHOST4 = b'\x7f\x00\x00\x01'


def server_resolver():
    """(family, packed address) of the server's resolver: the first
    `nameserver` of resolv.conf that is an address literal ("fe80::1%eth0"
    is skipped, as resolver.c does), else 127.0.0.1. Read at every use, so
    a changed resolv.conf (DHCP, VPN) counts at once."""
    try:
        with open(RESOLV_CONF, 'rb') as f:
            text = f.read(1 << 20)
    except OSError:
        text = b''
    for line in text.split(b'\n'):
        w = line.split()
        if len(w) < 2 or w[0] != b'nameserver':
            continue
        a = w[1].decode('ascii', 'replace')
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                return family, socket.inet_pton(family, a)
            except (OSError, ValueError):
                pass
    return socket.AF_INET, LOCALHOST4


def sockaddr(family, addr, port):
    ip = socket.inet_ntop(family, addr)
    return (ip, port) if family == socket.AF_INET else (ip, port, 0, 0)


# Route flags (linux/route.h, linux/ipv6_route.h).
RTF_UP = 0x0001
RTF_REJECT = 0x0200
RTF_ANYCAST = 0x00100000
RTF_CACHE = 0x01000000
RTF_LOCAL = 0x80000000
# Networks never offered (docs/protocol.md, "Routes"): an entry whose network
# lies inside one of these is left out.
ROUTE_EXCLUDED = (
    (4, bytes([127, 0, 0, 0]), 8),          # loopback
    (4, bytes([169, 254, 0, 0]), 16),       # link-local
    (4, bytes([224, 0, 0, 0]), 4),          # multicast
    (6, bytes(15) + b'\x01', 128),          # ::1
    (6, b'\xfe\x80' + bytes(14), 10),       # link-local
    (6, b'\xff' + bytes(15), 8),            # multicast
)


def clear_host_bits(addr, prefix):
    n = int.from_bytes(addr, 'big')
    bits = len(addr) * 8
    mask = ((1 << bits) - 1) ^ ((1 << (bits - prefix)) - 1)
    return (n & mask).to_bytes(len(addr), 'big')


def route_excluded(fam, net, prefix):
    for xfam, xnet, xprefix in ROUTE_EXCLUDED:
        if fam == xfam and prefix >= xprefix and clear_host_bits(net, xprefix) == xnet:
            return True
    return False


def leading_ones(b):
    n = 0
    for byte in b:
        if byte == 0xff:
            n += 8
            continue
        while byte & 0x80:
            n += 1
            byte = (byte << 1) & 0xff
        break
    return n


def read_routes():
    """The ROUTES payload: the networks of the kernel's routing table (Linux
    /proc), host bits cleared, without default, reject, local, loopback,
    link-local and multicast entries, each once, as many as fit one frame."""
    found = []      # (family byte, prefix, packed network)
    try:
        with open('/proc/net/route') as f:
            lines = f.read().splitlines()[1:]
    except OSError:
        lines = []
    for line in lines:
        w = line.split()
        try:
            flags = int(w[3], 16)
            # The file prints each address as a number in host byte order.
            net = struct.pack('=I', int(w[1], 16))
            prefix = leading_ones(struct.pack('=I', int(w[7], 16)))
        except (IndexError, ValueError, struct.error):
            continue
        if flags & RTF_UP and not flags & RTF_REJECT:
            found.append((4, prefix, net))
    try:
        with open('/proc/net/ipv6_route') as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    for line in lines:
        w = line.split()
        try:
            net = bytes.fromhex(w[0])
            prefix = int(w[1], 16)
            flags = int(w[8], 16)
        except (IndexError, ValueError):
            continue
        if len(net) != 16 or prefix > 128:
            continue
        # The file lists every table: the host's own addresses (local and
        # anycast entries of the local table) and cached clones are not
        # networks behind the server.
        if (flags & RTF_UP and not flags & (RTF_REJECT | RTF_LOCAL | RTF_ANYCAST | RTF_CACHE)):
            found.append((6, prefix, net))
    out = bytearray()
    seen = set()
    for fam, prefix, net in found:
        if prefix == 0:
            continue    # a default route
        net = clear_host_bits(net, prefix)
        if route_excluded(fam, net, prefix) or (fam, prefix, net) in seen:
            continue
        if len(out) + 2 + len(net) > MAX_DATA:
            break
        seen.add((fam, prefix, net))
        out += bytes([fam, prefix]) + net
    return bytes(out)


_LABEL = r'[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?'
HOSTNAME_RE = re.compile(_LABEL + r'(\.' + _LABEL + r')*\Z')


def valid_hostname(name):
    """The check of docs/protocol.md, "Hosts" (hostname.c's): ASCII letters,
    digits, '-' and '_', dots between labels of 1 to 63 characters that do
    not start or end with '-', 253 in all."""
    return len(name) <= MAX_HOSTNAME and HOSTNAME_RE.match(name) is not None


def which(name):
    """A tool's path, looking in the sbin directories too: a non-login ssh
    command often has a PATH without them."""
    path = os.environ.get('PATH', '/usr/bin:/bin') + ':/usr/sbin:/sbin:/usr/local/sbin'
    for d in path.split(':'):
        p = os.path.join(d or '.', name)
        if os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


HOSTS_RESCAN = 15.0         # seconds between scans: all sources are cheap to read again
HOSTS_MAX_PAIRS = 16384     # the client takes 4096 names; a bound on our memory
RDNS_RETRY = 8              # scans before a failed reverse lookup is tried again
NMB_PER_SCAN = 16           # nmblookup -A queries per scan (each may take a second)
TOOL_TIMEOUT = 5.0


def names_no_host(fam, addr):
    """True for an address that names no host of this network for the
    client (docs/protocol.md, Hosts): loopback ("localhost" of our own
    /etc/hosts), unspecified, multicast, and IPv6 link-local, to which a
    hosts line cannot give its interface."""
    if fam == 4:
        return addr[0] in (0, 127) or addr[0] >= 224
    return (addr == bytes(16) or addr == bytes(15) + b'\x01' or addr[0] == 0xff
            or (addr[0] == 0xfe and addr[1] & 0xc0 == 0x80))


class HostWatch:
    """HOSTS_WATCH: a thread scans the sources (files, neighbour table,
    reverse and forward lookups, avahi-browse, nmblookup), none of which
    may block the event loop, and hands (family, address, name) to it
    through a deque and a wake-up pipe. The loop checks names and sends
    each pair once."""

    def __init__(self, session, seeds):
        self.session = session
        self.seeds = seeds
        self.found = collections.deque()
        self.rfd, self.wfd = os.pipe()
        os.set_blocking(self.rfd, False)
        os.set_blocking(self.wfd, False)
        self.stopping = threading.Event()
        self.proc = None            # a tool now running (killed when we stop)
        self.sent = set()           # (family byte, address, name): loop thread only
        self.rdns = {}              # (family, address) -> scans left before a retry
        self.nmb_done = set()
        session.poller.set(self.rfd, POLL_IN, self.on_wake)
        self.thread = threading.Thread(target=self.run, name='hostwatch')
        self.thread.daemon = True
        self.thread.start()

    # --------------------------------------------- loop thread

    def on_wake(self, readable, writable):
        try:
            while os.read(self.rfd, 4096):
                pass
        except (BlockingIOError, OSError):
            pass
        found = self.found
        while found:
            family, addr, name = found.popleft()
            if name.endswith('.'):
                name = name[:-1]     # a fully qualified name: the same name
            if not valid_hostname(name):
                log(2, 'hosts: skipping the name %s' % printable(name.encode('utf-8', 'replace')))
                continue
            key = (family, addr, name)
            if key in self.sent:
                continue
            if len(self.sent) >= HOSTS_MAX_PAIRS:
                log(1, 'hosts: %d names sent; no more' % HOSTS_MAX_PAIRS)
                found.clear()
                self.stop()
                return
            self.sent.add(key)
            n = name.encode('ascii')
            log(2, 'hosts: %s %s' % (socket.inet_ntop(socket.AF_INET if family == 4
                                                      else socket.AF_INET6, addr), name))
            self.session.queue(HDR.pack(HOST, 0, 2 + len(addr) + len(n), 0)
                               + bytes([family, 0]) + addr + n)

    def stop(self):
        self.stopping.set()
        p = self.proc
        if p is not None:
            try:
                p.kill()
            except OSError:
                pass
        self.session.poller.remove(self.rfd)

    # ------------------------------------------- scanner thread

    def run(self):
        while not self.stopping.is_set():
            for source in (self.scan_hosts_file, self.scan_seeds, self.scan_neighbours,
                           self.scan_avahi):
                if self.stopping.is_set():
                    return
                try:
                    source()
                except Exception as e:  # a source that fails must not end the others
                    log(1, 'hosts: %s: %r' % (source.__name__, e))
                self.wake()
            self.stopping.wait(HOSTS_RESCAN)

    def wake(self):
        if self.found:
            try:
                os.write(self.wfd, b'.')
            except OSError:
                pass    # the pipe is full: the loop will wake up anyway

    def add(self, ip, name):
        """@ip as text (an address literal, else ignored)."""
        for family, fam in ((socket.AF_INET, 4), (socket.AF_INET6, 6)):
            try:
                addr = socket.inet_pton(family, ip)
            except (OSError, ValueError):
                continue
            if not names_no_host(fam, addr):
                self.found.append((fam, addr, name))
            return

    def tool(self, argv):
        """A tool's output (text), or '' when it is missing or fails;
        killed after TOOL_TIMEOUT seconds (what it printed still counts)."""
        path = which(argv[0])
        if path is None or self.stopping.is_set():
            return ''
        # Here, not at the top: only -H needs it, and it costs every session
        # ~10 ms of startup.
        import subprocess
        try:
            p = subprocess.Popen([path] + argv[1:], stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError:
            return ''
        self.proc = p
        try:
            out = p.communicate(timeout=TOOL_TIMEOUT)[0]
        except subprocess.TimeoutExpired:
            p.kill()
            out = p.communicate()[0]
        finally:
            self.proc = None
        return out.decode('utf-8', 'replace')

    def scan_hosts_file(self):
        try:
            with open('/etc/hosts', 'rb') as f:
                text = f.read(4 << 20).decode('utf-8', 'replace')
        except OSError:
            return
        for line in text.splitlines():
            w = line.split('#', 1)[0].split()
            for name in w[1:]:
                self.add(w[0], name)

    def scan_seeds(self):
        for name in self.seeds:
            try:
                infos = socket.getaddrinfo(name, None, 0, socket.SOCK_STREAM)
            except (OSError, UnicodeError):
                continue
            for info in infos:
                self.add(info[4][0], name)

    def neighbours(self):
        """Addresses of the neighbour table that answered (complete entries)."""
        out = []
        try:
            with open('/proc/net/arp') as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            lines = []
        for line in lines:
            w = line.split()
            # Flags 0x0: incomplete, nobody answered.
            if len(w) >= 3 and w[2] not in ('0x0', '0x00'):
                out.append(w[0])
        for line in self.tool(['ip', '-6', 'neigh', 'show']).splitlines():
            w = line.split()
            if len(w) >= 2 and w[-1] not in ('FAILED', 'INCOMPLETE'):
                out.append(w[0])
        return out

    def scan_neighbours(self):
        new4 = []
        for ip in self.neighbours():
            if self.stopping.is_set():
                return
            left = self.rdns.get(ip)
            if left == -1:
                continue                        # found before
            if left:
                self.rdns[ip] = left - 1        # failed before: retry later
                continue
            try:
                name, aliases, _ = socket.gethostbyaddr(ip)
            except (OSError, UnicodeError):
                self.rdns[ip] = RDNS_RETRY      # try again some scans later
            else:
                self.rdns[ip] = -1              # found: never again
                for n in [name] + aliases:
                    self.add(ip, n)
                self.wake()
            if ':' not in ip and ip not in self.nmb_done:
                new4.append(ip)
        for ip in new4[:NMB_PER_SCAN]:
            self.nmb_done.add(ip)
            # Node status: "NAME <00> -  B <ACTIVE>" is the host's own name.
            for line in self.tool(['nmblookup', '-A', ip]).splitlines():
                w = line.split()
                if len(w) >= 2 and w[1] == '<00>' and '<GROUP>' not in w:
                    self.add(ip, w[0].lower())

    def scan_avahi(self):
        # -p: ';'-separated; a resolved service is "=;iface;proto;name;type;
        # domain;host name;address;port;txt".
        for line in self.tool(['avahi-browse', '-atrp']).splitlines():
            w = line.split(';')
            if len(w) >= 8 and w[0] == '=':
                self.add(w[7], w[6])


# ------------------------------------------------------------------ channels

CONNECTING, OPEN_STATE = 0, 1


class Channel:
    __slots__ = ('session', 'id', 'sock', 'fd', 'state', 'rd_ready', 'wr_ready', 'eof_sent',
                 'eof_recv', 'shut_wr', 'close_sent', 'close_recv', 'in_table', 'draining',
                 'dead', 'send_credit', 'recv_credit', 'consumed', 'deadline', 'out', 'dst',
                 'on_event', 'window', 'starved', 'bulk')

    def __init__(self, session, cid, sock, dst):
        self.session = session
        self.id = cid
        self.sock = sock
        self.fd = sock.fileno() if sock is not None else -1
        self.state = CONNECTING
        self.rd_ready = self.wr_ready = False
        self.eof_sent = self.eof_recv = self.shut_wr = False
        self.close_sent = self.close_recv = False
        self.in_table = self.draining = self.dead = False
        self.send_credit = session.peer_window
        self.window = CHANNEL_WINDOW   # grows while the socket keeps up (queue_window)
        self.starved = False           # DATA arrived with the peer's credit nearly spent
        self.bulk = False              # the last read filled its frame (see fill_data)
        self.recv_credit = CHANNEL_WINDOW
        self.consumed = 0
        self.deadline = 0.0
        self.out = bytearray()     # client data waiting for the socket; bounded by our credit
        self.dst = dst
        self.on_event = None


class DnsQuery:
    __slots__ = ('id', 'deadline', 'sock')

    def __init__(self, qid, deadline):
        self.id = qid
        self.deadline = deadline
        self.sock = None


class Assoc:
    """A datagram association: its socket (None once we closed it)."""
    __slots__ = ('id', 'family', 'kind', 'sock', 'close_sent', 'last')

    def __init__(self, aid, family, kind):
        self.id = aid
        self.family = family
        self.kind = kind
        self.sock = None
        self.close_sent = False
        self.last = time.monotonic()


def addr_string(family, addr, port):
    ip = socket.inet_ntop(family, addr)
    return ('[%s]:%d' if family == socket.AF_INET6 else '%s:%d') % (ip, port)


def lc_target(base):
    return LC_TARGET + base / 16


class LatencyControl:
    """service/latency.h in Python, rule for rule: once per round trip, the
    time from queueing a DATA byte to the ACK that covers it (the smallest
    of the last LC_FILTER), against the smallest seen (the base): more than
    the target above it shrinks the limit by 1/8, never under the
    bandwidth-delay product the delivery rates have shown; under half of it,
    when the limit held data back, grows it by at most 1/8. A startup phase
    first raises it to LC_STARTUP_GAIN x that product each round trip until
    the rate stops growing. Within [floor, ceiling]."""

    def __init__(self, ceiling, floor=MIN_INFLIGHT):
        self.ceiling = ceiling
        self.floor = min(floor, ceiling)
        self.limit = max(self.floor, min(LC_START, ceiling))
        self.sent_total = self.acked_total = 0
        self.mark = 0
        self.t0 = 0.0
        self.capped = False
        self.base = self.win_min = None
        self.win_since = None
        self.recent = collections.deque(maxlen=LC_FILTER)
        self.acked_t0 = 0
        self.rates = collections.deque(maxlen=LC_RATES)
        self.startup = True
        self.startup_best = 0.0
        self.startup_flat = 0

    def sent(self, n):
        self.sent_total += n
        now = time.monotonic()
        if self.mark and now - self.t0 > LC_SAMPLE_MAX:
            self.mark = 0       # its ACK may never come: the tail of a transfer
        if not self.mark:
            self.mark, self.t0 = self.sent_total, now
            self.acked_t0 = self.acked_total

    def acked(self, n):
        self.acked_total += n
        if not self.mark or self.acked_total < self.mark:
            return
        now = time.monotonic()
        rtt = now - self.t0
        self.mark = 0
        if self.base is None or rtt < self.base:
            self.base = rtt
        if self.win_since is None:
            self.win_since = now
        if self.win_min is None or rtt < self.win_min:
            self.win_min = rtt
        if now - self.win_since > LC_WINDOW:
            if self.win_min > self.base + 4 * lc_target(self.base):
                self.base = self.win_min    # the path itself got slower
            self.win_min, self.win_since = None, now
        self.recent.append(rtt)
        rtt = max(rtt, 1e-6)
        # As service/latency.c: only bulk samples (held back by the limit,
        # or with half the limit in flight anyway) speak for the path's
        # rate; an echo's is kept only when it is above what was shown.
        delivered = self.acked_total - self.acked_t0
        rate = delivered / rtt
        bulk = self.capped or delivered >= self.limit // 2
        bdp = int(max(self.rates, default=0) * self.base)
        if bulk or rate * self.base > bdp:
            self.rates.append(rate)
            bdp = int(max(self.rates) * self.base)
        queued = min(self.recent) - self.base
        target = lc_target(self.base)
        if self.startup:
            # A sustained queue with a quarter of the limit in flight counts
            # too: a sender held by another window under half of startup's
            # 2.5-fold limit was never bulk and never left startup.
            if bulk or (queued > target and delivered >= self.limit // 4):
                if rate >= self.startup_best * 1.25:
                    self.startup_best, self.startup_flat = rate, 0
                else:
                    self.startup_flat += 1
                    self.startup = self.startup_flat < LC_STARTUP_ROUNDS
            if not self.startup:
                self.limit = bdp
            elif self.capped:
                self.limit = max(self.limit, int(bdp * LC_STARTUP_GAIN))
            self.limit = max(self.floor, min(self.limit, self.ceiling))
        elif queued > target:
            self.limit = max(self.limit - self.limit // 8, self.floor, min(bdp, self.limit))
        elif queued < target / 2 and self.capped:
            step = self.limit // 8
            if bdp and self.base > 0:
                step = min(step, max(int(bdp * target / (2 * self.base)), self.limit // 64))
            self.limit = min(self.limit + max(step, 1), self.ceiling)
        self.capped = False


class Session:
    def __init__(self, in_fd, out_fd):
        self.in_fd = in_fd
        self.out_fd = out_fd
        self.poller = Poller()
        self.ready = False          # the client's HELLO arrived
        self.peer_window = 0
        self.connect_timeout = DEFAULT_CONNECT_TIMEOUT_MS / 1000.0
        self.ack_due = None         # when the remainder under ACK_EVERY gets its ACK
        self.inflight_limit = 0     # from the client's HELLO; 0: none
        self.inflight = 0           # DATA bytes sent, not yet acknowledged
        self.lc = None              # LatencyControl once the ceiling is known
        self.rx_unacked = 0
        self.channels = {}          # id -> Channel (open, or waiting for the client's CLOSE)
        self.ring = collections.OrderedDict()        # channels ready to send: round-robin
        self.ring_hi = collections.OrderedDict()     # the same, last read small: served first
        self.connecting = collections.OrderedDict()  # connect() under way, in deadline order
        self.draining = set()       # both CLOSEs exchanged, still writing out
        self.dirty = set()          # channels whose poll interest may need a change
        self.out = []               # frames (bytes-like) waiting for stdout
        self.out_len = 0
        self.inbuf = bytearray(INBUF_CAP)
        self.inmv = memoryview(self.inbuf)
        self.inlen = 0
        self.in_mask = -1
        self.dns = collections.OrderedDict()    # query id -> DnsQuery, in deadline order
        self.hostwatch = None
        # An "old server" for tests: SHUTTLE_TEST_PROTOCOL_MAX=1.
        self.version_max = min(VERSION, test_knob('SHUTTLE_TEST_PROTOCOL_MAX', VERSION))
        self.version = 0            # agreed in the handshake
        self.assocs = {}            # association number in use -> Assoc
        self.live = collections.OrderedDict()   # Assoc with a socket, least recently used first
        self.dgram_idle = test_knob('SHUTTLE_TEST_DGRAM_IDLE_MS', DGRAM_IDLE * 1000) / 1000.0
        self.dgrams_dropped = 0
        self.dgram_buf = bytearray(65536 + 8)

        for fd in (in_fd, out_fd):
            os.set_blocking(fd, False)
            try:
                # Bigger pipes mean fewer syscalls; the in-flight limit, not the
                # pipe, bounds the queue that latency depends on.
                fcntl.fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE)
            except (OSError, ValueError):
                pass

        name = ('shuttle-agent/py%d.%d' % sys.version_info[:2]).encode()[:MAX_NAME]
        self.queue(HDR.pack(HELLO, 0, HELLO_FIXED + len(name), 0)
                   + HELLO_BODY.pack(MAGIC, 1, self.version_max, CHANNEL_WINDOW, SERVER_MAX_CHANNELS,
                                     0, 0) + name)

    # ------------------------------------------------------------- output

    def queue(self, frame):
        self.out.append(frame)
        self.out_len += len(frame)

    def queue_close(self, ch, reset):
        self.queue(HDR_U8.pack(CLOSE, 0, 1, ch.id, 1 if reset else 0))
        ch.close_sent = True

    def queue_window(self, ch):
        # As session.c's queue_window(): a sender out of credit while the
        # socket keeps up is window-limited, so the window doubles.
        grow = 0
        if ch.starved and not ch.out and ch.window < MAX_WINDOW:
            grow = min(ch.window, MAX_WINDOW - ch.window)
        ch.starved = False
        ch.window += grow
        self.queue(HDR_U32.pack(WINDOW, 0, 4, ch.id, ch.consumed + grow))
        ch.recv_credit += ch.consumed + grow
        ch.consumed = 0

    def queue_open_result(self, cid, err):
        reason = os.strerror(err).encode('utf-8', 'replace')[:MAX_REASON] if err else b''
        self.queue(HDR_RESULT.pack(OPEN_RESULT, 0, 4 + len(reason), cid, open_status(err), 0,
                                   min(err, 0xffff)) + reason)

    def write_out(self):
        """One writev() of queued frames; returns False when the pipe is full."""
        out = self.out
        try:
            n = os.writev(self.out_fd, out if len(out) <= IOV_MAX else out[:IOV_MAX])
        except BlockingIOError:
            return False
        except OSError as e:
            raise SessionEnd('writing to the ssh session: %s' % e.strerror, 1)
        self.out_len -= n
        i = 0
        while n:
            k = len(out[i])
            if n < k:
                out[i] = memoryview(out[i])[n:]
                break
            n -= k
            i += 1
        del out[:i]
        return True

    def flush(self):
        """After each batch of events: fill the output from ready channels and
        write it, until the pipe is full or nothing is left to send."""
        while True:
            if self.ready and self.out_len < FILL_LOW and (self.ring_hi or self.ring):
                self.fill_data()
            if not self.out_len:
                break
            if not self.write_out() or self.out_len:
                break
        self.poller.set(self.out_fd, POLL_OUT if self.out_len else 0, self.on_out)
        dirty = self.dirty
        while dirty:
            self.update_interest(dirty.pop())
        in_mask = POLL_IN if self.out_len < OUT_PAUSE else 0
        if in_mask != self.in_mask:
            self.in_mask = in_mask
            self.poller.set(self.in_fd, in_mask, self.on_in)

    def fill_data(self):
        """Gives each ready channel one turn, the small ones first: read up to
        CHUNK from its socket as one DATA frame. Within the in-flight limit:
        adaptive, under the client's ceiling; small channels may pass it by
        PRIORITY_RESERVE (docs/protocol.md, Latency control)."""
        lc = self.latency()
        limit = lc.limit if lc else (1 << 62)
        limit_hi = min(limit + PRIORITY_RESERVE, max(lc.ceiling, limit)) if lc else limit
        ring, ring_hi = self.ring, self.ring_hi
        out = self.out
        dirty = self.dirty
        pack = HDR.pack
        read = os.read
        while self.out_len < FILL_HIGH and (ring_hi or ring):
            hi = bool(ring_hi)
            cap = limit_hi if hi else limit
            if self.inflight >= cap:
                if not hi:
                    lc.capped = True
                break
            ch = (ring_hi if hi else ring).popitem(last=False)[0]
            # The in-flight limit is a bound the client relies on, not a
            # threshold: the last frame before it is cut short.
            want = min(CHUNK, ch.send_credit, cap - self.inflight)
            try:
                data = read(ch.fd, want)
            except BlockingIOError:
                ch.rd_ready = False
                dirty.add(ch)
                continue
            except OSError as e:
                log(1, 'channel %u: %s' % (ch.id, e.strerror))
                self.channel_abort(ch, True)
                continue
            n = len(data)
            if n:
                out.append(pack(DATA, 0, n, ch.id))
                out.append(data)
                self.out_len += HDR_LEN + n
                ch.send_credit -= n
                self.inflight += n
                if lc:
                    lc.sent(n)
                # Bulk: a big read, or one the limit (not the socket) cut short.
                ch.bulk = n >= BULK_MIN or n == want
                if n < want:
                    # Drained for now: wait for the socket to say readable.
                    ch.rd_ready = False
                    dirty.add(ch)
                elif ch.send_credit:
                    (ring if ch.bulk else ring_hi)[ch] = True
                else:
                    dirty.add(ch)
            else:
                self.queue(HDR.pack(EOF, 0, 0, ch.id))
                ch.eof_sent = True
                ch.rd_ready = False
                dirty.add(ch)
                self.channel_check_done(ch)

    # ----------------------------------------------------------- channels

    def ring_add(self, ch):
        if (ch.rd_ready and ch.send_credit and not ch.eof_sent and not ch.close_sent
                and ch.fd >= 0 and ch.state == OPEN_STATE):
            (self.ring if ch.bulk else self.ring_hi)[ch] = True

    def ring_remove(self, ch):
        self.ring.pop(ch, None)
        self.ring_hi.pop(ch, None)

    def update_interest(self, ch):
        if ch.fd < 0:
            return
        if ch.state == CONNECTING:
            mask = POLL_OUT
        else:
            mask = POLL_OUT if (ch.out and not ch.wr_ready) else 0
            if (not ch.rd_ready and ch.send_credit and not ch.eof_sent and not ch.close_sent
                    and not ch.draining):
                mask |= POLL_IN
        self.poller.set(ch.fd, mask, ch.on_event)

    def channel_close_fd(self, ch, reset):
        if ch.fd < 0:
            return
        self.poller.remove(ch.fd)
        if reset:
            # An abortive close sends RST: the far end sees the error at once.
            try:
                ch.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            except OSError:
                pass
        ch.sock.close()
        ch.sock = None
        ch.fd = -1
        self.ring_remove(ch)
        ch.out = bytearray()

    def channel_free(self, ch):
        if ch.dead:
            return
        self.channel_close_fd(ch, False)
        self.ring_remove(ch)
        self.connecting.pop(ch, None)
        self.draining.discard(ch)
        ch.draining = False
        if ch.in_table:
            del self.channels[ch.id]
            ch.in_table = False
        ch.dead = True

    def channel_closed_both(self, ch):
        """Both sides sent CLOSE: the number is free. Data still queued for the
        socket is written out first (a normal close after EOF)."""
        if ch.fd >= 0 and ch.out:
            if ch.in_table:
                del self.channels[ch.id]
                ch.in_table = False
            self.ring_remove(ch)
            self.draining.add(ch)
            ch.draining = True
            self.dirty.add(ch)
            return
        self.channel_free(ch)

    def channel_abort(self, ch, reset):
        """Our side ends the channel (socket error, reset)."""
        if not ch.close_sent:
            self.queue_close(ch, reset)
        self.channel_close_fd(ch, reset)
        if ch.close_recv:
            self.channel_free(ch)

    def channel_check_done(self, ch):
        """Closes a channel normally once both directions have ended."""
        if ch.close_sent or ch.fd < 0:
            return
        if ch.eof_sent and ch.eof_recv and not ch.out:
            self.queue_close(ch, False)
            self.channel_close_fd(ch, False)
            if ch.close_recv:
                self.channel_free(ch)

    def channel_flush_out(self, ch):
        """Writes queued client data to the socket; returns credit as it goes."""
        out = ch.out
        while out and ch.wr_ready:
            try:
                n = os.write(ch.fd, out)
            except BlockingIOError:
                ch.wr_ready = False
                break
            except OSError as e:
                log(1, 'channel %u: %s' % (ch.id, e.strerror))
                self.channel_abort(ch, True)
                return
            del out[:n]
            ch.consumed += n
        self.dirty.add(ch)
        if (ch.consumed >= ch.window // 4
                or (not out and ch.consumed and ch.recv_credit < ch.window // 2)):
            if not ch.close_sent and not ch.eof_recv:
                self.queue_window(ch)
        if not out:
            if ch.draining:
                self.channel_free(ch)
                return
            if ch.eof_recv and not ch.shut_wr:
                try:
                    ch.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass
                ch.shut_wr = True
            self.channel_check_done(ch)

    def deliver(self, ch, views):
        """Client data for one channel: one writev(), the rest into its queue."""
        i = 0
        nv = len(views)
        if not ch.out and ch.wr_ready and ch.state == OPEN_STATE:
            try:
                n = os.writev(ch.fd, views)
            except BlockingIOError:
                n = 0
                ch.wr_ready = False
            except OSError as e:
                log(1, 'channel %u: %s' % (ch.id, e.strerror))
                self.channel_abort(ch, True)
                return
            ch.consumed += n
            while i < nv and n >= len(views[i]):
                n -= len(views[i])
                i += 1
            if i < nv:
                # A short write: the socket is full for now (level-triggered
                # polling tells us at once if it is not).
                ch.wr_ready = False
                views[i] = views[i][n:]
        out = ch.out
        while i < nv:
            out += views[i]     # bounded by the credit we granted
            i += 1
        if ch.state == OPEN_STATE:
            self.channel_flush_out(ch)

    def make_channel_handler(self, ch):
        def on_event(readable, writable):
            if ch.dead or ch.fd < 0:
                return
            if ch.state == CONNECTING:
                try:
                    err = ch.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                except OSError as e:
                    err = e.errno
                self.channel_connected(ch, err)
                return
            if readable:
                ch.rd_ready = True
                self.ring_add(ch)
            if writable:
                ch.wr_ready = True
                if ch.out:
                    self.channel_flush_out(ch)
            self.dirty.add(ch)
        return on_event

    def channel_connected(self, ch, err):
        self.connecting.pop(ch, None)
        if err:
            log(1, 'channel %u: %s: %s' % (ch.id, ch.dst, os.strerror(err)))
            self.queue_open_result(ch.id, err)
            # A failed OPEN_RESULT counts as our CLOSE; wait for the client's.
            ch.close_sent = True
            self.channel_close_fd(ch, False)
            if ch.close_recv:
                self.channel_free(ch)
            return
        log(2, 'channel %u: connected to %s' % (ch.id, ch.dst))
        ch.state = OPEN_STATE
        ch.wr_ready = ch.rd_ready = True
        self.queue_open_result(ch.id, 0)
        self.channel_flush_out(ch)
        if ch.fd >= 0:
            self.ring_add(ch)
        self.dirty.add(ch)

    def connect(self, cid, family, port, addr):
        dst = addr_string(family, addr, port)
        log(1, 'channel %u: connecting to %s' % (cid, dst))
        try:
            sock = socket.socket(family, socket.SOCK_STREAM)
        except OSError as e:
            self.queue_open_result(cid, e.errno or errno.EIO)
            # Remember the number until the client's CLOSE arrives.
            ch = Channel(self, cid, None, dst)
            ch.close_sent = True
            self.channels[cid] = ch
            ch.in_table = True
            return
        ch = Channel(self, cid, sock, dst)
        ch.on_event = self.make_channel_handler(ch)
        self.channels[cid] = ch
        ch.in_table = True
        sock.setblocking(False)
        # In test mode the server runs beside the client's redirect rules; the
        # mark keeps its connections from being captured again. Without
        # CAP_NET_ADMIN this fails, which is fine: then there are no rules here.
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_MARK, BYPASS_MARK)
        except OSError:
            pass
        try:
            # We relay whatever arrives at once; Nagle would only add delay.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
        ip = socket.inet_ntop(family, addr)
        try:
            err = sock.connect_ex((ip, port) if family == socket.AF_INET else (ip, port, 0, 0))
        except OSError as e:
            err = e.errno or errno.EINVAL
        if err == 0:
            self.channel_connected(ch, 0)
            return
        if err not in (errno.EINPROGRESS, errno.EINTR):
            self.channel_connected(ch, err)
            return
        ch.deadline = time.monotonic() + self.connect_timeout
        self.connecting[ch] = True
        self.dirty.add(ch)

    def check_deadlines(self):
        now = time.monotonic()
        while self.connecting:
            ch = next(iter(self.connecting))
            if ch.deadline > now:
                break
            self.channel_connected(ch, errno.ETIMEDOUT)

    # ----------------------------------------------------------- datagrams

    def dgram_close(self, a, reason, err=0):
        """Our DGRAM_CLOSE for @a; its number stays in use until the client's."""
        self.dgram_drop_socket(a)
        a.close_sent = True
        self.queue(struct.pack('>BBHIBBH', DGRAM_CLOSE, 0, 4, a.id, reason, 0, min(err, 0xffff)))

    def dgram_drop_socket(self, a):
        if a.sock is not None:
            self.poller.remove(a.sock.fileno())
            a.sock.close()
            a.sock = None
            self.live.pop(a, None)

    def dgram_open(self, a):
        """The socket of a new association, or DGRAM_CLOSE saying why not."""
        if len(self.live) >= MAX_ASSOCS:
            self.dgram_close(a, R_LIMIT)
            return
        proto = 0
        if a.kind == K_ECHO:
            proto = socket.IPPROTO_ICMP if a.family == socket.AF_INET else socket.IPPROTO_ICMPV6
        try:
            a.sock = socket.socket(a.family, socket.SOCK_DGRAM, proto)
        except OSError as e:
            err = e.errno or errno.EIO
            log(1, 'association %u: %s socket: %s' % (a.id, 'ICMP' if proto else 'UDP',
                                                      os.strerror(err)))
            no_echo = a.kind == K_ECHO and err in NO_ECHO_ERRNOS
            self.dgram_close(a, R_NO_ECHO if no_echo else R_FAILED, err)
            return
        a.sock.setblocking(False)
        try:
            # As for channels: not captured again by the client's rules.
            a.sock.setsockopt(socket.SOL_SOCKET, SO_MARK, BYPASS_MARK)
        except OSError:
            pass
        self.live[a] = True
        self.poller.set(a.sock.fileno(), POLL_IN, lambda r, w: self.dgram_readable(a))

    def dgram_readable(self, a):
        reply = ICMP_ECHO[a.family][1]
        buf = self.dgram_buf
        for _ in range(DGRAM_READS):
            if a.sock is None:
                return
            try:
                n, src = a.sock.recvfrom_into(buf)
            except BlockingIOError:
                return
            except OSError:
                return      # an ICMP error queued on the socket: nothing to relay
            port = src[1]
            if a.kind == K_ECHO:
                # The ICMP message without the IP header; the kernel matched
                # the identifier. Only echo replies go back.
                if n < 8 or buf[0] != reply:
                    continue
                port = (buf[6] << 8) | buf[7]
                data = bytes(buf[8:n])
            else:
                data = bytes(buf[:n])
            addr = socket.inet_pton(a.family, src[0].split('%')[0])
            self.live.move_to_end(a)
            a.last = time.monotonic()
            self.dgram_send(a, addr, port, data)

    def latency(self):
        """The LatencyControl, made once the client's ceiling is known; None
        when the client asked for no limit."""
        if self.inflight_limit and self.lc is None:
            self.lc = LatencyControl(
                self.inflight_limit, MIN_INFLIGHT_V2 if self.version >= 2 else MIN_INFLIGHT)
        return self.lc

    def dgram_send(self, a, addr, port, data):
        """One DGRAM to the client: loss, not queues."""
        plen = 4 + len(addr) + len(data)
        lc = self.latency()
        # Never under the version-1 floor for datagrams: a burst must not be
        # lost to an adaptive limit tuned for one stream (session.c says why);
        # but while a channel waits for room, neither that floor nor more
        # output than FILL_LOW (a flood would starve the channels).
        # Small ones and echoes may pass it by PRIORITY_RESERVE (session.c),
        # and never yield.
        small = a.kind == K_ECHO or len(data) <= DGRAM_SMALL
        yield_ = not small and bool(self.ring_hi or self.ring)
        limit = (lc.limit if yield_ else max(lc.limit, MIN_INFLIGHT)) if lc else (1 << 62)
        fill = (FILL_LOW if yield_ else FILL_HIGH) + (PRIORITY_RESERVE if small else 0)
        if small and lc:
            limit = min(limit + PRIORITY_RESERVE, max(lc.ceiling, limit))
        if len(data) > MAX_DGRAM_DATA or self.inflight + plen > limit or self.out_len >= fill:
            if lc and self.inflight + plen > limit and not small:
                lc.capped = True
            self.dgrams_dropped += 1
            return
        fam = 4 if a.family == socket.AF_INET else 6
        self.queue(struct.pack('>BBHIBBH', DGRAM, 0, plen, a.id, fam, a.kind, port) + addr + data)
        self.inflight += plen
        if lc:
            lc.sent(plen)

    def dgram_recv(self, aid, fam, kind, port, addr, data, ln):
        if self.version < 2:
            raise ProtocolError(E_MALFORMED, 'DGRAM in a version-%d session' % self.version)
        # Counted for ACK whatever becomes of it: the client counts it in flight.
        self.rx_unacked += ln
        family = socket.AF_INET if fam == 4 else socket.AF_INET6
        a = self.assocs.get(aid)
        if a is None:
            if len(self.assocs) >= MAX_ASSOCS_IN_USE:
                raise ProtocolError(E_LIMIT, 'more than %d associations in use'
                                    % MAX_ASSOCS_IN_USE)
            a = self.assocs[aid] = Assoc(aid, family, kind)
            self.dgram_open(a)
        elif a.close_sent:
            return      # in flight before our DGRAM_CLOSE
        elif a.family != family or a.kind != kind:
            raise ProtocolError(E_MALFORMED, 'DGRAM of another family or kind on association %u'
                                % aid)
        if a.sock is None:
            return
        self.live.move_to_end(a)
        a.last = time.monotonic()
        if kind == K_ECHO:
            data = struct.pack('>BBHHH', ICMP_ECHO[family][0], 0, 0, 0, port) + data
            port = 0
        try:
            a.sock.sendto(data, sockaddr(family, addr, port))
        except OSError as e:
            # Full buffer, no route, too big: lost, as on a network.
            log(2, 'association %u: %s' % (aid, e.strerror or e))

    def dgram_close_recv(self, aid):
        if self.version < 2:
            raise ProtocolError(E_MALFORMED, 'DGRAM_CLOSE in a version-%d session'
                                % self.version)
        a = self.assocs.pop(aid, None)
        if a is None:
            raise ProtocolError(E_CHANNEL, 'DGRAM_CLOSE for association %u, which is not in use'
                                % aid)
        if not a.close_sent:
            self.dgram_close(a, R_DONE)     # the answer; the number is free

    def check_dgram_idle(self):
        now = time.monotonic()
        while self.live:
            a = next(iter(self.live))
            if now - a.last < self.dgram_idle:
                break
            log(2, 'association %u: idle, closed' % a.id)
            self.dgram_close(a, R_DONE)

    # ---------------------------------------------------------------- dns

    def dns_query(self, qid, family, addr, port, msg):
        """Sends @msg from a UDP socket of its own, connected to the resolver:
        the kernel then passes up only datagrams from that address and port,
        and an ICMP error as ECONNREFUSED. Any failure: an empty answer."""
        q = DnsQuery(qid, time.monotonic() + DNS_TIMEOUT)
        self.dns[qid] = q
        log(2, 'DNS query %u to %s' % (qid, addr_string(family, addr, port)))
        try:
            q.sock = socket.socket(family, socket.SOCK_DGRAM)
            q.sock.setblocking(False)
            try:
                # As for channels: not captured again by the client's rules.
                q.sock.setsockopt(socket.SOL_SOCKET, SO_MARK, BYPASS_MARK)
            except OSError:
                pass
            q.sock.connect(sockaddr(family, addr, port))
            q.sock.send(msg)
        except OSError as e:
            log(1, 'DNS query %u to %s: %s' % (qid, addr_string(family, addr, port),
                                              e.strerror or e))
            self.dns_answer(q, b'')
            return

        def on_event(readable, writable):
            if q.sock is None:
                return
            try:
                data = q.sock.recv(65536)
            except BlockingIOError:
                return
            except OSError as e:
                log(1, 'DNS query %u: %s' % (qid, e.strerror or e))
                data = b''
            if len(data) > MAX_DATA:
                log(1, 'DNS query %u: an answer of %d bytes does not fit' % (qid, len(data)))
                data = b''
            self.dns_answer(q, data)
        self.poller.set(q.sock.fileno(), POLL_IN, on_event)

    def dns_answer(self, q, data):
        """The one DNS_REPLY for @q (@data empty: no answer)."""
        if self.dns.pop(q.id, None) is not q:
            return
        if q.sock is not None:
            self.poller.remove(q.sock.fileno())
            q.sock.close()
            q.sock = None
        self.queue(HDR.pack(DNS_REPLY, 0, len(data), q.id) + data)

    def check_dns_deadlines(self):
        now = time.monotonic()
        while self.dns:
            q = next(iter(self.dns.values()))
            if q.deadline > now:
                break
            log(1, 'DNS query %u: no answer within %gs' % (q.id, DNS_TIMEOUT))
            self.dns_answer(q, b'')

    # --------------------------------------------------------------- input

    def on_out(self, readable, writable):
        pass    # flush() after the batch writes

    def on_in(self, readable, writable):
        inlen = self.inlen
        try:
            n = os.readv(self.in_fd, [self.inmv[inlen:]])
        except BlockingIOError:
            return
        except OSError as e:
            raise SessionEnd('reading from the ssh session: %s' % e.strerror, 1)
        if n == 0:
            if not self.ready:
                raise SessionEnd('the connection closed before the handshake', 1)
            raise SessionEnd()
        end = inlen + n
        pos = self.parse(end)
        rest = end - pos
        if rest:
            self.inbuf[:rest] = self.inbuf[pos:end]
        self.inlen = rest
        if self.rx_unacked >= ACK_EVERY:
            self.send_ack()
        elif self.rx_unacked and self.ack_due is None:
            self.ack_due = time.monotonic() + ACK_DELAY

    def send_ack(self):
        self.queue(HDR_U32.pack(ACK, 0, 4, 0, self.rx_unacked))
        self.rx_unacked = 0
        self.ack_due = None

    def parse(self, end):
        """Handles the whole frames in inbuf[:end]; returns where the rest starts."""
        buf = self.inbuf
        mv = self.inmv
        unpack = HDR.unpack_from
        channels = self.channels
        ready = self.ready
        pos = 0
        batch_ch = None
        batch = []
        while end - pos >= HDR_LEN:
            t, flags, ln, cid = unpack(buf, pos)
            if t == DATA and ready and not flags and cid and 0 < ln <= MAX_DATA:
                if end - pos - HDR_LEN < ln:
                    break
                ch = channels.get(cid)
                if ch is None:
                    raise ProtocolError(E_CHANNEL, 'DATA for unknown channel %u' % cid)
                self.rx_unacked += ln
                if not ch.close_sent:     # else: in flight before our CLOSE, dropped
                    if ch.eof_recv:
                        raise ProtocolError(E_MALFORMED, 'DATA after EOF on channel %u' % cid)
                    if ln > ch.recv_credit:
                        raise ProtocolError(E_FLOW, 'channel %u: %u bytes sent with %u credit'
                                            % (cid, ln, ch.recv_credit))
                    ch.recv_credit -= ln
                    if ch.recv_credit < ch.window // 8:
                        ch.starved = True
                    if ch is not batch_ch or len(batch) >= BATCH_MAX:
                        if batch_ch is not None:
                            self.deliver(batch_ch, batch)
                            batch = []
                        batch_ch = ch
                    batch.append(mv[pos + HDR_LEN:pos + HDR_LEN + ln])
                pos += HDR_LEN + ln
                continue
            # Check the header before waiting for the payload, so that a bad
            # length is reported at once instead of after the peer sent it.
            rule = FRAME_RULES[t]
            if (flags or rule is None or ln < rule[0] or ln > rule[1]
                    or rule[2] != (cid == 0)):
                raise ProtocolError(E_MALFORMED, 'malformed frame from the peer (type 0x%02x)'
                                    % t)
            if end - pos - HDR_LEN < ln:
                break
            # Other frames may act on a channel: deliver its data first.
            if batch_ch is not None:
                self.deliver(batch_ch, batch)
                batch_ch = None
                batch = []
            self.handle_frame(t, cid, pos + HDR_LEN, ln)
            ready = self.ready
            pos += HDR_LEN + ln
        if batch_ch is not None:
            self.deliver(batch_ch, batch)
        return pos

    def lookup(self, t, cid):
        ch = self.channels.get(cid)
        if ch is None:
            raise ProtocolError(E_CHANNEL, '%s for unknown channel %u' % (TYPE_NAMES[t], cid))
        return ch

    def decode_hello(self, p, ln):
        magic, vmin, vmax, window, maxch, timeout, inflight = HELLO_BODY.unpack_from(self.inbuf, p)
        if (magic != MAGIC or vmin == 0 or vmin > vmax
                or not MIN_WINDOW <= window <= MAX_WINDOW
                or not 1 <= maxch <= MAX_CHANNELS
                or timeout > MAX_CONNECT_TIMEOUT_MS
                or (inflight != 0 and inflight < MIN_INFLIGHT)):
            raise ProtocolError(E_MALFORMED, 'malformed frame from the peer (type 0x%02x)'
                                % HELLO)
        name = printable(self.inbuf[p + HELLO_FIXED:p + ln], MAX_NAME)
        return vmin, vmax, window, timeout, inflight, name

    def handle_frame(self, t, cid, p, ln):
        buf = self.inbuf
        bad = 'malformed frame from the peer (type 0x%02x)' % t
        # Payload checks first, as mux.c decodes the whole frame before acting.
        if t == HELLO:
            hello = self.decode_hello(p, ln)
        elif t == OPEN:
            fam = buf[p]
            if buf[p + 1] != 0 or ln != 4 + ADDR_LEN.get(fam, -1):
                raise ProtocolError(E_MALFORMED, bad)
            port = (buf[p + 2] << 8) | buf[p + 3]
            if port == 0:
                raise ProtocolError(E_MALFORMED, bad)
        elif t == DNS_QUERY:
            fam = buf[p]
            alen = ADDR_LEN.get(fam, -1)
            port = (buf[p + 2] << 8) | buf[p + 3]
            if (buf[p + 1] != 0 or alen < 0 or port == 0
                    or not DNS_MIN <= ln - 4 - alen <= DNS_MAX_QUERY):
                raise ProtocolError(E_MALFORMED, bad)
        elif t == ROUTES:
            # Only the server sends it (below), but its entries are judged
            # first, as mux.c decodes a frame whole before acting on it.
            off = 0
            while off < ln:
                alen = ADDR_LEN.get(buf[p + off], 0)
                if not alen or off + 2 + alen > ln or buf[p + off + 1] > alen * 8:
                    raise ProtocolError(E_MALFORMED, bad)
                off += 2 + alen
        elif t == HOST:
            alen = ADDR_LEN.get(buf[p], 0)
            if not alen or buf[p + 1] != 0 or not 2 + alen < ln <= 2 + alen + MAX_HOSTNAME:
                raise ProtocolError(E_MALFORMED, bad)
        elif t == OPEN_RESULT:
            if buf[p] > ST_NO_RESOURCES or buf[p + 1] != 0:
                raise ProtocolError(E_MALFORMED, bad)
        elif t == WINDOW:
            inc = struct.unpack_from('>I', buf, p)[0]
            if inc == 0 or inc > MAX_WINDOW:
                raise ProtocolError(E_MALFORMED, bad)
        elif t == CLOSE:
            if buf[p] > 1:
                raise ProtocolError(E_MALFORMED, bad)
        elif t == DGRAM:
            fam, kind = buf[p], buf[p + 1]
            alen = {4: 4, 6: 16}.get(fam, 0)
            if (not alen or kind not in (K_UDP, K_ECHO) or ln < 4 + alen
                    or ln - 4 - alen > MAX_DGRAM_DATA):
                raise ProtocolError(E_MALFORMED, bad)
        elif t == DGRAM_CLOSE:
            if buf[p] > R_FAILED or buf[p + 1] != 0:
                raise ProtocolError(E_MALFORMED, bad)

        if not self.ready:
            if t != HELLO:
                raise ProtocolError(E_MALFORMED, 'expected HELLO, got %s' % TYPE_NAMES[t])
            vmin, vmax, window, timeout, inflight, name = hello
            if max(vmin, 1) > min(vmax, self.version_max):
                raise ProtocolError(E_VERSION, 'protocol version mismatch: we speak 1 to %d, '
                                    'the peer (%s) speaks %u to %u'
                                    % (self.version_max, name, vmin, vmax))
            self.version = min(vmax, self.version_max)
            # The client decides the latency policy for both directions.
            self.connect_timeout = (timeout or DEFAULT_CONNECT_TIMEOUT_MS) / 1000.0
            self.inflight_limit = inflight
            self.peer_window = window
            self.ready = True
            log(1, 'client %s connected (protocol %d)' % (name, self.version))
            return

        if t == HELLO:
            raise ProtocolError(E_MALFORMED, 'HELLO sent twice')
        if t == OPEN:
            if cid in self.channels:
                raise ProtocolError(E_CHANNEL, 'OPEN for channel %u, which is in use' % cid)
            if len(self.channels) >= SERVER_MAX_CHANNELS:
                raise ProtocolError(E_LIMIT, 'more than %u channels open' % SERVER_MAX_CHANNELS)
            if fam == 0:
                # The server's resolver (TCP DNS of the client's --dns).
                family, addr = server_resolver()
            else:
                family = socket.AF_INET if fam == 4 else socket.AF_INET6
                addr = bytes(buf[p + 4:p + ln])
            self.connect(cid, family, port, addr)
        elif t == OPEN_RESULT:
            raise ProtocolError(E_MALFORMED, 'unexpected OPEN_RESULT')
        elif t in (DNS_REPLY, ROUTES, HOST):
            raise ProtocolError(E_MALFORMED, '%s sent the wrong way' % TYPE_NAMES[t])
        elif t == DNS_QUERY:
            if cid in self.dns:
                raise ProtocolError(E_LIMIT, 'DNS query %u: already waiting' % cid)
            if len(self.dns) >= DNS_MAX_PENDING:
                raise ProtocolError(E_LIMIT, 'DNS query %u: more than %d waiting'
                                    % (cid, DNS_MAX_PENDING))
            if fam == 0:
                family, addr = server_resolver()
            else:
                family = socket.AF_INET if fam == 4 else socket.AF_INET6
                addr = bytes(buf[p + 4:p + 4 + alen])
            self.dns_query(cid, family, addr, port, bytes(buf[p + 4 + alen:p + ln]))
        elif t == ROUTES_GET:
            routes = read_routes()
            log(1, 'routes: sending %d bytes of entries' % len(routes))
            self.queue(HDR.pack(ROUTES, 0, len(routes), 0) + routes)
        elif t == HOSTS_WATCH:
            if self.hostwatch is not None:
                raise ProtocolError(E_MALFORMED, 'HOSTS_WATCH sent twice')
            text = bytes(buf[p:p + ln]).decode('utf-8', 'replace')
            seeds = [n.strip() for n in text.split(',') if n.strip()]
            log(1, 'hosts: watching, %d seed names' % len(seeds))
            self.hostwatch = HostWatch(self, seeds)
        elif t == WINDOW:
            ch = self.lookup(t, cid)
            if ch.close_sent:
                return
            if ch.send_credit + inc > MAX_WINDOW:
                raise ProtocolError(E_FLOW, 'channel %u: credit above the limit' % cid)
            ch.send_credit += inc
            self.ring_add(ch)
            self.dirty.add(ch)
        elif t == EOF:
            ch = self.lookup(t, cid)
            if ch.close_sent:
                return
            if ch.eof_recv:
                raise ProtocolError(E_MALFORMED, 'EOF twice on channel %u' % cid)
            ch.eof_recv = True
            if ch.state == OPEN_STATE:
                self.channel_flush_out(ch)
        elif t == CLOSE:
            ch = self.lookup(t, cid)
            if ch.close_recv:
                raise ProtocolError(E_MALFORMED, 'CLOSE twice on channel %u' % cid)
            ch.close_recv = True
            if ch.close_sent:
                self.channel_closed_both(ch)
                return
            reset = buf[p] == 1
            self.queue_close(ch, reset)
            if reset or ch.state != OPEN_STATE:
                self.channel_close_fd(ch, True)
                self.channel_free(ch)
            else:
                self.channel_closed_both(ch)
        elif t == DGRAM:
            self.dgram_recv(cid, fam, kind, (buf[p + 2] << 8) | buf[p + 3],
                            bytes(buf[p + 4:p + 4 + alen]), bytes(buf[p + 4 + alen:p + ln]), ln)
        elif t == DGRAM_CLOSE:
            self.dgram_close_recv(cid)
        elif t == PING:
            self.queue(HDR.pack(PONG, 0, 8, 0) + bytes(buf[p:p + 8]))
        elif t == PONG:
            pass    # we send no PING: nothing to match
        elif t == ACK:
            n = struct.unpack_from('>I', buf, p)[0]
            if n > self.inflight:
                raise ProtocolError(E_FLOW, 'ACK for %u bytes, only %u in flight'
                                    % (n, self.inflight))
            self.inflight -= n
            if self.lc:
                self.lc.acked(n)
        elif t == ERROR:
            raise SessionEnd('the peer reported: %s' % printable(buf[p + 2:p + ln]), 1)

    # ---------------------------------------------------------------- life

    def run(self):
        poller = self.poller
        self.flush()
        while True:
            # Both are in deadline order: the first of each is the nearest.
            deadlines = []
            if self.connecting:
                deadlines.append(next(iter(self.connecting)).deadline)
            if self.dns:
                deadlines.append(next(iter(self.dns.values())).deadline)
            if self.live:
                # Idle associations close within a quarter of the timeout.
                deadlines.append(next(iter(self.live)).last + self.dgram_idle
                                 + min(self.dgram_idle / 4, 1.0))
            if self.ack_due is not None:
                deadlines.append(self.ack_due)
            timeout = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            for cb, readable, writable in poller.poll(timeout):
                cb(readable, writable)
            if self.connecting:
                self.check_deadlines()
            if self.dns:
                self.check_dns_deadlines()
            if self.live:
                self.check_dgram_idle()
            if self.ack_due is not None and time.monotonic() >= self.ack_due:
                if self.rx_unacked:
                    self.send_ack()
                self.ack_due = None
            self.flush()

    def send_error(self, code, msg):
        """Best effort: the ERROR frame after what is queued, for at most a second."""
        m = msg.encode('utf-8', 'replace')[:MAX_ERROR_MSG]
        self.queue(HDR.pack(ERROR, 0, 2 + len(m), 0) + struct.pack('>H', code) + m)
        deadline = time.monotonic() + 1.0
        try:
            while self.out_len:
                if not self.write_out():
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    select.select([], [self.out_fd], [], left)
        except (SessionEnd, OSError, ValueError):
            pass

    def close_all(self):
        if self.hostwatch is not None:
            self.hostwatch.stop()
        for q in list(self.dns.values()):
            if q.sock is not None:
                q.sock.close()
        for a in list(self.live):
            a.sock.close()
        for ch in list(self.channels.values()):
            self.channel_close_fd(ch, True)
        for ch in list(self.draining):
            self.channel_close_fd(ch, False)


# ---------------------------------------------------------------------- main

def set_process_name():
    """'shuttle-agent' in ps and /proc/PID/comm instead of 'python3' (Linux)."""
    try:
        with open('/proc/self/comm', 'w') as f:
            f.write('shuttle-agent')
    except OSError:
        pass


def main(argv):
    global VERBOSITY
    for a in argv:
        if a == '--verbose' or (a.startswith('-v') and a.strip('v') == '-'):
            VERBOSITY += 1 if a == '--verbose' else len(a) - 1
        else:
            log(0, 'unknown argument %r (usage: shuttle-agent.py [-v...])' % a)
            return 2
    # A SIGINT (Ctrl-C on a local test) ends us like any other signal would,
    # without a KeyboardInterrupt traceback.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    set_process_name()

    # fds 0 and 1 carry the mux: nothing else may ever be written to stdout,
    # so the mux gets private copies and 0/1 become /dev/null.
    in_fd, out_fd = os.dup(0), os.dup(1)
    try:
        null = os.open(os.devnull, os.O_RDWR)
        os.dup2(null, 0)
        os.dup2(null, 1)
        os.close(null)
    except OSError:
        pass

    try:
        # Associations and channels are sockets: use what the hard limit allows.
        import resource
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        if soft < hard:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    except (ImportError, ValueError, OSError):
        pass
    session = Session(in_fd, out_fd)
    try:
        session.run()
    except ProtocolError as e:
        log(0, e.msg)
        session.send_error(e.code, e.msg)
        session.close_all()
        return 1
    except SessionEnd as e:
        if e.msg:
            log(0, e.msg)
        session.close_all()
        return e.status
    except Exception:
        # A bug of ours: tell the client, then let the traceback show where.
        session.send_error(E_INTERNAL, 'internal error in the Python agent')
        raise
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
