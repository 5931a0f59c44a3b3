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
"""
import argparse
import json
import os
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
DEFAULT_LINKS = '10:0,50:40,200:80'
ECHO_MS, ECHO_N, ECHO_N_QUICK = 100, 50, 30


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


def parse_links(text):
    links = []
    for item in text.split(','):
        try:
            rate, rtt = item.split(':')
            rate, rtt = int(rate), float(rtt)
        except ValueError:
            sys.exit('bad link %r: RATE_MBIT:RTT_MS, e.g. 50:40' % item)
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
    f0, t0 = bench.all_ticks(), time.time()
    for key, fn in steps:
        try:
            m[key] = fn()
        except Exception as e:  # noqa: BLE001 - a missing figure, not a failed run
            m[key] = {'error': '%s: %s' % (type(e).__name__, e)}
        if not tun.alive():
            m['died'] = 'tunnel exited during %s' % key
            log('   ERROR: ' + m['died'])
            break
    m['foreign_load'] = bench.foreign_load(f0, bench.all_ticks(), time.time() - t0)
    return m


def g(d, *path):
    for p in path:
        if not isinstance(d, dict) or p not in d:
            return None
        d = d[p]
    return d


def table(link, rows):
    rate, rtt = link
    out = ['Link %d Mbit/s, RTT %g ms (tbf 20 ms buffer + delayline); ms are median/p90'
           % (rate, rtt),
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


def main():
    ap = argparse.ArgumentParser(description='Shuttle benchmark on shaped links '
                                 '(use bench/run.sh links)')
    ap.add_argument('--links', default=DEFAULT_LINKS,
                    help='comma list of RATE_MBIT:RTT_MS (default %s)' % DEFAULT_LINKS)
    ap.add_argument('--only', help='comma list of: ' + ','.join(ROWS + EXTRA_ROWS))
    ap.add_argument('--quick', action='store_true', help='iperf3 -t 4, fewer echoes')
    ap.add_argument('--shuttle-args', help='extra arguments for shuttle, with "=": --shuttle-args=-v')
    args = ap.parse_args()
    links = parse_links(args.links)
    order = ROWS
    if args.only:
        order = [k.strip() for k in args.only.split(',') if k.strip()]
        bad = [k for k in order if k not in ROWS + EXTRA_ROWS]
        if bad:
            sys.exit('unknown row(s) %s; choose from %s' % (bad, ','.join(ROWS + EXTRA_ROWS)))
    if args.shuttle_args:
        bench.SHUTTLE_ARGS[:] = args.shuttle_args.split()
    bench.P.update(lat_interval_ms=ECHO_MS, lat_n=ECHO_N_QUICK if args.quick else ECHO_N,
                   load_settle_s=3.0)
    if args.quick:
        bench.P.update(iperf_t=4)
    if not os.access(DELAYLINE, os.X_OK):
        sys.exit('no %s: bench/run.sh builds it' % DELAYLINE)
    os.makedirs(bench.RESULTS, exist_ok=True)
    bench.shutil.copy2(bench.SHUTTLE_BUILT, bench.SHUTTLE + '.tmp')
    os.rename(bench.SHUTTLE + '.tmp', bench.SHUTTLE)
    stamp = 'links-' + time.strftime('%Y%m%d-%H%M%S')
    bench.LOGDIR = os.path.join(bench.RESULTS, 'logs-' + stamp)
    os.makedirs(bench.LOGDIR, exist_ok=True)
    path = os.path.join(bench.RESULTS, stamp + '.json')
    doc = {'stamp': stamp, 'params': dict(bench.P), 'links': {}}
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, bench.on_signal)
    tmap = bench.tunnels()
    tmap['direct'] = Routed()
    tables = []
    current = None
    try:
        for link in links:
            lk = '%d:%g' % link
            log('==== link %d Mbit/s, RTT %g ms' % link)
            bench.lab_up(wan=dict(rate_mbit=link[0], rtt_ms=link[1], delayline=DELAYLINE))
            rows = doc['links'].setdefault(lk, {})
            try:
                for key in order:
                    tun = tmap[key]
                    log('-- %s' % tun.name)
                    try:
                        current = tun
                        tun.start()
                    except Exception as e:  # noqa: BLE001
                        log('   FAILED to start: %s' % e)
                        rows[key] = {'name': tun.name, 'error': str(e)}
                        tun.stop()
                        current = None
                        continue
                    try:
                        m = measure(tun)
                        m['name'] = tun.name
                        rows[key] = m
                    finally:
                        tun.stop()
                        current = None
                    bench.save(doc, path)
            finally:
                bench.lab_down()
                bench.LAB = None
            tables.append(table(link, rows))
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
