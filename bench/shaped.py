#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Shuttle benchmark on shaped links: `sudo bench/run.sh links [options]`.

The loopback table (bench.py) measures tunnels where the CPU is the
bottleneck. Here the client<->gw link has a rate (tbf, 20 ms bottleneck
buffer) and a round trip (bench/bin/delayline: this kernel has no netem), so
the link is the bottleneck, as on Wi-Fi, DSL or cellular. For each link and
each tunnel, one table row:

  up, dn       iperf3, one stream, Mbit/s (and the ratio to direct routing)
  echo idle    64-byte request/response on one connection every 100 ms, ms
  echo +up/+dn the same while one iperf3 bulk transfer runs through the same
               tunnel (upload / download), median and p90
  1st byte     a new connection's connect + 64-byte echo during the bulk
               download, median
  fair         Jain's index of four parallel downloads' rates (1.0 = equal)

`direct` is the physical limit: the gw forwards, no tunnel. Compare within
one run: the machine is shared. Results go to bench/results/links-*.json.

With --udp (issue 19's goals on a link), other figures per row instead:

  TCP up, dn   iperf3, one stream, Mbit/s
  UDP up, dn   the highest rate iperf3 -u gets across with < 1% loss,
               searched in fractions of the link's rate; the ratios to the
               row's TCP and to direct routing's UDP
  ping, echo   ping (ICMP echo every 50 ms) and a 64-byte TCP echo on one
               connection every 100 ms, at the same time: idle, during UDP
               at the row's best rate (up, down), during a UDP flood of
               1.5 x the link's rate (up, down) and a TCP download;
               median/p90 ms, and the pings lost
  TCP beside   one TCP upload while the UDP flood upload runs, Mbit/s

A link of rate 0 (--links 0:0) is the unshaped lab: there UDP is searched
at fixed rates and the flood is 3 Gbit/s.
"""
import argparse
import concurrent.futures
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402
from bench import log, run, probe  # noqa: E402

DELAYLINE = os.path.join(bench.BIN, 'delayline')
ROWS = ['direct', 'ssh-L', 'redsocks', 'sshuttle-nft', 'shuttle']
# Measured only when asked for (--only): the other server's end.
EXTRA_ROWS = ['shuttle-agent']
UDP_ROWS = ['direct', 'shuttle']     # the others carry no UDP
DEFAULT_LINKS = '5:100,10:0,50:40,200:80,1000:20'   # issue 21: 5 Mbit/s to 1 Gbit/s, 0 to 100 ms
ECHO_MS, ECHO_N, ECHO_N_QUICK = 100, 50, 30
# --udp: offered UDP rates, as fractions of the link's rate, tried upwards
# until one loses 1% or more (below the first only if that one failed);
# for the unshaped lab (rate 0) in Mbit/s, up to past what one iperf3
# sender reaches here (about 4200 directly), so direct routing's row shows
# its ceiling.
UDP_FRACTIONS, UDP_FRACTIONS_LOW = (0.5, 0.7, 0.8, 0.9, 0.95, 1.0), (0.3, 0.1)
UDP_RATES_UNSHAPED, UDP_RATES_UNSHAPED_LOW = (400, 700, 1000, 1500, 2000, 3000, 4000, 5000, 6000), (200, 100)
FLOOD_FACTOR, FLOOD_UNSHAPED = 1.5, 3000
PING_MS = 50


class Routed(bench.Tunnel):
    """No tunnel: the client routes the LAN through the gw, which forwards."""
    key, name = 'direct', 'direct routing (no tunnel)'

    def start(self):
        lab = bench.LAB
        run(lab.ns_gw, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], check=True)
        run(lab.ns_client, ['ip', 'route', 'replace', bench.LAN_NET, 'via', bench.GW],
            check=True)

    def stop(self):
        lab = bench.LAB
        run(lab.ns_client, ['ip', 'route', 'replace', bench.LAN_NET, 'dev', 'sink'])
        run(lab.ns_gw, ['sysctl', '-q', '-w', 'net.ipv4.ip_forward=0'])


def parse_links(text, unshaped_ok=False):
    """RATE:RTT pairs; with unshaped_ok, 0:0 is the lab without shaping."""
    links = []
    for item in text.split(','):
        try:
            rate, rtt = item.split(':')
            rate, rtt = int(rate), float(rtt)
        except ValueError:
            sys.exit('bad link %r: RATE_MBIT:RTT_MS, e.g. 50:40' % item)
        if unshaped_ok and rate == 0 and rtt == 0:
            links.append((0, 0.0))
            continue
        if not (1 <= rate <= 10000 and 0 <= rtt <= 1000):
            sys.exit('bad link %r: rate 1..10000 Mbit/s, RTT 0..1000 ms' % item)
        links.append((rate, rtt))
    return links


def jain(xs):
    xs = [x for x in xs if x is not None]
    if not xs or not any(xs):
        return None
    return round(sum(xs) ** 2 / (len(xs) * sum(x * x for x in xs)), 3)


def fairness(tun, streams=4):
    """Jain's index over `streams` parallel downloads' receive rates."""
    ns, host, ports = tun.ns(), tun.host, tun.ports
    r = run(ns, ['iperf3', '-c', host, '-p', ports['iperf'], '-t', bench.P['iperf_t'], '-R',
                 '-P', streams, '-J'], timeout=bench.P['iperf_t'] + 60)
    # On a long round trip the server is still closing this test when the
    # next row's first iperf3 comes: it would find the server busy.
    time.sleep(3.0)
    try:
        j = json.loads(r.stdout)
        rates = [s['receiver']['bits_per_second'] / 1e6 for s in j['end']['streams']]
    except (ValueError, KeyError, TypeError) as e:
        return {'error': 'iperf3 rc=%d %r: %s %s' % (r.returncode, e, r.stdout[-300:],
                                                    r.stderr[-200:])}
    return {'jain': jain(rates), 'mbps': [round(x, 1) for x in rates],
            'total': round(sum(rates), 1)}


def measure(tun):
    ns, host, ports = tun.ns(), tun.host, tun.ports
    m = {}
    steps = [
        ('up', lambda: bench.iperf(ns, host, ports['iperf'])),
        ('dn', lambda: bench.iperf(ns, host, ports['iperf'], True)),
        ('idle', lambda: {'rtt': probe(ns, host, ports['echo'], 'rtt')}),
        ('load_up', lambda: bench.loaded_latency(ns, host, ports, False, 'links-' + tun.key)),
        ('load_dn', lambda: bench.loaded_latency(ns, host, ports, True, 'links-' + tun.key)),
        ('fair', lambda: fairness(tun)),
    ]
    return run_steps(tun, steps, m)


def run_steps(tun, steps, m, after=None):
    """Each (key, fn) of @steps into m[key]; a step that raises is a missing
    figure, not a failed run; stops when the tunnel died. @after(key) runs
    after each step (a progress line)."""
    f0, t0 = bench.all_ticks(), time.time()
    for key, fn in steps:
        try:
            m[key] = fn()
        except Exception as e:  # noqa: BLE001 - a missing figure, not a failed run
            m[key] = {'error': '%s: %s' % (type(e).__name__, e)}
        if after is not None:
            after(key)
        if not tun.alive():
            m['died'] = 'tunnel exited during %s' % key
            log('   ERROR: ' + m['died'])
            break
    m['foreign_load'] = bench.foreign_load(f0, bench.all_ticks(), time.time() - t0)
    return m


def ping(ns, host, n, interval_ms=PING_MS):
    """ping: median/p90 of the replies' round trips and how many came back."""
    r = run(ns, ['ping', '-n', '-c', n, '-i', '%g' % (interval_ms / 1000.0), '-W', '2', host],
            timeout=n * interval_ms / 1000.0 + 30)
    times = sorted(float(x) for x in re.findall(r'time=([\d.]+) ms', r.stdout))
    out = {'sent': n, 'received': len(times)}
    if times:
        out.update(med_ms=round(times[len(times) // 2], 3),
                   p90_ms=round(times[min(len(times) - 1, int(len(times) * 0.9))], 3))
    return out


def rtt_pair(ns, host, ports):
    """ping and the TCP echo probe at the same time, for as long as the probe."""
    n = max(10, bench.P['lat_n'] * bench.P['lat_interval_ms'] // PING_MS)
    with concurrent.futures.ThreadPoolExecutor(2) as ex:
        fp = ex.submit(ping, ns, host, n)
        fe = ex.submit(probe, ns, host, ports['echo'], 'rtt')
        return {'ping': fp.result(), 'echo': fe.result()}


def udp_best(ns, host, port, rate, reverse):
    """The highest UDP rate with < 1% loss: offered rates tried upwards."""
    if rate:
        first = [round(rate * f, 1) for f in UDP_FRACTIONS]
        low = [round(rate * f, 1) for f in UDP_FRACTIONS_LOW]
    else:
        first, low = list(UDP_RATES_UNSHAPED), list(UDP_RATES_UNSHAPED_LOW)
    todo, steps, best = list(first), [], None
    while todo:
        mbit = todo.pop(0)
        r = bench.iperf(ns, host, port, reverse, udp_mbit=mbit)
        steps.append(r)
        if 'error' in r:
            log('   udp %s %g: %s' % ('dn' if reverse else 'up', mbit, r['error']))
            break
        log('   udp %s %7.1f offered: %7.1f arrived, loss %.2f%% (by second: %s)' % (
            'dn' if reverse else 'up', mbit, r['mbps'], r['loss'], r.get('loss_per_s')))
        if r['loss'] < 1.0:
            if best is None or r['mbps'] > best['mbps']:
                best = r
        elif best is None and mbit == first[0]:
            todo = low
        else:
            break
    return {'best': best, 'steps': steps}


def delayline_counters():
    """The delay line's counters now, {'w0 -> w1': {frames, dropped, refused}}
    (cumulative; SIGUSR1 makes it print them), or None without one."""
    pids = bench.LAB.pids('delayline')
    path = os.path.join(bench.LAB.logs, 'delayline.log')
    if not pids or not os.path.exists(path):
        return None
    size = os.path.getsize(path)
    for pid in pids:
        os.kill(pid, signal.SIGUSR1)
    pat = re.compile(r'delayline: (\S+ -> \S+): (\d+) frames, \d+ bytes, (\d+) dropped, '
                     r'(\d+) refused')
    out, end = {}, time.time() + 2.0
    while len(out) < 2 and time.time() < end:
        time.sleep(0.1)
        with open(path, errors='replace') as f:
            f.seek(size)
            for mo in pat.finditer(f.read()):
                out[mo.group(1)] = {'frames': int(mo.group(2)), 'dropped': int(mo.group(3)),
                                    'refused': int(mo.group(4))}
    return out or None


def counters_delta(a, b):
    if not a or not b:
        return None
    return {k: {f: v[f] - a.get(k, {}).get(f, 0) for f in v} for k, v in b.items()}


def measure_udp(tun, rate):
    ns, host, ports = tun.ns(), tun.host, tun.ports
    flood = rate * FLOOD_FACTOR if rate else FLOOD_UNSHAPED
    m = {}

    def loaded(reverse, udp_mbit):
        return bench.loaded_latency(ns, host, ports, reverse, 'udp-' + tun.key,
                                    udp_mbit=udp_mbit, fn=lambda: rtt_pair(ns, host, ports))

    def at_best(key):
        b = g(m, key, 'best', 'mbps')
        return b or (rate * 0.5 if rate else UDP_RATES_UNSHAPED_LOW[-1])

    steps = [
        ('tcp_up', lambda: bench.iperf(ns, host, ports['iperf'])),
        ('tcp_dn', lambda: bench.iperf(ns, host, ports['iperf'], True)),
        ('udp_up', lambda: udp_best(ns, host, ports['iperf'], rate, False)),
        ('udp_dn', lambda: udp_best(ns, host, ports['iperf'], rate, True)),
        ('rtt_idle', lambda: rtt_pair(ns, host, ports)),
        ('rtt_udp_up', lambda: loaded(False, at_best('udp_up'))),
        ('rtt_udp_dn', lambda: loaded(True, at_best('udp_dn'))),
        ('rtt_flood_up', lambda: loaded(False, flood)),
        ('rtt_flood_dn', lambda: loaded(True, flood)),
        ('rtt_tcp_dn', lambda: loaded(True, None)),
        # The channels' share beside a flood: one TCP upload while it runs.
        ('tcp_up_flood', lambda: bench.loaded_latency(
            ns, host, ports, False, 'udp-' + tun.key, udp_mbit=flood,
            fn=lambda: bench.iperf(ns, host, ports['iperf']))),
    ]
    def progress(key):
        if key.startswith('rtt'):
            log('   %s: ping %s, echo %s' % (key, g(m, key, 'ping'), g(m, key, 'echo', 'med_ms')))
    return run_steps(tun, steps, m, progress)


def g(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def table(link, rows, retry=False):
    rate, rtt = link
    out = ['Link %d Mbit/s, RTT %g ms (tbf, 20 ms buffer %s, + delayline); ms are '
           'median/p90' % (rate, rtt, 'behind a line that retries' if retry else 'that drops'),
           '| tunnel | up | dn | up/direct | dn/direct | echo idle | echo +up | echo +dn '
           '| 1st byte +dn | fair x4 |',
           '|---|---|---|---|---|---|---|---|---|---|']
    base = rows.get('direct', {})

    def mb(m, k):
        return g(m, k, 'mbps')

    def ratio(m, k):
        a, b = mb(m, k), mb(base, k)
        return '%.2f' % (a / b) if a and b else '—'

    def ms(m, *path):
        r = g(m, *path)
        if not isinstance(r, dict) or r.get('med_ms') is None:
            return '—'
        return '%.1f/%.1f' % (r['med_ms'], r.get('p90_ms') or r['med_ms'])

    for key, m in rows.items():
        if 'error' in m and len(m) <= 2:
            out.append('| %s | failed: %s |' % (m.get('name', key), m['error'][:60]))
            continue
        out.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            m.get('name', key), bench.fmt(mb(m, 'up')), bench.fmt(mb(m, 'dn')),
            ratio(m, 'up'), ratio(m, 'dn'), ms(m, 'idle', 'rtt'), ms(m, 'load_up', 'rtt'),
            ms(m, 'load_dn', 'rtt'),
            ('%.1f' % g(m, 'load_dn', 'conn', 'med_ms')) if g(m, 'load_dn', 'conn', 'med_ms')
            is not None else '—',
            g(m, 'fair', 'jain') if g(m, 'fair', 'jain') is not None else '—'))
    return '\n'.join(out)


def table_udp(link, rows):
    rate, rtt = link
    title = ('Link %d Mbit/s, RTT %g ms (tbf, 20 ms buffer that drops, + delayline)'
             % (rate, rtt) if rate
             else 'Unshaped lab (no link shaping)')
    out = [title + ': UDP with < 1% loss, Mbit/s',
           '| tunnel | TCP up | TCP dn | UDP up | UDP dn | UDP/TCP up | UDP/TCP dn '
           '| UDP/direct up | UDP/direct dn | TCP up beside a flood up |',
           '|---|---|---|---|---|---|---|---|---|---|']
    base = rows.get('direct', {})

    def udp(m, d):
        return g(m, 'udp_' + d, 'best', 'mbps')

    def ratio(a, b):
        return '%.2f' % (a / b) if a and b else '—'

    for key, m in rows.items():
        if 'error' in m and len(m) <= 2:
            out.append('| %s | failed: %s |' % (m.get('name', key), m['error'][:60]))
            continue
        out.append('| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |' % (
            m.get('name', key), bench.fmt(g(m, 'tcp_up', 'mbps')),
            bench.fmt(g(m, 'tcp_dn', 'mbps')), bench.fmt(udp(m, 'up')), bench.fmt(udp(m, 'dn')),
            ratio(udp(m, 'up'), g(m, 'tcp_up', 'mbps')),
            ratio(udp(m, 'dn'), g(m, 'tcp_dn', 'mbps')),
            ratio(udp(m, 'up'), udp(base, 'up')), ratio(udp(m, 'dn'), udp(base, 'dn')),
            bench.fmt(g(m, 'tcp_up_flood', 'mbps'))))
    flood = '%g' % (rate * FLOOD_FACTOR) if rate else '%d' % FLOOD_UNSHAPED
    out += ['', title + ': ping / TCP echo, median/p90 ms (pings lost if any); UDP at the row\'s '
            'best rate, flood %s Mbit/s' % flood,
            '| tunnel | ping - echo idle | idle | +UDP up | +UDP dn | +flood up | +flood dn '
            '| +TCP dn |',
            '|---|---|---|---|---|---|---|---|']

    def ms(v):
        return ('%.2f' if v < 10 else '%.1f') % v

    def cell(m, key):
        p, e = g(m, key, 'ping'), g(m, key, 'echo')
        if not isinstance(p, dict) or not isinstance(e, dict):
            return '—'
        ps = ('%s/%s' % (ms(p['med_ms']), ms(p['p90_ms']))) if 'med_ms' in p else 'none'
        lost = p['sent'] - p['received']
        if lost:
            ps += ' (-%d/%d)' % (lost, p['sent'])
        es = ('%s/%s' % (ms(e['med_ms']), ms(e['p90_ms']))) if e.get('med_ms') is not None \
            else '—'
        return '%s / %s' % (ps, es)

    for key, m in rows.items():
        if 'error' in m and len(m) <= 2:
            continue
        pm, em = g(m, 'rtt_idle', 'ping', 'med_ms'), g(m, 'rtt_idle', 'echo', 'med_ms')
        out.append('| %s | %s | %s |' % (
            m.get('name', key), '%+.2f' % (pm - em) if pm is not None and em is not None else '—',
            ' | '.join(cell(m, k) for k in ('rtt_idle', 'rtt_udp_up', 'rtt_udp_dn',
                                            'rtt_flood_up', 'rtt_flood_dn', 'rtt_tcp_dn'))))
    return '\n'.join(out)


def main():
    ap = argparse.ArgumentParser(description='Shuttle benchmark on shaped links '
                                 '(use bench/run.sh links)')
    ap.add_argument('--links', default=DEFAULT_LINKS,
                    help='comma list of RATE_MBIT:RTT_MS (default %s)' % DEFAULT_LINKS)
    ap.add_argument('--only', help='comma list of: ' + ','.join(ROWS + EXTRA_ROWS))
    ap.add_argument('--quick', action='store_true', help='iperf3 -t 4, fewer echoes')
    ap.add_argument('--shuttle-args', help='extra arguments for shuttle, with "=": --shuttle-args=-v')
    ap.add_argument('--compare', metavar='BINARY',
                    help='one more row, "shuttle-b": the same as shuttle with another build '
                    '(copied when the run starts), e.g. main\'s, for a before/after in one run')
    ap.add_argument('--retry', action='store_true',
                    help='the delay line keeps a frame the bottleneck refuses and retries '
                    '(the mode of the tables before 2026-12-07 13:00: no loss, a deep queue)')
    ap.add_argument('--udp', action='store_true',
                    help='UDP and ping instead (issue 19): rows direct and shuttle by default')
    args = ap.parse_args()
    links = parse_links(args.links, args.udp)
    order = UDP_ROWS if args.udp else ROWS
    if args.only:
        order = [k.strip() for k in args.only.split(',') if k.strip()]
        bad = [k for k in order
               if k not in ROWS + EXTRA_ROWS and not (args.compare and k == 'shuttle-b')]
        if bad:
            sys.exit('unknown row(s) %s; choose from %s' % (bad, ','.join(ROWS + EXTRA_ROWS)))
    if args.shuttle_args:
        bench.SHUTTLE_ARGS[:] = args.shuttle_args.split()
    bench.P.update(lat_interval_ms=ECHO_MS, lat_n=ECHO_N_QUICK if args.quick else ECHO_N,
                   load_settle_s=3.0)
    if args.quick:
        bench.P.update(iperf_t=4)
    if args.udp:
        bench.P.update(lat_max_s=10)    # an echo starved behind a flood: 10 s tell enough
    if not os.access(DELAYLINE, os.X_OK):
        sys.exit('no %s: bench/run.sh builds it' % DELAYLINE)
    os.makedirs(bench.RESULTS, exist_ok=True)
    bench.shutil.copy2(bench.SHUTTLE_BUILT, bench.SHUTTLE + '.tmp')
    os.rename(bench.SHUTTLE + '.tmp', bench.SHUTTLE)
    stamp = ('links-udp-' if args.udp else 'links-') + time.strftime('%Y%m%d-%H%M%S')
    bench.LOGDIR = os.path.join(bench.RESULTS, 'logs-' + stamp)
    os.makedirs(bench.LOGDIR, exist_ok=True)
    path = os.path.join(bench.RESULTS, stamp + '.json')
    doc = {'stamp': stamp, 'params': dict(bench.P), 'links': {}, 'retry': args.retry}
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, bench.on_signal)
    tmap = bench.tunnels()
    tmap['direct'] = Routed()
    if args.compare:
        other = os.path.join(bench.BIN, 'shuttle-b')
        bench.shutil.copy2(args.compare, other + '.tmp')
        os.rename(other + '.tmp', other)
        tmap['shuttle-b'] = bench.Shuttle('shuttle-b', 'shuttle-b (%s)' % args.compare,
                                          binary=other)
        if 'shuttle-b' not in order:
            order = order + ['shuttle-b']
    tables = []
    current = None
    try:
        for link in links:
            lk = '%d:%g' % link
            log('==== link %d Mbit/s, RTT %g ms' % link)
            # The bottleneck drops what its 20 ms queue cannot hold
            # (delayline "drop"), as a real one does. Without it (--retry)
            # the line kept refused frames in its 64 MiB ring: a UDP flood
            # queued for seconds, and a TCP sender never saw a loss, so the
            # queue in front of the tbf was as deep as its window.
            bench.lab_up(wan=dict(rate_mbit=link[0], rtt_ms=link[1], delayline=DELAYLINE,
                                  drop=not args.retry) if link[0] else None)
            if args.udp:
                # ICMP echo sockets for the server (it runs as root here; the
                # kernel asks ping_group_range of root too).
                run(bench.LAB.ns_gw, ['sysctl', '-q', '-w',
                                      'net.ipv4.ping_group_range=0 2147483647'], check=True)
            rows = doc['links'].setdefault(lk, {})
            try:
                for key in order:
                    tun = tmap[key]
                    log('-- %s' % tun.name)
                    try:
                        current = tun
                        # Fresh LAN iperf3 servers for each row: one stayed
                        # inside direct routing's last UDP test at 5 Mbit/s
                        # (its summary printed, never listening again), and
                        # every iperf3 of the next row waited unaccepted.
                        bench.start_servers(only=('srv-iperf', 'srv-iperf-bulk'))
                        tun.start()
                    except Exception as e:  # noqa: BLE001
                        log('   FAILED to start: %s' % e)
                        rows[key] = {'name': tun.name, 'error': str(e)}
                        tun.stop()
                        current = None
                        continue
                    try:
                        c0 = delayline_counters() if args.udp else None
                        m = measure_udp(tun, link[0]) if args.udp else measure(tun)
                        m['name'] = tun.name
                        if c0 is not None:
                            # What the link itself lost during this row: a
                            # tunnel's losses there are ssh's TCP's, resent.
                            m['delayline'] = counters_delta(c0, delayline_counters())
                            log('   delay line during this row: %s' % m['delayline'])
                        rows[key] = m
                    finally:
                        tun.stop()
                        current = None
                    bench.save(doc, path)
            finally:
                bench.lab_down()
                bench.LAB = None
            tables.append(table_udp(link, rows) if args.udp else table(link, rows, args.retry))
            print('\n' + tables[-1] + '\n', flush=True)
    except bench.Interrupted as e:
        log('interrupted (%s)' % e)
        if current is not None:
            current.stop()
        bench.lab_down()
    doc['tables'] = tables
    bench.save(doc, path)
    print('\n\n'.join(tables))
    print('\nresults: %s\nlogs:    %s' % (path, bench.LOGDIR))
    return 0


if __name__ == '__main__':
    sys.exit(main())
