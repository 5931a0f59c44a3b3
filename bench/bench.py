#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Shuttle benchmark: shuttle against the ssh-based anchors, on one machine.

Run it through bench/run.sh (builds shuttle and the helpers first):

  bench.py run [--rounds N] [--quick] [--only cfg,cfg] [--shuttle-args ARGS]
  bench.py report RESULT.json          re-print the table of a finished run
  bench.py teardown                    remove the lab after an aborted run

Topology: the project's lab (tests/lib/netlab.py, prefix "shb"): client, gw
(sshd on 10.231.1.1) and LAN (10.231.2.10) namespaces; the client reaches the
LAN only through a tunnel.  On top of the lab's own servers we start, in the
LAN namespace: iperf3 -s on 5201 (measured runs) and 5202 (background bulk
load), and bench/bin/echo_server (epoll) on 7777.

Every config (row) is measured the same way, see bench/README.md.  Results:
bench/results/<stamp>.json (all rounds, per process CPU, medians) and logs in
bench/results/logs-<stamp>/.
"""
import argparse
import json
import os
import re
import resource
import selectors
import shutil
import signal
import statistics
import subprocess
import sys
import time
import hashlib

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(REPO, 'tests', 'lib'))
import netlab  # noqa: E402

PREFIX = 'shb'
BIN = os.path.join(BENCH, 'bin')
RESULTS = os.path.join(BENCH, 'results')
PROBER = os.path.join(BIN, 'prober')
ECHO_SERVER = os.path.join(BIN, 'echo_server')
SHUTTLE_BUILT = os.path.join(REPO, 'build', 'service', 'shuttle')
PRELOAD_BUILT = os.path.join(REPO, 'build', 'preload', 'libshuttle-preload.so')
# A private copy: other people rebuild build/ while we measure, and every
# round (and the remote --server) must run the same binary.
SHUTTLE = os.path.join(BIN, 'shuttle')
PRELOAD = os.path.join(BIN, 'libshuttle-preload.so')
SSHUTTLE = '/usr/bin/sshuttle'
REMOTE_PY = '/usr/bin/python3'
# How the "shuttle (Python agent)" row runs its server: the real upload of the
# agent embedded in bench/bin/shuttle, run by the lab's python. (The agent's
# source file could be run instead with ['--server-cmd', REMOTE_PY + ' ' +
# <repo>/service/agent/shuttle-agent.py], but then an edit during a run would
# change what is measured.)
AGENT_SERVER_ARGS = ['--python', REMOTE_PY]

LAN, LAN_NET, GW = netlab.LAN4, netlab.LAN_NET4, netlab.GW4
IPERF_PORT, BULK_PORT, ECHO_PORT = 5201, 5202, 7777
LAN_PORTS = {'iperf': IPERF_PORT, 'bulk': BULK_PORT, 'echo': ECHO_PORT}
SOCKS_PORT, REDSOCKS_PORT = 1080, 12345
SHUTTLE_SOCKS_PORT = 1081
# RLIMIT_NOFILE for everything the bench starts (sshd, so shuttle --server, too):
# 65536 or the hard limit if we may not raise it (no CAP_SYS_RESOURCE in a container).
_hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
NOFILE = 65536 if _hard == resource.RLIM_INFINITY else min(65536, _hard)

CHACHA, AES128 = 'chacha20-poly1305@openssh.com', 'aes128-gcm@openssh.com'
P = dict(iperf_t=10, lat_n=200, lat_interval_ms=10, lat_max_s=30, lat_size=64,
         cps_n=2000, cps_max_s=120, cps_size=64, cps_par=8, cps_par_n=4000, pipe_bytes='1G', ciphers=[CHACHA, AES128],
         many_n=10000, many_inflight=256, many_timeout_s=120, load_settle_s=2.0, streams=8,
         startup_max_s=30)
QUICK = dict(iperf_t=4, lat_n=100, cps_n=500, cps_par_n=1000)

LAB = None
LOGDIR = None
SERVER_PIDS = set()     # our LAN servers: not tunnel processes
SERVERS = {}            # label -> Popen
SHUTTLE_ARGS = []       # --shuttle-args


def log(msg):
    sys.stderr.write('[%s] %s\n' % (time.strftime('%H:%M:%S'), msg))
    sys.stderr.flush()


# ------------------------------------------------------------ processes
# The environment the measuring clients (iperf3, prober) get: the rows of
# `shuttle run` (the preload library's variables) and --socks
# (PROBER_SOCKS5) set it while they are measured.
CLIENT_ENV = []


def client_argv(argv):
    argv = [str(a) for a in argv]
    if CLIENT_ENV and argv and argv[0] in ('iperf3', PROBER):
        return ['env'] + CLIENT_ENV + argv
    return argv


def run(ns, argv, timeout=120, check=False, **kw):
    return LAB.run(ns, client_argv(argv), timeout=timeout, check=check, **kw)


def spawn(ns, argv, label, logname=None, **kw):
    """A long-running process in ns (registered with the lab for teardown)."""
    argv = client_argv(argv)
    path = os.path.join(LOGDIR, (logname or label) + '.log')
    f = open(path, 'ab')
    f.write(('\n==== %s [%s] %s\n' % (time.strftime('%F %T'), ns, ' '.join(argv))).encode())
    f.flush()
    try:
        p = LAB.spawn(ns, argv, label=label, stdout=f, stderr=f, **kw)
    finally:
        f.close()
    p.logpath = path
    return p


def stop_proc(p, sig=signal.SIGTERM, wait=10.0):
    """Stop one process we started (Popen: no PID-reuse risk)."""
    if p is None or p.poll() is not None:
        return p.returncode if p else None
    try:
        p.send_signal(sig)
        return p.wait(timeout=wait)
    except subprocess.TimeoutExpired:
        log('   pid %d did not exit %.0fs after signal %d: SIGKILL' % (p.pid, wait, sig))
        p.kill()
        return p.wait()


def read_from(path, off):
    try:
        with open(path, 'rb') as f:
            f.seek(off)
            return f.read().decode(errors='replace')
    except OSError:
        return ''


def fsize(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().replace(b'\0', b' ').decode(errors='replace').strip()
    except OSError:
        return ''


def proc_status(pid):
    """{'VmRSS': kB, 'VmHWM': kB, ...} or {}."""
    out = {}
    try:
        with open('/proc/%d/status' % pid) as f:
            for ln in f:
                k, _, v = ln.partition(':')
                if k in ('VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'Threads'):
                    out[k] = int(v.split()[0])
    except (OSError, ValueError):
        pass
    try:
        out['fds'] = len(os.listdir('/proc/%d/fd' % pid))
    except OSError:
        pass
    return out


# ------------------------------------------------------------ the lab
def lab_up(wan=None):
    """wan: None, or a shaped client<->gw link for bench/shaped.py (netlab.Lab)."""
    global LAB
    # Everything we start inherits this, sshd (and so shuttle --server) too.
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, _hard))
    LAB = netlab.Lab(PREFIX, big_mib=1, wan=wan)
    log('lab %s: building (namespaces %s)' % (PREFIX, ', '.join(LAB.namespaces)))
    LAB.up()
    # Thousands of short connections per config all go to one echo server:
    # their TIME_WAIT sockets (on the client, and on the gw where the tunnel
    # closes first) hold local ports for 60 s, and past about 14,000 (the
    # even half of the range, which connect() tries first) every connect()
    # scans them. By the second config the connection rates collapsed to
    # about 1100/s, in every tunnel. Reusing TIME_WAIT ports for new
    # outgoing connections (TCP timestamps make that safe) keeps each config
    # independent of the ones before it. Both namespaces are the lab's own.
    for ns in (LAB.ns_client, LAB.ns_gw):
        run(ns, ['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1'])
    start_servers()
    SERVER_PIDS.update(LAB.pids('lanservers') if hasattr(LAB, 'pids') else [])
    log('lab up: sshd %s:22, LAN %s: iperf3 :%d :%d, echo :%d' % (
        GW, LAN, IPERF_PORT, BULK_PORT, ECHO_PORT))


def start_servers(only=None):
    servers = {'srv-iperf': ['iperf3', '-s', '-p', IPERF_PORT],
               'srv-iperf-bulk': ['iperf3', '-s', '-p', BULK_PORT],
               'srv-echo': [ECHO_SERVER, ECHO_PORT, NOFILE]}
    for label, argv in servers.items():
        if only and label not in only:
            continue
        if label in SERVERS:
            stop_proc(SERVERS[label], wait=3)
        SERVERS[label] = spawn(LAB.ns_lan, argv, label)
        SERVER_PIDS.add(SERVERS[label].pid)
    for port in (IPERF_PORT, BULK_PORT, ECHO_PORT):
        if not LAB.wait_port(LAB.ns_gw, LAN, port):
            raise RuntimeError('LAN server %s:%d not reachable from the gw' % (LAN, port))


def lab_down():
    if LAB is None:
        return
    for p in SERVERS.values():
        stop_proc(p, wait=3)
    # A shaped link's delay line prints its counters (frames dropped by its
    # own queue or refused by the tbf) when it stops: stop it before its log
    # is copied, and say them (the teardown below kills it after the copy).
    for pid in LAB.pids('delayline'):
        netlab.kill_pid(pid)
    delaylog = os.path.join(LAB.logs, 'delayline.log')
    if os.path.exists(delaylog):
        with open(delaylog, errors='replace') as f:
            for ln in f:
                if ' frames, ' in ln:
                    log('   ' + ln.strip())
    if LOGDIR and os.path.isdir(LAB.logs):
        for fn in os.listdir(LAB.logs):
            try:
                shutil.copy(os.path.join(LAB.logs, fn), os.path.join(LOGDIR, 'lab-' + fn))
            except OSError:
                pass
    try:
        LAB.teardown()
        log('lab %s torn down' % PREFIX)
    except Exception as e:  # noqa: BLE001
        log('WARNING: teardown: %s' % e)


# ------------------------------------------------------------ measurements
def host_cpu():
    with open('/proc/stat') as f:
        v = [int(x) for x in f.readline().split()[1:]]
    idle = v[3] + v[4]
    steal = v[7] if len(v) > 7 else 0
    return sum(v[:8]) - idle - steal, idle, steal


def cpu_snapshot():
    """{(ns, comm, pid): ticks} over the tunnel processes in the lab namespaces."""
    out = {}
    short = {LAB.ns_client: 'client', LAB.ns_gw: 'gw', LAB.ns_lan: 'lan'}
    for ns in LAB.namespaces:
        for pid in netlab.ns_pids(ns):
            if pid in SERVER_PIDS:
                continue
            try:
                with open('/proc/%d/stat' % pid) as f:
                    s = f.read()
            except OSError:
                continue
            comm = s[s.index('(') + 1:s.rindex(')')]
            if comm in ('iperf3', 'prober', 'ip'):
                continue
            fields = s[s.rindex(')') + 2:].split()
            out[(short.get(ns, ns.split('-')[-1]), comm, pid)] = \
                int(fields[11]) + int(fields[12])
    return out


def all_ticks():
    """{pid: (comm, utime+stime ticks)} for every process on the host."""
    out = {}
    for d in os.listdir('/proc'):
        if not d.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % d) as f:
                st = f.read()
        except OSError:
            continue
        fields = st[st.rindex(')') + 2:].split()
        out[int(d)] = (st[st.index('(') + 1:st.rindex(')')], int(fields[11]) + int(fields[12]))
    return out


def foreign_load(a, b, wall):
    """Cores used between snapshots a and b by processes outside the lab (other
    people's work on this machine: it skews every figure) and the top three."""
    hz = os.sysconf('SC_CLK_TCK')
    ours = {os.getpid()}
    for ns in LAB.namespaces:
        ours.update(netlab.ns_pids(ns))
    per = {}
    for pid, (comm, t) in b.items():
        if pid in ours:
            continue
        d = t - a.get(pid, (comm, 0))[1]
        if d > 0:
            per[comm] = per.get(comm, 0) + d
    top = sorted(per.items(), key=lambda kv: -kv[1])[:3]
    return {'cores': round(sum(per.values()) / hz / wall, 3),
            'top': {k: round(v / hz / wall, 3) for k, v in top}}


def background_load(secs=3.0):
    a, t0 = all_ticks(), time.time()
    time.sleep(secs)
    return foreign_load(a, all_ticks(), time.time() - t0)


def wait_quiet(limit_s, secs=3.0, quiet=0.15):
    """Background load; with limit_s > 0, first wait (up to limit_s) for it to drop."""
    deadline = time.time() + limit_s
    while True:
        bl = background_load(secs)
        if bl['cores'] < quiet or time.time() >= deadline:
            if bl['cores'] >= quiet:
                log('   WARNING: other processes use %.2f cores (%s): figures will be skewed'
                    % (bl['cores'], bl['top']))
            return bl
        log('   waiting for a quiet machine: other processes use %.2f cores %s' % (
            bl['cores'], bl['top']))
        time.sleep(10)


def cpu_delta(a, b, wall):
    hz = os.sysconf('SC_CLK_TCK')
    agg = {}
    for k, v in b.items():
        key = '%s/%s' % (k[0], k[1])
        agg[key] = agg.get(key, 0) + v - a.get(k, 0)
    return {k: round(v / hz / wall, 3) for k, v in sorted(agg.items()) if v > 0}


# iperf3 -u: 1400-byte datagrams and 4 MiB socket buffers at both ends, as a
# program after a high UDP rate sets them (bench/udp.py says why).
UDP_ARGS = ['-l', '1400', '-w', '4M']


def iperf(ns, host, port, reverse=False, retry=True, streams=1, udp_mbit=None):
    """One iperf3 run; with udp_mbit, iperf3 -u at that offered rate: then
    'mbps' is what arrived (the rate less the lost share) and 'loss' the
    lost percentage."""
    cmd = ['iperf3', '-c', host, '-p', port, '-t', P['iperf_t'], '-J']
    if reverse:
        cmd.append('-R')
    if streams > 1:
        cmd += ['-P', streams]
    if udp_mbit:
        cmd += ['-u', '-b', '%gM' % udp_mbit] + UDP_ARGS
        if not reverse:
            cmd.append('--get-server-output')   # the receiver's loss, second by second
    c0, h0, t0 = cpu_snapshot(), host_cpu(), time.time()
    r = run(ns, cmd, timeout=P['iperf_t'] + 60)
    wall = time.time() - t0
    cpu = cpu_delta(c0, cpu_snapshot(), wall)
    h1 = host_cpu()
    tot = sum(h1) - sum(h0) or 1
    host = {'busy_pct': round(100.0 * (h1[0] - h0[0]) / tot, 1),
            'steal_pct': round(100.0 * (h1[2] - h0[2]) / tot, 1)}
    try:
        j = json.loads(r.stdout)
    except ValueError:
        return {'error': 'iperf3 rc=%d %s %s' % (r.returncode, r.stdout[-300:], r.stderr[-300:])}
    if 'error' in j:
        if retry and 'busy' in j['error']:
            log('   iperf3 server busy: restarting the LAN iperf3 servers')
            start_servers(only=('srv-iperf', 'srv-iperf-bulk'))
            return iperf(ns, host, port, reverse, retry=False, streams=streams, udp_mbit=udp_mbit)
        if retry and 'unable to connect' in j['error']:
            # On a long round trip (bench/shaped.py) the server may still be
            # closing the previous test; iperf3 then words it oddly ("Name
            # or service not known" for a numeric address).
            log('   iperf3: %s; once more in 2 s' % j['error'])
            time.sleep(2.0)
            return iperf(ns, host, port, reverse, retry=False, streams=streams, udp_mbit=udp_mbit)
        return {'error': j['error']}
    end = j['end']
    if udp_mbit:
        s = end['sum']
        if reverse:
            per_s = [round(iv['sum'].get('lost_percent', 0), 2) for iv in j.get('intervals', [])
                     if isinstance(iv, dict) and 'sum' in iv]
        else:
            # the server's report is text: "... 0.006 ms  3/89 (3.4%)" per interval
            per_s = [float(x) for x in re.findall(r'sec .*\(([\d.]+)%\)[ \t]*$',
                                                  j.get('server_output_text', ''), re.M)]
        return {'mbps': round(s['bits_per_second'] * (1 - s['lost_percent'] / 100.0) / 1e6, 1),
                'offered': udp_mbit, 'loss': round(s['lost_percent'], 3), 'loss_per_s': per_s,
                'lost': s.get('lost_packets'), 'packets': s.get('packets'),
                'cpu_cores': cpu, 'tunnel_cores': round(sum(cpu.values()), 3), 'host_cpu': host}
    return {'mbps': round(end['sum_received']['bits_per_second'] / 1e6, 1),
            'sender_mbps': round(end['sum_sent']['bits_per_second'] / 1e6, 1),
            'retransmits': end['sum_sent'].get('retransmits'),
            'cpu_cores': cpu, 'tunnel_cores': round(sum(cpu.values()), 3), 'host_cpu': host}


def probe(ns, host, port, mode='conn', n=None, interval=None, max_s=None, size=None,
          parallel=1):
    max_s = max_s or P['lat_max_s']
    cmd = [PROBER, mode, host, port, n or P['lat_n'],
           P['lat_interval_ms'] if interval is None else interval, max_s, size or P['lat_size'],
           parallel]
    r = run(ns, cmd, timeout=max_s + 60)
    try:
        return json.loads(r.stdout)
    except ValueError:
        return {'error': 'prober rc=%d %s' % (r.returncode, r.stderr[-300:])}


def loaded_latency(ns, host, ports, reverse, tag, udp_mbit=None, fn=None):
    """Latency probes while one iperf3 bulk stream runs through the same
    tunnel: a TCP stream, or with udp_mbit iperf3 -u at that offered rate.
    fn() measures instead of the conn and rtt probes (its dict is returned)."""
    jpath = os.path.join(LOGDIR, 'bulk-%s-%s.json' % (tag, 'down' if reverse else 'up'))
    cmd = ['iperf3', '-c', host, '-p', ports['bulk'], '-t', 120, '-J', '--logfile', jpath]
    if reverse:
        cmd.append('-R')
    if udp_mbit:
        cmd += ['-u', '-b', '%gM' % udp_mbit] + UDP_ARGS
    if os.path.exists(jpath):
        os.unlink(jpath)
    p = spawn(ns, cmd, 'bulk-iperf')
    time.sleep(P['load_settle_s'])                  # let the queues fill
    if fn:
        res = fn()
    else:
        res = {'conn': probe(ns, host, ports['echo'], 'conn'),
               'rtt': probe(ns, host, ports['echo'], 'rtt')}
    res['bulk_alive_during_probe'] = p.poll() is None
    stop_proc(p, signal.SIGINT, wait=10)            # iperf3 tells its server on SIGINT
    try:
        with open(jpath) as f:
            j = json.load(f)
        # on SIGINT the client gets no result from the server: use its own side
        end = j['end']
        side = 'sum' if udp_mbit else 'sum_received' if reverse else 'sum_sent'
        res['bulk_mbps'] = round(end[side]['bits_per_second'] / 1e6, 1)
        if udp_mbit and reverse:
            res['bulk_loss'] = end[side].get('lost_percent')
    except (OSError, ValueError, KeyError, TypeError):
        pass
    time.sleep(1.0)
    return res


# Counters of /proc/net/stat/nf_conntrack that say a packet was lost or not
# tracked (a SYN dropped in a redirect would leave one); the others count
# normal work.
CT_BAD = ('invalid', 'insert_failed', 'drop', 'early_drop', 'icmp_error', 'clash_resolve',
          'search_restart')


def conntrack_counters(ns):
    """The CT_BAD counters of ns's conntrack, summed over CPUs ({} without one)."""
    r = run(ns, ['cat', '/proc/net/stat/nf_conntrack'], timeout=10)
    lines = r.stdout.split('\n')
    if r.returncode != 0 or not lines[0].strip():
        return {}
    names = lines[0].split()
    tot = dict.fromkeys(CT_BAD, 0)
    for line in lines[1:]:
        for k, v in zip(names, line.split()):
            if k in tot:
                tot[k] += int(v, 16)
    return tot


def conntrack_delta(a, b):
    return {k: b[k] - a.get(k, 0) for k in b if b[k] - a.get(k, 0)}


def measure(tun):
    ns, host, ports = tun.ns(), tun.host, tun.ports
    m = {}
    f0, t0 = all_ticks(), time.time()
    ct0 = conntrack_counters(ns)
    steps = [
        ('thru_up', 'iperf3 upload', lambda: iperf(ns, host, ports['iperf'])),
        ('thru_down', 'iperf3 download (-R)', lambda: iperf(ns, host, ports['iperf'], True)),
        ('thru_up8', 'iperf3 upload, %d streams' % P['streams'],
         lambda: iperf(ns, host, ports['iperf'], streams=P['streams'])),
        ('thru_down8', 'iperf3 download, %d streams' % P['streams'],
         lambda: iperf(ns, host, ports['iperf'], True, streams=P['streams'])),
        ('lat_idle', 'latency, idle', lambda: {'conn': probe(ns, host, ports['echo'], 'conn'),
                                               'rtt': probe(ns, host, ports['echo'], 'rtt')}),
        ('lat_load_up', 'latency under a bulk upload',
         lambda: loaded_latency(ns, host, ports, False, tun.key)),
        ('lat_load_down', 'latency under a bulk download',
         lambda: loaded_latency(ns, host, ports, True, tun.key)),
        ('cps', '%d short connections' % P['cps_n'],
         lambda: probe(ns, host, ports['echo'], 'conn', n=P['cps_n'], interval=0,
                       max_s=P['cps_max_s'], size=P['cps_size'])),
        # Capacity rather than one client's latency: the goal's 5000/s (a
        # sequential client waits a round trip through ssh and sshd per cycle).
        ('cps_par', '%d short connections, %d clients at once' % (P['cps_par_n'], P['cps_par']),
         lambda: probe(ns, host, ports['echo'], 'conn', n=P['cps_par_n'], interval=0,
                       max_s=P['cps_max_s'], size=P['cps_size'], parallel=P['cps_par'])),
    ]
    for key, what, fn in steps:
        log('   %s' % what)
        try:
            m[key] = fn()
        except Exception as e:  # noqa: BLE001 - record, go on with the next step
            m[key] = {'error': '%s: %s' % (type(e).__name__, e)}
        if not tun.alive():
            m['died'] = 'tunnel process exited during %s' % what
            log('   ERROR: %s' % m['died'])
            break
    m['foreign_load'] = foreign_load(f0, all_ticks(), time.time() - t0)
    # Evidence for a stalled or failed probe (bench/README.md, "!N").
    m['conntrack'] = conntrack_delta(ct0, conntrack_counters(ns))
    summary = quick_summary(m)
    log('   => %s' % summary)
    if m['conntrack']:
        log('   conntrack in %s: %s' % (ns, m['conntrack']))
    if m['foreign_load']['cores'] > 0.25:
        log('   WARNING: processes outside the lab used %.2f cores meanwhile: %s' % (
            m['foreign_load']['cores'], m['foreign_load']['top']))
    return m


def quick_summary(m):
    def lat(sec):
        c = g(m, sec, 'conn') or {}
        return '%s/%s' % (fmt(c.get('med_ms'), '%.2f'), fmt(c.get('p99_ms'), '%.1f'))
    return ('up %s down %s Mbit/s; idle %s, load-up %s, load-down %s ms; %s conn/s (x%d: %s); '
            '%s cores' % (
        fmt(g(m, 'thru_up', 'mbps')), fmt(g(m, 'thru_down', 'mbps')), lat('lat_idle'),
        lat('lat_load_up'), lat('lat_load_down'), fmt(g(m, 'cps', 'rate_per_s')), P['cps_par'],
        fmt(g(m, 'cps_par', 'rate_per_s')),
        fmt(g(m, 'thru_up', 'tunnel_cores'), '%.2f')))


def parse_size(s):
    mult = {'K': 2**10, 'M': 2**20, 'G': 2**30}
    return int(s[:-1]) * mult[s[-1]] if s[-1] in mult else int(s)


def default_cipher():
    """The cipher the lab's ssh negotiates with no -c (what the tunnels use)."""
    r = run(LAB.ns_client, LAB.ssh_argv + ['-v', LAB.remote, 'true'], timeout=30)
    m = re.search(r'kex: server->client cipher: (\S+)', r.stderr or '')
    return m.group(1) if m else None


def ssh_pipe():
    out = {'default_cipher': default_cipher()}
    hs = []
    for _ in range(3):     # connect+auth+exit alone, to separate it from the transfer
        t0 = time.time()
        run(LAB.ns_client, LAB.ssh_argv + [LAB.remote, 'true'], timeout=30)
        hs.append(time.time() - t0)
    handshake = statistics.median(hs)
    out['handshake_s'] = round(handshake, 3)
    nbytes = parse_size(P['pipe_bytes'])
    for c in P['ciphers']:
        cmd = "%s -c %s %s 'cat /dev/zero' | head -c %s > /dev/null" % (
            LAB.ssh_cmd, c, LAB.remote, P['pipe_bytes'])
        c0, t0 = cpu_snapshot(), time.time()
        r = run(LAB.ns_client, ['bash', '-o', 'pipefail', '-c', cmd], timeout=600)
        dt = time.time() - t0
        # rc 141/255 (ssh after head closed the pipe) is expected
        out[c] = {'secs': round(dt, 3), 'mbps': round(nbytes * 8 / dt / 1e6, 1),
                  'mbps_excl_handshake': round(nbytes * 8 / max(dt - handshake, 1e-3) / 1e6, 1),
                  'rc': r.returncode, 'cpu_cores': cpu_delta(c0, cpu_snapshot(), dt)}
        log('   ssh pipe %s: %.0f Mbit/s (%.0f excl. handshake)' % (
            c, out[c]['mbps'], out[c]['mbps_excl_handshake']))
    return out


# ------------------------------------------------------------ tunnels
class Tunnel:
    key = ''
    name = ''
    host = LAN
    ports = LAN_PORTS
    p = None

    def ns(self):
        return LAB.ns_client

    def start(self):
        pass

    def alive(self):
        return self.p is None or self.p.poll() is None

    def stats(self):
        return {}

    def stop(self):
        pass


class Shuttle(Tunnel):
    """The project: shuttle in the client namespace, shuttle --server (or, with
    agent=True, the uploaded Python agent) on the gw."""

    def __init__(self, key, name, extra=(), agent=False, ssh_extra='', ssh_transport=False,
                 binary=None):
        self.key, self.name, self.extra = key, name, list(extra)
        self.binary = binary or SHUTTLE  # another build, to compare two in one run
        self.agent = agent
        self.ssh_transport = ssh_transport  # no server: ssh's own forwarding
        self.ssh_extra = ssh_extra
        self.server_pid = None
        self.cipher = None

    def server_args(self):
        if self.ssh_transport:
            return ['--transport=ssh']
        if self.agent:
            return AGENT_SERVER_ARGS
        return ['--server-cmd', self.binary + ' --server']

    def argv(self):
        ssh = LAB.ssh_cmd + (' ' + self.ssh_extra if self.ssh_extra else '')
        return ([self.binary, '-r', LAB.remote, '-e', ssh] + self.server_args()
                + SHUTTLE_ARGS + self.extra + [LAN_NET])

    def start(self):
        self.server_pid = None
        self.logpath = os.path.join(LOGDIR, self.key + '.log')
        off = fsize(self.logpath)
        self.p = spawn(LAB.ns_client, self.argv(), 'tun-' + self.key, logname=self.key)
        deadline = time.time() + 30
        while time.time() < deadline:
            txt = read_from(self.logpath, off)
            if 'connected' in txt:
                break
            if self.p.poll() is not None:
                raise RuntimeError('shuttle exited (rc %s) before "connected":\n  %s\n%s' % (
                    self.p.returncode, ' '.join(self.argv()), txt[-2000:]))
            time.sleep(0.05)
        else:
            raise RuntimeError('shuttle printed no "connected" within 30 s:\n  %s\n%s' % (
                ' '.join(self.argv()), read_from(self.logpath, off)[-2000:]))
        log('   ready: %s' % txt.strip().splitlines()[-1][:160])
        for _ in range(50):
            self.server_pid = self.find_server()
            if self.server_pid:
                break
            time.sleep(0.1)
        self.cipher = self.find_cipher()
        time.sleep(0.3)

    def find_cipher(self):
        """The cipher shuttle's ssh asked for first (shuttle picks aes128-gcm
        on AES-capable CPUs when ssh_config does not choose), or None: ssh's
        default."""
        for pid in netlab.descendants(self.p.pid):
            argv = cmdline(pid).split()
            if argv and os.path.basename(argv[0]) == 'ssh' and '-c' in argv:
                i = argv.index('-c')
                if i + 1 < len(argv):
                    return argv[i + 1].split(',')[0]
        return None

    def find_server(self):
        if self.ssh_transport:
            return None
        for pid in netlab.ns_pids(LAB.ns_gw):
            if self.agent:
                # The stage-1 loader's argv names shuttle-agent.py; the agent
                # calls itself shuttle-agent once it runs.
                if (netlab.comm(pid) == 'shuttle-agent'
                        or 'shuttle-agent' in cmdline(pid)):
                    return pid
            elif cmdline(pid).startswith(self.binary + ' --server'):
                return pid
        return None

    def mem(self):
        return {'client': proc_status(self.p.pid),
                'server': proc_status(self.server_pid) if self.server_pid else {}}

    def stats(self):
        return {'mem': self.mem(), 'cipher': self.cipher}

    def trim(self):
        """malloc_trim(0) in both engines (through gdb), so that heap freed
        earlier (libnftables' ruleset work, say) is not reused unseen by the
        next allocations: RSS deltas then show what new allocations cost."""
        ok = True
        for pid in (self.p.pid, self.server_pid):
            if not pid or not shutil.which('gdb'):
                ok = False
                continue
            r = subprocess.run(['gdb', '-p', str(pid), '-batch', '-nx', '-ex',
                                'call (int)malloc_trim(0)'], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, timeout=120)
            ok = ok and r.returncode == 0 and '$1 = ' in r.stdout
        return ok

    def stop(self):
        rc = stop_proc(self.p, signal.SIGTERM, wait=10)
        self.exit_status = rc
        left = [t for t in LAB.nft_tables(LAB.ns_client) if t.startswith('inet shuttle-')]
        if left:
            log('   WARNING: nft tables left behind by shuttle: %s' % left)
            for t in left:
                run(LAB.ns_client, ['nft', 'delete', 'table'] + t.split())
        if self.server_pid:
            for _ in range(50):
                if not netlab._alive(self.server_pid):
                    break
                time.sleep(0.1)
            else:
                log('   WARNING: shuttle --server (pid %d) still runs 5 s after the client '
                    'exited' % self.server_pid)
                netlab.kill_pid(self.server_pid)


class ShuttleRun(Shuttle):
    """`shuttle run` (the preload library, no firewall rule): the command is
    a shell that writes its environment down and sleeps; the measuring
    clients then get the same LD_PRELOAD and SHUTTLE_PRELOAD_* variables, so
    they use that engine's door as a child of the command would."""

    def argv(self):
        self.envfile = os.path.join(LOGDIR, self.key + '.env')
        return (['env', 'SHUTTLE_PRELOAD_LIBRARY=' + PRELOAD, SHUTTLE, 'run', '-r', LAB.remote,
                 '-e', LAB.ssh_cmd] + self.server_args()
                + SHUTTLE_ARGS + [LAN_NET, '--', 'sh', '-c',
                                  'env > %s; exec sleep 1000000' % self.envfile])

    def start(self):
        global CLIENT_ENV
        if os.path.exists(os.path.join(LOGDIR, self.key + '.env')):
            os.unlink(os.path.join(LOGDIR, self.key + '.env'))
        Shuttle.start(self)
        for _ in range(100):
            if os.path.exists(self.envfile) and os.path.getsize(self.envfile) > 0:
                break
            time.sleep(0.05)
        with open(self.envfile) as f:
            CLIENT_ENV = [ln.strip() for ln in f
                          if ln.startswith(('LD_PRELOAD=', 'SHUTTLE_PRELOAD_'))]
        if not any(e.startswith('LD_PRELOAD=') for e in CLIENT_ENV):
            raise RuntimeError('shuttle run gave the command no LD_PRELOAD')

    def stop(self):
        global CLIENT_ENV
        CLIENT_ENV = []
        Shuttle.stop(self)


class ShuttleSocks(Shuttle):
    """--socks alone (no rule): the prober goes through the SOCKS5 endpoint;
    iperf3 cannot use a proxy, so the throughput columns stay empty."""

    def argv(self):
        return ([SHUTTLE, '-r', LAB.remote, '-e', LAB.ssh_cmd] + self.server_args()
                + SHUTTLE_ARGS + ['--socks', str(SHUTTLE_SOCKS_PORT)])

    def start(self):
        global CLIENT_ENV
        Shuttle.start(self)
        CLIENT_ENV = ['PROBER_SOCKS5=%d' % SHUTTLE_SOCKS_PORT]

    def stop(self):
        global CLIENT_ENV
        CLIENT_ENV = []
        Shuttle.stop(self)


class Sshuttle(Tunnel):
    def __init__(self, key, method, extra=(), tag=None):
        self.key, self.method, self.extra = key, method, list(extra)
        self.name = 'sshuttle %s' % (tag or method)

    def start(self):
        self.logpath = os.path.join(LOGDIR, self.key + '.log')
        off = fsize(self.logpath)
        cmd = [SSHUTTLE, '--method', self.method, '-e', LAB.ssh_cmd, '-r', LAB.remote,
               '--python', REMOTE_PY] + self.extra + [LAN_NET]
        self.p = spawn(LAB.ns_client, cmd, 'tun-' + self.key, logname=self.key)
        deadline = time.time() + 30
        while time.time() < deadline:
            txt = read_from(self.logpath, off)
            if 'Connected to server' in txt:
                time.sleep(0.5)
                return
            if self.p.poll() is not None:
                raise RuntimeError('sshuttle exited rc=%s:\n%s' % (self.p.returncode, txt[-2000:]))
            time.sleep(0.1)
        raise RuntimeError('sshuttle did not connect within 30 s:\n%s' % txt[-2000:])

    def stop(self):
        kids = netlab.descendants(self.p.pid)
        stop_proc(self.p, signal.SIGTERM, wait=10)
        deadline = time.time() + 10
        while time.time() < deadline and any(netlab._alive(k) for k in kids):
            time.sleep(0.1)
        for k in kids:
            if netlab._alive(k):
                log('   WARNING: sshuttle child %d still alive after 10 s, killing' % k)
                netlab.kill_pid(k)
        r1 = run(LAB.ns_client, ['iptables-save', '-t', 'nat'])
        r2 = run(LAB.ns_client, ['nft', 'list', 'ruleset'])
        if 'sshuttle' in (r1.stdout or '') + (r2.stdout or ''):
            log('   WARNING: sshuttle rules left behind; flushing the client ruleset')
            run(LAB.ns_client, ['nft', 'flush', 'ruleset'])


class Redsocks(Tunnel):
    key, name = 'redsocks', 'ssh -D + redsocks'
    RULE = ['OUTPUT', '-p', 'tcp', '-d', LAN_NET, '-j', 'REDIRECT',
            '--to-ports', str(REDSOCKS_PORT)]

    def start(self):
        self.p = self.ssh = spawn(LAB.ns_client, LAB.ssh_argv + [
            '-N', '-o', 'ExitOnForwardFailure=yes', '-D', '127.0.0.1:%d' % SOCKS_PORT,
            LAB.remote], 'tun-ssh-D')
        if not LAB.wait_port(LAB.ns_client, '127.0.0.1', SOCKS_PORT):
            raise RuntimeError('ssh -D did not come up')
        conf = os.path.join(LOGDIR, 'redsocks.conf')
        with open(conf, 'w') as f:
            f.write('base { log_debug = off; log_info = off; log = stderr;\n'
                    '       daemon = off; redirector = iptables; }\n'
                    'redsocks { local_ip = 127.0.0.1; local_port = %d;\n'
                    '           ip = 127.0.0.1; port = %d; type = socks5; }\n'
                    % (REDSOCKS_PORT, SOCKS_PORT))
        self.redsocks = spawn(LAB.ns_client, ['redsocks', '-c', conf], 'tun-redsocks')
        if not LAB.wait_port(LAB.ns_client, '127.0.0.1', REDSOCKS_PORT):
            raise RuntimeError('redsocks did not come up')
        run(LAB.ns_client, ['iptables', '-t', 'nat', '-A'] + self.RULE, check=True)

    def alive(self):
        return self.ssh.poll() is None and self.redsocks.poll() is None

    def stop(self):
        run(LAB.ns_client, ['iptables', '-t', 'nat', '-D'] + self.RULE)
        stop_proc(getattr(self, 'redsocks', None))
        stop_proc(getattr(self, 'ssh', None))


class SshL(Tunnel):
    """ssh -L, ssh's default cipher or @cipher: the ceiling of an ssh tunnel,
    and exactly --transport=ssh's data path."""
    host = '127.0.0.1'
    ports = {'iperf': 15201, 'bulk': 15202, 'echo': 17777}

    def __init__(self, key='ssh-L', name='ssh -L (reference)', cipher=None):
        self.key, self.name, self.cipher = key, name, cipher

    def stats(self):
        # Without -c: the one ssh negotiates (the ssh-pipe row, which also
        # finds it, may not have run), so that a same-cipher row pairs up.
        return {'cipher': self.cipher or default_cipher()}

    def start(self):
        fw = []
        for k, lp in self.ports.items():
            fw += ['-L', '127.0.0.1:%d:%s:%d' % (lp, LAN, LAN_PORTS[k])]
        c = ['-c', self.cipher] if self.cipher else []
        self.p = spawn(LAB.ns_client, LAB.ssh_argv + c + ['-N', '-o', 'ExitOnForwardFailure=yes']
                       + fw + [LAB.remote], 'tun-' + self.key)
        for lp in self.ports.values():
            if not LAB.wait_port(LAB.ns_client, '127.0.0.1', lp):
                raise RuntimeError('ssh -L did not come up')
        # ssh accepts wait_port's connections itself and forwards them: on
        # a shaped link they reach the LAN servers a round trip later, and
        # the iperf3 server took its probe for the first test's control
        # connection, failed on it and dropped the real one ("control
        # socket has closed unexpectedly": ssh -L's upload on every link
        # with a round trip). Let them arrive and close first: a few of the
        # link's round trips (the loopback lab has none).
        rtt_s = (LAB.wan or {}).get('rtt_ms', 0) / 1000.0
        time.sleep(0.5 + 4 * rtt_s)

    def stop(self):
        stop_proc(self.p)


class Direct(Tunnel):
    key, name = 'direct', 'direct gw->LAN (no tunnel)'

    def ns(self):
        return LAB.ns_gw


def tunnels():
    return {
        'shuttle': Shuttle('shuttle', 'shuttle'),
        'shuttle-chacha': Shuttle('shuttle-chacha', 'shuttle, ssh -c chacha20',
                                  ssh_extra='-c ' + CHACHA),
        'shuttle-nolc': Shuttle('shuttle-nolc', 'shuttle --no-latency-control',
                                ['--no-latency-control']),
        # The same cipher as the ssh -L row (the plain nolc row gets
        # aes128-gcm): what latency control costs with chacha20.
        'shuttle-nolc-chacha': Shuttle('shuttle-nolc-chacha', 'shuttle --no-lc, chacha20',
                                       ['--no-latency-control'], ssh_extra='-c ' + CHACHA),
        'shuttle-nocf': Shuttle('shuttle-nocf', 'shuttle --no-connect-fidelity',
                                ['--no-connect-fidelity']),
        'shuttle-agent': Shuttle('shuttle-agent', 'shuttle (Python agent)', agent=True),
        'shuttle-ssh': Shuttle('shuttle-ssh', 'shuttle --transport=ssh', ssh_transport=True),
        'shuttle-ssh-chacha': Shuttle('shuttle-ssh-chacha', 'shuttle --transport=ssh, chacha20',
                                      ssh_extra='-c ' + CHACHA, ssh_transport=True),
        'shuttle-run': ShuttleRun('shuttle-run', 'shuttle run (preload)'),
        'shuttle-socks': ShuttleSocks('shuttle-socks', 'shuttle --socks (SOCKS5)'),
        'sshuttle-nft': Sshuttle('sshuttle-nft', 'nft'),
        'sshuttle-nat': Sshuttle('sshuttle-nat', 'nat'),
        'redsocks': Redsocks(),
        'ssh-L': SshL(),
        'ssh-L-aes': SshL('ssh-L-aes', 'ssh -L, -c aes128-gcm', cipher=AES128),
        'direct': Direct(),
    }


DEFAULT_ORDER = ['ssh-pipe', 'shuttle', 'shuttle-chacha', 'shuttle-nolc', 'shuttle-nocf',
                 'shuttle-agent',
                 'shuttle-ssh', 'shuttle-ssh-chacha', 'shuttle-run', 'shuttle-socks',
                 'sshuttle-nft', 'sshuttle-nat', 'redsocks', 'ssh-L', 'ssh-L-aes', 'many']
ALL_KEYS = DEFAULT_ORDER + ['direct', 'shuttle-nolc-chacha']
COMPARE_KEYS = ('shuttle', 'shuttle-chacha', 'shuttle-nolc', 'shuttle-nolc-chacha')   # --compare twins these


# ------------------------------------------------------------ start-up
def start_first_prober(tun):
    """A prober that tries connect + echo through the tunnel every 2 ms from
    before the tunnel is started; it says when it is ready to start trying."""
    if isinstance(tun, (Direct, ShuttleRun, ShuttleSocks)):
        return None   # (the run and SOCKS rows: the client's environment comes with the engine)
    p = LAB.spawn(tun.ns(), [str(a) for a in (
        PROBER, 'first', tun.host, tun.ports['echo'], P['startup_max_s'], 32)],
                  label='first', stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        if read_json_line(p, 10).get('phase') != 'ready':
            raise RuntimeError('start-up prober did not start')
    except Exception:
        p.kill()
        p.wait()
        raise
    return p


def finish_first_prober(p, t_spawn):
    """Start-up: from the tunnel command's spawn to the first echoed byte."""
    if p is None:
        return None
    try:
        r = read_json_line(p, P['startup_max_s'] + 5)
    except Exception as e:  # noqa: BLE001 - a figure missing, not a failed row
        r = {'error': str(e)}
    finally:
        if p.poll() is None:
            p.kill()
        p.wait()
    if 't_ok' in r:
        r['secs'] = round(r['t_ok'] - t_spawn, 4)
        log('   start-up: first echo through the tunnel %.0f ms after the command started' % (
            r['secs'] * 1000))
    return r


# ------------------------------------------------------------ many connections
def read_json_line(p, timeout):
    sel = selectors.DefaultSelector()
    sel.register(p.stdout, selectors.EVENT_READ)
    try:
        if not sel.select(timeout):
            raise RuntimeError('prober gave no answer within %.0f s' % timeout)
        ln = p.stdout.readline()
    finally:
        sel.close()
    if not ln:
        raise RuntimeError('prober exited (rc %s)' % p.poll())
    return json.loads(ln)


def many_connections():
    """N concurrent idle connections through a fresh shuttle; memory per connection."""
    n = P['many_n']
    tun = Shuttle('many', 'shuttle (many connections)')
    out = {'n': n}
    tun.start()
    p = None
    try:
        out['post_start_probe'] = probe(LAB.ns_client, LAN, ECHO_PORT, 'conn', n=5)
        time.sleep(0.5)
        out['mem_before_untrimmed'] = tun.mem()
        out['trimmed'] = tun.trim()
        out['mem_before'] = tun.mem()
        errlog = open(os.path.join(LOGDIR, 'many-prober.log'), 'ab')
        p = subprocess.Popen(['ip', 'netns', 'exec', LAB.ns_client, PROBER, 'many', LAN,
                              str(ECHO_PORT), str(n), str(P['many_inflight']),
                              str(P['many_timeout_s'])],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errlog,
                             text=True, start_new_session=True)
        errlog.close()
        log('   opening %d connections (%d connects in flight at most)' % (
            n, P['many_inflight']))
        out['open'] = read_json_line(p, P['many_timeout_s'] + 30)
        log('   open: %s' % json.dumps(out['open']))
        time.sleep(1.0)
        out['mem_open'] = tun.mem()
        p.stdin.write('go\n')
        p.stdin.flush()
        out['echo'] = read_json_line(p, P['many_timeout_s'] + 30)
        log('   echo: %s' % json.dumps(out['echo']))
        time.sleep(1.0)
        out['mem_after_untrimmed'] = tun.mem()
        if out['trimmed']:
            tun.trim()
        out['mem_after'] = tun.mem()
        out['alive_with_all_open'] = tun.alive()
        out['probe_with_all_open'] = probe(LAB.ns_client, LAN, ECHO_PORT, 'conn', n=20)
        p.stdin.write('done\n')
        p.stdin.flush()
        read_json_line(p, 60)
        p.wait(timeout=30)
        time.sleep(3.0)
        out['mem_closed'] = tun.mem()
        out['probe_after_close'] = probe(LAB.ns_client, LAN, ECHO_PORT, 'conn', n=20)
        for side in ('client', 'server'):
            for f, tag in (('VmRSS', 'rss'), ('RssAnon', 'anon')):
                b = g(out, 'mem_before', side, f)
                a = g(out, 'mem_after', side, f)
                if a is not None and b is not None:
                    out['kib_per_conn_%s_%s' % (tag, side)] = round((a - b) / n, 2)
        log('   RSS client %s -> %s kB, server %s -> %s kB; anon %s / %s KiB per connection' % (
            g(out, 'mem_before', 'client', 'VmRSS'), g(out, 'mem_after', 'client', 'VmRSS'),
            g(out, 'mem_before', 'server', 'VmRSS'), g(out, 'mem_after', 'server', 'VmRSS'),
            out.get('kib_per_conn_anon_client'), out.get('kib_per_conn_anon_server')))
    finally:
        if p is not None and p.poll() is None:
            p.kill()
            p.wait()
        tun.stop()
    return out


# ------------------------------------------------------------ report
def fmt(v, f='%.0f'):
    return '-' if v is None else (f % v)


def g(d, *path):
    for k in path:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def flat(m):
    """The table's numbers for one config in one round."""
    def kb2mib(v):
        return None if v is None else v / 1024.0
    out = {'up': g(m, 'thru_up', 'mbps'), 'down': g(m, 'thru_down', 'mbps'),
           'up8': g(m, 'thru_up8', 'mbps'), 'down8': g(m, 'thru_down8', 'mbps'),
           'startup': g(m, 'startup', 'secs'), 'eng_s_gib': engine_s_per_gib(m),
           'cipher': g(m, 'stats', 'cipher'),
           'cps': g(m, 'cps', 'rate_per_s'), 'cps_fail': g(m, 'cps', 'fail'),
           'cps_par': g(m, 'cps_par', 'rate_per_s'), 'cps_par_fail': g(m, 'cps_par', 'fail'),
           'cpu': g(m, 'thru_up', 'tunnel_cores'),
           'rss_c': kb2mib(g(m, 'stats', 'mem', 'client', 'VmHWM')),
           'rss_s': kb2mib(g(m, 'stats', 'mem', 'server', 'VmHWM')),
           'other': g(m, 'foreign_load', 'cores')}
    for sec, tag in (('lat_idle', 'idle'), ('lat_load_up', 'lu'), ('lat_load_down', 'ld')):
        out[tag + '_med'] = g(m, sec, 'conn', 'med_ms')
        out[tag + '_p99'] = g(m, sec, 'conn', 'p99_ms')
        out[tag + '_fail'] = g(m, sec, 'conn', 'fail')
        out[tag + '_rtt'] = g(m, sec, 'rtt', 'med_ms')
        out[tag + '_bulk'] = g(m, sec, 'bulk_mbps')
    return out


def engine_s_per_gib(m):
    """CPU seconds per GiB carried, in the tunnel's own processes only (not
    ssh/sshd, which every ssh-based tunnel pays alike), during the upload."""
    cores, mbps = g(m, 'thru_up', 'cpu_cores'), g(m, 'thru_up', 'mbps')
    if not cores or not mbps:
        return None
    eng = sum(v for k, v in cores.items() if k.split('/')[-1] not in ('ssh', 'sshd'))
    return eng / (mbps * 1e6 / 8 / 2**30)


def merge(rounds):
    """Per config: the median of every number over the rounds where it ran."""
    rows, names = {}, {}
    keys = []
    for r in rounds:
        for k in r.get('configs', {}):
            if k not in keys:
                keys.append(k)
    for k in keys:
        ms = [r['configs'][k] for r in rounds if k in r.get('configs', {})]
        names[k] = ms[0].get('name', k)
        ok = [m for m in ms if 'error' not in m]
        if not ok:
            rows[k] = {'error': ms[-1]['error'], 'name': names[k]}
            continue
        fl = [flat(m) for m in ok]
        row = {'name': names[k], 'rounds': len(ok), 'of': len(ms)}
        for f in fl[0]:
            vals = [x[f] for x in fl]
            if f == 'cipher':
                row[f] = next((v for v in vals if v), None)
            else:
                row[f] = max([v or 0 for v in vals]) if f.endswith('_fail') else med(vals)
        cpu = {}
        for m in ok:
            for pk in (g(m, 'thru_up', 'cpu_cores') or {}):
                cpu.setdefault(pk, [])
        for pk in cpu:
            row.setdefault('cpu_by_proc', {})[pk] = med(
                [g(m, 'thru_up', 'cpu_cores', pk) or 0 for m in ok])
        row['died'] = [m['died'] for m in ok if m.get('died')]
        rows[k] = row
    return rows


def merge_pipe(rounds):
    out = {'default_cipher': None}
    for r in rounds:
        out['default_cipher'] = out['default_cipher'] or g(r, 'ssh_pipe', 'default_cipher')
    for c in P['ciphers']:
        out[c] = {f: med([g(r, 'ssh_pipe', c, f) for r in rounds])
                  for f in ('mbps', 'mbps_excl_handshake', 'secs')}
    out['handshake_s'] = med([g(r, 'ssh_pipe', 'handshake_s') for r in rounds])
    return out


def merge_many(rounds):
    ms = [r['many'] for r in rounds if isinstance(r.get('many'), dict)]
    ok = [m for m in ms if 'error' not in m]
    if not ok:
        return {'error': ms[-1]['error']} if ms else None
    return {
        'rounds': len(ok), 'of': len(ms), 'n': ok[0]['n'],
        'open_ok': med([g(m, 'open', 'ok') for m in ok]),
        'open_s': med([g(m, 'open', 'secs') for m in ok]),
        'echoed': med([g(m, 'echo', 'echoed') for m in ok]),
        'echo_s': med([g(m, 'echo', 'secs') for m in ok]),
        'c_before': med([g(m, 'mem_before', 'client', 'VmRSS') for m in ok]),
        'c_after': med([g(m, 'mem_after', 'client', 'VmRSS') for m in ok]),
        's_before': med([g(m, 'mem_before', 'server', 'VmRSS') for m in ok]),
        's_after': med([g(m, 'mem_after', 'server', 'VmRSS') for m in ok]),
        'c_closed': med([g(m, 'mem_closed', 'client', 'VmRSS') for m in ok]),
        's_closed': med([g(m, 'mem_closed', 'server', 'VmRSS') for m in ok]),
        'kib_c': med([m.get('kib_per_conn_rss_client') for m in ok]),
        'kib_s': med([m.get('kib_per_conn_rss_server') for m in ok]),
        'anon_kib_c': med([m.get('kib_per_conn_anon_client') for m in ok]),
        'anon_kib_s': med([m.get('kib_per_conn_anon_server') for m in ok]),
        'trimmed': all(m.get('trimmed') for m in ok),
        'probe_all_open_med': med([g(m, 'probe_with_all_open', 'med_ms') for m in ok]),
        'probe_all_open_fail': max([g(m, 'probe_with_all_open', 'fail') or 0 for m in ok]),
        'alive': all(m.get('alive_with_all_open') for m in ok),
    }


def table(doc):
    rounds = doc['rounds']
    prm = doc.get('params', P)
    meta = doc.get('meta', {})
    L = []
    L.append('Shuttle benchmark %s%s  |  %d round(s), medians  |  shuttle %s%s  |  %s' % (
        doc.get('stamp', ''), ' (INTERRUPTED: partial)' if doc.get('interrupted') else '',
        len(rounds), meta.get('git', '?'),
        '' if meta.get('build_ok', True) else ' (BUILD FAILED: stale binary)',
        meta.get('ssh_version', '')))
    L.append('iperf3 -t %d, 1 stream; latency: %d x (connect + %d B echo + close), %d ms apart, '
             'ms median/p99; under load: while an iperf3 bulk stream runs the same way;'
             % (prm['iperf_t'], prm['lat_n'], prm['lat_size'], prm['lat_interval_ms']))
    L.append('conn/s: %d sequential connect/%d B echo/close%s; CPU: cores used by all tunnel '
             'processes (both ends) during the upload; RSS: VmHWM at the end, MiB, client/server.'
             % (prm['cps_n'], prm['cps_size'],
                ('; x%d: %d of them by %d clients at once' % (
                    prm['cps_par'], prm['cps_par_n'], prm['cps_par']))
                if prm.get('cps_par') else ''))
    pipe = merge_pipe(rounds) if any('ssh_pipe' in r for r in rounds) else None
    rows = merge(rounds)
    dc = (pipe or {}).get('default_cipher') or next(
        (g(r, 'ssh_pipe', 'default_cipher') for r in rounds if g(r, 'ssh_pipe')), None)
    if dc:
        L.append("The lab's ssh negotiates %s by default: every tunnel below uses it." % dc)
    L.append('')
    ROW = '%-30s %7s %7s %7s %7s %12s %12s %12s %7s %7s %6s %5s %6s %10s %5s'
    hdr = ROW % ('config', 'up', 'dn', 'up x%d' % prm.get('streams', 8),
                 'dn x%d' % prm.get('streams', 8), 'idle med/p99', 'bulk-up', 'bulk-dn',
                 'conn/s', 'c/s x%d' % prm.get('cps_par', 8), 'start', 'CPU', 's/GiB',
                 'RSS MiB', 'other')
    L.append(hdr)
    L.append('-' * len(hdr))
    if pipe:
        for c in prm['ciphers']:
            v = pipe.get(c) or {}
            nm = 'ssh pipe %s%s' % (c.split('@')[0].replace('-poly1305', ''),
                                    ' (default)' if c == dc else '')
            L.append(ROW % (nm[:30], fmt(v.get('mbps')), '-', '-', '-', '-', '-', '-', '-', '-',
                            fmt(pipe.get('handshake_s'), '%.3f') if c == dc else '-',
                            '-', '-', '-', '-'))

    def lat(r, tag):
        if r.get(tag + '_med') is None:
            return '-'
        s = '%s/%s' % (fmt(r[tag + '_med'], '%.2f' if r[tag + '_med'] < 10 else '%.0f'),
                       fmt(r[tag + '_p99'], '%.1f' if r[tag + '_p99'] < 10 else '%.0f'))
        if r.get(tag + '_fail'):
            s += '!%d' % r[tag + '_fail']
        return s
    for k, r in rows.items():
        if 'error' in r:
            L.append('%-30s ERROR: %s' % (r['name'][:30], r['error'].strip().splitlines()[0][:90]))
            continue
        cps = fmt(r['cps'])
        if r.get('cps_fail'):
            cps += '!%d' % r['cps_fail']
        cpsp = fmt(r.get('cps_par'))
        if r.get('cps_par_fail'):
            cpsp += '!%d' % r['cps_par_fail']
        rss = '-'
        if r.get('rss_c') is not None:
            rss = '%.1f/%s' % (r['rss_c'], fmt(r.get('rss_s'), '%.1f'))
        nm = r['name'] + ('' if r['rounds'] == r['of'] else ' [%d/%d ok]' % (r['rounds'], r['of']))
        L.append(ROW % (
            nm[:30], fmt(r['up']), fmt(r['down']), fmt(r.get('up8')), fmt(r.get('down8')),
            lat(r, 'idle'), lat(r, 'lu'), lat(r, 'ld'), cps, cpsp, fmt(r.get('startup'), '%.3f'),
            fmt(r['cpu'], '%.2f'), fmt(r.get('eng_s_gib'), '%.2f'), rss,
            fmt(r.get('other'), '%.2f')))
    L.append('(Mbit/s; !N: N probes failed; "-": not measured; start: s from the command to the '
             'first echo through it (ssh pipe row: ssh connect+auth+exit alone); s/GiB: CPU '
             'seconds per GiB uploaded in the tunnel\'s own processes, ssh/sshd excluded; '
             'other: cores used by processes outside the lab meanwhile)')
    # A failed or stalled probe's evidence: packets the tunnel's namespace's
    # conntrack lost or could not track while that row was measured.
    for r in rounds:
        for key, m in r.get('configs', {}).items():
            if isinstance(m, dict) and m.get('conntrack'):
                L.append('conntrack, round %d, %s: %s' % (
                    r.get('round', 0), key,
                    ' '.join('%s=%d' % kv for kv in sorted(m['conntrack'].items()))))
    L += goals(rows, pipe, dc, merge_many(rounds))
    L += goals_same_cipher(rows, dc, ssh_transport=True)
    L += goals_same_cipher(rows, dc, ssh_transport=False)
    bg = [g(r, 'background', 'cores') for r in rounds]
    others = [r.get('other') or 0 for r in rows.values() if 'error' not in r]
    worst = max([v for v in bg if v is not None] + others + [0])
    if worst > 0.25:
        tops = {}
        for r in rounds:
            for k, v in (g(r, 'background', 'top') or {}).items():
                tops[k] = max(tops.get(k, 0), v)
            for m in r.get('configs', {}).values():
                for k, v in (g(m, 'foreign_load', 'top') or {}).items():
                    tops[k] = max(tops.get(k, 0), v)
        L.append('WARNING: up to %.2f cores were busy with processes outside the benchmark (%s):'
                 ' these figures are skewed; rerun on a quiet machine.' % (worst, ', '.join(
                     '%s %.2f' % kv for kv in sorted(tops.items(), key=lambda kv: -kv[1])[:4])))
    many = merge_many(rounds)
    if many:
        L.append('')
        if 'error' in many:
            L.append('Many connections (shuttle): ERROR: %s' % many['error'].strip().splitlines()[0])
        else:
            L.append('Many connections (shuttle, fresh instance): %d concurrent idle connections '
                     'to the LAN echo server' % many['n'])
            L.append('  opened %s in %.1f s; %s of them echoed 1 byte after all were open '
                     '(%.1f s); shuttle alive: %s; 20 new connections meanwhile: med %s ms, '
                     '%d failed' % (fmt(many['open_ok']), many['open_s'] or 0,
                                    fmt(many['echoed']), many['echo_s'] or 0,
                                    'yes' if many['alive'] else 'NO',
                                    fmt(many['probe_all_open_med'], '%.2f'),
                                    many['probe_all_open_fail']))

            def mib(v):
                return fmt(None if v is None else v / 1024.0, '%.1f')
            L.append('  RSS (VmRSS%s) client engine %s -> %s MiB = %s KiB/conn, server engine '
                     '%s -> %s MiB = %s KiB/conn; anonymous memory only (RssAnon): %s and %s '
                     'KiB/conn; after closing all: client %s, server %s MiB' % (
                         ', malloc_trim()ed' if many['trimmed'] else '',
                         mib(many['c_before']), mib(many['c_after']), fmt(many['kib_c'], '%.2f'),
                         mib(many['s_before']), mib(many['s_after']), fmt(many['kib_s'], '%.2f'),
                         fmt(many['anon_kib_c'], '%.2f'), fmt(many['anon_kib_s'], '%.2f'),
                         mib(many['c_closed']), mib(many['s_closed'])))
    if any('cpu_by_proc' in r for r in rows.values()):
        L.append('')
        L.append('CPU during the upload, cores, by process (namespace/command):')
    for k, r in rows.items():
        if 'cpu_by_proc' in r:
            parts = ['%s %.2f' % (pk, v) for pk, v in sorted(
                r['cpu_by_proc'].items(), key=lambda kv: -kv[1]) if v >= 0.01]
            L.append('  %-30s %s' % (r['name'][:30], ', '.join(parts)))
    extra = []
    for k, r in rows.items():
        if r.get('died'):
            extra.append('  %s: %s' % (r['name'], '; '.join(r['died'])))
    if extra:
        L.append('')
        L.append('Tunnel process exited during a run:')
        L += extra
    if pipe and pipe.get('handshake_s'):
        L.append('')
        L.append('Raw pipe: %s of zeros; wall time includes the ssh handshake (%.2f s); '
                 'excluding it: %s' % (prm['pipe_bytes'], pipe['handshake_s'], ', '.join(
                     '%s %s Mbit/s' % (c.split('@')[0], fmt(g(pipe, c, 'mbps_excl_handshake')))
                     for c in prm['ciphers'])))
    return '\n'.join(L)


def goals(rows, pipe, dc, many):
    """Issue 8's targets against this run's figures, one line each."""
    sh = rows.get('shuttle')
    if not sh or 'error' in sh:
        return []
    L = ['', 'Goals (issue 8), shuttle against this run:']
    sl = rows.get('ssh-L') if 'error' not in rows.get('ssh-L', {'error': 1}) else {}

    def ceiling(row, f):
        """What "the raw ssh pipe" is for this row: the pipe with the row's
        cipher, or, for ssh's default cipher, the higher of that pipe and
        ssh -L (which uses it), as ../shared/BENCHMARKS.md says."""
        c = row.get('cipher') or dc
        vals = [g(pipe or {}, c, 'mbps')] + ([sl.get(f)] if c == dc else [])
        vals = [v for v in vals if v]
        return (max(vals) if vals else None), c

    def yn(ok):
        return '-' if ok is None else ('met' if ok else 'NOT met')
    for key, goal in (('shuttle', 90), ('shuttle-chacha', 90), ('shuttle-agent', 50)):
        row = rows.get(key)
        if not row or 'error' in row:
            continue
        parts, oks = [], []
        for f, what in (('up', 'up'), ('down', 'down'), ('up8', 'up x8'), ('down8', 'down x8')):
            c, cipher = ceiling(row, f)
            if row.get(f) and c:
                p = 100.0 * row[f] / c
                parts.append('%s %.0f%%' % (what, p))
                oks.append(p >= goal)
        if parts:
            L.append('  throughput, %-22s %s of the %s pipe%s (goal >= %d%%): %s' % (
                row['name'][:22], ', '.join(parts), (cipher or '?').split('@')[0],
                ' or ssh -L' if cipher == dc else '', goal, yn(all(oks))))
    for tag, what in (('lu', 'under a bulk upload'), ('ld', 'under a bulk download')):
        if sh.get(tag + '_med') is not None and sh.get('idle_med') is not None:
            above = sh[tag + '_med'] - sh['idle_med']
            L.append('  latency %-22s median %.2f ms above idle (goal <= 2), p99 %.1f ms '
                     '(goal <= 10): %s' % (what, above, sh[tag + '_p99'],
                                           yn(above <= 2 and sh[tag + '_p99'] <= 10)))
    if sh.get('cps_par') is not None:
        L.append('  short connections          %.0f/s with %d clients at once (goal >= 5000): %s;'
                 ' one client alone: %s/s' % (sh['cps_par'], P['cps_par'],
                                             yn(sh['cps_par'] >= 5000), fmt(sh.get('cps'))))
    elif sh.get('cps') is not None:
        L.append('  short connections          %.0f/s (goal >= 5000): %s' % (
            sh['cps'], yn(sh['cps'] >= 5000)))
    hs = (pipe or {}).get('handshake_s')
    if sh.get('startup') is not None and hs:
        L.append('  start-up                   %.0f ms, ssh connect+auth %.0f ms: %+.0f ms '
                 '(goal <= +100): %s' % (sh['startup'] * 1000, hs * 1000,
                                          (sh['startup'] - hs) * 1000,
                                          yn(sh['startup'] - hs <= 0.1)))
    ss = [r.get('eng_s_gib') for k, r in rows.items()
          if k.startswith('sshuttle') and 'error' not in r and r.get('eng_s_gib')]
    if sh.get('eng_s_gib') and ss:
        ratio = min(ss) / sh['eng_s_gib']
        L.append('  engine CPU per GiB         %.2f s, sshuttle %.2f s: %.1fx less (goal >= 10x): '
                 '%s' % (sh['eng_s_gib'], min(ss), ratio, yn(ratio >= 10)))
    if many and 'error' not in many and many.get('kib_c') is not None:
        ok = (many['open_ok'] == many['n'] and many['echoed'] == many['n'] and many['alive']
              and many['kib_c'] <= 8)
        L.append('  %d concurrent connections  %s open, %s echoed, client %.2f KiB per idle '
                 'connection (goal: all, <= 8 KiB): %s' % (
                     many['n'], fmt(many['open_ok']), fmt(many['echoed']), many['kib_c'], yn(ok)))
    return L


def goals_same_cipher(rows, dc, ssh_transport):
    """Rows held to the ssh -L row of the same cipher. ssh_transport=True:
    issue 20's targets, each --transport=ssh row against the ssh -L row
    with the same cipher (the engine asks ssh for aes128-gcm first when
    ssh_config does not choose, so the plain rows differ), its latency under
    load, connections per second and start-up. With ssh_transport=False the
    same for the rows of the engine's own data path, the shuttle and
    shuttle-chacha rows and their --compare twins (issue 21: >= 0.95 x
    ssh -L with the same cipher, latency control on)."""
    def ok(k):
        return rows.get(k) and 'error' not in rows[k]

    def cipher(row):
        return row.get('cipher') or dc

    def mine(k):
        if ssh_transport:
            return k.startswith('shuttle-ssh')
        return k in ('shuttle', 'shuttle-chacha', 'shuttle-b', 'shuttle-chacha-b')
    refs = {cipher(rows[k]): rows[k] for k in rows if k.startswith('ssh-L') and ok(k)}
    L = []
    for k in [k for k in rows if mine(k) and ok(k)]:
        row = rows[k]
        c = cipher(row)
        if not L:
            L += ['', 'Goals (issue 20), shuttle --transport=ssh against this run:'
                  if ssh_transport else
                  'Goals (issue 21), shuttle with latency control against ssh -L, same cipher:']
        ref = refs.get(c)
        name = (c or '?').split('@')[0]
        if ref is None:
            L.append('  %-28s cipher %s: no ssh -L row with it (add ssh-L%s)' % (
                row['name'][:28], name, '-aes' if c == AES128 else ''))
        else:
            parts, oks = [], []
            for f, what in (('up', 'up'), ('down', 'down'), ('up8', 'up x8'),
                            ('down8', 'down x8')):
                if row.get(f) and ref.get(f):
                    parts.append('%s %.2f' % (what, row[f] / ref[f]))
                    oks.append(row[f] >= 0.95 * ref[f])
            L.append('  %-28s throughput x ssh -L, both %s: %s (goal >= 0.95): %s' % (
                row['name'][:28], name, ', '.join(parts),
                '-' if not oks else ('met' if all(oks) else 'NOT met')))
        for tag, what in (('lu', 'bulk upload'), ('ld', 'bulk download')):
            if row.get(tag + '_med') is not None and row.get('idle_med') is not None:
                r = ref or {}
                L.append('    latency under a %-13s median %.2f ms above idle, p99 %.1f ms'
                         '%s' % (what, row[tag + '_med'] - row['idle_med'], row[tag + '_p99'],
                                 '' if r.get(tag + '_med') is None else
                                 ' (ssh -L: %.2f above, p99 %.1f)' % (
                                     r[tag + '_med'] - r['idle_med'], r[tag + '_p99'])))
        if row.get('cps') is not None and ssh_transport:
            L.append('    short connections         %s/s, %s/s with %d clients (ssh -L: %s, %s; '
                     'each one is an ssh channel: a control connection to the master, two '
                     'descriptors passed, a CHANNEL_OPEN round trip to sshd before a byte)' % (
                         fmt(row['cps']), fmt(row.get('cps_par')), P['cps_par'],
                         fmt((ref or {}).get('cps')), fmt((ref or {}).get('cps_par'))))
        if row.get('startup') is not None and ssh_transport:
            rs = (ref or {}).get('startup')
            L.append('    start-up                  %.0f ms from the command to the first echo%s' % (
                row['startup'] * 1000, '' if rs is None else ' (ssh -L: %.0f ms)' % (rs * 1000)))
    return L


# ------------------------------------------------------------ main
def meta(build_ok):
    def out(argv, err=False):
        try:
            r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=20)
            return ((r.stderr if err else r.stdout) or '').strip()
        except (OSError, subprocess.TimeoutExpired):
            return None
    head = out(['git', '-C', REPO, 'rev-parse', '--short', 'HEAD'])
    dirty = out(['git', '-C', REPO, 'status', '--porcelain', '--', 'service'])
    h = hashlib.sha256()
    with open(SHUTTLE, 'rb') as f:
        h.update(f.read())
    return {'git': '%s%s' % (head or '?', '+dirty service/' if dirty else ''),
            'shuttle_sha256': h.hexdigest()[:16], 'build_ok': build_ok,
            'ssh_version': out(['ssh', '-V'], err=True),
            'sshuttle_version': out([SSHUTTLE, '--version']),
            'iperf3_version': (out(['iperf3', '--version']) or '').splitlines()[0:1],
            'kernel': os.uname().release, 'ncpu': os.cpu_count(),
            'shuttle_args': SHUTTLE_ARGS}


def save(doc, path):
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(doc, f, indent=1)
    os.rename(tmp, path)


class Interrupted(BaseException):
    pass


def on_signal(sig, frame):
    raise Interrupted('signal %d' % sig)


def cmd_run(args):
    global LOGDIR, SHUTTLE_ARGS
    if args.quick:
        P.update(QUICK)
        args.rounds = 1
    order = DEFAULT_ORDER
    if args.only:
        order = [k.strip() for k in args.only.split(',') if k.strip()]
        bad = [k for k in order if k not in ALL_KEYS]
        if bad:
            sys.exit('unknown config(s) %s; choose from %s' % (bad, ','.join(ALL_KEYS)))
    if args.shuttle_args:
        SHUTTLE_ARGS = args.shuttle_args.split()
    os.makedirs(BIN, exist_ok=True)
    os.makedirs(RESULTS, exist_ok=True)
    if not os.path.exists(SHUTTLE_BUILT):
        sys.exit('no %s: build the project first (bench/run.sh does)' % SHUTTLE_BUILT)
    shutil.copy2(SHUTTLE_BUILT, SHUTTLE + '.tmp')
    os.rename(SHUTTLE + '.tmp', SHUTTLE)
    if os.path.exists(PRELOAD_BUILT):   # shuttle run's library, copied the same way
        shutil.copy2(PRELOAD_BUILT, PRELOAD + '.tmp')
        os.rename(PRELOAD + '.tmp', PRELOAD)
    stamp = time.strftime('%Y%m%d-%H%M%S') + ('-quick' if args.quick else '')
    LOGDIR = os.path.join(RESULTS, 'logs-' + stamp)
    os.makedirs(LOGDIR, exist_ok=True)
    path = os.path.join(RESULTS, stamp + '.json')
    doc = {'stamp': stamp, 'params': dict(P), 'order': order,
           'meta': meta(os.environ.get('SHUTTLE_BENCH_BUILD_OK', '1') == '1'), 'rounds': []}
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_signal)
    tmap = tunnels()
    if args.compare:
        # Right after its own row, so both see about the same machine.
        other = os.path.join(BIN, 'shuttle-b')
        shutil.copy2(args.compare, other + '.tmp')
        os.rename(other + '.tmp', other)
        twins = []
        for key in order:
            twins.append(key)
            if key in COMPARE_KEYS:
                t = tmap[key]
                tmap[key + '-b'] = Shuttle(key + '-b', t.name + ' [b]', t.extra,
                                           ssh_extra=t.ssh_extra, binary=other)
                twins.append(key + '-b')
        order = twins
        doc['order'] = order
        doc['compare'] = args.compare
    current = None
    interrupted = False
    try:
        lab_up()
        for rnd in range(1, args.rounds + 1):
            log('==== round %d/%d' % (rnd, args.rounds))
            res = {'round': rnd, 'configs': {}}
            doc['rounds'].append(res)
            res['background'] = wait_quiet(args.wait_quiet)
            log('   background load (outside the lab, nothing running): %.2f cores %s' % (
                res['background']['cores'], res['background']['top']))
            for key in order:
                t0 = time.time()
                if key == 'ssh-pipe':
                    log('-- raw ssh pipe')
                    try:
                        res['ssh_pipe'] = ssh_pipe()
                    except Exception as e:  # noqa: BLE001
                        res['ssh_pipe'] = {'error': str(e)}
                    continue
                if key == 'many':
                    log('-- shuttle: %d concurrent connections' % P['many_n'])
                    try:
                        res['many'] = many_connections()
                    except Exception as e:  # noqa: BLE001
                        log('   FAILED: %s' % e)
                        res['many'] = {'error': str(e)}
                    save(doc, path)
                    continue
                tun = tmap[key]
                log('-- %s' % tun.name)
                if args.wait_quiet:
                    wait_quiet(args.wait_quiet, secs=1.0)
                try:
                    current = tun
                    first = start_first_prober(tun)
                    t_spawn = time.monotonic()
                    tun.start()
                    startup = finish_first_prober(first, t_spawn)
                except Exception as e:  # noqa: BLE001 - record and go on
                    log('   FAILED to start: %s' % e)
                    res['configs'][key] = {'name': tun.name, 'error': str(e)}
                    try:
                        tun.stop()
                    except Exception:  # noqa: BLE001
                        pass
                    current = None
                    continue
                try:
                    m = measure(tun)
                    m['startup'] = startup
                    m['stats'] = tun.stats()
                    m['name'] = tun.name
                    res['configs'][key] = m
                finally:
                    tun.stop()
                    current = None
                m['secs'] = round(time.time() - t0, 1)
                save(doc, path)
            save(doc, path)
    except Interrupted as e:
        interrupted = True
        log('interrupted (%s): cleaning up' % e)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        if current is not None:
            try:
                current.stop()
            except Exception as e:  # noqa: BLE001
                log('stop %s: %s' % (current.name, e))
        lab_down()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if not doc['rounds']:
        return 1
    if interrupted:
        doc['interrupted'] = True
    doc['table'] = table(doc)
    doc['medians'] = merge(doc['rounds'])
    doc['many_median'] = merge_many(doc['rounds'])
    save(doc, path)
    print()
    print(doc['table'])
    print()
    print('results: %s\nlogs:    %s' % (path, LOGDIR))
    return 130 if interrupted else 0


def main():
    ap = argparse.ArgumentParser(description='Shuttle benchmark (use bench/run.sh)')
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('run')
    r.add_argument('--rounds', type=int, default=3)
    r.add_argument('--quick', action='store_true', help='1 round, shorter iperf3 and probes')
    r.add_argument('--only', help='comma list of: ' + ','.join(ALL_KEYS))
    r.add_argument('--shuttle-args', help='extra arguments for shuttle, with "=": --shuttle-args=-v')
    r.add_argument('--compare', metavar='BINARY',
                   help='each shuttle, shuttle-chacha or shuttle-nolc row in --only gets a twin '
                   'run with this other build (copied when the run starts), key suffix -b: '
                   'e.g. main\'s binary, for a before/after in one run')
    r.add_argument('--wait-quiet', type=int, default=0, metavar='SECONDS',
                   help='before each round and config, wait up to SECONDS for other '
                        'processes on the host to go idle (default: only warn)')
    rp = sub.add_parser('report')
    rp.add_argument('file')
    sub.add_parser('teardown')
    args = ap.parse_args()
    if args.cmd == 'run':
        return cmd_run(args)
    if args.cmd == 'report':
        with open(args.file) as f:
            doc = json.load(f)
        print(table(doc))
        return 0
    if args.cmd == 'teardown':
        netlab.Lab(PREFIX).teardown()
        return 0


if __name__ == '__main__':
    sys.exit(main())
