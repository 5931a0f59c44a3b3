#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""netlab: a throw-away "remote site" in network namespaces.

Used by the end-to-end tests, run-demo.sh and the benchmarks.  Three
namespaces per lab, all named after a short prefix:

  PREFIX-client                PREFIX-gw                      PREFIX-lan
  c0 10.231.1.2/24  <-------> g0 10.231.1.1/24   (sshd :22)
     fd31:1::2/64                fd31:1::1/64
  sink (dead veth)             g1 10.231.2.1/24  <-------->  l0 10.231.2.10/24
    10.231.2.0/24                 fd31:2::1/64                  10.231.2.11/24
    fd31:2::/64                gsink (dead veth)                fd31:2::10/64
    10.231.3.0/24                 10.231.3.0/24 (silent)        fd31:2::11/64
    10.231.4.0/24              unreachable 10.231.4.0/24     HTTP :8080, sha :9000,
                                                              echo :7, nothing on :9
                                                              (other ports are free
                                                              for callers' servers)

On request (Lab.add_jump(), for ProxyJump cases) a fourth namespace, a jump
host with an sshd of its own, through which a second sshd of the gw is
reached; the client has no route to that one:

  PREFIX-client                PREFIX-jump                    PREFIX-gw
  cj 10.231.6.2/24  <-------> j0 10.231.6.1/24   (sshd :22)
     fd31:6::2/64                fd31:6::1/64
                               j1 10.231.7.1/24  <-------->  gj 10.231.7.2/24 (sshd :22)
                                  fd31:7::1/64                  fd31:7::2/64
  (no route to 10.231.7.0/24)  (no forwarding)

  The jump's address lies in 10.231.0.0/16: a tunnel of that subnet that did
  not exclude it would capture ssh's own connection. The lab's ssh_config
  names the gw behind it `viajump` (ProxyJump JUMP4).

Why it looks like this:
  * The client has a *route* to the LAN, but into a veth whose peer is down,
    so packets vanish.  A route is needed because connect() fails with
    ENETUNREACH before netfilter sees the packet when there is none; the dead
    link makes sure nothing gets through except via a tunnel.
  * The gw does not forward (ip_forward=0, IPv6 forwarding=0): the only way
    from client to LAN is a process on the gw (sshd's session) that connects
    on the client's behalf.
  * 10.231.3.0/24 is routed by the gw into its own dead veth: connects there
    time out (SYNs vanish).  10.231.4.0/24 is an `unreachable` route: connects
    fail at once with EHOSTUNREACH.  The gw has no route at all for
    10.231.5.0/24 (no default route either): its connects there fail with
    ENETUNREACH.  All three are routed into the client's sink too.
  * Veths are created inside the namespaces; the root namespace's firewall,
    routes and sysctls are never touched.

All state (keys, configs, logs, PIDs, served files) lives in
/tmp/shuttle-lab-PREFIX/, so another process can tear the lab down:

  netlab.py up PREFIX [--shell] [--big-mib N]   build it, print a summary
  netlab.py down PREFIX                         kill what it started, delete it
  netlab.py status PREFIX                       print the saved summary

As a module:  with netlab.Lab('sht3a') as lab: lab.run(lab.ns_client, [...])
"""
import ctypes
import errno
import hashlib
import http.server
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

PY = '/usr/bin/python3'
HERE = os.path.abspath(__file__)

# Addresses (fixed: every lab uses the same ones, in its own namespaces).
CLIENT4, CLIENT6 = '10.231.1.2', 'fd31:1::2'
GW4, GW6 = '10.231.1.1', 'fd31:1::1'
GW_LAN4, GW_LAN6 = '10.231.2.1', 'fd31:2::1'
LAN4, LAN6 = '10.231.2.10', 'fd31:2::10'
LAN4_B, LAN6_B = '10.231.2.11', 'fd31:2::11'   # second host, for -x tests
LAN_NET4, LAN_NET6 = '10.231.2.0/24', 'fd31:2::/64'
SILENT_NET4, SILENT_NET6 = '10.231.3.0/24', 'fd31:3::/64'   # gw: dead veth
SILENT4, SILENT6 = '10.231.3.5', 'fd31:3::5'
UNREACH_NET4, UNREACH_NET6 = '10.231.4.0/24', 'fd31:4::/64'  # gw: unreachable
UNREACH4, UNREACH6 = '10.231.4.5', 'fd31:4::5'
NOROUTE_NET4 = '10.231.5.0/24'   # gw: no route at all (its connect: ENETUNREACH)
NOROUTE4 = '10.231.5.5'
# The jump host (Lab.add_jump()): its client side, and the gw's second
# address behind it, which only the jump reaches.
JUMP4, JUMP6 = '10.231.6.1', 'fd31:6::1'
CLIENT_J4, CLIENT_J6 = '10.231.6.2', 'fd31:6::2'
JUMP_GW_SIDE4, JUMP_GW_SIDE6 = '10.231.7.1', 'fd31:7::1'
GW_BEHIND4, GW_BEHIND6 = '10.231.7.2', 'fd31:7::2'

HTTP_PORT, SHA_PORT, ECHO_PORT, CLOSED_PORT = 8080, 9000, 7, 9

# Names (--dns, -H).  The LAN runs dnsmasq on LAN4 (the gw's resolver, per
# the gw's own resolv.conf) and a second one on LAN4_B (for --to-ns).  The
# client's resolv.conf names DEAD_NS4, where nobody answers: without the
# tunnel, names do not resolve there.  `ip netns exec` bind-mounts
# /etc/netns/NS/{resolv.conf,hosts} over /etc, which is what makes these
# per-namespace (and makes the client's /etc/hosts a bind mount).
NAME_BUILD, NAME_DB = 'build.corp.internal', 'db.corp.internal'   # LAN4(+6), LAN4_B (+PTR)
NAME_ALT = 'alt.corp.internal'          # only the second dnsmasq knows it: LAN4
NAME_GWHOSTS = 'intranet.lab.internal'  # only in the gw's /etc/hosts: LAN4
DEAD_NS4 = '10.231.1.53'
OTHER_NS4 = '192.0.2.53'   # a nameserver for --ns-hosts: routed into the client's sink
CLIENT_HOSTS = ('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
                '# the client lab namespace\'s own hosts file (no final newline)\n'
                '10.231.1.1\tgw.lab')
INDEX_HTML = ('<!doctype html>\n<title>Remote LAN</title>\n'
              '<h1>Hello from the remote LAN (10.231.2.10)</h1>\n'
              '<p>If you can read this from the client namespace, the tunnel works:\n'
              'the client has no other path to this host.</p>\n')

CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)


def state_dir(prefix):
    return '/tmp/shuttle-lab-%s' % prefix


def log(msg):
    sys.stderr.write('netlab: %s\n' % msg)
    sys.stderr.flush()


# ------------------------------------------------------------ data patterns
def pattern_chunks(n, seed):
    """Deterministic pseudo-random bytes for the sha service's DOWN command.

    Generated in fixed 64 KiB chunks from random.Random(seed) so that server
    and verifier produce the same stream whatever their read sizes."""
    rng = random.Random(seed)
    while n > 0:
        k = min(n, 65536)
        yield rng.randbytes(k)
        n -= k


def pattern_sha256(n, seed):
    h = hashlib.sha256()
    for c in pattern_chunks(n, seed):
        h.update(c)
    return h.hexdigest()


# -------------------------------------------------------------- processes
def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace').strip()
    except OSError:
        return None


def _alive(pid):
    """True if pid runs and is not a zombie."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[0] != 'Z'
    except (OSError, IndexError):
        return False


def _reap(pid):
    try:
        os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        pass


def kill_pid(pid, sig=signal.SIGTERM, wait=3.0):
    """Signal one PID, wait for it to die, SIGKILL it if it does not."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        _reap(pid)
        if not _alive(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for _ in range(40):
        _reap(pid)
        if not _alive(pid):
            return
        time.sleep(0.05)


def children(pid):
    """Direct children of pid (scans /proc)."""
    out = []
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                    out.append(int(d))
        except (OSError, ValueError, IndexError):
            pass
    return out


def descendants(pid):
    out, todo = [], [pid]
    while todo:
        for c in children(todo.pop()):
            out.append(c)
            todo.append(c)
    return out


def comm(pid):
    try:
        with open('/proc/%d/comm' % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def log_tail(path, lines=20):
    try:
        with open(path, errors='replace') as f:
            return ''.join(f.readlines()[-lines:])
    except OSError as e:
        return '(no log: %s)' % e


# sshd refuses to start without its compiled-in privilege separation
# directory. Only the openssh-server package's systemd unit creates it
# (RuntimeDirectory=), so a new machine or a container without systemd has
# none: every fixture that starts an sshd calls this first.
PRIVSEP_DIR = '/run/sshd'


def ensure_privsep_dir(marker):
    """Creates PRIVSEP_DIR when missing and records that in the file marker,
    so that release_privsep_dir() removes only what this fixture made."""
    if not os.path.isdir(PRIVSEP_DIR):
        os.makedirs(PRIVSEP_DIR, mode=0o755, exist_ok=True)
        open(marker, 'w').close()


def release_privsep_dir(marker):
    """Removes PRIVSEP_DIR if ensure_privsep_dir(marker) created it and no
    sshd runs any more (another lab or fixture may still use it)."""
    if not os.path.exists(marker):
        return
    os.unlink(marker)
    if not any(comm(int(d)) == 'sshd' and _alive(int(d))
               for d in os.listdir('/proc') if d.isdigit()):
        try:
            os.rmdir(PRIVSEP_DIR)
        except OSError:
            pass


def ns_exists(ns):
    return os.path.exists('/run/netns/' + ns)


def ns_pids(ns):
    if not ns_exists(ns):
        return []
    r = subprocess.run(['ip', 'netns', 'pids', ns], stdout=subprocess.PIPE,
                       stderr=subprocess.DEVNULL, text=True)
    return [int(x) for x in r.stdout.split()] if r.returncode == 0 else []


# -------------------------------------------------------------------- Lab
class LabError(RuntimeError):
    pass


class Lab:
    """One lab.  Lab(prefix).up() builds it; teardown() removes it.

    Usable as a context manager (up on enter, teardown on exit)."""

    def __init__(self, prefix, big_mib=32, wan=None):
        """wan: None for the plain lab (c0 and g0 are one veth pair), or a
        dict(rate_mbit=R or None, rtt_ms=T, delayline=<path of bench/bin/delayline>)
        for a shaped client<->gw link: a namespace <prefix>-wan in between,
        where `delayline` holds each frame T/2 ms each way and a tbf qdisc
        limits each direction to R Mbit/s with a 20 ms bottleneck buffer
        (this kernel has no sch_netem)."""
        if not re.fullmatch(r'[a-z][a-z0-9]{0,9}', prefix):
            raise ValueError('lab prefix must be [a-z][a-z0-9]{0,9}: %r' % prefix)
        self.prefix = prefix
        self.big_mib = big_mib
        self.ns_client = prefix + '-client'
        self.ns_gw = prefix + '-gw'
        self.ns_lan = prefix + '-lan'
        self.ns_jump = prefix + '-jump'   # only after add_jump()
        self.namespaces = [self.ns_client, self.ns_gw, self.ns_lan]
        self.wan = wan
        if wan:
            self.ns_wan = prefix + '-wan'
            self.namespaces.append(self.ns_wan)
        self.dir = state_dir(prefix)
        self.started = time.time()
        self.keys = os.path.join(self.dir, 'keys')
        self.logs = os.path.join(self.dir, 'logs')
        self.www = os.path.join(self.dir, 'www')
        self.pidfile = os.path.join(self.dir, 'pids.json')
        self.ssh_config = os.path.join(self.dir, 'ssh_config')
        self.sshd_config = os.path.join(self.dir, 'sshd_config')
        self.known_hosts = os.path.join(self.dir, 'known_hosts')
        self.client_key = os.path.join(self.keys, 'id_ed25519')
        self.host_key = os.path.join(self.keys, 'ssh_host_ed25519_key')
        self.ssh_cmd = 'ssh -F %s' % self.ssh_config
        self.ssh_argv = ['ssh', '-F', self.ssh_config]
        self.remote = 'root@%s' % GW4
        self.remote6 = 'root@%s' % GW6
        self.big_name = 'random-%dM.bin' % big_mib
        self.big_sha256 = None
        self._lock = threading.Lock()
        self.etc_client = os.path.join('/etc/netns', self.ns_client)
        self.etc_gw = os.path.join('/etc/netns', self.ns_gw)
        self.client_hosts = os.path.join(self.etc_client, 'hosts')

    # ---------------------------------------------------------- helpers
    def _ns_check(self, ns):
        if ns not in self.namespaces:
            raise ValueError('not a namespace of this lab: %r' % ns)

    def run(self, ns, argv, check=False, timeout=60, input=None, capture=True, **kw):
        """Run argv to completion inside namespace ns (None: root namespace).

        Returns the CompletedProcess (text mode unless text=False is given)."""
        if ns is not None:
            self._ns_check(ns)
            argv = ['ip', 'netns', 'exec', ns] + list(argv)
        kw.setdefault('text', True)
        if capture:
            kw.setdefault('stdout', subprocess.PIPE)
            kw.setdefault('stderr', subprocess.PIPE)
        r = subprocess.run(argv, timeout=timeout, input=input, **kw)
        if check and r.returncode != 0:
            raise LabError('command failed (%d): %s\n%s%s' % (
                r.returncode, ' '.join(argv), r.stdout or '', r.stderr or ''))
        return r

    def _ip(self, ns, *args):
        return self.run(None, ['ip', '-n', ns] + list(args), check=True)

    def _load_pids(self):
        try:
            with open(self.pidfile) as f:
                return json.load(f)
        except (OSError, ValueError):
            return []

    def _save_pids(self, ents):
        tmp = self.pidfile + '.tmp'
        with open(tmp, 'w') as f:
            json.dump(ents, f, indent=1)
        os.rename(tmp, self.pidfile)

    def spawn(self, ns, argv, label=None, stdout=None, stderr=None, **kw):
        """Start a long-running process in ns and remember its PID on disk.

        stdout/stderr default to a log file logs/<label>.log.  The process gets
        its own session so that signals to our terminal do not reach it.
        Returns the Popen (pid == the process in the namespace, since
        `ip netns exec` execs the command)."""
        self._ns_check(ns)
        label = label or os.path.basename(argv[0])
        full = ['ip', 'netns', 'exec', ns] + list(argv)
        logf = None
        if stdout is None or stderr is None:
            logf = open(os.path.join(self.logs, label + '.log'), 'ab')
            logf.write(('\n==== %s %s\n' % (time.strftime('%F %T'), ' '.join(full))).encode())
            logf.flush()
        kw.setdefault('stdin', subprocess.DEVNULL)
        kw.setdefault('start_new_session', True)
        p = subprocess.Popen(full, stdout=stdout if stdout is not None else logf,
                             stderr=stderr if stderr is not None else logf, **kw)
        if logf:
            logf.close()
        with self._lock:
            ents = self._load_pids()
            # the cmdline guards against killing a recycled PID at teardown
            ents.append({'pid': p.pid, 'label': label, 'ns': ns, 'cmd': ' '.join(argv)})
            self._save_pids(ents)
        return p

    def death_report(self, label, lines=20):
        """What a fixture spawned under label says about its own failure:
        whether it still runs, and the end of its log, so that a test fails
        with the cause (\"Missing privilege separation directory\") and not
        with a later symptom."""
        ents = [e for e in self._load_pids() if e.get('label') == label]
        state = ', '.join('pid %d %s' % (e['pid'], 'running' if _alive(e['pid']) else 'exited')
                          for e in ents) or 'never started'
        return '%s: %s\n%s' % (label, state, log_tail(os.path.join(self.logs, label + '.log'),
                                                       lines))

    def pids(self, label):
        """PIDs of the still running processes spawned under label."""
        return [e['pid'] for e in self._load_pids()
                if e.get('label') == label and _alive(e['pid'])]

    def socket(self, ns, family=socket.AF_INET, type=socket.SOCK_STREAM):
        """A socket that lives in namespace ns.

        A socket belongs to the network namespace of the thread that created
        it, and setns(CLONE_NEWNET) only moves the calling thread, so a short
        helper thread enters ns and creates it; the socket can then be used
        from any thread, with no subprocess per connection."""
        self._ns_check(ns)
        box = {}

        def make():
            try:
                fd = os.open('/run/netns/' + ns, os.O_RDONLY)
                try:
                    if _libc.setns(fd, CLONE_NEWNET) != 0:
                        e = ctypes.get_errno()
                        raise OSError(e, 'setns(%s): %s' % (ns, os.strerror(e)))
                finally:
                    os.close(fd)
                box['s'] = socket.socket(family, type)
            except BaseException as e:  # re-raised in the caller's thread
                box['e'] = e
        t = threading.Thread(target=make)
        t.start()
        t.join()
        if 'e' in box:
            raise box['e']
        return box['s']

    def connect_errno(self, ns, host, port, timeout=5.0, blocking=True):
        """(errno name or 'connected' or 'hang', seconds) of one connect()
        from ns: blocking, or non-blocking with poll and SO_ERROR, as event
        loops do it."""
        s = self.socket(ns, socket.AF_INET6 if ':' in host else socket.AF_INET)
        t0 = time.monotonic()
        try:
            if blocking:
                s.settimeout(timeout)
                try:
                    s.connect((host, port))
                    return 'connected', time.monotonic() - t0
                except socket.timeout:
                    return 'hang', time.monotonic() - t0
                except OSError as e:
                    return errno.errorcode.get(e.errno, str(e)), time.monotonic() - t0
            s.setblocking(False)
            rc = s.connect_ex((host, port))
            if rc not in (0, errno.EINPROGRESS):
                return errno.errorcode.get(rc, str(rc)), time.monotonic() - t0
            p = select.poll()
            p.register(s, select.POLLOUT)
            if not p.poll(timeout * 1000):
                return 'hang', time.monotonic() - t0
            err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            return ('connected' if err == 0 else errno.errorcode.get(err, str(err))), \
                time.monotonic() - t0
        finally:
            s.close()

    def connect(self, ns, host, port, timeout=5.0):
        """A TCP socket in ns connected to (host, port); raises OSError."""
        fam = socket.AF_INET6 if ':' in host else socket.AF_INET
        s = self.socket(ns, fam)
        s.settimeout(timeout)
        try:
            s.connect((host, port))
        except BaseException:
            s.close()
            raise
        return s

    def nft_tables(self, ns):
        """['inet shuttle-123', ...]: the nftables tables in ns."""
        r = self.run(ns, ['nft', 'list', 'tables'], timeout=10)
        if r.returncode != 0:
            raise LabError('nft list tables in %s: %s' % (ns, r.stderr.strip()))
        return [ln.strip()[len('table '):] for ln in r.stdout.splitlines()
                if ln.strip().startswith('table ')]

    def summary(self):
        return {
            'prefix': self.prefix, 'state_dir': self.dir,
            'ns_client': self.ns_client, 'ns_gw': self.ns_gw, 'ns_lan': self.ns_lan,
            'ssh_cmd': self.ssh_cmd, 'ssh_config': self.ssh_config,
            'remote': self.remote, 'remote6': self.remote6,
            'client4': CLIENT4, 'client6': CLIENT6, 'gw4': GW4, 'gw6': GW6,
            'lan4': LAN4, 'lan6': LAN6, 'lan4_b': LAN4_B, 'lan6_b': LAN6_B,
            'lan_net4': LAN_NET4, 'lan_net6': LAN_NET6,
            'silent4': SILENT4, 'unreach4': UNREACH4,
            'http_port': HTTP_PORT, 'sha_port': SHA_PORT, 'echo_port': ECHO_PORT,
            'closed_port': CLOSED_PORT,
            'url4': 'http://%s:%d/' % (LAN4, HTTP_PORT),
            'url6': 'http://[%s]:%d/' % (LAN6, HTTP_PORT),
            'big_name': self.big_name, 'big_sha256': self.big_sha256,
        }

    # ---------------------------------------------------------- build
    def up(self):
        if os.path.exists(self.dir) or any(ns_exists(n) for n in self.namespaces):
            log('leftovers of lab %r found (aborted run?), removing them first' % self.prefix)
            self.teardown()
        try:
            self._build()
        except BaseException:
            self.teardown()
            raise
        return self

    def _build(self):
        for d in (self.dir, self.keys, self.logs, self.www):
            os.makedirs(d, mode=0o755, exist_ok=True)
        # who built it: lets a test runner tell its own lab from a dead run's
        with open(os.path.join(self.dir, 'owner'), 'w') as f:
            f.write('%d\n' % os.getpid())
        self._save_pids([])
        self._write_files()
        self._make_net()
        self._start_servers()
        self._verify()
        with open(os.path.join(self.dir, 'summary.json'), 'w') as f:
            json.dump(self.summary(), f, indent=1)

    def _write_files(self):
        for key, comment in ((self.host_key, 'shuttle-lab-hostkey'),
                             (self.client_key, 'shuttle-lab-client')):
            self.run(None, ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', comment,
                            '-f', key], check=True)
        shutil.copy(self.client_key + '.pub', os.path.join(self.keys, 'authorized_keys'))
        # Pin the gw's host key: both of its addresses (port 22 is written
        # without brackets in known_hosts).
        with open(self.host_key + '.pub') as f:
            ktype, kdata = f.read().split()[:2]
        with open(self.known_hosts, 'w') as f:
            f.write('%s,%s %s %s\n' % (GW4, GW6, ktype, kdata))
        with open(self.sshd_config, 'w') as f:
            f.write(self._sshd_config_text(GW4, GW6, self.host_key, 'sshd.pid'))
        with open(self.client_key + '.pub') as f:
            pub = f.read().strip()
        with open(os.path.join(self.keys, 'authorized_keys_false'), 'w') as f:
            f.write('command="/bin/false",no-pty %s\n' % pub)
        with open(self.ssh_config, 'w') as f:
            f.write(ssh_config_text(self.client_key, self.known_hosts))
        with open(os.path.join(self.www, 'index.html'), 'w') as f:
            f.write(INDEX_HTML)
        h = hashlib.sha256()
        with open(os.path.join(self.www, self.big_name), 'wb') as f:
            for _ in range(self.big_mib):
                b = os.urandom(1 << 20)
                h.update(b)
                f.write(b)
        self.big_sha256 = h.hexdigest()
        # Per-namespace /etc files (see NAME_BUILD).
        for d in (self.etc_client, self.etc_gw):
            os.makedirs(d, mode=0o755, exist_ok=True)
        with open(os.path.join(self.etc_client, 'resolv.conf'), 'w') as f:
            f.write('nameserver %s\noptions timeout:2 attempts:1\n' % DEAD_NS4)
        with open(self.client_hosts, 'w') as f:
            f.write(CLIENT_HOSTS)
        with open(os.path.join(self.etc_gw, 'resolv.conf'), 'w') as f:
            f.write('nameserver %s\n' % LAN4)
        with open(os.path.join(self.etc_gw, 'hosts'), 'w') as f:
            f.write('127.0.0.1\tlocalhost\n%s\t%s\n' % (LAN4, NAME_GWHOSTS))
        ensure_privsep_dir(os.path.join(self.dir, 'created_run_sshd'))

    def _make_net(self):
        c, g, l = self.ns_client, self.ns_gw, self.ns_lan
        for ns in self.namespaces:
            self.run(None, ['ip', 'netns', 'add', ns], check=True)
            # No duplicate address detection: addresses are usable at once
            # (DAD would leave them "tentative" for ~2 s, failing bind()).
            for conf in ('all', 'default'):
                self.run(ns, ['sysctl', '-q', '-w', 'net.ipv6.conf.%s.accept_dad=0' % conf],
                         check=True)
            self._ip(ns, 'link', 'set', 'lo', 'up')
        self.run(g, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0'], check=True)
        self.run(g, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=0'], check=True)
        # veth pairs, each end created directly in its namespace
        if self.wan:
            self._make_wan()
        else:
            self._ip(c, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'g0', 'netns', g)
        self._ip(g, 'link', 'add', 'g1', 'type', 'veth', 'peer', 'name', 'l0', 'netns', l)
        for ns, dev, addrs in ((c, 'c0', (CLIENT4 + '/24', CLIENT6 + '/64')),
                               (g, 'g0', (GW4 + '/24', GW6 + '/64')),
                               (g, 'g1', (GW_LAN4 + '/24', GW_LAN6 + '/64')),
                               (l, 'l0', (LAN4 + '/24', LAN6 + '/64',
                                          LAN4_B + '/24', LAN6_B + '/64'))):
            for a in addrs:
                self._ip(ns, 'addr', 'add', a, 'dev', dev, *(('nodad',) if ':' in a else ()))
            self._ip(ns, 'link', 'set', dev, 'up')
        # Dead sinks: a veth whose peer stays down drops everything routed to it.
        for ns, dev in ((c, 'sink'), (g, 'gsink')):
            self._ip(ns, 'link', 'add', dev, 'type', 'veth', 'peer', 'name', dev + 'p')
            self._ip(ns, 'link', 'set', dev, 'up')
        for net in (LAN_NET4, LAN_NET6, SILENT_NET4, SILENT_NET6, UNREACH_NET4, UNREACH_NET6,
                    NOROUTE_NET4, OTHER_NS4 + '/32'):
            self._ip(c, 'route', 'add', net, 'dev', 'sink')
        for net in (SILENT_NET4, SILENT_NET6):
            self._ip(g, 'route', 'add', net, 'dev', 'gsink')
        for net in (UNREACH_NET4, UNREACH_NET6):
            self._ip(g, 'route', 'add', 'unreachable', net)
        # the LAN knows only its way back to the gw
        self._ip(l, 'route', 'add', 'default', 'via', GW_LAN4)
        self._ip(l, '-6', 'route', 'add', 'default', 'via', GW_LAN6)

    def _sshd_config_text(self, addr4, addr6, host_key, pidname):
        return SSHD_CONFIG % dict(gw4=addr4, gw6=addr6, hk=host_key, dir=self.dir,
                                  pidname=pidname, keys=self.keys, fwd_user=FWD_USER,
                                  nofwd_user=NOFWD_USER)

    def add_jump(self):
        """Builds the jump host (see the module's docstring) once: the
        namespace PREFIX-jump with its sshd on JUMP4/JUMP6, a second sshd of
        the gw on GW_BEHIND4/GW_BEHIND6 that only the jump reaches, and their
        host keys in the lab's known_hosts. `ssh -F lab.ssh_config viajump`
        then goes through it. Costs about half a second; most cases never
        need it."""
        if self.ns_jump in self.namespaces:
            return self
        c, j, g = self.ns_client, self.ns_jump, self.ns_gw
        if ns_exists(j):   # an aborted run's
            for pid in ns_pids(j):
                kill_pid(pid, wait=2.0)
            self.run(None, ['ip', 'netns', 'del', j], check=True)
        self.run(None, ['ip', 'netns', 'add', j], check=True)
        self.namespaces.append(j)
        for conf in ('all', 'default'):
            self.run(j, ['sysctl', '-q', '-w', 'net.ipv6.conf.%s.accept_dad=0' % conf],
                     check=True)
        # the jump relays only through its sshd: the client cannot reach
        # the gw's address behind it by routing
        self.run(j, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0'], check=True)
        self.run(j, ['sysctl', '-q', '-w', 'net.ipv6.conf.all.forwarding=0'], check=True)
        self._ip(j, 'link', 'set', 'lo', 'up')
        self._ip(c, 'link', 'add', 'cj', 'type', 'veth', 'peer', 'name', 'j0', 'netns', j)
        self._ip(j, 'link', 'add', 'j1', 'type', 'veth', 'peer', 'name', 'gj', 'netns', g)
        for ns, dev, addrs in ((c, 'cj', (CLIENT_J4 + '/24', CLIENT_J6 + '/64')),
                               (j, 'j0', (JUMP4 + '/24', JUMP6 + '/64')),
                               (j, 'j1', (JUMP_GW_SIDE4 + '/24', JUMP_GW_SIDE6 + '/64')),
                               (g, 'gj', (GW_BEHIND4 + '/24', GW_BEHIND6 + '/64'))):
            for a in addrs:
                self._ip(ns, 'addr', 'add', a, 'dev', dev, *(('nodad',) if ':' in a else ()))
            self._ip(ns, 'link', 'set', dev, 'up')
        jump_key = os.path.join(self.keys, 'ssh_host_ed25519_key_jump')
        self.run(None, ['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C',
                        'shuttle-lab-jump-hostkey', '-f', jump_key], check=True)
        pins = []
        for key, names in ((jump_key, (JUMP4, JUMP6)), (self.host_key, (GW_BEHIND4, GW_BEHIND6))):
            with open(key + '.pub') as f:
                pins.append('%s %s\n' % (','.join(names), ' '.join(f.read().split()[:2])))
        with open(self.known_hosts, 'a') as f:
            f.write(''.join(pins))
        for ns, label, a4, a6, hk in ((j, 'sshd-jump', JUMP4, JUMP6, jump_key),
                                      (g, 'sshd-behind', GW_BEHIND4, GW_BEHIND6, self.host_key)):
            conf = os.path.join(self.dir, label + '_config')
            with open(conf, 'w') as f:
                f.write(self._sshd_config_text(a4, a6, hk, label + '.pid'))
            self.spawn(ns, ['/usr/sbin/sshd', '-D', '-f', conf,
                            '-E', os.path.join(self.logs, label + '.log')], label=label)
        for ns, host, label in ((c, JUMP4, 'sshd-jump'), (j, GW_BEHIND4, 'sshd-behind')):
            if not self.wait_port(ns, host, 22):
                raise LabError('sshd on %s:22 not reachable\n%s' % (host, self.death_report(label)))
        return self

    def _make_wan(self):
        """c0 -- w0 [<prefix>-wan: delayline, tbf] w1 -- g0: still one L2 link
        for the client and the gw (same addresses), with a delay and a rate."""
        c, g, w = self.ns_client, self.ns_gw, self.ns_wan
        self._ip(c, 'link', 'add', 'c0', 'type', 'veth', 'peer', 'name', 'w0', 'netns', w)
        self._ip(w, 'link', 'add', 'w1', 'type', 'veth', 'peer', 'name', 'g0', 'netns', g)
        for dev in ('w0', 'w1'):
            self._ip(w, 'link', 'set', dev, 'up')
            rate = self.wan.get('rate_mbit')
            if rate:
                # burst: 2 ms at the rate (timer granularity), at least 64 KiB
                # (veth hands over whole GSO frames); limit: 20 ms of queue.
                burst = max(65536, int(rate * 1e6 / 8 * 0.002))
                self.run(w, ['tc', 'qdisc', 'add', 'dev', dev, 'root', 'tbf', 'rate',
                             '%dmbit' % rate, 'burst', str(burst), 'latency', '20ms'],
                         check=True)
        one_way = self.wan.get('rtt_ms', 0) / 2.0
        # drop: a frame the tbf refuses is lost (bench/src/delayline.c)
        self.spawn(w, [self.wan['delayline'], 'w0', 'w1', '%g' % one_way]
                   + (['64', 'drop'] if self.wan.get('drop') else []), label='delayline')

    def _start_servers(self):
        self.spawn(self.ns_gw, ['/usr/sbin/sshd', '-D', '-f', self.sshd_config,
                                '-E', os.path.join(self.logs, 'sshd.log')], label='sshd')
        self.spawn(self.ns_lan, [PY, HERE, '_serve', self.www], label='lanservers')
        common = ['dnsmasq', '--keep-in-foreground', '--conf-file=/dev/null', '--no-resolv',
                  '--no-hosts', '--bind-interfaces', '--pid-file=', '--log-facility=-',
                  '--user=root',
                  # authoritative for the lab's names: unknown ones are NXDOMAIN, not REFUSED
                  '--local=/corp.internal/']
        self.spawn(self.ns_lan, common + [
            '--listen-address=%s' % LAN4, '--listen-address=%s' % LAN6,
            '--host-record=%s,%s,%s' % (NAME_BUILD, LAN4, LAN6),
            '--host-record=%s,%s' % (NAME_DB, LAN4_B)], label='dnsmasq')
        self.spawn(self.ns_lan, common + [
            '--listen-address=%s' % LAN4_B, '--host-record=%s,%s' % (NAME_ALT, LAN4)],
            label='dnsmasq-alt')

    def wait_port(self, ns, host, port, timeout=15.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.connect(ns, host, port, timeout=1.0).close()
                return True
            except OSError:
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.1)

    def _verify(self):
        for host in (LAN4, LAN6, LAN4_B, LAN6_B):
            for port in (HTTP_PORT, SHA_PORT, ECHO_PORT):
                if not self.wait_port(self.ns_gw, host, port):
                    raise LabError('LAN server %s port %d not reachable from the gw' % (host, port))
        for server, name, want in ((LAN4, NAME_BUILD, LAN4), (LAN4_B, NAME_ALT, LAN4)):
            deadline = time.monotonic() + 10
            while True:
                r = self.run(self.ns_gw, ['dig', '+short', '+time=1', '+tries=1', '@' + server,
                                          name])
                if r.stdout.strip() == want:
                    break
                if time.monotonic() > deadline:
                    raise LabError('dnsmasq on %s does not answer %s: %s%s' % (
                        server, name, r.stdout, r.stderr))
                time.sleep(0.2)
        for host in (GW4, GW6):
            if not self.wait_port(self.ns_client, host, 22):
                raise LabError('sshd on %s:22 not reachable from the client\n%s'
                               % (host, self.death_report('sshd')))
        # isolation: nothing from the client reaches the LAN without a tunnel
        for host in (LAN4, LAN6):
            try:
                self.connect(self.ns_client, host, HTTP_PORT, timeout=1.5).close()
                raise LabError('isolation broken: client reached %s directly' % host)
            except OSError:
                pass
        for remote in (self.remote, self.remote6):
            r = self.run(self.ns_client, self.ssh_argv + [remote, 'echo', 'lab-ok'], timeout=30)
            if r.returncode != 0 or r.stdout.strip() != 'lab-ok':
                raise LabError('ssh %s from the client failed (%d): %s' % (
                    remote, r.returncode, r.stderr.strip()))

    # ---------------------------------------------------------- teardown
    def teardown(self):
        """Kill everything this lab started and delete its namespaces.

        Works from another process (state on disk) and after an aborted run:
        any process still inside our namespaces was started for the lab."""
        for ent in reversed(self._load_pids()):
            pid = ent.get('pid')
            if isinstance(pid, int) and _cmdline(pid) is not None and \
                    ent.get('cmd', '') in _cmdline(pid):
                kill_pid(pid)
            elif isinstance(pid, int):
                _reap(pid)
        # A shaped lab's wan namespace and the jump host's too, when torn
        # down by a process that did not build them (bench/run.sh teardown
        # after a crash, netlab.py down).
        every = self.namespaces + [n for n in (self.prefix + '-wan', self.ns_jump)
                                   if n not in self.namespaces and ns_exists(n)]
        for ns in every:
            for pid in ns_pids(ns):
                kill_pid(pid, wait=2.0)
            if ns_exists(ns):
                subprocess.run(['ip', 'netns', 'del', ns], stderr=subprocess.DEVNULL)
        release_privsep_dir(os.path.join(self.dir, 'created_run_sshd'))
        shutil.rmtree(self.dir, ignore_errors=True)
        for d in (self.etc_client, self.etc_gw):
            shutil.rmtree(d, ignore_errors=True)
        left = [ns for ns in every if ns_exists(ns)]
        if left:
            raise LabError('namespaces still present after teardown: %s' % left)
        reports = sanitizer_reports(self.started)
        if reports:
            for path, text in reports:
                print('# sanitizer report %s:' % path)
                for ln in text.splitlines():
                    print('#   ' + ln)
            sys.stdout.flush()
            raise LabError('%d sanitizer report(s) from processes of this lab (above)'
                           % len(reports))

    def __enter__(self):
        return self.up()

    def __exit__(self, *exc):
        self.teardown()
        return False


def sanitizer_reports(since):
    """[(path, text)] of the AddressSanitizer/UBSan reports written since
    @since (a time.time()) to the ASAN_OPTIONS log_path, which run-tests.sh
    sets for the e2e suite of build-asan/: the engine's, and the server's on
    the gw, which gets the variable through ssh (SendEnv). Without a log_path
    (any other run) reports go to stderr and this finds nothing."""
    m = re.search(r'(?:^|:)log_path=([^:]+)', os.environ.get('ASAN_OPTIONS', ''))
    if not m:
        return []
    d, base = os.path.split(m.group(1))
    found = []
    for n in sorted(os.listdir(d)) if os.path.isdir(d) else []:
        p = os.path.join(d, n)
        if n.startswith(base + '.') and os.path.getmtime(p) >= since:
            with open(p, errors='replace') as f:
                text = f.read()
            if any(not LSAN_NOTICE.match(ln) for ln in text.splitlines() if ln.strip()):
                found.append((p, text))
    return found


# LeakSanitizer's only line when a process is killed (SIGKILL: the lab's
# teardown, a test, a parent-death signal) while its exit-time leak check has
# the threads stopped: ptrace finds the thread gone, LSan says so and goes on.
# A leak or error found before that would add its own report lines.
LSAN_NOTICE = re.compile(r'==\d+==Unable to get registers from thread \d+\.$')


# A remote user whose PATH the tests choose: sshd sets PATH itself, and
# root's shell startup files belong to the machine, so this user's login
# shell is a tiny script that takes PATH from SHUTTLE_LAB_PATH (sent with
# ssh -o SetEnv=...) and hands over to /bin/sh.
LAB_USER = 'shuttlelab'
LAB_SHELL = '/tmp/shuttle-lab-shell'
LAB_SHELL_TEXT = """#!/bin/sh
# login shell of the shuttle test user (tests/lib/netlab.py)
if [ -n "$SHUTTLE_LAB_PATH" ]; then PATH=$SHUTTLE_LAB_PATH; export PATH; fi
exec /bin/sh "$@"
"""


# --transport=ssh accounts (SSHD_CONFIG's Match blocks): forwarding only.
FWD_USER = 'shuttlefwd'           # key with command="/bin/false"
NOLOGIN_USER = 'shuttlenologin'   # shell /usr/sbin/nologin
NOFWD_USER = 'shuttlenofwd'       # command="/bin/false" and AllowTcpForwarding no


def ensure_fwd_users():
    """Creates the forwarding-only accounts (once per machine)."""
    for user, shell in ((FWD_USER, '/bin/sh'), (NOLOGIN_USER, '/usr/sbin/nologin'),
                        (NOFWD_USER, '/bin/sh')):
        r = subprocess.run(['getent', 'passwd', user], stdout=subprocess.DEVNULL)
        if r.returncode != 0:
            subprocess.run(['useradd', '--system', '--no-create-home', '--home-dir', '/tmp',
                            '--shell', shell, user], check=True)
        subprocess.run(['usermod', '-p', '*', user], check=True)


def ensure_lab_user():
    """Creates LAB_USER (once per machine) and its login shell."""
    with open(LAB_SHELL + '.new', 'w') as f:
        f.write(LAB_SHELL_TEXT)
    os.chmod(LAB_SHELL + '.new', 0o755)
    os.rename(LAB_SHELL + '.new', LAB_SHELL)
    r = subprocess.run(['getent', 'passwd', LAB_USER], stdout=subprocess.DEVNULL)
    if r.returncode != 0:
        subprocess.run(['useradd', '--system', '--no-create-home', '--home-dir', '/tmp',
                        '--shell', LAB_SHELL, LAB_USER], check=True)
    # sshd (without PAM) refuses locked accounts ("!" password); "*" only
    # means "no password", and the lab logs in with its key.
    subprocess.run(['usermod', '-p', '*', LAB_USER], check=True)


SSHD_CONFIG = """\
# sshd for a shuttle test lab (gw namespace) -- not the system's sshd
Port 22
AddressFamily any
ListenAddress %(gw4)s
ListenAddress %(gw6)s
HostKey %(hk)s
PidFile %(dir)s/%(pidname)s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
AuthorizedKeysFile %(keys)s/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
X11Forwarding no
AllowTcpForwarding yes
MaxSessions 100
# Tests choose what the server "has installed" (its PATH) for LAB_USER.
AcceptEnv SHUTTLE_LAB_PATH
# A sanitizer build (run-tests.sh, build-asan/) runs the same binary as the
# server: it gets the client's sanitizer settings (ssh's SendEnv below), with
# the log_path its reports go to (sanitizer_reports() prints them).
AcceptEnv ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS G_SLICE
MaxStartups 100:30:200
LogLevel VERBOSE
# Accounts that can run nothing but may forward (--transport=ssh): one whose
# key says command="/bin/false", one with a nologin shell; and one that may
# not forward at all.
Match User %(fwd_user)s
  AuthorizedKeysFile %(keys)s/authorized_keys_false
Match User %(nofwd_user)s
  AuthorizedKeysFile %(keys)s/authorized_keys_false
  AllowTcpForwarding no
"""

SSH_CONFIG = """\
# ssh client config for a shuttle test lab: use with ssh -F
Host *
  User root
  IdentityFile %(key)s
  IdentitiesOnly yes
  UserKnownHostsFile %(kh)s
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  UpdateHostKeys no
  CheckHostIP no
  BatchMode yes
  ControlMaster no
  ControlPath none
  GSSAPIAuthentication no
  ConnectTimeout 10
  LogLevel ERROR
  SendEnv ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS G_SLICE

# The gw reached through the jump host (Lab.add_jump()): ssh's TCP
# connection goes to the jump, not to HostName, which only the jump reaches.
Host viajump
  HostName %(gw_behind4)s
  ProxyJump %(jump4)s
"""



# A second sshd in the gw namespace for one-time codes (tests/e2e, tests/nm):
# keyboard-interactive through PAM, which asks LAB_USER's password
# (pam_unix) and then a TOTP (pam_oath, Debian's libpam-oath). Its password
# is in a copy of /etc/shadow and its PAM stack in a file of its own, bound
# over /etc/shadow and /etc/pam.d/sshd in this sshd's mount namespace only
# (ip netns exec gives each process one): nothing on the machine changes.
OTP_SSHD_PORT = 2223
OTP_SSHD_CONFIG = """\
# the one-time-code sshd of a shuttle test lab
Port %(port)d
ListenAddress %(gw4)s
HostKey %(hk)s
PidFile %(dir)s/sshd.pid
PubkeyAuthentication no
PasswordAuthentication no
KbdInteractiveAuthentication yes
AuthenticationMethods keyboard-interactive
UsePAM yes
StrictModes no
UseDNS no
PrintMotd no
PrintLastLog no
AllowUsers %(user)s
AcceptEnv SHUTTLE_LAB_PATH
AcceptEnv ASAN_OPTIONS UBSAN_OPTIONS LSAN_OPTIONS G_SLICE
LogLevel VERBOSE
"""
OTP_PAM = """\
auth required pam_unix.so
auth required pam_oath.so usersfile=%(dir)s/users.oath window=20 digits=6
account required pam_permit.so
session required pam_permit.so
password required pam_deny.so
"""
OTP_LAUNCH = """#!/bin/sh
set -e
mount --bind %(dir)s/shadow /etc/shadow
mount --bind %(dir)s/pam-sshd /etc/pam.d/sshd
exec /usr/sbin/sshd -D -e -f %(dir)s/sshd_config
"""
# What pam_oath asks (libpam-oath 2.6), after ssh's "(user@host) ".
OTP_PROMPT = "One-time password (OATH) for `%s': " % LAB_USER


class OtpServer:
    """LAB_USER behind a password and a TOTP (RFC 6238: SHA-1, 30 s, 6
    digits). pam_oath refuses a code of a time step it has seen accepted,
    so each code() is of a later step than the last one handed out (its
    window takes steps up to 20 ahead)."""

    def __init__(self, lab, password):
        self.lab, self.password = lab, password
        self.key = os.urandom(20)
        self.dir = os.path.join(lab.dir, 'sshd-otp')
        self.last_step = 0

    def start(self):
        ensure_lab_user()
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        pw_hash = subprocess.run(['openssl', 'passwd', '-6', '-stdin'], input=self.password + '\n',
                                 capture_output=True, text=True, check=True).stdout.strip()
        shadow = []
        with open('/etc/shadow') as f:
            for line in f:
                fields = line.rstrip('\n').split(':')
                if fields[0] == LAB_USER:
                    fields[1], fields[2] = pw_hash, ''
                shadow.append(':'.join(fields))
        args = dict(port=OTP_SSHD_PORT, gw4=GW4, hk=self.lab.host_key, dir=self.dir,
                    user=LAB_USER)
        for name, text, mode in (('shadow', '\n'.join(shadow) + '\n', 0o600),
                                 ('users.oath', 'HOTP/T30/6\t%s\t-\t%s\n'
                                  % (LAB_USER, self.key.hex()), 0o600),
                                 ('pam-sshd', OTP_PAM % args, 0o644),
                                 ('sshd_config', OTP_SSHD_CONFIG % args, 0o644),
                                 ('launch.sh', OTP_LAUNCH % args, 0o755)):
            fd = os.open(os.path.join(self.dir, name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
            with os.fdopen(fd, 'w') as f:
                f.write(text)
        self.lab.spawn(self.lab.ns_gw, ['/bin/sh', os.path.join(self.dir, 'launch.sh')],
                       label='sshd-otp')
        return self.lab.wait_port(self.lab.ns_gw, GW4, OTP_SSHD_PORT)

    def totp(self, step):
        import hmac
        import struct
        mac = hmac.new(self.key, struct.pack('>Q', step), 'sha1').digest()
        off = mac[-1] & 0x0f
        return '%06d' % ((struct.unpack('>I', mac[off:off + 4])[0] & 0x7fffffff) % 1000000)

    def code(self):
        """A code pam_oath accepts now, not used before."""
        self.last_step = max(int(time.time()) // 30, self.last_step + 1)
        return self.totp(self.last_step)

    def wrong_code(self):
        good = {self.totp(int(time.time()) // 30 + d) for d in range(-25, 26)}
        return next(c for c in ('%06d' % n for n in range(1000000)) if c not in good)


def ssh_config_text(key, known_hosts):
    """The lab's ssh_config for a client key and a known_hosts file."""
    return SSH_CONFIG % dict(key=key, kh=known_hosts, gw_behind4=GW_BEHIND4, jump4=JUMP4)

# ------------------------------------------------------------ LAN servers
class _DualStack:
    """Mixin: one IPv6 socket bound to :: that also accepts IPv4."""
    address_family = socket.AF_INET6
    allow_reuse_address = True
    daemon_threads = True
    request_queue_size = 256

    def server_bind(self):
        self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        super().server_bind()


def _peer(addr):
    host = addr[0]
    return host[7:] if host.startswith('::ffff:') else host, addr[1]


def _readline(sock, limit=256):
    buf = b''
    while not buf.endswith(b'\n'):
        b = sock.recv(1)
        if not b:
            break
        buf += b
        if len(buf) > limit:
            raise ValueError('header too long')
    return buf.decode('ascii', 'replace').strip()


class _ShaHandler(socketserver.BaseRequestHandler):
    """Checksummed transfers; one command per connection:

      UP <n>\\n + n bytes  -> "<sha256 hex of the n bytes>\\n", close
      DOWN <n> <seed>\\n   -> n bytes of pattern_chunks(n, seed), close
      HALF\\n + data, EOF  -> "got <n> bytes <sha256 hex>\\n", close
                             (the reply is only sent after the client's
                             SHUT_WR arrived: tests half-close)
      WHO\\n               -> "<peer ip> <peer port>\\n": who connected to us
    """

    def handle(self):
        s = self.request
        s.settimeout(120)
        try:
            words = _readline(s).split()
            if not words:
                return
            if words[0] == 'UP' and len(words) == 2:
                n, h = int(words[1]), hashlib.sha256()
                while n > 0:
                    b = s.recv(min(n, 1 << 16))
                    if not b:
                        s.sendall(b'short\n')
                        return
                    h.update(b)
                    n -= len(b)
                s.sendall(h.hexdigest().encode() + b'\n')
            elif words[0] == 'DOWN' and len(words) == 3:
                for c in pattern_chunks(int(words[1]), int(words[2])):
                    s.sendall(c)
            elif words[0] == 'HALF':
                n, h = 0, hashlib.sha256()
                while True:
                    b = s.recv(1 << 16)
                    if not b:
                        break
                    h.update(b)
                    n += len(b)
                s.sendall(b'got %d bytes %s\n' % (n, h.hexdigest().encode()))
            elif words[0] == 'WHO':
                s.sendall(('%s %d\n' % _peer(self.client_address)).encode())
            else:
                s.sendall(b'bad command\n')
        except (OSError, ValueError):
            pass


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self):
        s = self.request
        s.settimeout(300)
        try:
            while True:
                b = s.recv(1 << 16)
                if not b:
                    break
                s.sendall(b)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class _TCP(_DualStack, socketserver.ThreadingTCPServer):
    pass


class _HTTP(_DualStack, http.server.ThreadingHTTPServer):
    pass


def serve(www):
    """Run the LAN servers (in the lan namespace) until killed."""
    handler = lambda *a, **kw: http.server.SimpleHTTPRequestHandler(*a, directory=www, **kw)
    servers = [_HTTP(('::', HTTP_PORT), handler), _TCP(('::', SHA_PORT), _ShaHandler),
               _TCP(('::', ECHO_PORT), _EchoHandler)]
    for srv in servers:
        threading.Thread(target=srv.serve_forever, daemon=True).start()
    sys.stderr.write('lan servers up: http :%d, sha :%d, echo :%d\n' % (
        HTTP_PORT, SHA_PORT, ECHO_PORT))
    sys.stderr.flush()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


# ------------------------------------------------------------------- CLI
def _shell_summary(d):
    out = []
    for k, v in d.items():
        v = '' if v is None else str(v)
        out.append("LAB_%s='%s'" % (k.upper(), v.replace("'", "'\\''")))
    return '\n'.join(out)


def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog='netlab.py', description=__doc__.split('\n')[0])
    sub = ap.add_subparsers(dest='cmd', required=True)
    p = sub.add_parser('up', help='build the lab, print a summary')
    p.add_argument('prefix')
    p.add_argument('--shell', action='store_true', help='print LAB_X=... lines, not JSON')
    p.add_argument('--big-mib', type=int, default=32, help='size of the big file (MiB)')
    p = sub.add_parser('down', help='tear the lab down')
    p.add_argument('prefix')
    p = sub.add_parser('status', help='print the summary of a running lab')
    p.add_argument('prefix')
    p.add_argument('--shell', action='store_true')
    p = sub.add_parser('_serve')   # internal: the LAN servers
    p.add_argument('www')
    a = ap.parse_args(argv)

    if a.cmd == '_serve':
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
        serve(a.www)
        return 0
    if os.geteuid() != 0:
        log('must run as root')
        return 1
    if a.cmd == 'up':
        try:
            lab = Lab(a.prefix, big_mib=a.big_mib)
            lab.up()
        except Exception as e:
            log('up failed: %s' % e)
            return 1
        d = lab.summary()
    elif a.cmd == 'down':
        try:
            Lab(a.prefix).teardown()
        except Exception as e:
            log('down failed: %s' % e)
            return 1
        return 0
    else:
        try:
            with open(os.path.join(state_dir(a.prefix), 'summary.json')) as f:
                d = json.load(f)
        except OSError:
            log('no lab %r is up' % a.prefix)
            return 1
    print(_shell_summary(d) if a.shell else json.dumps(d, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
