#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""End-to-end tests of shuttle: real sshd, real nftables, real servers.

Run by meson as `/usr/bin/python3 tests/e2e/test_e2e.py` with SHUTTLE_BIN set
to the built binary.  Builds one lab (netlab.py: client, gw with sshd, LAN
with servers, in network namespaces) for the whole run, starts shuttle in the
client namespace as a user would, and checks what a user would see.

Output is TAP, one line per case.  Exit 77 (skip) when not root or a tool is
missing, 1 if any case failed.

Environment:
  SHUTTLE_BIN          the shuttle binary (required)
  SHUTTLE_E2E_ONLY     comma-separated substrings: run only matching cases
  SHUTTLE_E2E_VERBOSE  pass -v to shuttle and print its stderr for every case
  SHUTTLE_E2E_SERVER   which server the gateway runs: "c" (shuttle --server,
                       the default) or "agent" (the uploaded Python agent)
"""
import errno
import glob
import hashlib
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib'))
import harness  # noqa: E402
import netlab  # noqa: E402
from harness import Fail, check, diag, skip_all  # noqa: E402

BIN = os.environ.get('SHUTTLE_BIN', '')
VERBOSE = bool(os.environ.get('SHUTTLE_E2E_VERBOSE'))
# One prefix per run, so that two runs at once (say, meson and a developer)
# do not tear down each other's lab; stale labs of dead runs are swept first.
PREFIX = 'e2e%d' % (os.getpid() % 100000)
LAB = None
SERVER = os.environ.get('SHUTTLE_E2E_SERVER', 'c')
SRCDIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def server_args():
    """The options that choose the gateway's server for this run."""
    if SERVER == 'agent':
        # The real upload: the stage-1 loader reads the agent from the pipe.
        return ['--python', netlab.PY]
    return ['--server-cmd', BIN + ' --server']
BIG_URL4 = BIG_URL6 = None   # the lab's big random file, set once it is up
# What the shared tunnel captures: the LAN plus the two "broken" prefixes.
SUBNETS = [netlab.LAN_NET4, netlab.LAN_NET6, netlab.SILENT_NET4, netlab.UNREACH_NET4]


# ------------------------------------------------------------ the engine
class Shuttle:
    """One shuttle process in a lab namespace, its stderr collected."""

    def __init__(self, args, ns=None, remote=True, auto=False, **spawn_kw):
        """auto: no -e or server options, @args carry what is needed."""
        self.ns = ns or LAB.ns_client
        argv = [BIN]
        if remote and auto:
            argv += ['-r', remote]
        elif remote:
            argv += ['-r', LAB.remote if remote is True else remote, '-e', LAB.ssh_cmd]
            argv += server_args()
        if VERBOSE:
            argv.append('-v')
        self.argv = argv + list(args)
        self.lines = []
        self.stamps = []   # time.monotonic() each line was read: for --reconnect's backoff
        self.cond = threading.Condition()
        STARTED.append(self)
        self.p = LAB.spawn(self.ns, self.argv, label='shuttle', stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, **spawn_kw)
        self.table = 'inet shuttle-%d' % self.p.pid
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.p.stderr:
            with self.cond:
                self.lines.append(raw.decode(errors='replace').rstrip('\n'))
                self.stamps.append(time.monotonic())
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def stderr(self, since=0):
        with self.cond:
            return '\n'.join(self.lines[since:])

    def has_table(self):
        return self.table in LAB.nft_tables(self.ns)

    def wait_ready(self, timeout=15.0):
        """Until stderr says "connected" and our nft table exists."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while not any(re.search(r'\bconnected\b', ln) for ln in self.lines):
                if self.p.poll() is not None:
                    self.reader.join(2)
                    raise Fail('shuttle exited with %s before it was ready; stderr:\n%s'
                               % (self.p.returncode, '\n'.join(self.lines)))
                left = deadline - time.monotonic()
                check(left > 0, 'no "connected" on stderr within %gs; stderr:\n%s'
                      % (timeout, '\n'.join(self.lines)))
                self.cond.wait(min(left, 0.2))
        while not self.has_table():
            check(time.monotonic() < deadline,
                  'said connected but table %s absent in %s' % (self.table, self.ns))
            time.sleep(0.1)
        return self

    def wait_line(self, pattern, timeout, since=0):
        """The index of the first line from @since on that matches @pattern
        (a regex), waiting up to @timeout s; None if none came."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(since, len(self.lines)):
                    if re.search(pattern, self.lines[i]):
                        return i
                left = deadline - time.monotonic()
                if left <= 0 or (self.p.poll() is not None and not self.reader.is_alive()):
                    return None
                self.cond.wait(min(left, 0.2))

    def ssh_procs(self):
        return [p for p in netlab.descendants(self.p.pid) if netlab.comm(p) == 'ssh']

    def wait_exit(self, timeout):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGINT, timeout=10.0):
        """Signal shuttle, return its exit status (None: did not exit)."""
        if self.p.poll() is None:
            self.p.send_signal(sig)
        rc = self.wait_exit(timeout)
        self.reader.join(2)
        return rc

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.reader.join(2)
        # The watchdog removes the table of a killed engine; should it have
        # been killed too, remove it here so the next case starts clean.
        LAB.run(self.ns, ['nft', 'delete', 'table'] + self.table.split(), timeout=10)


STARTED = []      # every Shuttle of the current case, for diagnostics
_current = None   # the tunnel shared between cases (when args are equal)


def tunnel(args=None):
    """A ready shuttle with args (default: the shared subnets), reusing the
    running one when it has the same args and still runs."""
    global _current
    args = list(SUBNETS if args is None else args)
    if _current and _current.p.poll() is None and _current.args == args:
        return _current
    stop_tunnel()
    s = Shuttle(args)
    s.args = args
    _current = s
    return s.wait_ready()


def stop_tunnel():
    global _current
    s, _current = _current, None
    if s is None:
        return
    rc = s.stop(signal.SIGTERM)
    if rc is None:
        diag('shared tunnel did not exit on SIGTERM; killed')
        s.kill()


def shuttle_tables(ns=None):
    return [t for t in LAB.nft_tables(ns or LAB.ns_client) if t.startswith('inet shuttle-')]


# ------------------------------------------------------------ client side
def curl(url, ns=None, max_time=120, head=False):
    """(rc, body bytes, stderr, seconds) of a curl in the client namespace."""
    t0 = time.monotonic()
    r = LAB.run(ns or LAB.ns_client,
                ['curl', '-sS', '-g', '--connect-timeout', '3', '--max-time', str(max_time), url],
                timeout=max_time + 30, text=False)
    return r.returncode, r.stdout, r.stderr.decode(errors='replace').strip(), \
        time.monotonic() - t0


def check_big_download(url, ns=None):
    rc, body, err, secs = curl(url, ns)
    check(rc == 0, 'curl %s failed (rc %d): %s' % (url, rc, err))
    check(len(body) == LAB.big_mib << 20, 'got %d bytes, want %d' % (len(body), LAB.big_mib << 20))
    check(hashlib.sha256(body).hexdigest() == LAB.big_sha256, 'sha256 mismatch')
    diag('%s: %d MiB in %.2fs (%.0f Mbit/s)' % (url, LAB.big_mib, secs,
                                                 LAB.big_mib * 8.388608 / secs))


def check_no_path(urls, why):
    for url in urls:
        rc, body, err, secs = curl(url, max_time=4)
        check(rc != 0, '%s: curl %s succeeded: %r' % (why, url, body[:80]))
        check(secs < 8, '%s: curl %s took %.1fs to fail' % (why, url, secs))


def recv_all(s):
    chunks = []
    while True:
        b = s.recv(1 << 16)
        if not b:
            return b''.join(chunks)
        chunks.append(b)


def who(host, ns=None):
    """(peer the LAN server saw, our local address) for one connection."""
    s = LAB.connect(ns or LAB.ns_client, host, netlab.SHA_PORT)
    try:
        s.sendall(b'WHO\n')
        ip, port = recv_all(s).decode().split()
        return (ip, int(port)), s.getsockname()[:2]
    finally:
        s.close()


def sha_up(host, n, timeout=120):
    data = os.urandom(n)
    s = LAB.connect(LAB.ns_client, host, netlab.SHA_PORT, timeout=timeout)
    try:
        s.sendall(b'UP %d\n' % n)
        s.sendall(data)
        got = recv_all(s).decode().strip()
    finally:
        s.close()
    want = hashlib.sha256(data).hexdigest()
    if got != want:
        raise Fail('UP %d to %s: server saw %r, sent %s' % (n, host, got, want))


def sha_down(host, n, seed, timeout=120):
    s = LAB.connect(LAB.ns_client, host, netlab.SHA_PORT, timeout=timeout)
    h, total = hashlib.sha256(), 0
    try:
        s.sendall(b'DOWN %d %d\n' % (n, seed))
        while True:
            b = s.recv(1 << 16)
            if not b:
                break
            h.update(b)
            total += len(b)
    finally:
        s.close()
    if total != n or h.hexdigest() != netlab.pattern_sha256(n, seed):
        raise Fail('DOWN %d seed %d from %s: got %d bytes, %s' % (
            n, seed, host, total, 'checksum wrong' if total == n else 'short'))


def failing_connect(host, port, limit):
    """Connect through the tunnel to something that cannot answer; returns
    (outcome, seconds).  A transparent proxy has already accepted locally,
    so the error may come as ECONNREFUSED on connect or as a reset on recv."""
    t0 = time.monotonic()
    s = None
    try:
        s = LAB.connect(LAB.ns_client, host, port, timeout=limit)
        s.settimeout(max(0.1, limit - (time.monotonic() - t0)))
        b = s.recv(100)
        outcome = 'clean EOF' if b == b'' else 'data %r' % b[:20]
    except socket.timeout:
        outcome = 'hang'
    except OSError as e:
        outcome = errno.errorcode.get(e.errno, str(e))
    finally:
        if s:
            s.close()
    return outcome, time.monotonic() - t0


# ------------------------------------------------------------- the cases
CASES, case = harness.registry()


@case('no tunnel: the client cannot reach the LAN (IPv4, IPv6)')
def t_no_tunnel():
    check(not shuttle_tables(), 'shuttle tables present before start: %s' % shuttle_tables())
    check_no_path([BIG_URL4, BIG_URL6], 'without tunnel')


@case('IPv4: 32 MiB download through the tunnel, sha256 matches')
def t_download4():
    tunnel()
    check_big_download(BIG_URL4)


@case('IPv6: 32 MiB download through the tunnel, sha256 matches')
def t_download6():
    tunnel()
    check_big_download(BIG_URL6)


@case('the LAN sees tunnelled connections coming from the gw')
def t_who():
    tunnel()
    for host, gw in ((netlab.LAN4, netlab.GW_LAN4), (netlab.LAN6, netlab.GW_LAN6)):
        peer, _ = who(host)
        check(peer[0] == gw, 'LAN %s saw peer %s, want the gw %s' % (host, peer[0], gw))


@case('echo: 300 small round trips each on IPv4 and IPv6, in order')
def t_echo():
    tunnel()
    for host in (netlab.LAN4, netlab.LAN6):
        s = LAB.connect(LAB.ns_client, host, netlab.ECHO_PORT)
        t0 = time.monotonic()
        try:
            for i in range(300):
                msg = b'ping %d\n' % i
                s.sendall(msg)
                got = b''
                while len(got) < len(msg):
                    b = s.recv(len(msg) - len(got))
                    check(b, 'echo %s: EOF after %d round trips' % (host, i))
                    got += b
                check(got == msg, 'echo %s: sent %r got %r' % (host, msg, got))
        finally:
            s.close()
        diag('echo %s: %.2f ms per round trip' % (host, (time.monotonic() - t0) / 300 * 1e3))


@case('64 uploads + 64 downloads of 2 MiB in parallel, every checksum right')
def t_parallel():
    tunnel()
    run_parallel(64, 2 << 20)


@case('--lanes 4: the session runs over 4 ssh channels (the agent offers none); '
      '32 MiB down and 32 parallel transfers intact')
def t_lanes():
    s = tunnel(['--lanes', '4', '-v'] + SUBNETS)
    deadline = time.monotonic() + 10
    # Said when the server's BOND came: both ends use the lanes then.
    want = 'the session runs over 4 ssh channels'
    while time.monotonic() < deadline and want not in s.stderr():
        time.sleep(0.1)
    if SERVER == 'agent':
        check(want not in s.stderr(), 'the agent offered lanes:\n%s' % s.stderr())
    else:
        check(want in s.stderr(), 'no lanes after 10 s:\n%s' % s.stderr()[-2000:])
    check_big_download(BIG_URL4)
    run_parallel(16, 2 << 20)
    check(s.p.poll() is None, 'the engine ended:\n%s' % s.stderr()[-2000:])


@case('without --lanes the server opens no listener for lanes')
def t_no_lane_listener():
    stop_tunnel()
    s = tunnel()
    # A version-3 server listened for 15 s after the handshake; look at once.
    got = [ln for ln in LAB.run(LAB.ns_gw, ['ss', '-Hltnp']).stdout.splitlines()
           if '"shuttle"' in ln or '"python3"' in ln]
    check(not got, 'the server listens:\n%s\n%s' % ('\n'.join(got), s.stderr()[-1000:]))


def run_parallel(n, size):
    errors, lock = [], threading.Lock()

    def job(fn, *a):
        try:
            fn(*a)
        except Exception as e:   # collected, reported below
            with lock:
                errors.append('%s%r: %s' % (fn.__name__, a, e))
    jobs = []
    for i in range(n):
        host = netlab.LAN4 if i % 2 == 0 else netlab.LAN6
        jobs.append(threading.Thread(target=job, args=(sha_up, host, size), daemon=True))
        jobs.append(threading.Thread(target=job, args=(sha_down, host, size, i), daemon=True))
    t0 = time.monotonic()
    for j in jobs:
        j.start()
    for j in jobs:
        j.join(300)
    secs = time.monotonic() - t0
    check(not any(j.is_alive() for j in jobs), 'transfers still running after 300s')
    check(not errors, '%d of %d transfers failed:\n%s' % (len(errors), 2 * n,
                                                          '\n'.join(errors[:8])))
    diag('%d transfers, %d MiB in %.2fs' % (2 * n, 2 * n * size >> 20, secs))


def check_half_close():
    for host in (netlab.LAN4, netlab.LAN6):
        data = os.urandom(300000)
        s = LAB.connect(LAB.ns_client, host, netlab.SHA_PORT, timeout=15)
        try:
            s.sendall(b'HALF\n' + data)
            s.shutdown(socket.SHUT_WR)
            got = recv_all(s).decode(errors='replace').strip()
        except socket.timeout:
            raise Fail('%s: no reply within 15s after SHUT_WR (EOF not forwarded?)' % host)
        finally:
            s.close()
        want = 'got %d bytes %s' % (len(data), hashlib.sha256(data).hexdigest())
        check(got == want, '%s: reply %r, want %r' % (host, got, want))


@case('half-close: reply arrives after the client shut down its sending side')
def t_half_close():
    tunnel()
    check_half_close()


@case('closed port on the LAN: the client gets an error in < 2s')
def t_closed_port():
    tunnel()
    for host in (netlab.LAN4, netlab.LAN6):
        outcome, secs = failing_connect(host, netlab.CLOSED_PORT, 5)
        diag('%s port %d: %s after %.2fs' % (host, netlab.CLOSED_PORT, outcome, secs))
        check(outcome.startswith('E'), '%s: want an error, got %s' % (host, outcome))
        check(secs < 2, '%s: error took %.2fs' % (host, secs))


@case('unreachable route on the gw (10.231.4.5): error in < 2s')
def t_unreachable():
    tunnel()
    outcome, secs = failing_connect(netlab.UNREACH4, 80, 5)
    diag('%s: %s after %.2fs' % (netlab.UNREACH4, outcome, secs))
    check(outcome.startswith('E'), 'want an error, got %s' % outcome)
    check(secs < 2, 'error took %.2fs' % secs)


@case('silent host (10.231.3.5): with connect fidelity the gw\'s EHOSTUNREACH (its ARP gives up '
      'after ~3 s) at connect() within 2-8 s (--connect-timeout 5); without, --connect-timeout 2 '
      'resets it within 1.5-6 s')
def t_silent():
    # Nothing answers the gw's ARP for it: the gw's connect fails with
    # EHOSTUNREACH after about 3 s, unless --connect-timeout ends it first.
    # Without connect fidelity the engine resets the accepted connection
    # then. With it the SYN waits for the gw's answer, so a timeout longer
    # than ARP's lets the program see EHOSTUNREACH at connect(). (A shorter
    # one makes the host look silent: the timeout drops the SYN and the
    # program's own retransmissions ask again, each starting a new ARP
    # round on the gw that the timeout may cut short again — the program's
    # connect timeout decides, as directly. Not asserted: the gw's
    # neighbour timing, not Shuttle, decides which retry sees the error,
    # and under ASan none did within 10 s.)
    for extra, lo, hi in ((['--connect-timeout', '5'], 2, 8),
                          (['--connect-timeout', '2', '--no-connect-fidelity'], 1.5, 6)):
        tunnel(extra + SUBNETS)
        outcome, secs = failing_connect(netlab.SILENT4, 80, 10)
        diag('%s %s: %s after %.2fs' % (netlab.SILENT4, extra, outcome, secs))
        check(outcome.startswith('E'), '%s: want an error, got %s' % (extra, outcome))
        check(lo <= secs <= hi, '%s: error after %.2fs, want %g-%gs' % (extra, secs, lo, hi))


def connect_errno(host, port, timeout=5.0, blocking=True):
    """(errno name or 'connected', seconds) of one connect() in the client
    namespace (netlab.Lab.connect_errno)."""
    return LAB.connect_errno(LAB.ns_client, host, port, timeout, blocking)


@case('fidelity: a closed port fails at connect() with ECONNREFUSED (blocking, non-blocking, v4, v6)')
def t_fidelity_refused():
    tunnel()
    for host in (netlab.LAN4, netlab.LAN6):
        for blocking in (True, False):
            got, secs = connect_errno(host, netlab.CLOSED_PORT, blocking=blocking)
            diag('%s port %d %s: %s after %.2fs' % (
                host, netlab.CLOSED_PORT, 'blocking' if blocking else 'non-blocking', got, secs))
            check(got == 'ECONNREFUSED', '%s: want ECONNREFUSED at connect, got %s' % (host, got))
    # An open port still connects, and carries data both ways.
    got, secs = connect_errno(netlab.LAN4, netlab.ECHO_PORT, blocking=False)
    check(got == 'connected', 'echo port: %s' % got)
    c = LAB.connect(LAB.ns_client, netlab.LAN4, netlab.ECHO_PORT)
    try:
        c.sendall(b'fidelity')
        check(recv_all_n(c, 8) == b'fidelity', 'echo through an early-opened channel')
    finally:
        c.close()


def recv_all_n(s, n):
    b = b''
    while len(b) < n:
        chunk = s.recv(n - len(b))
        if not chunk:
            break
        b += chunk
    return b


@case('fidelity: an unreachable address fails at connect() with EHOSTUNREACH; a silent one does not connect')
def t_fidelity_unreachable():
    tunnel()
    for blocking in (True, False):
        got, secs = connect_errno(netlab.UNREACH4, 80, blocking=blocking)
        diag('%s %s: %s after %.2fs' % (netlab.UNREACH4, 'blocking' if blocking else 'non-blocking',
                                       got, secs))
        check(got in ('EHOSTUNREACH', 'ENETUNREACH'), 'want an unreachable errno, got %s' % got)
        check(secs < 3, 'took %.2fs' % secs)
    # Nobody answers there: the connect goes on (the program's own SYN
    # retries) until the gw's ARP for it fails, then EHOSTUNREACH (at once
    # while the gw's neighbour entry stays failed, after an earlier case),
    # as it would directly; never connected at once.
    got, secs = connect_errno(netlab.SILENT4, 80, timeout=2.5)
    diag('%s: %s after %.2fs' % (netlab.SILENT4, got, secs))
    check(got in ('hang', 'EHOSTUNREACH'), 'a connect to the silent host: %s, want it still '
          'waiting or unreachable' % got)


@case('fidelity: curl falls back to a name\'s second address when the first is closed; nc -z says closed')
def t_fidelity_fallback():
    tunnel()
    # GW_LAN4 is tunnelled (the LAN prefix) and nothing listens there on
    # the HTTP port: the server's connect is refused.
    r = LAB.run(LAB.ns_client, ['curl', '-sS', '-o', '/dev/null', '-w', '%{remote_ip}',
                                '--max-time', '20', '--resolve',
                                'two.lab.test:%d:%s,%s' % (netlab.HTTP_PORT, netlab.GW_LAN4,
                                                           netlab.LAN4),
                                'http://two.lab.test:%d/' % netlab.HTTP_PORT], timeout=30)
    diag('curl over two addresses: rc %d, remote %s %s' % (r.returncode, r.stdout.strip(),
                                                           r.stderr.strip()))
    check(r.returncode == 0 and r.stdout.strip() == netlab.LAN4,
          'curl did not fall back to %s: rc %d %s' % (netlab.LAN4, r.returncode, r.stderr.strip()))
    r = LAB.run(LAB.ns_client, ['nc', '-v', '-z', '-w', '5', netlab.LAN4,
                                str(netlab.CLOSED_PORT)], timeout=15)
    check(r.returncode != 0 and 'refused' in r.stderr,
          'nc -z on the closed port %d: rc %d %s' % (netlab.CLOSED_PORT, r.returncode, r.stderr))
    r = LAB.run(LAB.ns_client, ['nc', '-v', '-z', '-w', '5', netlab.LAN4, str(netlab.ECHO_PORT)],
                timeout=15)
    check(r.returncode == 0, 'nc -z says the open port %d is closed: rc %d %s'
          % (netlab.ECHO_PORT, r.returncode, r.stderr))


def queues_bound(ns):
    """Bound netfilter queues in ns (/proc/net/netfilter/nfnetlink_queue)."""
    r = LAB.run(ns, ['cat', '/proc/net/netfilter/nfnetlink_queue'], timeout=10)
    return [ln for ln in r.stdout.splitlines() if ln.strip()]


def engine_killed_watchdog_stopped(s):
    """SIGKILL the engine with its watchdog stopped, so that its table stays
    while the case looks at what the queue rule does with no reader; the
    watchdog, continued, then removes it. Returns the watchdog's pid."""
    dogs = [p for p in netlab.descendants(s.p.pid) if netlab.comm(p) == 'shuttle-cleanup']
    check(dogs, 'no watchdog under the engine')
    for p in dogs:
        os.kill(p, signal.SIGSTOP)
    s.p.kill()
    s.p.wait()
    s.reader.join(2)
    return dogs


@case('fidelity: SIGKILL with SYNs waiting: queue gone at once, SYNs pass (bypass), table gone < 2 s')
def t_fidelity_sigkill():
    stop_tunnel()
    s = Shuttle(SUBNETS)
    s.wait_ready()
    check(queues_bound(LAB.ns_client), 'no netfilter queue bound while running')
    # SYNs that wait for the silent host: the server's connect never ends.
    waiting = []
    for _ in range(8):
        c = LAB.socket(LAB.ns_client)
        c.setblocking(False)
        c.connect_ex((netlab.SILENT4, 80))
        waiting.append(c)
    time.sleep(0.3)
    dogs = engine_killed_watchdog_stopped(s)
    t0 = time.monotonic()
    try:
        check(wait_until(lambda: not queues_bound(LAB.ns_client), 1.0, step=0.05),
              'queue still bound 1 s after SIGKILL: %s' % queues_bound(LAB.ns_client))
        check(s.table in shuttle_tables(), 'table gone with the watchdog stopped?')
        # No reader: the queue rule lets the SYN on into the redirect, whose
        # listener is gone: refused at once, not held.
        got, secs = connect_errno(netlab.LAN4, netlab.ECHO_PORT, timeout=3)
        diag('with the rules of a dead engine: %s after %.2fs' % (got, secs))
        check(got == 'ECONNREFUSED', 'a new connection with the engine dead: %s' % got)
    finally:
        for p in dogs:
            os.kill(p, signal.SIGCONT)
        for c in waiting:
            c.close()
    gone = wait_until(lambda: s.table not in shuttle_tables(), 2.0, step=0.05)
    diag('after SIGKILL: table %s, queues %s, %.2f s' % (
        'gone' if gone else 'THERE', queues_bound(LAB.ns_client), time.monotonic() - t0))
    check(gone, 'table still there 2 s after the watchdog went on')


@case('fidelity: --fail-closed: with the engine dead its SYN queue holds new connections')
def t_fidelity_fail_closed():
    stop_tunnel()
    s = Shuttle(SUBNETS + ['--reconnect', '--fail-closed', '-v'])
    s.wait_ready()
    got, secs = connect_errno(netlab.LAN4, netlab.CLOSED_PORT)
    if got != 'ECONNREFUSED':
        # Seen once under ASan: the rules and the engine's log say which
        # step let the SYN through (no queue rule, no queue, no session).
        r = LAB.run(LAB.ns_client, ['nft', 'list', 'table', s.table], timeout=10)
        check(False, 'closed port with --fail-closed: %s after %.2fs\nqueues bound: %s\n%s\n%s'
              % (got, secs, queues_bound(LAB.ns_client), r.stdout, s.stderr()))
    dogs = engine_killed_watchdog_stopped(s)
    try:
        got, secs = connect_errno(netlab.LAN4, netlab.ECHO_PORT, timeout=2)
        diag('with the rules of a dead engine, --fail-closed: %s after %.2fs' % (got, secs))
        check(got == 'hang', 'a new connection with the engine dead: %s, want none' % got)
    finally:
        for p in dogs:
            os.kill(p, signal.SIGCONT)
    check(wait_until(lambda: s.table not in shuttle_tables(), 2.0, step=0.05),
          'table still there 2 s after the watchdog went on')


@case('fidelity off: --no-connect-fidelity and --transport=ssh bind no queue, connect() succeeds at once')
def t_fidelity_off():
    stop_tunnel()
    for s in (Shuttle(SUBNETS + ['--no-connect-fidelity']),
              _fwd_shuttle(netlab.FWD_USER, [netlab.LAN_NET4])):
        try:
            s.wait_ready()
            check(not queues_bound(LAB.ns_client), '%s: a queue is bound' % s.argv)
            got, secs = connect_errno(netlab.LAN4, netlab.CLOSED_PORT)
            check(got == 'connected', '%s: closed port: %s, want today\'s behaviour' % (s.argv, got))
        finally:
            check(s.stop() == 0, 'exit status not 0')


@case('-x: an excluded host is not tunnelled, its neighbour is')
def t_exclude():
    tunnel(SUBNETS + ['-x', netlab.LAN4_B, '-x', netlab.LAN6_B])
    rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT))
    check(rc == 0 and b'Hello from the remote LAN' in body,
          'included host %s: rc %d %s' % (netlab.LAN4, rc, err))
    rc, body, err, _ = curl('http://[%s]:%d/' % (netlab.LAN6, netlab.HTTP_PORT))
    check(rc == 0 and b'Hello from the remote LAN' in body,
          'included host %s: rc %d %s' % (netlab.LAN6, rc, err))
    check_no_path(['http://%s:%d/' % (netlab.LAN4_B, netlab.HTTP_PORT),
                   'http://[%s]:%d/' % (netlab.LAN6_B, netlab.HTTP_PORT)], 'excluded host')


@case('the ssh server inside a tunnelled subnet (10.231.0.0/16) is not captured')
def t_server_in_subnet():
    s = tunnel(['10.231.0.0/16', netlab.LAN_NET6])
    rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT))
    check(rc == 0 and b'Hello' in body, 'curl through the tunnel: rc %d %s' % (rc, err))
    time.sleep(1)
    check(s.p.poll() is None, 'shuttle exited (%s): %s' % (s.p.returncode, s.stderr()))


def jump_logins():
    """How many logins the jump host's sshd has accepted so far."""
    with open(os.path.join(LAB.logs, 'sshd-jump.log'), errors='replace') as f:
        return f.read().count('Accepted publickey')


def table_has_addr(table, addr):
    return re.search(r'(?<![0-9a-f:.])%s(?![0-9a-f:.])' % re.escape(addr), table) is not None


@case('ProxyJump through a second gateway: the jump (10.231.6.1) is excluded, not the gw '
      'behind it; traffic flows and ssh reconnects through the jump')
def t_proxyjump_first_hop():
    stop_tunnel()
    LAB.add_jump()
    # The gw behind the jump is out of the client's reach: only a working
    # ProxyJump gets there.
    got, _ = connect_errno(netlab.GW_BEHIND4, 22)
    check(got == 'ENETUNREACH', 'the client reaches the gw behind the jump itself: %s' % got)
    logins = jump_logins()
    # The jump's address and the gw's inside the tunnelled subnets: only the
    # jump's may be excluded, or the (re)connect's ssh would be captured.
    s = Shuttle(['10.231.0.0/16', 'fd31::/16', '--reconnect'], remote='root@viajump')
    try:
        s.wait_ready()
        table = LAB.run(LAB.ns_client, ['nft', 'list', 'table', s.table], timeout=10).stdout
        check(table_has_addr(table, netlab.JUMP4),
              'the jump host %s is not excluded:\n%s' % (netlab.JUMP4, table))
        for addr in (netlab.GW_BEHIND4, netlab.GW4, netlab.GW6):
            check(not table_has_addr(table, addr),
                  '%s is excluded, but ssh does not connect there:\n%s' % (addr, table))
        check(jump_logins() > logins, 'the jump\'s sshd saw no login')
        rc, err, _ = curl_until(5)
        check(rc == 0, 'curl through the tunnel: rc %d %s' % (rc, err))
        mark, logins = len(s.lines), jump_logins()
        procs = s.ssh_procs()
        check(len(procs) >= 2, 'want ssh and its ProxyJump ssh, found %s' % procs)
        for p in procs:
            os.kill(p, signal.SIGKILL)
        back = s.wait_line(r'\breconnected to\b', 15, mark)
        check(back is not None, 'not reconnected through the jump within 15 s:\n'
              + s.stderr(mark))
        check(jump_logins() > logins, 'the reconnect did not go through the jump')
        rc, err, _ = curl_until(5)
        check(rc == 0, 'curl after the reconnect: rc %d %s' % (rc, err))
    finally:
        rc = s.stop()
    check(rc == 0, 'exit status %s' % rc)


@case('remote given as an IPv6 address: -r root@[fd31:1::1]')
def t_remote6():
    stop_tunnel()
    s = Shuttle(SUBNETS, remote='root@[%s]' % netlab.GW6)
    try:
        s.wait_ready()
        rc, body, err, _ = curl('http://[%s]:%d/' % (netlab.LAN6, netlab.HTTP_PORT))
        check(rc == 0 and b'Hello' in body, 'curl: rc %d %s' % (rc, err))
    finally:
        rc = s.stop()
    check(rc == 0, 'exit status %s' % rc)


@case('stale table of a dead shuttle (inet shuttle-999999) is swept at start')
def t_sweep():
    stop_tunnel()
    check(not os.path.exists('/proc/999999'), 'pid 999999 runs on this machine')
    LAB.run(LAB.ns_client, ['nft', 'add', 'table', 'inet', 'shuttle-999999'], check=True)
    check('inet shuttle-999999' in shuttle_tables(), 'could not create the stale table')
    s = Shuttle(SUBNETS)
    try:
        s.wait_ready()
        left = shuttle_tables()
        check('inet shuttle-999999' not in left, 'stale table still there: %s' % left)
    finally:
        LAB.run(LAB.ns_client, ['nft', 'delete', 'table', 'inet', 'shuttle-999999'])
        rc = s.stop()
    check(rc == 0, 'exit status %s' % rc)


@case('SIGKILL: the watchdog removes the table within 2 s, connections reset; restart clean')
def t_sigkill_then_restart():
    stop_tunnel()
    s = Shuttle(SUBNETS)
    s.wait_ready()
    c = open_echo()
    s.p.kill()
    t0 = time.monotonic()
    s.p.wait()
    s.reader.join(2)
    # Its watchdog (shuttle-cleanup) removes the rules of a killed engine.
    gone = wait_until(lambda: s.table not in shuttle_tables(), 2.0, step=0.05)
    diag('table %s after SIGKILL: %s after %.2f s' % (
        s.table, 'gone' if gone else 'STILL THERE', time.monotonic() - t0))
    check(gone, 'the killed engine\'s table is still there after 2 s')
    # The kernel closes a killed process's sockets (FIN, or RST with unread
    # data), and the rules are still there when it does.
    outcome = end_seen(c)
    check(outcome in ('reset', 'EOF'), 'a connection open through the tunnel: %s' % outcome)
    check_no_path([BIG_URL4], 'after SIGKILL')
    s2 = Shuttle(SUBNETS)
    try:
        s2.wait_ready()
        left = shuttle_tables()
        check(s.table not in left, 'dead instance\'s table still there: %s' % left)
        check_big_download(BIG_URL4)
    finally:
        rc = s2.stop()
    check(rc == 0, 'exit status %s' % rc)


def _signal_case(sig):
    stop_tunnel()
    s = Shuttle(SUBNETS)
    s.wait_ready()
    check(s.has_table(), 'table %s absent while running' % s.table)
    rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT))
    check(rc == 0, 'curl while running: rc %d %s' % (rc, err))
    c = open_echo()
    t0 = time.monotonic()
    rc = s.stop(sig)
    if rc is None:
        s.kill()
        raise Fail('did not exit within 10s of %s' % sig.name)
    check(rc == 0, 'exit status %s after %s; stderr:\n%s' % (rc, sig.name, s.stderr()))
    outcome = end_seen(c)
    check(outcome == 'reset', 'a connection open through the tunnel: %s, want reset' % outcome)
    diag('exited %.2fs after %s' % (time.monotonic() - t0, sig.name))
    left = shuttle_tables()
    check(not left, 'tables left after %s: %s' % (sig.name, left))
    check_no_path([BIG_URL4, BIG_URL6], 'after %s' % sig.name)
    check(servers_gone(), 'shuttle --server still runs on the gw: %s' % server_procs())


@case('SIGTERM: rules present while running, exit 0, rules gone, no path')
def t_sigterm():
    _signal_case(signal.SIGTERM)


@case('SIGINT: rules present while running, exit 0, rules gone, no path')
def t_sigint():
    _signal_case(signal.SIGINT)


def sshd_children():
    (listener,) = LAB.pids('sshd')
    return set(netlab.descendants(listener))


def is_agent(pid):
    """The Python agent: the stage-1 loader's argv names shuttle-agent.py (so
    does a --server-cmd that runs the file), and the agent itself sets its
    comm to shuttle-agent."""
    return (netlab.comm(pid) == 'shuttle-agent'
            or 'shuttle-agent' in (netlab._cmdline(pid) or ''))


def server_procs():
    """Server processes in the gw namespace: shuttle --server, or python
    running the uploaded agent."""
    out = []
    for pid in netlab.ns_pids(LAB.ns_gw):
        cl = netlab._cmdline(pid) or ''
        if ('--server' in cl or is_agent(pid)) and netlab._alive(pid):
            out.append(pid)
    return out


def servers_gone(timeout=5.0):
    """Wait until no shuttle --server runs in the gw (its session ended)."""
    deadline = time.monotonic() + timeout
    while server_procs():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def open_echo():
    """A connection through the tunnel, shown to work."""
    c = LAB.connect(LAB.ns_client, netlab.LAN4, netlab.ECHO_PORT)
    c.sendall(b'x')
    check(c.recv(1) == b'x', 'no echo through the tunnel')
    return c


def end_seen(c, timeout=5):
    """What an application whose connection was open sees once the tunnel
    has ended: 'reset' or 'EOF' are right; 'hang' is the bug where the
    rules went before the connections did and the end never reached it."""
    c.settimeout(timeout)
    try:
        return 'EOF' if c.recv(1) == b'' else 'data'
    except ConnectionResetError:
        return 'reset'
    except socket.timeout:
        return 'hang'
    finally:
        c.close()


def _ssh_dies(kill):
    stop_tunnel()
    before = sshd_children()
    s = Shuttle(SUBNETS)
    s.wait_ready()
    mark = len(s.lines)
    c = open_echo()
    victims = kill(s, before)
    check(victims, 'found nothing to kill')
    diag('killed %s' % ', '.join('%d (%s)' % (p, c) for p, c in victims))
    rc = s.wait_exit(5)
    if rc is None:
        s.kill()
        raise Fail('shuttle still running 5s after its ssh session died')
    s.reader.join(2)
    err = s.stderr(mark)
    diag('exit status %d; stderr after the kill: %s' % (rc, err.strip()[-300:]))
    check(rc == 1, 'exit status %d, want 1' % rc)
    check('ssh' in err.lower(), 'stderr does not mention ssh')
    outcome = end_seen(c)
    check(outcome == 'reset', 'a connection open through the tunnel: %s, want reset' % outcome)
    left = shuttle_tables()
    check(not left, 'tables left: %s' % left)
    check(servers_gone(), 'shuttle --server still runs on the gw: %s' % server_procs())


@case('ssh session killed on the gw (sshd SIGKILL): exit 1 < 5s, says ssh, no rules')
def t_sshd_killed():
    def kill(s, before):
        new = [p for p in sshd_children() - before if netlab.comm(p) == 'sshd']
        for p in new:
            os.kill(p, signal.SIGKILL)
        return [(p, 'sshd') for p in new]
    _ssh_dies(kill)


@case('ssh client killed (SIGKILL): exit 1 < 5s, says ssh, no rules')
def t_ssh_killed():
    def kill(s, before):
        v = [p for p in netlab.descendants(s.p.pid) if netlab.comm(p) == 'ssh']
        for p in v:
            os.kill(p, signal.SIGKILL)
        return [(p, 'ssh') for p in v]
    _ssh_dies(kill)


@case('a server that stops answering (SIGSTOP) is noticed by the keepalive: exit 1, no rules')
def t_keepalive():
    stop_tunnel()
    s = Shuttle(SUBNETS)
    s.wait_ready()
    mark = len(s.lines)
    frozen = server_procs()
    check(frozen, 'no shuttle --server found on the gw')
    t0 = time.monotonic()
    for p in frozen:
        os.kill(p, signal.SIGSTOP)
    try:
        # PING every 3 s, silence checked every second, dead after 11 s of
        # it: 8 to 12 s after the stop, depending on when the last PONG came.
        rc = s.wait_exit(30)
        took = time.monotonic() - t0
    finally:
        for p in frozen:
            try:
                os.kill(p, signal.SIGCONT)
            except ProcessLookupError:
                pass
    if rc is None:
        s.kill()
        raise Fail('shuttle still running 30 s after its server froze')
    s.reader.join(2)
    err = s.stderr(mark)
    diag('exit status %d after %.1f s: %s' % (rc, took, err.strip()[-200:]))
    check(rc == 1, 'exit status %d, want 1' % rc)
    check(7.5 <= took <= 14.5, 'noticed after %.1f s, want 8-12 s (at most 15)' % took)
    check('stopped answering' in err, 'stderr does not say the server stopped answering')
    check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())


# The lab's addresses per link end: `ip link set down` takes a link's IPv6
# addresses away for good (no keep_addr_on_down), so bringing it up again
# must put them back for the cases that follow.
LINK_ADDRS = {
    'c0': (netlab.CLIENT4 + '/24', netlab.CLIENT6 + '/64'),
    'g0': (netlab.GW4 + '/24', netlab.GW6 + '/64'),
}


def link_set(ns, dev, up):
    LAB.run(ns, ['ip', 'link', 'set', dev, 'up' if up else 'down'], check=True)
    if up:
        for a in LINK_ADDRS[dev]:
            LAB.run(ns, ['ip', 'addr', 'replace', a, 'dev', dev] + (['nodad'] if ':' in a else []),
                    check=True)


def wait_gw_back():
    """After a link came back: until sshd answers the client again."""
    for host in (netlab.GW4, netlab.GW6):
        check(LAB.wait_port(LAB.ns_client, host, 22, timeout=20),
              'the gw (%s) is unreachable after the link came back' % host)


def _path_cut(ns, dev):
    stop_tunnel()
    s = Shuttle(SUBNETS)
    s.wait_ready()
    mark = len(s.lines)
    # A connection open as the path goes: it must end (reset), not hang.
    c = open_echo()
    t0 = time.monotonic()
    link_set(ns, dev, False)
    try:
        rc = s.wait_exit(30)
        took = time.monotonic() - t0
        if rc is None:
            s.kill()
            raise Fail('shuttle still running 30 s after the path was cut')
        outcome = end_seen(c)
    finally:
        link_set(ns, dev, True)
    s.reader.join(2)
    err = s.stderr(mark)
    diag('exit status %d after %.1f s; the open connection: %s; %s' % (
        rc, took, outcome, err.strip()[-160:]))
    check(rc == 1, 'exit status %d, want 1' % rc)
    check(7.5 <= took <= 14.5, 'noticed after %.1f s, want 8-12 s (at most 15)' % took)
    check('stopped answering' in err, 'stderr does not say the server stopped answering')
    check(outcome == 'reset', 'the open connection: %s, want reset' % outcome)
    check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())
    wait_gw_back()   # the lab is whole again for the cases after this one


@case('the network path cut (the gw\'s link down): noticed within 15 s, exit 1, no rules')
def t_path_cut():
    _path_cut(LAB.ns_gw, 'g0')


@case('the client\'s own link to the gw down: noticed within 15 s, exit 1, no rules')
def t_client_link_cut():
    _path_cut(LAB.ns_client, 'c0')


# ------------------------------------------------------------- --reconnect
def sshd_listeners():
    return LAB.pids('sshd')


def sshd_stop():
    """Stops the gw's sshd listener (its sessions run on)."""
    for p in sshd_listeners():
        netlab.kill_pid(p, signal.SIGTERM)
    check(not sshd_listeners(), 'sshd still runs')


def sshd_start():
    """Starts the gw's sshd again, as netlab did, unless it runs."""
    if sshd_listeners():
        return
    LAB.spawn(LAB.ns_gw, ['/usr/sbin/sshd', '-D', '-f', LAB.sshd_config,
                          '-E', os.path.join(LAB.logs, 'sshd.log')], label='sshd')
    check(LAB.wait_port(LAB.ns_client, netlab.GW4, 22), 'sshd did not come back')


def kill_sessions(s, sshd_before):
    """Ends shuttle's ssh session from the gw side (its sshd processes)."""
    new = [p for p in sshd_before if netlab.comm(p) == 'sshd' and netlab._alive(p)]
    for p in new:
        os.kill(p, signal.SIGKILL)
    return new


def session_sshd(before):
    return {p for p in sshd_children() - before if netlab.comm(p) == 'sshd'}


def curl_until(timeout, url=None):
    """curl through the tunnel until it works; (rc, err, seconds)."""
    url = url or 'http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT)
    t0 = time.monotonic()
    while True:
        rc, body, err, _ = curl(url, max_time=5)
        if rc == 0 and b'Hello' in body:
            return 0, '', time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return rc, err, time.monotonic() - t0
        time.sleep(0.2)


def stop_clean(s):
    rc = s.stop(signal.SIGTERM)
    if rc is None:
        s.kill()
        raise Fail('--reconnect engine did not exit on SIGTERM')
    check(rc == 0, 'exit status %s after SIGTERM, want 0' % rc)
    check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())


@case('--reconnect, ssh killed: open connection reset, reconnected, new connections work')
def t_reconnect_ssh_killed():
    stop_tunnel()
    s = Shuttle(SUBNETS + ['--reconnect'])
    try:
        s.wait_ready()
        mark = len(s.lines)
        c = open_echo()
        victims = s.ssh_procs()
        check(victims, 'no ssh under shuttle')
        t0 = time.monotonic()
        for p in victims:
            os.kill(p, signal.SIGKILL)
        outcome = end_seen(c)
        check(outcome == 'reset', 'a connection open through the tunnel: %s, want reset'
              % outcome)
        lost = s.wait_line(r'connection lost: .*reconnecting in 1 s', 5, mark)
        check(lost is not None, 'no "connection lost ... reconnecting in 1 s":\n' + s.stderr(mark))
        back = s.wait_line(r'\breconnected to\b', 15, mark)
        check(back is not None, 'not reconnected within 15 s:\n' + s.stderr(mark))
        took = s.stamps[back] - t0
        check(s.p.poll() is None, 'shuttle exited: %s' % s.stderr(mark))
        rc, err, secs = curl_until(5)
        check(rc == 0, 'curl after the reconnect: rc %d %s' % (rc, err))
        check(shuttle_tables() == [s.table], 'tables after the reconnect: %s (want %s)'
              % (shuttle_tables(), s.table))
        diag('reconnected %.1f s after the kill; curl worked %.1f s later' % (took, secs))
        check(wait_until(lambda: len(server_procs()) == 1, 5),
              'servers on the gw: %s (want the new one only)' % server_procs())
        stop_clean(s)
    finally:
        if s.p.poll() is None:
            s.kill()


class SessionBus:
    """A private session bus for the engine's Engine1 object (the applet's
    view); the engine must be started while it is set in the environment."""

    def __enter__(self):
        if shutil.which('dbus-daemon') is None or shutil.which('gdbus') is None:
            raise Fail('dbus-daemon/gdbus not installed (tests/deps.sh test)')
        self.dir = tempfile.mkdtemp(prefix='shuttle-bus-')
        self.addr = 'unix:path=%s/bus' % self.dir
        self.p = subprocess.Popen(['dbus-daemon', '--session', '--nofork', '--nopidfile',
                                   '--address=' + self.addr], stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)
        check(wait_until(lambda: os.path.exists(self.dir + '/bus'), 10), 'no session bus')
        return self

    def shuttle(self, args):
        os.environ['DBUS_SESSION_BUS_ADDRESS'] = self.addr
        try:
            return Shuttle(args)
        finally:
            del os.environ['DBUS_SESSION_BUS_ADDRESS']

    def state(self, s):
        return self.get(s, 'State')

    def get(self, s, prop):
        return _engine_get(self.addr, 'io.github.shuttlevpn.Engine.p%d' % s.p.pid, prop)

    def __exit__(self, *exc):
        self.p.terminate()
        self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@case('--reconnect -N -H: after ssh is killed the server\'s routes are tunnelled again')
def t_reconnect_auto_nets():
    stop_tunnel()
    before = client_hosts()
    s = Shuttle(['-N', '-H', '--reconnect'])
    try:
        s.wait_ready()
        check(_wait_hosts([netlab.NAME_GWHOSTS])[netlab.NAME_GWHOSTS], 'no -H names at first')
        mark = len(s.lines)
        for p in s.ssh_procs():
            os.kill(p, signal.SIGKILL)
        back = s.wait_line(r'\breconnected to\b', 15, mark)
        check(back is not None, 'not reconnected within 15 s:\n' + s.stderr(mark))
        rules = LAB.run(LAB.ns_client, ['nft', 'list', 'table'] + s.table.split()).stdout
        for net in (netlab.LAN_NET4, netlab.LAN_NET6):
            check(net in rules, '%s not redirected after the reconnect:\n%s' % (net, rules))
        rc, err, _ = curl_until(5)
        check(rc == 0, 'curl after the reconnect: rc %d %s' % (rc, err))
        # the names stayed through the outage, once each
        text = client_hosts()
        check(text.count(' %s' % netlab.NAME_GWHOSTS) == 1, '-H block after the reconnect:\n'
              + text)
        stop_clean(s)
    finally:
        if s.p.poll() is None:
            s.kill()
    check(client_hosts() == before, '/etc/hosts not restored:\n' + client_hosts())


@case('--reconnect, sshd stopped: attempts 1, 2, 4 s apart, State "reconnecting", then back')
def t_reconnect_backoff():
    stop_tunnel()
    before = sshd_children()
    with SessionBus() as bus:
        _reconnect_backoff(bus, before)


def _reconnect_backoff(bus, before):
    s = bus.shuttle(SUBNETS + ['--reconnect'])
    try:
        s.wait_ready()
        check(wait_until(lambda: "'connected'" in bus.state(s), 10), 'State: %s' % bus.state(s))
        mark = len(s.lines)
        session = session_sshd(before)
        check(session, 'no sshd session for shuttle on the gw')
        sshd_stop()
        for p in session:
            os.kill(p, signal.SIGKILL)
        lost = s.wait_line(r'connection lost: ', 5, mark)
        check(lost is not None, 'no "connection lost":\n' + s.stderr(mark))
        times = [s.stamps[lost]]
        for n in (1, 2, 3):
            i = s.wait_line(r'reconnecting to .*\(attempt %d\)' % n, 2 ** n + 8, mark)
            check(i is not None, 'no attempt %d:\n%s' % (n, s.stderr(mark)))
            times.append(s.stamps[i])
        gaps = [b - a for a, b in zip(times, times[1:])]
        diag('gaps between the attempts: %s' % ', '.join('%.2f s' % g for g in gaps))
        for g, want in zip(gaps, (1, 2, 4)):
            check(0.9 * want <= g <= want + 3, 'gaps %s, want about 1, 2, 4 s'
                  % ', '.join('%.2f' % g for g in gaps))
        check(s.wait_line(r'attempt 3 failed: .*next attempt in 8 s', 10, mark) is not None,
              'no "next attempt in 8 s":\n' + s.stderr(mark))
        check(s.p.poll() is None, 'shuttle gave up: %s' % s.stderr(mark))
        state = bus.state(s)
        check("'reconnecting'" in state, 'State during the outage: %s' % state)
        # what the applet counts down from: the next attempt, 8 s after the
        # third failed (CLOCK_MONOTONIC is the machine's, netns or not)
        at = bus.get(s, 'ReconnectAt')
        m = re.search(r'int64 (-?\d+)', at)
        check(m is not None, 'ReconnectAt: %s' % at)
        left = int(m.group(1)) / 1e6 - time.monotonic()
        diag('ReconnectAt: the next attempt in %.1f s' % left)
        check(0 < left <= 8.5, 'ReconnectAt %s is %.1f s away, want within the 8 s pause'
              % (at, left))
        why = bus.get(s, 'ReconnectReason')
        check('ssh exited with status 255' in why and 'could not start the server' in why,
              'ReconnectReason: %s' % why)
        sshd_start()
        back = s.wait_line(r'\breconnected to\b', 20, mark)
        check(back is not None, 'not reconnected within 20 s of sshd\'s return:\n'
              + s.stderr(mark))
        check(wait_until(lambda: "'connected'" in bus.state(s), 10),
              'State after the reconnect: %s' % bus.state(s))
        check(bus.get(s, 'ReconnectAt').strip() == '(<int64 0>,)'
              and bus.get(s, 'ReconnectReason').strip() == "(<''>,)",
              'connected, still ReconnectAt %s, ReconnectReason %s'
              % (bus.get(s, 'ReconnectAt'), bus.get(s, 'ReconnectReason')))
        rc, err, _ = curl_until(5)
        check(rc == 0, 'curl after the reconnect: rc %d %s' % (rc, err))
        stop_clean(s)
    finally:
        sshd_start()
        if s.p.poll() is None:
            s.kill()


@case('--reconnect with the client\'s link down: waits for the network, no ssh, back after')
def t_reconnect_no_network():
    stop_tunnel()
    s = Shuttle(SUBNETS + ['--reconnect'])
    try:
        s.wait_ready()
        mark = len(s.lines)
        t0 = time.monotonic()
        link_set(LAB.ns_client, 'c0', False)
        try:
            lost = s.wait_line(r'connection lost: ', 25, mark)
            check(lost is not None, 'the lost link not noticed in 25 s:\n' + s.stderr(mark))
            diag('noticed %.1f s after the link went down' % (s.stamps[lost] - t0))
            check(s.stamps[lost] - t0 <= 15, 'noticed after %.1f s, want at most 15 s'
                  % (s.stamps[lost] - t0))
            w = s.wait_line(r'waiting for the network', 5, lost)
            check(w is not None, 'does not say it waits for the network:\n' + s.stderr(mark))
            seen = set()
            end = time.monotonic() + 5
            while time.monotonic() < end:
                seen.update(s.ssh_procs())
                time.sleep(0.1)
            attempts = [ln for ln in s.lines[mark:] if re.search(r'\(attempt \d+\)', ln)]
            check(not seen and not attempts, 'tried without a network: ssh %s, %s'
                  % (sorted(seen), attempts))
            check(s.p.poll() is None, 'shuttle exited: %s' % s.stderr(mark))
            t1 = time.monotonic()
        finally:
            link_set(LAB.ns_client, 'c0', True)
        back = s.wait_line(r'\breconnected to\b', 20, mark)
        check(back is not None, 'not reconnected within 20 s of the link\'s return:\n'
              + s.stderr(mark))
        diag('reconnected %.1f s after the link came back' % (s.stamps[back] - t1))
        rc, err, _ = curl_until(5)
        check(rc == 0, 'curl after the reconnect: rc %d %s' % (rc, err))
        stop_clean(s)
    finally:
        link_set(LAB.ns_client, 'c0', True)
        if s.p.poll() is None:
            s.kill()
        wait_gw_back()


def _outage(fail_closed):
    """sshd stopped and the session killed: what the rules do meanwhile."""
    stop_tunnel()
    before = sshd_children()
    s = Shuttle(SUBNETS + ['--reconnect', '--dns'] + (['--fail-closed'] if fail_closed else []))
    try:
        s.wait_ready()
        mark = len(s.lines)
        session = session_sshd(before)
        check(session, 'no sshd session for shuttle on the gw')
        sshd_stop()
        for p in session:
            os.kill(p, signal.SIGKILL)
        lost = s.wait_line(r'connection lost: ', 5, mark)
        check(lost is not None, 'no "connection lost":\n' + s.stderr(mark))
        if fail_closed:
            check(s.has_table(), 'the table went during the outage with --fail-closed')
            outcome, secs = failing_connect(netlab.LAN4, netlab.HTTP_PORT, 3)
            diag('connect during the outage: %s after %.2f s' % (outcome, secs))
            check(outcome in ('ECONNREFUSED', 'ECONNRESET'), 'connect during the outage: %s'
                  % outcome)
            check(secs < 1, 'refused after %.2f s, want at once' % secs)
            status, answers, dsecs = dig(netlab.NAME_BUILD, timeout=3)
            diag('DNS during the outage: %s after %.2f s' % (status, dsecs))
            check(status == 'SERVFAIL' and dsecs < 2, 'DNS during the outage: %s after %.2f s'
                  % (status, dsecs))
            check(s.has_table(), 'the table went during the outage with --fail-closed')
        else:
            check(wait_until(lambda: not s.has_table(), 3),
                  'the table stays during the outage without --fail-closed')
            # the normal route: the lab's dead sink, so nothing answers
            outcome, secs = failing_connect(netlab.LAN4, netlab.HTTP_PORT, 2)
            diag('connect during the outage: %s after %.2f s' % (outcome, secs))
            check(outcome in ('hang', 'timeout'), 'connect during the outage: %s, want the '
                  'normal route (a dead link here)' % outcome)
        sshd_start()
        back = s.wait_line(r'\breconnected to\b', 20, mark)
        check(back is not None, 'not reconnected within 20 s:\n' + s.stderr(mark))
        check(s.has_table(), 'no table after the reconnect')
        rc, err, _ = curl_until(5)
        check(rc == 0, 'curl after the reconnect: rc %d %s' % (rc, err))
        stop_clean(s)
    finally:
        sshd_start()
        if s.p.poll() is None:
            s.kill()


@case('--reconnect --fail-closed: during an outage the rules stay, connects refused at once')
def t_reconnect_fail_closed():
    _outage(True)


@case('--reconnect without --fail-closed: the rules go during an outage and come back')
def t_reconnect_fail_open():
    _outage(False)


@case('--reconnect: a login refused on reconnecting ends the engine (exit 1), no loop')
def t_reconnect_auth_fails():
    stop_tunnel()
    keys = os.path.join(LAB.keys, 'authorized_keys')
    with open(keys) as f:
        saved = f.read()
    s = Shuttle(SUBNETS + ['--reconnect'])
    try:
        s.wait_ready()
        mark = len(s.lines)
        with open(keys, 'w') as f:
            f.write('')
        for p in s.ssh_procs():
            os.kill(p, signal.SIGKILL)
        rc = s.wait_exit(15)
        check(rc is not None, 'still running 15 s after logins became impossible:\n'
              + s.stderr(mark))
        s.reader.join(2)
        err = s.stderr(mark)
        diag('exit status %d: %s' % (rc, err.strip()[-300:]))
        check(rc == 1, 'exit status %d, want 1' % rc)
        check('authentication failed' in err, 'the refused login is not explained')
        check(len(re.findall(r'\(attempt \d+\)', err)) == 1, 'more than one attempt:\n' + err)
        check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())
    finally:
        with open(keys, 'w') as f:
            f.write(saved)
        if s.p.poll() is None:
            s.kill()


@case('the listener is no open proxy: a direct connection to it is reset, not relayed')
def t_listener_direct():
    s = tunnel()
    r = LAB.run(LAB.ns_client, ['nft', 'list', 'table'] + s.table.split(), timeout=10)
    m = re.search(r'redirect to :(\d+)', r.stdout)
    check(m, 'no redirect port in the table:\n%s' % r.stdout)
    port = int(m.group(1))
    # Were a direct connection relayed, the server would connect to its own
    # loopback at the same port: make something answer there, so a relay
    # shows up as data instead of a reset that looks like the right outcome.
    bait = LAB.spawn(LAB.ns_gw, [netlab.PY, '-c', (
        'import socket\n'
        's = socket.socket(socket.AF_INET6)\n'
        's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n'
        's.bind(("::", %d)); s.listen(8)\n'
        'while True:\n'
        '    c, _ = s.accept(); c.sendall(b"RELAYED"); c.close()\n') % port],
        label='bait')
    LAB.wait_port(LAB.ns_gw, '127.0.0.1', port)
    try:
        _listener_direct(port)
    finally:
        bait.kill()
        bait.wait()


def _listener_direct(port):
    for host in ('127.0.0.1', '::1'):
        try:
            c = LAB.connect(LAB.ns_client, host, port)
        except ConnectionResetError:
            # on loopback the reset can beat connect() itself
            diag('direct connection to [%s]:%d: reset during connect' % (host, port))
            continue
        try:
            c.sendall(b'GET / HTTP/1.0\r\n\r\n')
            c.settimeout(3)
            try:
                data = c.recv(100)
                outcome = 'EOF' if data == b'' else 'data %r' % data[:40]
            except ConnectionResetError:
                outcome = 'reset'
            except socket.timeout:
                outcome = 'hang'
        finally:
            c.close()
        diag('direct connection to [%s]:%d: %s' % (host, port, outcome))
        check(outcome in ('reset', 'EOF'), 'direct connection to the listener: %s' % outcome)


DIRECT_PROBE = r"""
import socket, sys
port, out = int(sys.argv[1]), []
for host, fam in (('127.0.0.1', socket.AF_INET), ('::1', socket.AF_INET6)):
    c = socket.socket(fam)
    c.settimeout(3)
    try:
        c.connect((host, port))
        c.sendall(b'GET / HTTP/1.0\r\n\r\n')
        data = c.recv(100)
        out.append('EOF' if data == b'' else 'data %r' % data[:40])
    except ConnectionResetError:
        out.append('reset')
    except ConnectionRefusedError:
        out.append('refused')
    except socket.timeout:
        out.append('hang')
    finally:
        c.close()
print(' '.join(out))
"""


@case('the listener from another local user (nobody): reset, not relayed')
def t_listener_other_user():
    s = tunnel()
    r = LAB.run(LAB.ns_client, ['nft', 'list', 'table'] + s.table.split(), timeout=10)
    m = re.search(r'redirect to :(\d+)', r.stdout)
    check(m, 'no redirect port in the table:\n%s' % r.stdout)
    port = int(m.group(1))
    # the same bait as above: a relay would show up as data
    bait = LAB.spawn(LAB.ns_gw, [netlab.PY, '-c', (
        'import socket\n'
        's = socket.socket(socket.AF_INET6)\n'
        's.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)\n'
        's.bind(("::", %d)); s.listen(8)\n'
        'while True:\n'
        '    c, _ = s.accept(); c.sendall(b"RELAYED"); c.close()\n') % port],
        label='bait')
    LAB.wait_port(LAB.ns_gw, '127.0.0.1', port)
    try:
        r = LAB.run(LAB.ns_client, ['setpriv', '--reuid=nobody', '--regid=nogroup',
                                    '--clear-groups', netlab.PY, '-c', DIRECT_PROBE, str(port)],
                    timeout=30)
        check(r.returncode == 0, 'probe as nobody failed: %s' % r.stderr)
        outcomes = r.stdout.split()
        diag('direct connections as nobody to port %d: %s' % (port, outcomes))
        check(len(outcomes) == 2 and all(o in ('reset', 'EOF', 'refused') for o in outcomes),
              'direct connection as another user: %s' % r.stdout)
        who_ran = LAB.run(LAB.ns_client, ['setpriv', '--reuid=nobody', '--regid=nogroup',
                                          '--clear-groups', 'id', '-u']).stdout.strip()
        check(who_ran.isdigit() and who_ran != '0', 'the probe ran as uid %r' % who_ran)
    finally:
        bait.kill()
        bait.wait()


# ------------------------------------------- names and routes (--dns, -N, -H)
def dig(name, tcp=False, server=None, timeout=3):
    """(status, [answers], seconds) of dig in the client namespace: the
    client's resolv.conf names netlab.DEAD_NS4, where nobody answers."""
    argv = ['dig', '+time=%d' % timeout, '+tries=1', name]
    if tcp:
        argv.append('+tcp')
    if server:
        argv.append('@' + server)
    t0 = time.monotonic()
    r = LAB.run(LAB.ns_client, argv, timeout=timeout + 20)
    secs = time.monotonic() - t0
    m = re.search(r'status: (\w+)', r.stdout)
    status = m.group(1) if m else 'no answer'
    answers = re.findall(r'^\S+\s+\d+\s+IN\s+(?:A|AAAA)\s+(\S+)$', r.stdout, re.M)
    return status, answers, secs


def getent(name):
    """The addresses the client's resolver (files first: /etc/hosts) gives."""
    r = LAB.run(LAB.ns_client, ['getent', 'ahosts', name], timeout=20)
    return sorted({ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()})


def client_hosts():
    with open(LAB.client_hosts) as f:
        return f.read()


@case('no --dns: the client\'s nameserver does not answer (no other path to names)')
def t_dns_none():
    stop_tunnel()
    status, answers, _ = dig(netlab.NAME_BUILD, timeout=1)
    check(status == 'no answer' and not answers, 'answer without a tunnel: %s %s'
          % (status, answers))


@case('--dns: UDP and TCP queries to the client\'s nameserver answered by the server\'s resolver')
def t_dns_udp_tcp():
    tunnel(SUBNETS + ['--dns'])
    for tcp in (False, True):
        status, answers, secs = dig(netlab.NAME_BUILD, tcp=tcp)
        diag('%s: %s %s in %.2fs' % ('TCP' if tcp else 'UDP', status, answers, secs))
        check(status == 'NOERROR' and answers == [netlab.LAN4],
              '%s query: %s %s' % ('TCP' if tcp else 'UDP', status, answers))
    status, answers, _ = dig('nosuchname.corp.internal')
    check(status == 'NXDOMAIN', 'unknown name: %s %s' % (status, answers))
    # a name only in the gw's /etc/hosts is not DNS: --dns alone does not see it
    status, answers, _ = dig(netlab.NAME_GWHOSTS)
    check(answers == [], 'gw /etc/hosts name answered by DNS: %s' % answers)
    # the tunnel's TCP still works alongside
    rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT), max_time=10)
    check(rc == 0 and b'Hello' in body, 'curl with --dns: rc %d %s' % (rc, err))


@case('--dns --ns-hosts --to-ns: another nameserver captured, another resolver asked')
def t_dns_to_ns():
    other = netlab.OTHER_NS4   # captured only because --ns-hosts names it
    tunnel(SUBNETS + ['--dns', '--ns-hosts', other, '--to-ns', netlab.LAN4_B])
    status, answers, _ = dig(netlab.NAME_ALT, server=other)
    check(status == 'NOERROR' and answers == [netlab.LAN4],
          '--to-ns resolver (UDP): %s %s' % (status, answers))
    status, answers, _ = dig(netlab.NAME_ALT, server=other, tcp=True)
    check(status == 'NOERROR' and answers == [netlab.LAN4],
          '--to-ns resolver (TCP): %s %s' % (status, answers))
    # the gw's own resolver knows build.*, the --to-ns one does not
    status, answers, _ = dig(netlab.NAME_BUILD, server=other)
    check(answers == [], 'answered by the server\'s resolver despite --to-ns: %s' % answers)
    # resolv.conf's nameserver is not in --ns-hosts: not captured
    status, answers, _ = dig(netlab.NAME_ALT, timeout=1)
    check(status == 'no answer', 'DEAD_NS4 captured without --ns-hosts naming it: %s' % status)


@case('--dns with a remote resolver that never answers: SERVFAIL in ~5 s, the tunnel lives on')
def t_dns_dead_resolver():
    s = tunnel(SUBNETS + ['--dns', '--to-ns', netlab.SILENT4])
    status, answers, secs = dig(netlab.NAME_BUILD, timeout=9)
    diag('%s after %.2fs' % (status, secs))
    check(status == 'SERVFAIL', 'status %s, want SERVFAIL' % status)
    check(4 <= secs <= 8, 'SERVFAIL after %.2fs, want about 5 s' % secs)
    check(s.p.poll() is None, 'shuttle exited: %s' % s.stderr())
    rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT), max_time=10)
    check(rc == 0 and b'Hello' in body, 'curl after the dead resolver: rc %d %s' % (rc, err))


class Capture:
    """tcpdump on one link of a lab namespace, written to a pcap file."""

    def __init__(self, ns, dev):
        self.path = os.path.join(LAB.dir, 'capture-%s.pcap' % dev)
        self.err = os.path.join(LAB.dir, 'capture-%s.err' % dev)
        with open(self.err, 'w') as errf:
            # -Z root: the lab's directory is root's, tcpdump's own user
            # could not write there.
            # --immediate-mode: no packets held back in the kernel's buffer.
            self.p = LAB.spawn(ns, ['tcpdump', '-Z', 'root', '--immediate-mode', '-i', dev,
                                    '-n', '-U', '-s', '256', '-w', self.path], label='tcpdump',
                               stdout=subprocess.DEVNULL, stderr=errf)
        ok = wait_for_file_text(self.err, 'listening on', 10)
        check(ok, 'tcpdump did not start: %s' % read_text(self.err))

    def stop(self):
        time.sleep(0.3)   # the last packets still on their way to the file
        self.p.send_signal(signal.SIGINT)
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()

    def count(self, expr):
        r = LAB.run(None, ['tcpdump', '-n', '-r', self.path, expr], timeout=30)
        check(r.returncode == 0, 'tcpdump -r: %s %s' % (r.stderr, read_text(self.err)))
        return len([ln for ln in r.stdout.splitlines() if ln.strip()])


def read_text(path):
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


def wait_for_file_text(path, text, timeout):
    deadline = time.monotonic() + timeout
    while text not in read_text(path):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@case('--dns: no DNS query leaves on the client\'s link (tcpdump sees the ssh session, no port 53)')
def t_dns_no_leak():
    if not shutil.which('tcpdump'):
        raise Fail('tcpdump is not installed (tests/deps.sh test)')
    tunnel(SUBNETS + ['--dns'])
    cap = Capture(LAB.ns_client, 'c0')
    try:
        for tcp in (False, True, False, True):
            for name in (netlab.NAME_BUILD, netlab.NAME_DB):
                status, answers, _ = dig(name, tcp=tcp)
                check(status == 'NOERROR' and answers,
                      '%s %s: %s %s' % (name, 'TCP' if tcp else 'UDP', status, answers))
        status, _, _ = dig('nosuchname.corp.internal', tcp=True)
        check(status == 'NXDOMAIN', 'unknown name: %s' % status)
        # The control: a query to a nameserver that is not captured (the gw,
        # on the same link) does leave on c0, so the capture and its filter
        # would have seen a leak.
        dig(netlab.NAME_BUILD, server=netlab.GW4, timeout=1)
    finally:
        cap.stop()
    leaked = cap.count('port 53 and not host %s' % netlab.GW4)
    control = cap.count('port 53 and host %s' % netlab.GW4)
    ssh = cap.count('tcp port 22')
    diag('tcpdump: %s (%d bytes)' % (read_text(cap.err).strip().replace('\n', '; '),
                                     os.path.getsize(cap.path) if os.path.exists(cap.path)
                                     else -1))
    diag('on c0: %d ssh packets, %d DNS packets to the control server, %d other DNS packets'
         % (ssh, control, leaked))
    check(ssh > 0, 'the capture saw no ssh packets: it proves nothing')
    check(control > 0, 'the capture did not see the control query to %s' % netlab.GW4)
    check(leaked == 0, '%d DNS packets left on c0:\n%s' % (
        leaked, LAB.run(None, ['tcpdump', '-n', '-r', cap.path, 'port 53']).stdout[-1500:]))


@case('-N without subnets: the server\'s routes are tunnelled (LAN reachable, rules list them)')
def t_auto_nets():
    s = tunnel(['-N'])
    rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT), max_time=10)
    check(rc == 0 and b'Hello' in body, 'IPv4 over -N: rc %d %s' % (rc, err))
    rc, body, err, _ = curl('http://[%s]:%d/' % (netlab.LAN6, netlab.HTTP_PORT), max_time=10)
    check(rc == 0 and b'Hello' in body, 'IPv6 over -N: rc %d %s' % (rc, err))
    rules = LAB.run(LAB.ns_client, ['nft', 'list', 'table'] + s.table.split()).stdout
    for net in (netlab.LAN_NET4, netlab.LAN_NET6, netlab.SILENT_NET4):
        check(net in rules, '%s not redirected:\n%s' % (net, rules))
    # the gw's unreachable route is a reject route, not a network it reaches
    check(netlab.UNREACH_NET4 not in rules, 'reject route tunnelled:\n%s' % rules)
    check('0.0.0.0/0' not in rules and '127.0.0.0/8 meta' not in rules,
          'default or loopback route tunnelled:\n%s' % rules)


def _wait_hosts(names, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        got = {n: getent(n) for n in names}
        if all(got.values()) or time.monotonic() > deadline:
            return got
        time.sleep(0.5)


@case('-H: names from the gw\'s /etc/hosts and its neighbour table resolve in the client')
def t_auto_hosts():
    stop_tunnel()
    before = client_hosts()
    s = Shuttle(SUBNETS + ['-H']).wait_ready()
    try:
        got = _wait_hosts([netlab.NAME_GWHOSTS, netlab.NAME_DB])
        diag('resolved: %s' % got)
        check(got[netlab.NAME_GWHOSTS] == [netlab.LAN4], '%s (gw /etc/hosts): %s'
              % (netlab.NAME_GWHOSTS, got[netlab.NAME_GWHOSTS]))
        check(got[netlab.NAME_DB] == [netlab.LAN4_B], '%s (neighbour + reverse DNS): %s'
              % (netlab.NAME_DB, got[netlab.NAME_DB]))
        check(client_hosts().startswith(before), 'the original hosts text changed:\n'
              + client_hosts())
    finally:
        rc = s.stop()
    check(rc == 0, 'exit status %s' % rc)
    check(client_hosts() == before, '/etc/hosts not restored byte for byte:\n%r\n%r'
          % (client_hosts(), before))


# What a hostile (or compromised) ssh server puts into its /etc/hosts for -H:
# only the name inside the tunnelled subnets that the client's /etc/hosts
# lacks may reach the client's file.
HOSTILE_GW_HOSTS = [('203.0.113.80', 'evil-outside.example'),   # outside every subnet
                    ('10.231.2.77', 'gw.lab'),                  # the client's own name
                    ('10.231.2.78', 'LOCALHOST'),               # ... in another case
                    ('10.231.2.79', 'hostile-inside.lab.internal')]   # inside: taken


@case('-H from a hostile server: names outside the tunnel or in the client\'s /etc/hosts are '
      'not written')
def t_auto_hosts_hostile():
    stop_tunnel()
    before = client_hosts()
    gw_hosts = os.path.join(LAB.etc_gw, 'hosts')
    with open(gw_hosts) as f:
        gw_orig = f.read()
    # in place: the gw's /etc/hosts is a bind mount of this file
    with open(gw_hosts, 'w') as f:
        f.write(gw_orig + ''.join('%s\t%s\n' % e for e in HOSTILE_GW_HOSTS))
    try:
        s = Shuttle(SUBNETS + ['-H', '-v']).wait_ready()
        try:
            got = _wait_hosts([netlab.NAME_GWHOSTS, 'hostile-inside.lab.internal'])
            check(got['hostile-inside.lab.internal'] == ['10.231.2.79'],
                  'the name inside the tunnel is missing: %s' % got)
            text = client_hosts()
            block = text[len(before):]
            diag(block)
            for addr, name in HOSTILE_GW_HOSTS[:3]:
                check(addr not in block and name not in block,
                      '%s %s reached the client\'s /etc/hosts:\n%s' % (addr, name, text))
            check(getent('evil-outside.example') == [], 'evil-outside.example resolves')
            check(getent('gw.lab') == [netlab.GW4], 'gw.lab: %s' % getent('gw.lab'))
            err = s.stderr()
            check('ignored host evil-outside.example (203.0.113.80) from the server: the '
                  'address is not tunnelled' in err and 'ignored host gw.lab (10.231.2.77)' in err,
                  'no -v line for what was ignored:\n' + err)
        finally:
            rc = s.stop()
        check(rc == 0, 'exit status %s' % rc)
    finally:
        with open(gw_hosts, 'w') as f:
            f.write(gw_orig)
    check(client_hosts() == before, '/etc/hosts not restored byte for byte:\n%r\n%r'
          % (client_hosts(), before))


@case('-H twice at once: two blocks merged; one exits, the other\'s names stay; file restored')
def t_auto_hosts_two():
    stop_tunnel()
    before = client_hosts()
    a = Shuttle(SUBNETS + ['-H']).wait_ready()
    b = Shuttle([netlab.LAN_NET4, '-H', '--seed-hosts', netlab.NAME_BUILD]).wait_ready()
    try:
        got = _wait_hosts([netlab.NAME_GWHOSTS, netlab.NAME_BUILD])
        check(all(got.values()), 'names missing with two instances: %s' % got)
        deadline = time.monotonic() + 10
        while not all(('p%d' % p.p.pid) in client_hosts() for p in (a, b)) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        text = client_hosts()
        for p in (a, b):
            check(('p%d' % p.p.pid) in text, 'no block of pid %d:\n%s' % (p.p.pid, text))
        check(a.stop() == 0, 'first instance did not exit cleanly')
        text = client_hosts()
        check(('p%d' % a.p.pid) not in text, 'block of the stopped instance left:\n' + text)
        check(('p%d' % b.p.pid) in text and netlab.LAN4 in getent(netlab.NAME_BUILD),
              'the running instance lost its names:\n' + text)
    finally:
        a.stop()
        b.stop()
    check(client_hosts() == before, '/etc/hosts not restored byte for byte:\n%r\n%r'
          % (client_hosts(), before))


@case('-H killed (SIGKILL): its hosts block stays until the next start sweeps it')
def t_auto_hosts_sigkill():
    stop_tunnel()
    before = client_hosts()
    a = Shuttle(SUBNETS + ['-H']).wait_ready()
    got = _wait_hosts([netlab.NAME_GWHOSTS])
    check(got[netlab.NAME_GWHOSTS], 'no names from the first instance')
    # Engine and watchdog both killed (kill -9 of the process group): the
    # block stays until the next start sweeps it.
    for pid in netlab.descendants(a.p.pid):
        if netlab.comm(pid) == 'shuttle-cleanup':
            os.kill(pid, signal.SIGKILL)
    a.kill()
    check(('p%d' % a.p.pid) in client_hosts(), 'block gone without its owner cleaning up?')
    b = Shuttle([netlab.LAN_NET4]).wait_ready()
    try:
        check(client_hosts() == before, 'the dead instance\'s block was not swept:\n'
              + client_hosts())
        check('removed' in b.stderr(), 'the sweep was not reported: %s' % b.stderr())
    finally:
        b.stop()


@case('-H, SIGKILL of the engine alone: its watchdog removes its names within 2 s')
def t_auto_hosts_watchdog():
    stop_tunnel()
    before = client_hosts()
    a = Shuttle(SUBNETS + ['-H']).wait_ready()
    got = _wait_hosts([netlab.NAME_GWHOSTS])
    check(got[netlab.NAME_GWHOSTS], 'no names from the instance')
    t0 = time.monotonic()
    a.kill()
    clean = wait_until(lambda: client_hosts() == before, 2.0, step=0.05)
    diag('/etc/hosts restored %.2f s after SIGKILL' % (time.monotonic() - t0))
    check(clean, 'the killed engine\'s names are still there after 2 s:\n' + client_hosts())
    check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())


def wait_until(pred, timeout, step=0.2):
    return harness.wait_for(pred, timeout, step)


def _engine_get(addr, name, prop):
    r = subprocess.run(['gdbus', 'call', '--address', addr, '--dest', name, '--object-path',
                        '/io/github/shuttlevpn/Engine', '--method',
                        'org.freedesktop.DBus.Properties.Get', 'io.github.shuttlevpn.Engine1',
                        prop], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=10)
    return r.stdout if r.returncode == 0 else 'ERROR ' + r.stderr


@case('status on the session bus: state, routes, hosts and counters, as the applet reads them')
def t_status_bus():
    stop_tunnel()
    if shutil.which('dbus-daemon') is None or shutil.which('gdbus') is None:
        raise Fail('dbus-daemon/gdbus not installed (tests/deps.sh test)')
    d = tempfile.mkdtemp(prefix='shuttle-bus-')
    addr = 'unix:path=%s/bus' % d
    bus = subprocess.Popen(['dbus-daemon', '--session', '--nofork', '--nopidfile',
                            '--address=' + addr], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    s = None
    try:
        check(wait_until(lambda: os.path.exists(d + '/bus'), 10), 'no session bus')
        os.environ['DBUS_SESSION_BUS_ADDRESS'] = addr
        try:
            s = Shuttle(SUBNETS + ['-H']).wait_ready()
        finally:
            del os.environ['DBUS_SESSION_BUS_ADDRESS']
        name = 'io.github.shuttlevpn.Engine.p%d' % s.p.pid
        check(wait_until(lambda: 'connected' in _engine_get(addr, name, 'State'), 10),
              'State: %s' % _engine_get(addr, name, 'State'))
        routes = _engine_get(addr, name, 'Routes')
        check(netlab.LAN_NET4 in routes and netlab.LAN_NET6 in routes, 'Routes: %s' % routes)
        since = _engine_get(addr, name, 'ConnectedSince')
        m = re.search(r'int64 (\d+)', since)
        check(m and abs(int(m.group(1)) - time.time()) < 60, 'ConnectedSince: %s' % since)
        server = _engine_get(addr, name, 'Server')
        check(LAB.remote in server, 'Server: %s' % server)
        check(wait_until(lambda: netlab.NAME_GWHOSTS in _engine_get(addr, name, 'Hosts'), 30),
              'Hosts: %s' % _engine_get(addr, name, 'Hosts'))
        hosts = _engine_get(addr, name, 'Hosts')
        check(netlab.LAN4 in hosts, 'Hosts lack the address: %s' % hosts)
        # the gw's "127.0.0.1 localhost" is its own, not the network's
        check("'localhost'" not in hosts and '127.0.0.1' not in hosts,
              'a loopback name was taken: %s' % hosts)
        rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT), max_time=10)
        check(rc == 0, 'curl through the tunnel: %s' % err)
        got = _engine_get(addr, name, 'BytesReceived')
        m = re.search(r'uint64 (\d+)', got)
        check(m and int(m.group(1)) >= len(body), 'BytesReceived %s after %d bytes'
              % (got, len(body)))
        # UDP: the datagram counters, and the flow open until its timeout
        udp_echo_servers()
        check(udp_echo(netlab.LAN4, b'u' * 300) == b'u' * 300, 'no UDP echo')
        for prop, least in (('DatagramsSent', 1), ('DatagramsReceived', 1),
                            ('DatagramBytesSent', 300), ('DatagramBytesReceived', 300)):
            got = _engine_get(addr, name, prop)
            m = re.search(r'uint64 (\d+)', got)
            check(m and int(m.group(1)) >= least, '%s %s after a 300-byte echo' % (prop, got))
        got = _engine_get(addr, name, 'OpenFlows')
        check(re.search(r'uint32 [1-9]', got), 'OpenFlows %s after a UDP echo' % got)
        check(s.stop() == 0, 'exit status')
        check(wait_until(lambda: 'ERROR' in _engine_get(addr, name, 'State'), 10),
              'the name outlived the engine')
    finally:
        if s is not None:
            s.stop()
        bus.terminate()
        bus.wait()
        shutil.rmtree(d, ignore_errors=True)


@case('bad usage: invalid subnet 10.0.0.300/8 -> exit 2, one stderr line, no table')
def t_bad_subnet():
    stop_tunnel()
    r = LAB.run(LAB.ns_client, [BIN, '10.0.0.300/8'], timeout=20)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    diag('stderr: %s' % r.stderr.strip())
    check(r.returncode == 2, 'exit status %d, want 2' % r.returncode)
    check(len(lines) == 1, '%d stderr lines, want 1' % len(lines))
    check('10.0.0.300' in lines[0], 'stderr does not name 10.0.0.300')
    check(not shuttle_tables(), 'table created: %s' % shuttle_tables())


def _run_on_terminal(argv, answer, timeout=30):
    """Runs @argv in the client namespace on a terminal of its own (ssh asks
    on /dev/tty); types @answer at ssh's "(yes/no/[fingerprint])?" once, and
    SIGTERMs the engine once it says "connected". Returns (exit status,
    output, asked)."""
    import pty
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp('ip', ['ip', 'netns', 'exec', LAB.ns_client] + list(argv))
    out, asked, stopped = b'', False, False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if not r:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if not asked and b'(yes/no' in out:
                os.write(fd, answer.encode() + b'\n')
                asked = True
            if not stopped and re.search(rb'\bconnected\b', out):
                os.kill(pid, signal.SIGTERM)
                stopped = True
    finally:
        os.close(fd)
        if not stopped and time.monotonic() >= deadline:
            os.kill(pid, signal.SIGKILL)
    _, st = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(st), out.decode(errors='replace'), asked


@case('CLI, unknown server on a terminal: ssh asks with the fingerprint; no ends it, yes '
      'writes known_hosts')
def t_cli_unknown_hostkey():
    stop_tunnel()
    d = tempfile.mkdtemp(prefix='shuttle-kh-', dir=LAB.dir)
    kh, conf = os.path.join(d, 'known_hosts'), os.path.join(d, 'ssh_config')
    with open(LAB.ssh_config) as f:
        text = f.read()
    # the lab's config, but nothing known and ssh's default: ask
    text = text.replace('UserKnownHostsFile %s' % LAB.known_hosts, 'UserKnownHostsFile ' + kh)
    text = text.replace('StrictHostKeyChecking yes', 'StrictHostKeyChecking ask')
    text = text.replace('BatchMode yes', 'BatchMode no')
    check(kh in text and 'StrictHostKeyChecking ask' in text, 'lab ssh_config changed:\n' + text)
    with open(conf, 'w') as f:
        f.write(text)
    argv = [BIN, '-r', LAB.remote, '-e', 'ssh -F ' + conf] + server_args() + [netlab.LAN_NET4]
    with open(LAB.host_key + '.pub') as f:
        gw_key = f.read().split()[1]
    fp = subprocess.run(['ssh-keygen', '-lf', LAB.host_key + '.pub'], stdout=subprocess.PIPE,
                        text=True, check=True).stdout.split()[1]
    rc, out, asked = _run_on_terminal(argv, 'no')
    check(asked, 'ssh did not ask about the unknown key:\n' + out)
    check(fp in out, 'the fingerprint %s was not shown:\n%s' % (fp, out))
    check(rc != 0, 'connected although the key was refused:\n' + out)
    check(not os.path.exists(kh) or gw_key not in open(kh).read(), 'a refused key was written')
    check(not shuttle_tables(), 'tables left after a refused key: %s' % shuttle_tables())
    rc, out, asked = _run_on_terminal(argv, 'yes')
    check(asked and re.search(r'\bconnected\b', out), 'not connected after "yes":\n' + out)
    check(os.path.exists(kh) and gw_key in open(kh).read(), 'the key is not in known_hosts')
    check(rc == 0, 'exit status %d after SIGTERM:\n%s' % (rc, out))
    check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())
    shutil.rmtree(d, ignore_errors=True)


# ------------------------------------------- one-time codes (keyboard-interactive)
# netlab.OtpServer: the gw's second sshd asks LAB_USER's password, then a
# TOTP, through PAM (pam_unix, pam_oath). OTP_PASSWORD is random per run.
OTP_PASSWORD = 'otp pass %s' % os.urandom(4).hex()
_otp = None


def _otp_server():
    global _otp
    if _otp is None:
        _otp = netlab.OtpServer(LAB, OTP_PASSWORD)
        check(_otp.start(), 'the one-time-code sshd did not start:\n'
              + netlab.log_tail(os.path.join(LAB.logs, 'sshd-otp.log')))
    return _otp


def _otp_argv(extra=()):
    d = _path_dir('otp', {'shuttle-server': BIN, 'python3': netlab.PY})
    ssh = '%s -o BatchMode=no -o SetEnv=SHUTTLE_LAB_PATH=%s:/usr/bin' % (LAB.ssh_cmd, d)
    return ['-r', '%s@%s:%d' % (netlab.LAB_USER, netlab.GW4, netlab.OTP_SSHD_PORT), '-e', ssh] \
        + list(extra) + [netlab.LAN_NET4]


def _askpass_script(d, code):
    """An SSH_ASKPASS program that logs each prompt and answers the
    password prompt with the password, any other with @code."""
    path = os.path.join(d, 'askpass')
    with open(path, 'w') as f:
        f.write('#!/bin/sh\nprintf "%%s\\n" "$1" >> %s/prompts\n'
                'case "$1" in *"Password: "*) printf "%%s\\n" "%s" ;; *) echo %s ;; esac\n'
                % (d, OTP_PASSWORD, code))
    os.chmod(path, 0o755)
    return path


def _prompts(d):
    try:
        with open(os.path.join(d, 'prompts')) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


@case('CLI, password and one-time code through SSH_ASKPASS: asked in the server\'s order, '
      'connected; a wrong code ends with ssh\'s refusal, not retried')
def t_cli_otp_askpass():
    stop_tunnel()
    otp = _otp_server()
    d = tempfile.mkdtemp(prefix='shuttle-otp-', dir=LAB.dir)
    env = dict(os.environ, SSH_ASKPASS=_askpass_script(d, otp.code()), SSH_ASKPASS_REQUIRE='force')
    env.pop('DISPLAY', None)
    s = Shuttle(_otp_argv(), remote=None, env=env)
    try:
        s.wait_ready(30)
        check(curl_until(10)[0] == 0, 'no traffic through the one-time-code login')
        user_at = '(%s@%s) ' % (netlab.LAB_USER, netlab.GW4)
        check(_prompts(d) == [user_at + 'Password: ', user_at + netlab.OTP_PROMPT],
              'prompts, in order: %r' % _prompts(d))
        check(s.stop() == 0, 'exit status')
    finally:
        s.kill()
    os.unlink(os.path.join(d, 'prompts'))
    env['SSH_ASKPASS'] = _askpass_script(d, otp.wrong_code())
    t0 = time.monotonic()
    s = Shuttle(_otp_argv(), remote=None, env=env)
    try:
        rc = s.wait_exit(60)
        took = time.monotonic() - t0
        diag('wrong code: exit %s after %.1fs, %d prompts' % (rc, took, len(_prompts(d))))
        check(rc not in (None, 0), 'a wrong code did not end shuttle (exit %s)' % rc)
        check('Permission denied' in s.stderr(), 'no word of the refusal:\n' + s.stderr())
        # ssh's own NumberOfPasswordPrompts (3) at most, each asking both
        check(len(_prompts(d)) <= 6, 'asked %d times: %r' % (len(_prompts(d)), _prompts(d)))
        check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())
    finally:
        s.kill()
    shutil.rmtree(d, ignore_errors=True)


@case('CLI, password and one-time code on a terminal: ssh asks both on /dev/tty, connected')
def t_cli_otp_terminal():
    stop_tunnel()
    otp = _otp_server()
    import pty
    argv = [BIN] + _otp_argv()
    pid, fd = pty.fork()
    if pid == 0:
        env = dict(os.environ)
        for k in ('DISPLAY', 'SSH_ASKPASS', 'SSH_ASKPASS_REQUIRE'):
            env.pop(k, None)
        os.execvpe('ip', ['ip', 'netns', 'exec', LAB.ns_client] + argv, env)
    out, asked, stopped = b'', [], False
    deadline = time.monotonic() + 40
    try:
        while time.monotonic() < deadline:
            r, _, _ = select.select([fd], [], [], 0.5)
            if not r:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
            if not asked and out.endswith(b'Password: '):
                os.write(fd, OTP_PASSWORD.encode() + b'\n')
                asked.append('password')
            elif len(asked) == 1 and out.endswith(netlab.OTP_PROMPT.encode()):
                os.write(fd, otp.code().encode() + b'\n')
                asked.append('code')
            if not stopped and re.search(rb'\bconnected\b', out):
                check(curl_until(10)[0] == 0, 'no traffic through the one-time-code login')
                os.kill(pid, signal.SIGTERM)
                stopped = True
    finally:
        os.close(fd)
        if not stopped:
            os.kill(pid, signal.SIGKILL)
    _, st = os.waitpid(pid, 0)
    text = out.decode(errors='replace')
    check(asked == ['password', 'code'], 'asked %r:\n%s' % (asked, text))
    check(stopped, 'not connected:\n' + text)
    check(OTP_PASSWORD not in text, 'the password was echoed')
    check(os.waitstatus_to_exitcode(st) == 0, 'exit status %d' % os.waitstatus_to_exitcode(st))


@case('the engine\'s own askpass (--secret-fd) gives the password to the password prompt only: '
      'the one-time-code prompt is not answered with it')
def t_secret_fd_otp():
    stop_tunnel()
    _otp_server()
    r, w = os.pipe()
    os.write(w, OTP_PASSWORD.encode())
    os.close(w)
    s = Shuttle(['--secret-fd=%d' % r] + _otp_argv(), remote=None, pass_fds=(r,))
    os.close(r)
    try:
        rc = s.wait_exit(60)
        err = s.stderr()
        check(rc not in (None, 0), 'connected without a code (exit %s)' % rc)
        # before: "One-time password (OATH)" holds "password", and got it
        check('nobody can be asked' in err, 'the code prompt was answered:\n' + err)
        check('Permission denied' in err, 'no word of the refusal:\n' + err)
        check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())
    finally:
        s.kill()


@case('unresolvable remote host -> exit 1 or 2, no table')
def t_bad_host():
    stop_tunnel()
    t0 = time.monotonic()
    r = LAB.run(LAB.ns_client, [BIN, '-r', 'root@nosuchhost.invalid', '-e', LAB.ssh_cmd,
                                ] + server_args() + SUBNETS, timeout=60)
    diag('exit status %d after %.1fs; stderr: %s' % (r.returncode, time.monotonic() - t0,
                                                      r.stderr.strip()[-300:]))
    check(r.returncode in (1, 2), 'exit status %d, want 1 or 2' % r.returncode)
    check(not shuttle_tables(), 'table left: %s' % shuttle_tables())


@case('-D: returns once connected, pid file written, tunnel works; SIGTERM cleans up')
def t_daemon():
    stop_tunnel()
    pidfile = os.path.join(LAB.dir, 'daemon.pid')
    r = LAB.run(LAB.ns_client, [BIN, '-D', '--pidfile', pidfile, '-r', LAB.remote,
                                '-e', LAB.ssh_cmd] + server_args()
                + SUBNETS, timeout=30)
    check(r.returncode == 0, 'exit status %d; stderr: %s' % (r.returncode, r.stderr))
    with open(pidfile) as f:
        pid = int(f.read())
    try:
        check(netlab._alive(pid), 'daemon %d not running' % pid)
        check(('inet shuttle-%d' % pid) in shuttle_tables(),
              'no table for the daemon: %s' % shuttle_tables())
        rc, body, err, _ = curl('http://%s:8080/' % netlab.LAN4, max_time=10)
        check(rc == 0 and b'remote LAN' in body, 'curl through the daemon failed: %s' % err)
    finally:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while netlab._alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    check(not netlab._alive(pid), 'daemon still running after SIGTERM')
    check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())
    check(not os.path.exists(pidfile), 'pid file left behind')


@case('no shuttle-server on the server: exit 1, the message says so, no table')
def t_no_server_program():
    stop_tunnel()
    r = LAB.run(LAB.ns_client, [BIN, '-r', LAB.remote, '-e', LAB.ssh_cmd,
                                '--server-cmd', '/nonexistent/shuttle-server'] + SUBNETS,
                timeout=30)
    diag('stderr: %s' % r.stderr.strip())
    check(r.returncode == 1, 'exit status %d, want 1' % r.returncode)
    check('PATH' in r.stderr and '/nonexistent/shuttle-server' in r.stderr,
          'message does not explain the missing server program')
    check(not shuttle_tables(), 'table left: %s' % shuttle_tables())


# ------------------------------------------- what runs on the server
# The gw's PATH decides what the server "has installed": the bootstrap looks
# shuttle-server and python3 up on it.  These cases log in as netlab's
# LAB_USER, whose PATH they choose (netlab.ensure_lab_user), and run shuttle
# without server_args().

def _path_dir(name, programs):
    """A directory in the lab holding @programs (name -> target or script)."""
    d = os.path.join(LAB.dir, 'path-' + name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for prog, what in programs.items():
        f = os.path.join(d, prog)
        if what.startswith('#!'):
            with open(f, 'w') as fh:
                fh.write(what)
            os.chmod(f, 0o755)
        else:
            os.symlink(what, f)
    return d


def _ssh_with_path(path):
    netlab.ensure_lab_user()
    return '%s -o SetEnv=SHUTTLE_LAB_PATH=%s' % (LAB.ssh_cmd, path)


LAB_REMOTE = '%s@%s' % (netlab.LAB_USER, netlab.GW4)


def _auto_shuttle(path, args=None):
    argv = ['-e', _ssh_with_path(path), '-v'] + (args or [netlab.LAN_NET4])
    return Shuttle(argv, remote=LAB_REMOTE, auto=True)


def _connected_to(s):
    m = [ln for ln in s.lines if re.search(r'\bconnected to\b', ln)]
    check(m, 'no "connected to" line')
    return m[-1]


@case('automatic: the server has shuttle-server on its PATH: it runs, no upload')
def t_auto_c_server():
    stop_tunnel()
    d = _path_dir('c', {'shuttle-server': BIN, 'python3': netlab.PY})
    s = _auto_shuttle(d + ':/usr/bin')
    try:
        s.wait_ready()
        line = _connected_to(s)
        check('(shuttle-server ' in line, 'not the C server: %s' % line)
        check_big_download(BIG_URL4)
    finally:
        check(s.stop() == 0, 'exit status not 0')


# What the command of `shuttle run` does: curl over IPv4 from bash, curl
# over IPv6 from a child of a child, a non-blocking Python client, and a
# direct connection to the gw's sshd (not a tunnelled subnet).
RUN_SCRIPT = r"""
curl -sS --max-time 10 -o /dev/null -w 'v4 %%{http_code}\n' http://%(lan4)s:%(http)d/
bash -c "bash -c 'curl -sS --max-time 10 -o /dev/null -w \"v6 %%{http_code}\n\" http://[%(lan6)s]:%(http)d/'"
python3 - <<'EOF'
import errno, select, socket
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
rc = s.connect_ex(('%(lan4)s', %(echo)d))
assert rc in (0, errno.EINPROGRESS), rc
select.select([], [s], [], 5)
assert s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
s.sendall(b'ping\n')
select.select([s], [], [], 5)
print('nonblock', s.recv(100).decode().strip(), s.getpeername()[0])
d = socket.create_connection(('%(gw4)s', 22), timeout=5)
print('direct', d.recv(4)[:3].decode(), d.getsockname()[0])
EOF
git clone -q http://%(lan4)s:%(http)d/shuttle-run.git "$(mktemp -d)/c" && echo "git clone ok"
"""


# ------------------------------------------------------------ UDP and ping (issue 19)
UDP_ECHO_PORT = 7777
UDP_DNS_PORT = 5300
_udp_echo = []


def udp_echo_servers():
    """UDP echo on LAN4, LAN6 and LAN4_B at UDP_ECHO_PORT, as threads of
    this process with sockets in the LAN namespace (started once)."""
    if _udp_echo:
        return
    for fam, addr in ((socket.AF_INET, netlab.LAN4), (socket.AF_INET6, netlab.LAN6),
                      (socket.AF_INET, netlab.LAN4_B)):
        s = LAB.socket(LAB.ns_lan, fam, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        s.bind((addr, UDP_ECHO_PORT))

        def serve(s=s):
            while True:
                try:
                    data, peer = s.recvfrom(65535)
                    s.sendto(data, peer)
                except OSError:
                    return
        threading.Thread(target=serve, daemon=True).start()
        _udp_echo.append(s)


def udp_echo(host, data, tries=3, timeout=2.0, port=UDP_ECHO_PORT):
    """The echo of @data from host:port through the client namespace, or
    None; the reply must come from host:port."""
    fam = socket.AF_INET6 if ':' in host else socket.AF_INET
    c = LAB.socket(LAB.ns_client, fam, socket.SOCK_DGRAM)
    c.settimeout(timeout)
    try:
        for _ in range(tries):
            c.sendto(data, (host, port))
            try:
                got, peer = c.recvfrom(65535)
            except socket.timeout:
                continue
            check(peer[0] == host and peer[1] == port, 'reply from %s, not %s' % (peer, host))
            return got
        return None
    finally:
        c.close()


def dgram_leftovers(ns=None):
    """Datagram rules, routes and devices left in the client namespace."""
    ns = ns or LAB.ns_client
    out = [ln for fam in ('-4', '-6')
           for ln in LAB.run(ns, ['ip', fam, 'rule']).stdout.splitlines() if ln.startswith('5368:')]
    out += [ln for fam in ('-4', '-6')
            for ln in LAB.run(ns, ['ip', fam, 'route', 'show', 'table', 'all']).stdout.splitlines()
            if 'shuttle' in ln]
    out += [ln for ln in LAB.run(ns, ['ip', '-o', 'link']).stdout.splitlines() if ': shuttle' in ln]
    return out


def kernel_at_least(major, minor):
    got = tuple(int(x) for x in re.findall(r'\d+', os.uname().release)[:2])
    return got >= (major, minor)


def udp_tunnel(extra=()):
    s = tunnel(SUBNETS + list(extra))
    check(s.wait_line(r'UDP and ping to the tunnelled subnets go through', 10) is not None,
          'the engine did not set up UDP:\n' + s.stderr())
    udp_echo_servers()
    return s


@case('UDP: echo of 1, 1400 and 60000 bytes both ways, IPv4 and IPv6, through the tunnel')
def t_udp_echo():
    udp_tunnel()
    for host in (netlab.LAN4, netlab.LAN6):
        for n in (1, 1400, 60000):
            data = os.urandom(n)
            got = udp_echo(host, data)
            check(got == data, 'UDP echo of %d bytes from %s: %s' % (
                n, host, 'none' if got is None else '%d bytes, differ' % len(got)))


@case('UDP: a sender using UDP GSO (UDP_SEGMENT, as QUIC stacks do) gets every datagram of '
      'its run echoed alone, IPv4 and IPv6')
def t_udp_gso_sender():
    udp_tunnel()
    udp_segment = 103   # SOL_UDP option, Linux 4.18
    for host in (netlab.LAN4, netlab.LAN6):
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        c = LAB.socket(LAB.ns_client, fam, socket.SOCK_DGRAM)
        c.settimeout(2.0)
        try:
            c.setsockopt(socket.SOL_UDP, udp_segment, 1000)
            # 7 datagrams: six of 1000 bytes and one of 300, in one send.
            run = b''.join(bytes([65 + i]) * 1000 for i in range(6)) + b'z' * 300
            got = []
            for _ in range(3):
                c.sendto(run, (host, UDP_ECHO_PORT))
                try:
                    while len(got) < 7:
                        got.append(c.recvfrom(65535)[0])
                    break
                except socket.timeout:
                    got = []
            diag('%s: %s' % (host, [(len(g), g[:1]) for g in got]))
            check(sorted(got) == sorted([bytes([65 + i]) * 1000 for i in range(6)] + [b'z' * 300]),
                  'echo of a UDP_SEGMENT run to %s: %d datagrams, sizes %s'
                  % (host, len(got), [len(g) for g in got]))
        finally:
            c.close()


@case('UDP: dig @LAN resolver on a non-standard port (%d) is answered through the tunnel'
      % UDP_DNS_PORT)
def t_udp_dig():
    if not shutil.which('dnsmasq') and not os.path.exists('/usr/sbin/dnsmasq'):
        raise Fail('dnsmasq not installed')
    udp_tunnel()
    d = LAB.spawn(LAB.ns_lan, ['/usr/sbin/dnsmasq', '-k', '-C', '/dev/null', '--no-resolv',
                               '--no-hosts', '-p', str(UDP_DNS_PORT), '--bind-interfaces',
                               '--listen-address', netlab.LAN4, '--address=/udp.test/10.9.8.7',
                               '--pid-file='], label='dnsmasq-udp')
    try:
        time.sleep(0.5)
        r = LAB.run(LAB.ns_client, ['dig', '@' + netlab.LAN4, '-p', str(UDP_DNS_PORT),
                                    '+short', '+tries=2', '+time=3', 'udp.test', 'A'], timeout=20)
        check(r.stdout.strip() == '10.9.8.7', 'dig: rc %d %r %r' % (r.returncode, r.stdout,
                                                                    r.stderr))
    finally:
        d.kill()
        d.wait()


def gw_udp_sockets():
    """UDP sockets of the server in the gw namespace (its associations)."""
    r = LAB.run(LAB.ns_gw, ['ss', '-u', '-a', '-n', '-p', '-H'])
    return [ln for ln in r.stdout.splitlines()
            if 'shuttle' in ln or 'python' in ln]


@case('UDP: 1000 concurrent flows with distinct source ports all answered; associations gone '
      'after --udp-timeout')
def t_udp_flows():
    stop_tunnel()
    udp_echo_servers()
    before = len(gw_udp_sockets())
    s = Shuttle(SUBNETS + ['--udp-timeout', '3']).wait_ready()
    try:
        check(s.wait_line(r'UDP and ping to the tunnelled subnets go through', 10) is not None,
              'no UDP:\n' + s.stderr())
        socks = []
        for i in range(1000):
            c = LAB.socket(LAB.ns_client, socket.AF_INET, socket.SOCK_DGRAM)
            c.setblocking(False)
            socks.append(c)
        answered = set()
        deadline = time.monotonic() + 20
        while len(answered) < len(socks) and time.monotonic() < deadline:
            for i, c in enumerate(socks):
                if i not in answered:
                    c.sendto(b'flow %d' % i, (netlab.LAN4, UDP_ECHO_PORT))
            end = time.monotonic() + 1.0
            while time.monotonic() < end and len(answered) < len(socks):
                r, _, _ = select.select([c for i, c in enumerate(socks) if i not in answered],
                                        [], [], 0.2)
                for c in r:
                    i = socks.index(c)
                    try:
                        data = c.recv(100)
                    except BlockingIOError:
                        continue
                    check(data == b'flow %d' % i, 'flow %d got %r' % (i, data))
                    answered.add(i)
        check(len(answered) == 1000, 'only %d of 1000 flows answered' % len(answered))
        n = len(gw_udp_sockets()) - before
        diag('server UDP sockets with the flows open: %d' % n)
        check(n >= 1000, 'the server has %d associations, not 1000' % n)
        for c in socks:
            c.close()
        gone = wait_until(lambda: len(gw_udp_sockets()) <= before, 10)
        check(gone, 'associations still open 10 s after the 3 s timeout: %d'
              % (len(gw_udp_sockets()) - before))
    finally:
        s.stop()


@case('UDP: iperf3 -u at 20 Mbit/s both directions, loss under 1%; downloads reach the tun '
      'device in UDP GSO groups')
def t_udp_iperf():
    if not shutil.which('iperf3'):
        raise Fail('iperf3 not installed')
    # -vv: the engine's counters at exit, to see how the downloads went in.
    s = udp_tunnel(['-vv'])
    srv = LAB.spawn(LAB.ns_lan, ['iperf3', '-s', '-p', '5211', '-B', netlab.LAN4],
                    label='iperf3-udp')
    try:
        time.sleep(0.5)
        for reverse in ([], ['-R']):
            r = LAB.run(LAB.ns_client, ['iperf3', '-c', netlab.LAN4, '-p', '5211', '-u', '-b',
                                        '20M', '-t', '3', '-l', '1200', '-J'] + reverse,
                        timeout=60)
            check(r.returncode == 0, 'iperf3 %s: %s %s' % (reverse, r.stdout[-400:], r.stderr))
            res = json.loads(r.stdout)['end']['sum']
            diag('iperf3 -u %s: %.1f Mbit/s, loss %.2f%%' % (
                ' '.join(reverse) or 'up', res['bits_per_second'] / 1e6, res['lost_percent']))
            check(res['lost_percent'] < 1.0, 'loss %.2f%%' % res['lost_percent'])
            check(res['bits_per_second'] > 15e6, 'rate %.1f Mbit/s' % (res['bits_per_second'] / 1e6))
    finally:
        srv.kill()
        srv.wait()
    stop_tunnel()
    m = re.search(r'datagram device: \d+ packets relayed in, (\d+) out \((\d+) in UDP GSO groups, '
                  r'(\d+) writes\)', s.stderr())
    check(m, 'no datagram counters at exit:\n' + s.stderr()[-2000:])
    out, grouped, writes = (int(x) for x in m.groups())
    diag('datagrams to the device: %d, %d of them grouped, in %d writes' % (out, grouped, writes))
    # iperf3 paces its 1200-byte datagrams: runs of a few, where the kernel
    # takes UDP GSO (6.2 on); a kernel before that groups none.
    if kernel_at_least(6, 2):
        check(grouped > 0 and writes < out, 'no datagram went to the device in a group')


def allow_ping_on_gw():
    LAB.run(LAB.ns_gw, ['sysctl', '-q', '-w', 'net.ipv4.ping_group_range=0 2147483647'],
            check=True)


@case('ping -c 3 to LAN hosts (v4, v6) answered from the far side; a host that does not exist '
      'gets no reply')
def t_ping():
    allow_ping_on_gw()
    udp_tunnel()
    for host in (netlab.LAN4, netlab.LAN6):
        r = LAB.run(LAB.ns_client, ['ping', '-c', '3', '-i', '0.3', '-W', '2', host], timeout=30)
        check(r.returncode == 0 and ' 0% packet loss' in r.stdout,
              'ping %s: rc %d\n%s%s' % (host, r.returncode, r.stdout, r.stderr))
    r = LAB.run(LAB.ns_client, ['ping', '-c', '2', '-W', '2', '10.231.2.99'], timeout=30)
    check(r.returncode != 0 and '100% packet loss' in r.stdout,
          'ping of a host that does not exist: rc %d\n%s' % (r.returncode, r.stdout))


@case('UDP: -x excludes apply: the excluded host gets nothing through the tunnel, its neighbour '
      'does')
def t_udp_exclude():
    udp_tunnel(['-x', netlab.LAN4_B])
    check(udp_echo(netlab.LAN4, b'in') == b'in', 'included host not answered')
    check(udp_echo(netlab.LAN4_B, b'out', tries=2, timeout=1) is None,
          'the excluded host answered through the tunnel')


@case('--no-udp: no device, no datagram rules, UDP to the LAN goes nowhere')
def t_no_udp():
    stop_tunnel()
    udp_echo_servers()
    s = Shuttle(SUBNETS + ['--no-udp']).wait_ready()
    try:
        check(dgram_leftovers() == [], 'datagram state with --no-udp: %s' % dgram_leftovers())
        text = LAB.run(LAB.ns_client, ['nft', 'list', 'table'] + s.table.split()).stdout
        check('dgram' not in text, 'a datagram chain with --no-udp:\n' + text)
        check(udp_echo(netlab.LAN4, b'x', tries=2, timeout=1) is None, 'UDP got through')
        check('UDP and ping' not in s.stderr(), 'said something about UDP:\n' + s.stderr())
    finally:
        s.stop()


@case('an old server (protocol version 1): TCP works, UDP off with one notice')
def t_udp_old_server():
    stop_tunnel()
    old = ['--server-cmd', 'env SHUTTLE_TEST_PROTOCOL_MAX=1 ' + BIN + ' --server']
    if SERVER == 'agent':
        old = ['--server-cmd', 'env SHUTTLE_TEST_PROTOCOL_MAX=1 %s %s' % (
            netlab.PY, os.path.join(SRCDIR, 'service', 'agent', 'shuttle-agent.py'))]
    s = Shuttle(['-r', LAB.remote, '-e', LAB.ssh_cmd] + old + SUBNETS, remote=False).wait_ready()
    try:
        i = s.wait_line(r'UDP and ping are off: the server is too old', 10)
        check(i is not None, 'no notice:\n' + s.stderr())
        check(len(re.findall('UDP and ping are off', s.stderr())) == 1, 'said more than once')
        rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT))
        check(rc == 0 and b'Hello' in body, 'TCP through an old server: %d %s' % (rc, err))
        check(dgram_leftovers() == [], 'a device with an old server: %s' % dgram_leftovers())
    finally:
        s.stop()


@case('SIGKILL of the engine: no ip rule, route, device or table left within 2 s')
def t_udp_sigkill():
    stop_tunnel()
    s = Shuttle(SUBNETS).wait_ready()
    check(s.wait_line(r'UDP and ping to the tunnelled subnets go through', 10) is not None,
          'no UDP:\n' + s.stderr())
    check(len(dgram_leftovers()) >= 5, 'not set up: %s' % dgram_leftovers())
    s.p.kill()
    s.p.wait()
    s.reader.join(2)
    t0 = time.monotonic()
    gone = wait_until(lambda: dgram_leftovers() == [] and s.table not in shuttle_tables(), 2.0,
                      step=0.05)
    diag('after SIGKILL: %s in %.2f s' % ('all gone' if gone else dgram_leftovers(),
                                          time.monotonic() - t0))
    check(gone, 'left after SIGKILL: %s %s' % (dgram_leftovers(), shuttle_tables()))
    r = LAB.run(LAB.ns_client, ['nft', 'list', 'ruleset']).stdout
    check('shuttle' not in r, 'ruleset:\n' + r)


def git_repo_on_lan():
    """A repository the lab's web server on the LAN serves over git's
    dumb HTTP protocol (static files: no git on the server side)."""
    bare = os.path.join(LAB.www, 'shuttle-run.git')
    if os.path.isdir(bare):
        return
    src = os.path.join(LAB.dir, 'git-src')
    env = dict(os.environ, GIT_AUTHOR_NAME='lab', GIT_AUTHOR_EMAIL='lab@lab',
               GIT_COMMITTER_NAME='lab', GIT_COMMITTER_EMAIL='lab@lab')
    for cmd in (['git', 'init', '-q', src],
                ['git', '-C', src, 'commit', '-q', '--allow-empty', '-m', 'lab'],
                ['git', 'clone', '-q', '--bare', src, bare],
                ['git', '-C', bare, 'update-server-info']):
        subprocess.run(cmd, check=True, env=env)
    subprocess.run(['chmod', '-R', 'a+rX', bare], check=True)


@case('shuttle run as an ordinary user, no rules: curl v4, v6 from a child of a child, a '
      'non-blocking client, git clone over http; other traffic direct; a static program warned')
def t_run():
    stop_tunnel()
    git_repo_on_lan()
    script = RUN_SCRIPT % dict(lan4=netlab.LAN4, lan6=netlab.LAN6, http=netlab.HTTP_PORT,
                               echo=netlab.ECHO_PORT, gw4=netlab.GW4)
    s = UserShuttle(['-v', netlab.LAN_NET4, netlab.LAN_NET6, '--', 'bash', '-c', script],
                    head=['run'])
    rc = s.wait_exit(40)
    out = s.p.stdout.read().decode(errors='replace')
    s.reader.join(2)
    diag('command output: %s' % out.strip().replace('\n', ' | '))
    check(rc == 0, 'shuttle run exited %s; output:\n%s' % (rc, out))
    check(not shuttle_tables(), 'rules were made: %s' % shuttle_tables())
    check('v4 200' in out and 'v6 200' in out, 'curl through the preload:\n%s' % out)
    check('nonblock ping %s' % netlab.LAN4 in out, 'non-blocking client:\n%s' % out)
    check('git clone ok' in out, 'git clone over http:\n%s' % out)
    check(re.search(r'direct SSH %s' % re.escape(netlab.CLIENT4), out),
          'the direct connection did not go direct:\n%s' % out)
    chans = re.findall(r'channel \d+: (\S+)', s.stderr())
    check(all(netlab.GW4 not in c for c in chans), 'the gw went through the tunnel: %s' % chans)
    check(any(netlab.LAN6 in c for c in chans), 'no IPv6 channel: %s' % chans)

    # a static program: told before it starts, and it really is not tunnelled
    # (busybox nc: busybox-static's wget crashes before it connects, which
    # would pass this check for the wrong reason)
    s = UserShuttle([netlab.LAN_NET4, '--', '/bin/busybox', 'nc', '-w', '2', netlab.LAN4,
                     str(netlab.HTTP_PORT)], head=['run'])
    rc = s.wait_exit(30)
    s.reader.join(2)
    check(s.wait_line(r'statically linked.*--socks', 1) is not None,
          'no warning about the static program:\n%s' % s.stderr())
    check(rc not in (0, None, 139), 'busybox nc reached the LAN, or crashed (rc %s)' % rc)


# shuttle run --dns: names the far side's resolver alone knows, asked by
# curl (threaded resolver), by Python for IPv6 only, and an unknown name;
# this host's own names stay local.
RUN_DNS_SCRIPT = r"""
curl -sS --max-time 10 -o /dev/null -w 'name %%{http_code} %%{remote_ip}\n' http://%(name)s:%(http)d/
python3 - <<'EOF'
import socket
print('v6', socket.getaddrinfo('%(name)s.', 80, socket.AF_INET6, socket.SOCK_STREAM)[0][4][0])
try:
    socket.getaddrinfo('nosuchname.corp.internal', 80)
    print('unknown resolved')
except socket.gaierror as e:
    print('unknown', e.errno == socket.EAI_NONAME)
print('local', socket.getaddrinfo('localhost', 80, socket.AF_INET)[0][4][0])
EOF
"""


@case('shuttle run --dns: a name only the far side knows resolves and connects for the command '
      '(v4, v6, unknown name refused, localhost local), and not outside it')
def t_run_dns():
    stop_tunnel()
    script = RUN_DNS_SCRIPT % dict(name=netlab.NAME_BUILD, http=netlab.HTTP_PORT)
    s = UserShuttle(['-v', '--dns', netlab.LAN_NET4, netlab.LAN_NET6, '--', 'bash', '-c', script],
                    head=['run'])
    rc = s.wait_exit(40)
    out = s.p.stdout.read().decode(errors='replace')
    s.reader.join(2)
    diag('command output: %s' % out.strip().replace('\n', ' | '))
    check(rc == 0, 'shuttle run --dns exited %s; output:\n%s\n%s' % (rc, out, s.stderr()))
    check(not shuttle_tables(), 'rules were made: %s' % shuttle_tables())
    check('name 200 %s' % netlab.LAN4 in out, 'curl by name through the preload:\n%s' % out)
    check('v6 %s' % netlab.LAN6 in out, 'AAAA of the far side:\n%s' % out)
    check('unknown True' in out, 'an unknown name:\n%s' % out)
    check('local 127.0.0.1' in out, 'localhost not local:\n%s' % out)
    # outside the command (and without --dns) the name does not resolve
    rc, out, err = user_curl(['http://%s:%d/' % (netlab.NAME_BUILD, netlab.HTTP_PORT)],
                             max_time=5)
    check(rc != 0 and 'Hello' not in out, 'the name resolved outside shuttle run: %s' % out[:80])
    s = UserShuttle([netlab.LAN_NET4, '--', 'curl', '-sS', '--max-time', '5', '-o', '/dev/null',
                     'http://%s:%d/' % (netlab.NAME_BUILD, netlab.HTTP_PORT)], head=['run'])
    rc = s.wait_exit(30)
    check(rc not in (0, None), 'the name resolved in shuttle run without --dns (rc %s)' % rc)


# shuttle run --scope / --exclude-scope: the command in a cgroup of its own,
# matched by the firewall rules. `ip netns exec` mounts a fresh /sys without
# the cgroup hierarchy, so the engine gets cgroup v2 mounted at
# /sys/fs/cgroup in its own mount namespace first, as on a systemd host.
def _host_cgroup2():
    with open('/proc/self/mounts') as f:
        for ln in f:
            fields = ln.split()
            if len(fields) > 2 and fields[2] == 'cgroup2':
                return fields[1]
    return None


class ScopeShuttle(Shuttle):
    """`shuttle run` (as root: the rules in process) with the cgroup v2
    hierarchy mounted; the command's output goes to @out."""

    def __init__(self, args):
        self.ns = LAB.ns_client
        argv = [BIN, 'run', '-r', LAB.remote, '-e', LAB.ssh_cmd] + server_args()
        self.argv = argv + (['-v'] if VERBOSE else []) + list(args)
        self.lines, self.stamps = [], []
        self.cond = threading.Condition()
        STARTED.append(self)
        wrap = ['sh', '-c', 'mountpoint -q /sys/fs/cgroup || '
                'mount -t cgroup2 cgroup2 /sys/fs/cgroup || exit 99; exec "$@"', 'sh']
        self.p = LAB.spawn(self.ns, wrap + self.argv, label='shuttle-scope',
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.table = 'inet shuttle-%d' % self.p.pid
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def cgroup_dir(self):
        """The command's cgroup seen from here (the host's mount)."""
        root = _host_cgroup2()
        return root and os.path.join(root, 'shuttle-run-%d' % self.p.pid)


# busybox-static's wget crashes (SIGSEGV) before it connects on this
# Debian build; its nc is as static and works.
def _scope_script(out, tail):
    return ("printf 'GET / HTTP/1.0\\r\\n\\r\\n' | /bin/busybox nc -w 5 %s %d >%s 2>&1 "
            "&& echo WGET-OK >>%s || echo WGET-FAILED >>%s; %s"
            % (netlab.LAN4, netlab.HTTP_PORT, out, out, out, tail))


def _wait_file(path, words, timeout):
    def seen():
        try:
            with open(path) as f:
                text = f.read()
        except OSError:
            return False
        return any(w in text for w in words)
    return wait_until(seen, timeout, step=0.1)


@case('shuttle run --scope: a static busybox nc in the command\'s cgroup is tunnelled, a '
      'process outside it is not; SIGKILL of the engine leaves no rule')
def t_run_scope():
    stop_tunnel()
    check(_host_cgroup2() is not None, 'no cgroup v2 hierarchy on this host')
    out = os.path.join(LAB.dir, 'scope-out')
    if os.path.exists(out):
        os.unlink(out)
    s = ScopeShuttle(['--scope', netlab.LAN_NET4, '--', 'sh', '-c',
                      _scope_script(out, 'sleep 20')])
    try:
        s.wait_ready()
        rules = LAB.run(LAB.ns_client, ['nft', 'list', 'table'] + s.table.split()).stdout
        # (nft shows the cgroup's id here: this namespace has no cgroup mount)
        check(re.search(r'socket cgroupv2 level 1 \S+ ip daddr %s' % re.escape(netlab.LAN_NET4),
                        rules), 'no cgroup match on the redirect:\n%s' % rules)
        check(_wait_file(out, ('WGET-OK', 'WGET-FAILED'), 15), 'the command did not run')
        with open(out) as f:
            text = f.read()
        check('WGET-OK' in text and 'Hello' in text,
              'busybox nc (static) in the scope not tunnelled:\n%s' % text)
        rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT), max_time=4)
        check(rc != 0 and b'Hello' not in body, 'a process outside the scope was tunnelled')
        s.p.kill()
        t0 = time.monotonic()
        s.p.wait()
        gone = wait_until(lambda: s.table not in shuttle_tables(), 2.0, step=0.05)
        diag('table after SIGKILL: %s after %.2f s' % ('gone' if gone else 'STILL THERE',
                                                       time.monotonic() - t0))
        check(gone, 'the killed engine\'s scope rules are still there after 2 s')
    finally:
        if s.p.poll() is None:
            s.stop()
        d = s.cgroup_dir()
        if d and os.path.isdir(d):
            with open(os.path.join(d, 'cgroup.kill'), 'w') as f:
                f.write('1')
            wait_until(lambda: not open(os.path.join(d, 'cgroup.procs')).read(), 5)
            os.rmdir(d)


@case('shuttle run --exclude-scope: the rules tunnel everything but the command\'s cgroup; '
      'it is removed at the end')
def t_run_exclude_scope():
    stop_tunnel()
    check(_host_cgroup2() is not None, 'no cgroup v2 hierarchy on this host')
    out = os.path.join(LAB.dir, 'scope-out')
    if os.path.exists(out):
        os.unlink(out)
    s = ScopeShuttle(['--exclude-scope', netlab.LAN_NET4, '--', 'sh', '-c',
                      _scope_script(out, 'sleep 6')])
    s.wait_ready()
    check(_wait_file(out, ('WGET-OK', 'WGET-FAILED'), 15), 'the command did not run')
    with open(out) as f:
        text = f.read()
    check('WGET-FAILED' in text and 'Hello' not in text,
          'the excluded command was tunnelled:\n%s' % text)
    rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT), max_time=10)
    check(rc == 0 and b'Hello' in body, 'outside the scope not tunnelled: rc %d %s' % (rc, err))
    rc = s.wait_exit(20)
    check(rc == 0, 'shuttle run --exclude-scope exited %s:\n%s' % (rc, s.stderr()))
    check(s.table not in shuttle_tables(), 'table left: %s' % shuttle_tables())
    d = s.cgroup_dir()
    check(not os.path.isdir(d), 'the cgroup %s was left' % d)


@case('automatic: no shuttle-server there: the Python agent is uploaded and works')
def t_auto_agent():
    stop_tunnel()
    d = _path_dir('py', {'python3': netlab.PY})
    s = _auto_shuttle(d)
    try:
        s.wait_ready()
        line = _connected_to(s)
        check('(shuttle-agent' in line, 'not the agent: %s' % line)
        check_big_download(BIG_URL4)
        # Nothing was written on the server: the agent runs from memory.
        agents = [p for p in netlab.ns_pids(LAB.ns_gw)
                  if 'shuttle-agent.py' in (netlab._cmdline(p) or '')]
        check(agents, 'no agent process in the gw')
        for p in agents:
            cl = netlab._cmdline(p)
            check(' -c ' in ' %s ' % cl, 'agent not run by the loader: %s' % cl)
    finally:
        check(s.stop() == 0, 'exit status not 0')


@case('automatic: neither shuttle-server nor python3 there: one clear error, no table')
def t_auto_nothing():
    stop_tunnel()
    d = _path_dir('empty', {})
    r = LAB.run(LAB.ns_client, [BIN, '-r', LAB_REMOTE, '-e', _ssh_with_path(d),
                                '--transport=agent', netlab.LAN_NET4],
                timeout=30)
    diag('stderr: %s' % r.stderr.strip())
    check(r.returncode == 1, 'exit status %d, want 1' % r.returncode)
    check('the server has neither shuttle-server nor python3 on its PATH; install python3'
          in r.stderr, 'message does not say what is missing')
    check(len(r.stderr.strip().splitlines()) == 1, 'more than one line on stderr')
    check(not shuttle_tables(), 'table left: %s' % shuttle_tables())


# A shuttle-server from the future: its HELLO offers protocol 7 only.
FUTURE_SERVER = """#!%s
import struct, sys
name = b'shuttle-server 9.0'
hello = b'\\0SHUTTLE' + struct.pack('>HHIIII', 7, 7, 1 << 20, 1000, 0, 0) + name
sys.stdout.buffer.write(struct.pack('>BBHI', 1, 0, len(hello), 0) + hello)
sys.stdout.flush()
sys.stdin.buffer.read()
""" % netlab.PY


@case('automatic: shuttle-server of another protocol version: the agent runs instead')
def t_auto_version_fallback():
    stop_tunnel()
    d = _path_dir('future', {'shuttle-server': FUTURE_SERVER, 'python3': netlab.PY})
    s = _auto_shuttle(d)
    try:
        s.wait_ready()
        line = _connected_to(s)
        check('(shuttle-agent' in line, 'not the agent: %s' % line)
        check('uploading the Python agent instead' in s.stderr(),
              'the fallback is not explained')
        check_big_download(BIG_URL4)
    finally:
        check(s.stop() == 0, 'exit status not 0')


# ------------------------------------------- --transport=ssh
# Accounts that run nothing (netlab.FWD_USER: command="/bin/false" in its
# key; NOLOGIN_USER: shell nologin) but may forward: ssh's own forwarding
# carries the tunnel through a control master. The issue's TCP cases run on
# both, one set of functions per account.
FWD_ACCOUNTS = ((netlab.FWD_USER, 'key with command="/bin/false"'),
                (netlab.NOLOGIN_USER, 'nologin shell'))


def _fwd_shuttle(user, args, transport='ssh'):
    netlab.ensure_fwd_users()
    argv = ['-e', LAB.ssh_cmd] + (['--transport=' + transport] if transport else []) + args
    return Shuttle(argv, remote='%s@%s' % (user, netlab.GW4), auto=True)


def _fwd_run(user, args, timeout=30):
    netlab.ensure_fwd_users()
    r = LAB.run(LAB.ns_client, [BIN, '-r', '%s@%s' % (user, netlab.GW4), '-e', LAB.ssh_cmd]
                + args, timeout=timeout)
    diag('stderr: %s' % r.stderr.strip())
    return r


def _masters(s):
    """The engine's ssh masters and their control directories."""
    found = []
    for p in s.ssh_procs():
        argv = (netlab._cmdline(p) or '').split()
        if '-M' in argv and '-S' in argv[:-1]:
            found.append((p, os.path.dirname(argv[argv.index('-S') + 1])))
    return found


def _running(p):
    """A zombie waiting for its reaper counts as gone."""
    try:
        with open('/proc/%d/stat' % p) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except OSError:
        return False


def _check_masters_gone(masters, timeout, when):
    """Every master has exited within @timeout s and left no directory."""
    gone = wait_until(lambda: not any(_running(p) for p, _ in masters), timeout, step=0.05)
    if not gone:   # say what the survivor is doing, for the next one to read
        for p, _ in masters:
            diag('%d: %s' % (p, harness.read('/proc/%d/status' % p)[:400]))
    check(gone, 'an ssh master outlived the engine (%s)' % when)
    left = [d for _, d in masters if os.path.exists(d)]
    check(not left, 'control directory left (%s): %s' % (when, left))


def _ssh_transport_cases(user, how):
    @case('--transport=ssh, %s: IPv4, IPv6, -x, 64 parallel checksums, half-close, closed port '
          'reset at once, --dns via --to-ns; SIGTERM: no table, ssh or control directory' % how)
    def t_ssh_transport():
        stop_tunnel()
        s = _fwd_shuttle(user, SUBNETS + ['-x', netlab.LAN4_B, '-x', netlab.LAN6_B,
                                          '--dns', '--to-ns', netlab.LAN4])
        try:
            s.wait_ready()
            check('ssh\'s own forwarding' in _connected_to(s), 'not over ssh forwarding')
            masters = _masters(s)
            check(len(masters) == 1, 'want one ssh master, got %r' % masters)
            # The engine holds the master's socket: nothing of it is left in
            # the file system for a kill to leave behind.
            check(not os.path.exists(masters[0][1]),
                  'control directory still there while up: %s' % masters[0][1])
            for tcp in (False, True):
                status, answers, secs = dig(netlab.NAME_BUILD, tcp=tcp)
                diag('DNS over %s: %s %s in %.2fs' % ('TCP' if tcp else 'UDP', status, answers,
                                                       secs))
                check(status == 'NOERROR' and answers == [netlab.LAN4],
                      '%s query: %s %s' % ('TCP' if tcp else 'UDP', status, answers))
            check_big_download(BIG_URL4)
            check_big_download(BIG_URL6)
            check_no_path(['http://%s:%d/' % (netlab.LAN4_B, netlab.HTTP_PORT),
                           'http://[%s]:%d/' % (netlab.LAN6_B, netlab.HTTP_PORT)], 'excluded host')
            run_parallel(64, 2 << 20)
            check_half_close()
            for host in (netlab.LAN4, netlab.LAN6):
                outcome, secs = failing_connect(host, netlab.CLOSED_PORT, 5)
                diag('%s port %d: %s after %.2fs' % (host, netlab.CLOSED_PORT, outcome, secs))
                check(outcome == 'ECONNRESET', '%s: want a reset, got %s' % (host, outcome))
                check(secs < 2, '%s: reset took %.2fs' % (host, secs))
            c = open_echo()
        finally:
            rc = s.stop(signal.SIGTERM)
        check(rc == 0, 'exit status %s; stderr:\n%s' % (rc, s.stderr()))
        check(end_seen(c) in ('reset', 'EOF'), 'an open connection was not ended')
        check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())
        _check_masters_gone(masters, 1, 'SIGTERM')

    @case('--transport=auto, %s: one notice, then ssh forwarding; SIGKILL during a transfer: '
          'no ssh master, table or control directory' % how)
    def t_ssh_transport_fallback():
        stop_tunnel()
        s = _fwd_shuttle(user, SUBNETS, transport=None)
        frozen, stuck = [], []
        try:
            s.wait_ready()
            notes = [ln for ln in s.lines if 'cannot run Shuttle\'s server' in ln]
            check(len(notes) == 1, 'want one fallback notice, got %r' % notes)
            check_big_download(BIG_URL4)
            masters = _masters(s)
            check(masters, 'no ssh master')
            # Uploads into a frozen sshd: ssh's output buffer stays full (16
            # channel windows of 2 MiB are more than the sockets hold). On
            # SIGTERM ssh says goodbye to the server and waits for that
            # buffer to drain (30 s here): only SIGKILL ends it at once.
            stuck = [open_echo() for _ in range(16)]
            frozen = [p for p in sshd_children() if user in (netlab._cmdline(p) or '')]
            check(frozen, 'no sshd of %s on the gw' % user)
            for p in frozen:
                os.kill(p, signal.SIGSTOP)
            for _ in range(3):
                for c in stuck:
                    c.setblocking(False)
                    try:
                        while True:
                            c.send(b'\0' * 65536)
                    except BlockingIOError:
                        pass
                time.sleep(0.3)
        finally:
            s.kill()
        try:
            _check_masters_gone(masters, 5, 'SIGKILL')
        finally:
            for p in frozen:
                try:
                    os.kill(p, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            for c in stuck:
                c.close()
        check(wait_until(lambda: s.table not in shuttle_tables(), 2.0, step=0.05),
              'the killed engine\'s table is still there')

    @case('--transport=ssh --reconnect, %s: ssh master killed: open connection ends, '
          'reconnected, works again' % how)
    def t_ssh_transport_reconnect():
        stop_tunnel()
        s = _fwd_shuttle(user, SUBNETS + ['--reconnect'])
        try:
            s.wait_ready()
            mark = len(s.lines)
            c = open_echo()
            victims = _masters(s)
            check(victims, 'no ssh master under shuttle')
            for p, _ in victims:
                os.kill(p, signal.SIGKILL)
            outcome = end_seen(c)
            check(outcome in ('reset', 'EOF'), 'a connection open through ssh: %s' % outcome)
            back = s.wait_line(r'\breconnected to\b', 15, mark)
            check(back is not None, 'not reconnected within 15 s:\n' + s.stderr(mark))
            rc, err, secs = curl_until(5)
            check(rc == 0, 'curl after the reconnect: rc %d %s' % (rc, err))
            masters = _masters(s)
            check(len(masters) == 1, 'want one new ssh master, got %r' % masters)
            stop_clean(s)
            _check_masters_gone(victims + masters, 1, 'SIGTERM after a reconnect')
        finally:
            if s.p.poll() is None:
                s.kill()

    @case('--transport=ssh, %s: -N and -H say why, --dns needs --to-ns' % how)
    def t_ssh_transport_refusals():
        stop_tunnel()
        for extra, want in ((['-N'], '-N and -H need Shuttle\'s server'),
                            (['-H', netlab.LAN_NET4], '-N and -H need Shuttle\'s server'),
                            (['--dns', netlab.LAN_NET4], 'needs --to-ns')):
            r = _fwd_run(user, ['--transport=ssh'] + extra)
            check(r.returncode == 2, '%s: exit status %d, want 2' % (extra, r.returncode))
            check(want in r.stderr, '%s: message %r lacks %r' % (extra, r.stderr, want))
        check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())


for _user, _how in FWD_ACCOUNTS:
    _ssh_transport_cases(_user, _how)


@case('--transport=ssh: an engine killed while ssh logs in leaves its control directory, '
      'the next start removes it')
def t_ssh_transport_sweep():
    stop_tunnel()
    netlab.ensure_fwd_users()
    wrap = os.path.join(LAB.dir, 'slow-ssh-fwd')
    with open(wrap, 'w') as f:
        f.write('#!/bin/sh\n'
                'for a in "$@"; do [ "$a" = -G ] && exec %s "$@"; done\n'
                'sleep 5\n'
                'exec %s "$@"\n' % (LAB.ssh_cmd, LAB.ssh_cmd))
    os.chmod(wrap, 0o755)
    s = Shuttle(['-e', wrap, '--transport=ssh', netlab.LAN_NET4],
                remote='%s@%s' % (netlab.FWD_USER, netlab.GW4), auto=True)
    pattern = '/tmp/shuttle-ssh-%d-*' % s.p.pid
    check(wait_until(lambda: glob.glob(pattern), 5, step=0.05), 'no %s made' % pattern)
    s.kill()
    left = glob.glob(pattern)
    check(left, 'the killed engine\'s directory is already gone: nothing to sweep')
    s2 = _fwd_shuttle(netlab.FWD_USER, [netlab.LAN_NET4])
    try:
        s2.wait_ready()
        check(not glob.glob(pattern), 'left by the killed engine, not removed: %s' % left)
    finally:
        check(s2.stop() == 0, 'exit status not 0')


@case('--transport=ssh: AllowTcpForwarding no is named; --transport=agent does not fall back')
def t_ssh_transport_forbidden():
    stop_tunnel()
    r = _fwd_run(netlab.NOFWD_USER, ['--transport=ssh', netlab.LAN_NET4])
    check(r.returncode == 1, 'forwarding forbidden: exit status %d, want 1' % r.returncode)
    check('AllowTcpForwarding' in r.stderr, 'the message does not name AllowTcpForwarding')
    r = _fwd_run(netlab.FWD_USER, ['--transport=agent', netlab.LAN_NET4])
    check(r.returncode == 1, '--transport=agent: exit status %d, want 1' % r.returncode)
    check('forwarding' not in r.stderr, '--transport=agent fell back: %s' % r.stderr)
    check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())


@case('an ssh login that takes 4 s (longer than a keepalive interval) still connects')
def t_slow_login():
    # The keepalive used to PING before the handshake, into a pipe that
    # led to the remote command not yet started: the server (or the agent's
    # loader) then read the PING as the start of something else. A slow
    # network after a reconnect, or a typed passphrase, makes logins slow.
    stop_tunnel()
    wrap = os.path.join(LAB.dir, 'slow-ssh')
    with open(wrap, 'w') as f:
        f.write('#!/bin/sh\n'
                '# "ssh -G" (shuttle reading the config) is not slowed down\n'
                'for a in "$@"; do [ "$a" = -G ] && exec %s "$@"; done\n'
                'sleep 4\n'
                'exec %s "$@"\n' % (LAB.ssh_cmd, LAB.ssh_cmd))
    os.chmod(wrap, 0o755)
    s = Shuttle(['-e', wrap] + server_args() + SUBNETS, remote=LAB.remote, auto=True)
    try:
        s.wait_ready(25)
        rc, body, err, _ = curl('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT), max_time=10)
        check(rc == 0 and b'Hello' in body, 'curl: rc %d %s' % (rc, err))
    finally:
        rc = s.stop()
    check(rc == 0, 'exit status %s' % rc)


@case('local mode (no -r) in the gw: traffic really goes through shuttle')
def t_local_mode():
    # In local mode client and server are one process on one host, so a
    # working download alone proves nothing: the gw reaches the LAN anyway.
    # The LAN's WHO service tells which source port it saw.  A direct
    # connection shows our own socket's port; a proxied one shows the port of
    # shuttle's outgoing socket, which cannot be ours (both sockets exist at
    # once with the same addresses, and the kernel keeps 4-tuples unique).
    stop_tunnel()
    gw = LAB.ns_gw
    for host in (netlab.LAN4, netlab.LAN6):   # the probe does see direct ones
        peer, mine = who(host, gw)
        check(peer == mine, 'direct WHO to %s: LAN saw %s, we are %s' % (host, peer, mine))
    s = Shuttle([netlab.LAN_NET4, netlab.LAN_NET6], ns=gw, remote=False)
    try:
        s.wait_ready()
        for host in (netlab.LAN4, netlab.LAN6):
            peer, mine = who(host, gw)
            check(peer[0] == mine[0] and peer[1] != mine[1],
                  'WHO to %s: LAN saw %s, we are %s: not proxied' % (host, peer, mine))
        check_big_download(BIG_URL4, gw)
        check_big_download(BIG_URL6, gw)
    finally:
        rc = s.stop()
    check(rc == 0, 'exit status %s' % rc)
    left = shuttle_tables(gw)
    check(not left, 'tables left in the gw: %s' % left)


# ------------------------------------------------------- IPv6 leak block
V6_PROBE_PORT = 7070


def v6_probe():
    """Connect from the client straight to the gw's IPv6 address (not a
    tunnelled subnet) and read; returns the outcome and the seconds taken."""
    t0 = time.monotonic()
    try:
        c = LAB.connect(LAB.ns_client, netlab.GW6, V6_PROBE_PORT, timeout=5)
        try:
            c.settimeout(5)
            data = c.recv(100)
            outcome = 'data %s' % data.decode(errors='replace').strip()
        finally:
            c.close()
    except socket.timeout:
        outcome = 'hang'
    except OSError as e:
        outcome = errno.errorcode.get(e.errno, str(e))
    return outcome, time.monotonic() - t0


@case('--block-ipv6 with 0/0: IPv6 around the tunnel is refused at once, the tunnel and '
      'ssh over IPv6 work, the block goes with the tunnel')
def t_block_ipv6():
    stop_tunnel()
    bait = LAB.spawn(LAB.ns_gw, [netlab.PY, '-c', (
        'import socket\n'
        's = socket.socket(socket.AF_INET6)\n'
        's.bind(("%s", %d)); s.listen(8)\n'
        'while True:\n'
        '    c, _ = s.accept(); c.sendall(b"DIRECT\\n"); c.close()\n') % (netlab.GW6,
                                                                     V6_PROBE_PORT)],
        label='v6bait')
    try:
        LAB.wait_port(LAB.ns_gw, netlab.GW6, V6_PROBE_PORT)
        # Without the option, 0/0 leaves IPv6 alone: the connection goes direct.
        s = Shuttle(['0/0'], remote='root@[%s]' % netlab.GW6)
        try:
            s.wait_ready()
            outcome, _ = v6_probe()
            check(outcome == 'data DIRECT', 'without --block-ipv6: %s' % outcome)
            check('block_ipv6' not in LAB.run(LAB.ns_client, ['nft', 'list', 'table']
                                              + s.table.split()).stdout, 'block without option')
        finally:
            check(s.stop() == 0, 'exit status without the option')
        # With it: ssh itself runs over IPv6 to the gw, LAN6 is tunnelled.
        s = Shuttle(['--block-ipv6', '-v', '0/0', netlab.LAN_NET6],
                    remote='root@[%s]' % netlab.GW6)
        try:
            s.wait_ready()
            rules = LAB.run(LAB.ns_client, ['nft', 'list', 'table'] + s.table.split()).stdout
            check('chain block_ipv6' in rules and 'ip6 daddr %s tcp dport 22 accept' % netlab.GW6
                  in rules, 'no block or no ssh exemption:\n' + rules)
            check('IPv6 leak block on' in s.stderr(), 'not logged: ' + s.stderr())
            outcome, secs = v6_probe()
            diag('direct IPv6 with --block-ipv6: %s in %.2f s' % (outcome, secs))
            check(outcome == 'ECONNREFUSED' and secs < 2,
                  'with --block-ipv6: %s after %.1f s' % (outcome, secs))
            for url in ('http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT),
                        'http://[%s]:%d/' % (netlab.LAN6, netlab.HTTP_PORT)):
                rc, body, err, _ = curl(url, max_time=10)
                check(rc == 0 and b'Hello' in body, 'through the tunnel %s: rc %d %s'
                      % (url, rc, err))
            check(s.p.poll() is None, 'shuttle exited: ' + s.stderr())
        finally:
            rc = s.stop()
        check(rc == 0, 'exit status %s' % rc)
        check(not shuttle_tables(), 'tables left: %s' % shuttle_tables())
        outcome, _ = v6_probe()
        check(outcome == 'data DIRECT', 'after exit: %s' % outcome)
        # A split tunnel does not take IPv6 away: the option is then off.
        s = Shuttle(['--block-ipv6', '-v', netlab.LAN_NET4])
        try:
            s.wait_ready()
            outcome, _ = v6_probe()
            check(outcome == 'data DIRECT', 'split tunnel with --block-ipv6: %s' % outcome)
            check('IPv6 leak block off' in s.stderr(), 'not logged: ' + s.stderr())
        finally:
            check(s.stop() == 0, 'exit status of the split tunnel')
    finally:
        bait.kill()
        bait.wait()


# ------------------------------- per application: --socks and shuttle run
# As netlab's LAB_USER, an ordinary user: no polkit rule, no helper on a
# system bus, no CAP_NET_ADMIN, so a firewall rule could not even be made.

_user_ssh = None


def _user_ssh_cmd():
    """An ssh command LAB_USER can use: the lab's key and known_hosts
    copied to a 0700 directory of its own (the lab's is root's)."""
    global _user_ssh
    netlab.ensure_lab_user()
    pw = __import__('pwd').getpwnam(netlab.LAB_USER)
    d = os.path.join(LAB.dir, 'user-ssh')
    if _user_ssh is None or not os.path.isdir(d):
        os.makedirs(d, mode=0o700, exist_ok=True)
        key, kh, conf = (os.path.join(d, n) for n in ('id', 'known_hosts', 'config'))
        shutil.copy(LAB.client_key, key)
        shutil.copy(LAB.known_hosts, kh)
        with open(conf, 'w') as f:
            f.write(netlab.ssh_config_text(key, kh))
        for f in (d, key, kh, conf):
            os.chown(f, pw.pw_uid, pw.pw_gid)
        os.chmod(key, 0o600)
        # the lab's directory must let the user through to its own
        os.chmod(LAB.dir, os.stat(LAB.dir).st_mode | 0o111)
        _user_ssh = 'ssh -F %s' % conf
    return _user_ssh


# The preload library of this build (meson sets it; else beside BIN's folder).
PRELOAD_LIB = os.environ.get('SHUTTLE_PRELOAD_LIBRARY') or os.path.join(
    os.path.dirname(os.path.dirname(BIN)), 'preload', 'libshuttle-preload.so')


def as_user(argv, env=()):
    """@argv run as LAB_USER, with a plain user's environment (and @env,
    "NAME=VALUE" strings)."""
    return ['setpriv', '--reuid=' + netlab.LAB_USER, '--regid=' + netlab.LAB_USER,
            '--clear-groups', 'env', '-i', 'HOME=/tmp', 'PATH=/usr/bin:/bin',
            'LANG=C.UTF-8', 'SHUTTLE_PRELOAD_LIBRARY=' + PRELOAD_LIB] + list(env) + argv


class UserShuttle(Shuttle):
    """shuttle started by LAB_USER (argv before @args: "run" or nothing)."""

    def __init__(self, args, head=(), env=()):
        ssh = _user_ssh_cmd()
        self.ns = LAB.ns_client
        argv = [BIN] + list(head) + ['-r', LAB.remote, '-e', ssh] + server_args()
        if VERBOSE:
            argv.append('-v')
        self.argv = argv + list(args)
        self.lines, self.stamps = [], []
        self.cond = threading.Condition()
        STARTED.append(self)
        self.p = LAB.spawn(self.ns, as_user(self.argv, env), label='shuttle-user',
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.table = 'inet shuttle-%d' % self.p.pid
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def wait_connected(self, timeout=15.0):
        i = self.wait_line(r'\bconnected to\b', timeout)
        check(i is not None, 'no "connected" within %gs (exit %s); stderr:\n%s'
              % (timeout, self.p.poll(), self.stderr()))
        return self


def free_port(ns):
    """A TCP port free on the client's loopback (bind, read, close)."""
    r = LAB.run(ns, [netlab.PY, '-c', 'import socket; s = socket.socket(); '
                     's.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'], timeout=10)
    return int(r.stdout)


def user_curl(args, as_root=False, max_time=10):
    argv = ['curl', '-sS', '-g', '--connect-timeout', '3', '--max-time', str(max_time)] + args
    r = LAB.run(LAB.ns_client, argv if as_root else as_user(argv), timeout=max_time + 20)
    return r.returncode, r.stdout, r.stderr.strip()


@case('--socks as an ordinary user, no subnets: no rules, no helper; curl --socks5-hostname by '
      'name, v4 and v6; another uid refused')
def t_socks():
    stop_tunnel()
    port = free_port(LAB.ns_client)
    s = UserShuttle(['-v', '--socks', str(port)]).wait_connected()
    check(not shuttle_tables(), 'rules made for --socks alone: %s' % shuttle_tables())
    check('firewall' not in s.stderr().lower() or 'no firewall' in s.stderr().lower(),
          'the engine went to the firewall: %s' % s.stderr())
    proxy = 'socks5h://127.0.0.1:%d' % port
    for url in ('http://%s:%d/' % (netlab.NAME_BUILD, netlab.HTTP_PORT),
                'http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT),
                'http://[%s]:%d/' % (netlab.LAN6, netlab.HTTP_PORT)):
        rc, out, err = user_curl(['--proxy', proxy, url])
        check(rc == 0 and 'Hello' in out, 'curl %s through SOCKS: rc %d %s' % (url, rc, err))
    rc, out, err = user_curl(['--socks5-hostname', '127.0.0.1:%d' % port,
                              'http://%s:%d/' % (netlab.NAME_BUILD, netlab.HTTP_PORT)])
    check(rc == 0 and 'Hello' in out, 'curl --socks5-hostname: rc %d %s' % (rc, err))
    # a name the far side does not know: the proxy says so at once
    rc, out, err = user_curl(['--proxy', proxy, 'http://nosuchname.corp.internal/'])
    check(rc != 0, 'an unknown name was reached: %s' % out[:80])
    # root is another uid: refused before any request is read
    rc, out, err = user_curl(['--proxy', proxy, 'http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT)],
                             as_root=True)
    check(rc != 0 and 'Hello' not in out, 'root used the user\'s SOCKS proxy: %s' % out[:80])
    check(s.wait_line(r'refused a client of uid 0', 3) is not None,
          'no refusal of uid 0 logged:\n%s' % s.stderr())
    # without the proxy the LAN stays out of reach: nothing else was captured
    rc, out, err = user_curl(['http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT)], max_time=3)
    check(rc != 0, 'the LAN answered without the proxy')
    check(s.stop() == 0, 'exit status not 0')


class UserSessionBus:
    """A session bus of LAB_USER's own (a session bus takes its own uid
    only), for a user engine's Engine1 object."""

    def __enter__(self):
        pw = __import__('pwd').getpwnam(netlab.LAB_USER)
        self.dir = tempfile.mkdtemp(prefix='shuttle-ubus-')
        os.chown(self.dir, pw.pw_uid, pw.pw_gid)
        self.addr = 'unix:path=%s/bus' % self.dir
        self.env = ['DBUS_SESSION_BUS_ADDRESS=' + self.addr]
        self.p = subprocess.Popen(as_user(['dbus-daemon', '--session', '--nofork', '--nopidfile',
                                           '--address=' + self.addr]),
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        check(wait_until(lambda: os.path.exists(self.dir + '/bus'), 10), 'no session bus')
        return self

    def run(self, argv, timeout=40):
        """@argv as LAB_USER on this bus, in the client namespace."""
        return LAB.run(LAB.ns_client, as_user(argv, self.env), timeout=timeout)

    def __exit__(self, *exc):
        self.p.terminate()
        self.p.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


@case('shuttle run --attach: a program started through a running engine\'s door reaches the '
      'tunnel, one started normally does not; another uid is refused at the door')
def t_run_attach():
    stop_tunnel()
    url = 'http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT)
    with UserSessionBus() as bus:
        # an engine that makes no rule: only programs sent to its door use it
        s = UserShuttle(['-v', netlab.LAN_NET4, netlab.LAN_NET6, '--', 'sleep', '300'],
                        head=['run'], env=bus.env).wait_connected()
        try:
            check(not shuttle_tables(), 'rules were made: %s' % shuttle_tables())
            name = 'io.github.shuttlevpn.Engine.p%d' % s.p.pid
            r = bus.run(['gdbus', 'call', '--session', '--dest', name, '--object-path',
                         '/io/github/shuttlevpn/Engine', '--method',
                         'org.freedesktop.DBus.Properties.Get', 'io.github.shuttlevpn.Engine1',
                         'Door'])
            m = re.search(r"<'(/[^']+)'>", r.stdout)
            check(m is not None, 'Door: %s %s' % (r.stdout, r.stderr))
            door = m.group(1)
            st = os.stat(os.path.dirname(door))
            check(st.st_mode & 0o077 == 0 and st.st_uid != 0,
                  'the door\'s directory is %o, uid %d' % (st.st_mode & 0o777, st.st_uid))
            curl_argv = ['curl', '-sS', '--connect-timeout', '3', '--max-time', '10', url]
            # by PID, and by bus name (what the applet passes)
            for engine in (str(s.p.pid), name):
                r = bus.run([BIN, 'run', '--attach', engine, '--'] + curl_argv)
                check(r.returncode == 0 and 'Hello' in r.stdout,
                      'curl through --attach %s: rc %d %s' % (engine, r.returncode, r.stderr))
            # a child of a shell started that way is in the tunnel too
            r = bus.run([BIN, 'run', '--attach', str(s.p.pid), '--', 'sh', '-c',
                         ' '.join(curl_argv) + ' >/dev/null && echo child-ok'])
            check('child-ok' in r.stdout, 'a child through --attach: %s' % r.stderr)
            # the same program started normally: no rule, no tunnel
            r = bus.run(curl_argv[:-2] + ['3', url])
            check(r.returncode != 0 and 'Hello' not in r.stdout,
                  'curl without --attach reached the LAN')
            # root knows the door's path, but the engine takes its own uid only
            r = LAB.run(LAB.ns_client, ['env', 'LD_PRELOAD=' + PRELOAD_LIB,
                                        'SHUTTLE_PRELOAD_SOCKET=' + door,
                                        'SHUTTLE_PRELOAD_NETS=' + netlab.LAN_NET4] + curl_argv,
                        timeout=30)
            check('Hello' not in r.stdout, 'root went through the user\'s door')
            check(s.wait_line(r'refused a client of uid 0', 5) is not None,
                  'no refusal of uid 0 logged:\n%s' % s.stderr())
            # an engine that is not there
            r = bus.run([BIN, 'run', '--attach', '1', '--', 'true'])
            check(r.returncode == 1 and 'cannot attach' in r.stderr,
                  'attach to nothing: rc %d %s' % (r.returncode, r.stderr))
        finally:
            s.stop()


# ---------------------------------------------------------------- runner
def sweep_stale_labs():
    """Labs of e2e runs that died without cleaning up (netlab writes the
    building process's PID into the state dir)."""
    for d in glob.glob('/tmp/shuttle-lab-e2e*'):
        try:
            with open(os.path.join(d, 'owner')) as f:
                owner = int(f.read())
        except (OSError, ValueError):
            owner = None
        if owner is None or not netlab._alive(owner):
            try:
                netlab.Lab(os.path.basename(d)[len('shuttle-lab-'):]).teardown()
            except Exception as e:
                diag('could not remove stale lab %s: %s' % (d, e))


def cleanup_after_case():
    """Leave nothing running but the shared tunnel; no stray tables."""
    if _current and _current.p.poll() is not None:
        stop_tunnel()
    keep = {_current.p.pid} if _current else set()
    for ns in (LAB.ns_client, LAB.ns_gw):
        for pid in netlab.ns_pids(ns):
            agent = is_agent(pid)
            if ((netlab.comm(pid) != 'shuttle' and not agent) or pid in keep
                    or not netlab._alive(pid)):
                continue
            # The shared tunnel's server runs in the gw: leave it alone.  With
            # no tunnel running, a server still there outlived its session.
            if (agent or '--server' in (netlab._cmdline(pid) or '')) and _current:
                continue
            diag('killing stray %s (pid %d) in %s' % (netlab._cmdline(pid), pid, ns))
            netlab.kill_pid(pid, signal.SIGKILL)
        keep_table = _current.table if _current and ns == LAB.ns_client else None
        for t in LAB.nft_tables(ns):
            if t.startswith('inet shuttle-') and t != keep_table:
                diag('removing stray table %s in %s' % (t, ns))
                LAB.run(ns, ['nft', 'delete', 'table'] + t.split())


def main():
    global LAB, BIG_URL4, BIG_URL6
    if os.geteuid() != 0:
        skip_all('needs root (network namespaces, nftables, sshd)')
    if not BIN or not os.access(BIN, os.X_OK):
        skip_all('SHUTTLE_BIN not set or not executable: %r' % BIN)
    missing = [t for t in ('ip', 'nft', 'ssh', 'ssh-keygen', 'curl')
               if not shutil.which(t)] + \
        [t for t in ('/usr/sbin/sshd',) if not os.access(t, os.X_OK)]
    if missing:
        skip_all('missing tools: %s' % ' '.join(missing))
    only = [x for x in os.environ.get('SHUTTLE_E2E_ONLY', '').split(',') if x]
    cases = [(n, f) for n, f in CASES if not only or any(o in n or o in f.__name__
                                                         for o in only)]

    # meson's timeout sends SIGTERM: turn it into an exception so the lab
    # is torn down on the way out.
    def on_term(signum, frame):
        raise KeyboardInterrupt('signal %d' % signum)
    signal.signal(signal.SIGTERM, on_term)

    sweep_stale_labs()
    try:
        LAB = netlab.Lab(PREFIX)
        LAB.up()
        BIG_URL4 = 'http://%s:%d/%s' % (netlab.LAN4, netlab.HTTP_PORT, LAB.big_name)
        BIG_URL6 = 'http://[%s]:%d/%s' % (netlab.LAN6, netlab.HTTP_PORT, LAB.big_name)
    except Exception as e:
        print('Bail out! lab setup failed: %s' % str(e).replace('\n', ' | '))
        return 1
    failed = 0
    print('1..%d' % len(cases))
    sys.stdout.flush()
    try:
        for i, (name, fn) in enumerate(cases, 1):
            t0 = time.monotonic()
            try:
                fn()
                ok, why = True, None
            except Fail as e:
                ok, why = False, str(e)
            except Exception:
                ok, why = False, traceback.format_exc()
            if not ok or VERBOSE:
                if why:
                    diag(why)
                for s in STARTED:
                    diag('stderr of %s (pid %d, exit %s), tail:' % (
                        ' '.join(s.argv[1:]), s.p.pid, s.p.poll()))
                    diag(s.stderr()[-1500:])
            del STARTED[:]
            if _current:
                STARTED.append(_current)
            try:
                cleanup_after_case()
            except Exception as e:
                diag('cleanup: %s' % e)
            failed += not ok
            print('%s %d - %s (%.1fs)' % ('ok' if ok else 'not ok', i, name,
                                         time.monotonic() - t0))
            sys.stdout.flush()
    except KeyboardInterrupt as e:
        print('Bail out! interrupted (%s); tearing the lab down' % (e or 'SIGINT'))
        sys.stdout.flush()
        failed += 1
    finally:
        try:
            stop_tunnel()
        except Exception as e:
            diag('stopping the tunnel: %s' % e)
        LAB.teardown()
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
