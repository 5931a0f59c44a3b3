#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Short connections to one destination, sustained (issue 25's TIME_WAIT note).

  sudo bench/run.sh sustained [--seconds 60] [--only direct,shuttle]
                              [--tw-reuse 2] [--slice 5]

Every connection a program closes first leaves its side in TIME_WAIT for
60 s, holding the local port for that destination. Towards one address and
port a host then has the ephemeral range (net.ipv4.ip_local_port_range,
28 232 ports by default) per minute, unless net.ipv4.tcp_tw_reuse lets
connect() take a TIME_WAIT port back; its default (2) allows that only
towards loopback. Through a redirect tunnel the far end opens every
connection from the server's one address and closes first too (it passes
on the client's FIN), so the server holds a second set of TIME_WAIT ports.
This mode measures where that bites: one client connects, sends 64 bytes,
reads them back and closes, as fast as it can, for --seconds, and prints
the rate in each --slice, failures, and the conntrack counters of the
client's namespace (drops, insert failures, invalid packets: what a SYN
lost in the redirect would leave).

Unlike bench/run.sh's other modes the lab keeps the kernel's default
tcp_tw_reuse (2) in the client and gw namespaces (--tw-reuse sets another
value), because the bound it gives is the one users meet. Rows: `direct`
(the client on the gw itself, straight to the LAN: the bound without a
tunnel) and any of bench/run.sh's tunnel rows.
"""
import argparse
import os
import shutil
import sys
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, BENCH)
import bench as B  # noqa: E402

def tw_count(ns):
    r = B.LAB.run(ns, ['ss', '-Htan', 'state', 'time-wait'], timeout=30)
    return len(r.stdout.splitlines())


def sustained(tun, seconds, slice_s):
    ns = tun.ns()
    ct0 = B.conntrack_counters(ns)
    slices = []
    t_end = time.time() + seconds
    while time.time() < t_end - 0.5:
        r = B.probe(ns, B.LAN, B.ECHO_PORT, n=10 ** 7, interval=0, max_s=slice_s, size=64)
        if 'error' in r:
            slices.append({'error': r['error']})
            break
        slices.append({'n': r['n'], 'fail': r['fail'], 'rate': r['rate_per_s'],
                       'max_ms': r['max_ms']})
        B.log('   %5.0f/s  fail %d  max %.1f ms' % (r['rate_per_s'], r['fail'], r['max_ms']))
    return {'slices': slices,
            'conntrack': B.conntrack_delta(ct0, B.conntrack_counters(ns)),
            'tw_client': tw_count(ns), 'tw_gw': tw_count(B.LAB.ns_gw)}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--seconds', type=float, default=60)
    ap.add_argument('--slice', type=float, default=5)
    ap.add_argument('--only', default='direct,shuttle')
    ap.add_argument('--tw-reuse', type=int, default=2, choices=(0, 1, 2))
    args = ap.parse_args()
    rows = [k.strip() for k in args.only.split(',') if k.strip()]
    tmap = B.tunnels()
    bad = [k for k in rows if k not in tmap]
    if bad:
        sys.exit('unknown row(s) %s; choose from %s' % (bad, ','.join(tmap)))
    stamp = time.strftime('%Y%m%d-%H%M%S')
    B.LOGDIR = os.path.join(B.RESULTS, 'logs-sustained-' + stamp)
    os.makedirs(B.LOGDIR, exist_ok=True)
    shutil.copy2(B.SHUTTLE_BUILT, B.SHUTTLE + '.tmp')
    os.rename(B.SHUTTLE + '.tmp', B.SHUTTLE)
    out = {}
    try:
        B.lab_up()
        for ns in (B.LAB.ns_client, B.LAB.ns_gw):
            B.run(ns, ['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=%d' % args.tw_reuse])
        ports = B.run(B.LAB.ns_gw, ['sysctl', '-n', 'net.ipv4.ip_local_port_range']).stdout.split()
        for key in rows:
            tun = tmap[key]
            B.log('-- %s' % tun.name)
            tun.start()
            try:
                out[key] = sustained(tun, args.seconds, args.slice)
            finally:
                tun.stop()
            if key != rows[-1]:
                # The next row starts with no TIME_WAIT left over from this
                # one (the kernel cannot be asked to drop them early).
                B.log('   waiting 61 s for this row\'s TIME_WAIT sockets to expire')
                time.sleep(61)
    finally:
        B.lab_down()

    print('\nShort connections to one destination (%s:%d), sustained %.0f s, one client; '
          'tcp_tw_reuse=%d, ephemeral ports %s' % (B.LAN, B.ECHO_PORT, args.seconds,
                                                    args.tw_reuse, '-'.join(ports)))
    print('%-34s %8s %8s %8s %6s %8s %9s %9s  %s' % (
        'config', 'first/s', 'last/s', 'mean/s', 'fail', 'max ms', 'TW client', 'TW gw',
        'conntrack'))
    for key, r in out.items():
        s = [x for x in r['slices'] if 'rate' in x]
        if not s:
            print('%-34s %s' % (tmap[key].name, r['slices']))
            continue
        total = sum(x['n'] for x in s)
        wall = len(s) * args.slice
        print('%-34s %8.0f %8.0f %8.0f %6d %8.1f %9d %9d  %s' % (
            tmap[key].name, s[0]['rate'], s[-1]['rate'], total / wall,
            sum(x['fail'] for x in s), max(x['max_ms'] for x in s), r['tw_client'], r['tw_gw'],
            ' '.join('%s=%d' % kv for kv in r['conntrack'].items()) or '-'))
    print('(first/last: the rate in the first and last %.0f s slice; TW: sockets in TIME_WAIT '
          'at the end, client namespace and gw)' % args.slice)


if __name__ == '__main__':
    main()
