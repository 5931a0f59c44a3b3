#!/usr/bin/python3
"""soak.py — hold a shuttle tunnel under mixed load for a long time and check
that nothing is corrupted, nothing fails and memory stays flat.

    sudo bench/soak.py                  # 30 minutes, the C server
    sudo bench/soak.py --minutes 5 --agent

It builds the test lab (tests/lib/netlab.py, prefix 'sks'), starts
build/service/shuttle for the LAN, and runs at once, until the time is up:

  * bulk uploads and downloads of 8-64 MiB through the lab's checksum server
    (UP: the server hashes what it got; DOWN: a seeded stream we regenerate
    here), each one checked byte for byte;
  * short connections: connect, a random 64-byte message, its echo compared,
    close, back to back;
  * one slow reader: a 64 MiB download read at about 16 KiB/s, which must
    not slow the rest (its channel's credit stops only that channel) and is
    read to the end and checked at the end.

Every 10 s it prints one line: traffic so far, failures, and the client
and server engines' RSS and open file descriptors. At the end it compares
the memory after a 60 s warm-up with the last readings, and exits 1 if a
byte was wrong, a transfer failed, the tunnel died or memory grew by more
than 2 MiB (or 10%). This is a bench, not a test: a run takes half an hour.
"""
import argparse
import hashlib
import os
import random
import shutil
import signal
import socket
import sys
import threading
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
sys.path.insert(0, os.path.join(REPO, 'tests', 'lib'))
import netlab  # noqa: E402

STOP = threading.Event()
LOCK = threading.Lock()
STATS = {'up_bytes': 0, 'down_bytes': 0, 'bulk_ok': 0, 'short_ok': 0,
         'corrupt': 0, 'failed': 0, 'errors': []}


def count(**kw):
    with LOCK:
        for k, v in kw.items():
            STATS[k] += v


def fail(kind, what):
    with LOCK:
        STATS[kind] += 1
        if len(STATS['errors']) < 20:
            STATS['errors'].append('%s %s: %s' % (time.strftime('%T'), kind, what))


def recv_line(s):
    buf = b''
    while not buf.endswith(b'\n'):
        b = s.recv(1)
        if not b:
            break
        buf += b
    return buf.decode('ascii', 'replace').strip()


def bulk_worker(lab, n):
    rng = random.Random(n)
    while not STOP.is_set():
        size = rng.randint(8, 64) << 20
        up = rng.random() < 0.5
        try:
            s = lab.connect(lab.ns_client, netlab.LAN4, netlab.SHA_PORT, timeout=60)
            with s:
                if up:
                    seed = rng.getrandbits(32)
                    h = hashlib.sha256()
                    s.sendall(b'UP %d\n' % size)
                    for c in netlab.pattern_chunks(size, seed):
                        h.update(c)
                        s.sendall(c)
                    got = recv_line(s)
                    if got != h.hexdigest():
                        fail('corrupt', 'upload of %d bytes: server hashed %r' % (size, got[:70]))
                        continue
                    count(up_bytes=size, bulk_ok=1)
                else:
                    seed = rng.getrandbits(32)
                    s.sendall(b'DOWN %d %d\n' % (size, seed))
                    want = b''.join(netlab.pattern_chunks(size, seed))
                    got = bytearray()
                    while len(got) < size:
                        b = s.recv(1 << 16)
                        if not b:
                            break
                        got += b
                    if len(got) != size:
                        fail('failed', 'download: %d of %d bytes' % (len(got), size))
                    elif got != want:
                        fail('corrupt', 'download of %d bytes differs at %d' % (
                            size, next(i for i in range(size) if got[i] != want[i])))
                    else:
                        count(down_bytes=size, bulk_ok=1)
        except OSError as e:
            if not STOP.is_set():
                fail('failed', 'bulk: %s' % e)
                time.sleep(1)


def short_worker(lab, n):
    rng = random.Random(1000 + n)
    while not STOP.is_set():
        msg = rng.randbytes(64)
        try:
            s = lab.connect(lab.ns_client, netlab.LAN4, netlab.ECHO_PORT, timeout=30)
            with s:
                s.sendall(msg)
                got = b''
                while len(got) < 64:
                    b = s.recv(64 - len(got))
                    if not b:
                        break
                    got += b
            if got != msg:
                fail('corrupt' if len(got) == 64 else 'failed', 'echo: %r' % got[:16])
            else:
                count(short_ok=1)
        except OSError as e:
            if not STOP.is_set():
                fail('failed', 'short: %s' % e)
                time.sleep(0.5)


def slow_reader(lab, out):
    size, seed = 64 << 20, 7
    try:
        s = lab.connect(lab.ns_client, netlab.LAN4, netlab.SHA_PORT, timeout=60)
        s.sendall(b'DOWN %d %d\n' % (size, seed))
        h, n = hashlib.sha256(), 0
        s.settimeout(120)
        while n < size:
            b = s.recv(16384 if not STOP.is_set() else 1 << 16)
            if not b:
                break
            h.update(b)
            n += len(b)
            if not STOP.is_set():
                time.sleep(1.0)
        s.close()
        out['ok'] = n == size and h.hexdigest() == netlab.pattern_sha256(size, seed)
        out['bytes'] = n
    except OSError as e:
        out['ok'] = False
        out['error'] = str(e)


def proc(pid):
    d = {}
    try:
        with open('/proc/%d/status' % pid) as f:
            for ln in f:
                k, _, v = ln.partition(':')
                if k in ('VmRSS', 'RssAnon'):
                    d[k] = int(v.split()[0])
        d['fds'] = len(os.listdir('/proc/%d/fd' % pid))
    except OSError:
        return None
    return d


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--minutes', type=float, default=30)
    ap.add_argument('--agent', action='store_true', help='the uploaded Python agent as server')
    ap.add_argument('--bulk', type=int, default=2, help='bulk transfer threads')
    ap.add_argument('--short', type=int, default=2, help='short connection threads')
    a = ap.parse_args()
    if os.geteuid() != 0:
        sys.exit('run as root (network namespaces)')
    built = os.path.join(REPO, 'build', 'service', 'shuttle')
    if not os.path.exists(built):
        sys.exit('no %s: build first (meson setup build && ninja -C build)' % built)
    os.makedirs(os.path.join(BENCH, 'bin'), exist_ok=True)
    binary = os.path.join(BENCH, 'bin', 'soak-shuttle')
    shutil.copy2(built, binary)

    lab = netlab.Lab('sks')
    lab.up()
    tun = None
    code = 1
    try:
        server = ['--python', '/usr/bin/python3'] if a.agent else [
            '--server-cmd', binary + ' --server']
        log = open(os.path.join(lab.dir, 'soak-shuttle.log'), 'ab')
        tun = lab.spawn(lab.ns_client, [binary, '-r', lab.remote, '-e', lab.ssh_cmd] + server
                        + [netlab.LAN_NET4], label='soak-shuttle', stdout=log, stderr=log)
        log.close()
        if not lab.wait_port(lab.ns_client, netlab.LAN4, netlab.ECHO_PORT, timeout=30):
            sys.exit('the tunnel did not come up: see %s/soak-shuttle.log' % lab.dir)
        time.sleep(1)
        spid = None
        for pid in netlab.ns_pids(lab.ns_gw):
            if netlab.comm(pid) in ('shuttle-agent', 'soak-shuttle'):
                spid = pid
        threads = [threading.Thread(target=bulk_worker, args=(lab, i), daemon=True)
                   for i in range(a.bulk)]
        threads += [threading.Thread(target=short_worker, args=(lab, i), daemon=True)
                    for i in range(a.short)]
        slow = {}
        slow_t = threading.Thread(target=slow_reader, args=(lab, slow), daemon=True)
        for t in threads + [slow_t]:
            t.start()
        t0 = time.time()
        end = t0 + a.minutes * 60
        samples = []
        print('%8s %9s %9s %6s %7s %4s %4s  %-22s %-22s' % (
            'time', 'up MiB', 'down MiB', 'bulk', 'short', 'bad', 'fail',
            'client RSS/anon KiB fds', 'server RSS/anon KiB fds'), flush=True)
        while time.time() < end and tun.poll() is None:
            time.sleep(min(10, max(0.1, end - time.time())))
            c, s = proc(tun.pid), proc(spid) if spid else None
            el = time.time() - t0
            samples.append((el, c, s))
            with LOCK:
                st = dict(STATS)

            def fmt(d):
                return '-' if not d else '%d/%d %d' % (d['VmRSS'], d.get('RssAnon', 0), d['fds'])
            print('%7.0fs %9.0f %9.0f %6d %7d %4d %4d  %-22s %-22s' % (
                el, st['up_bytes'] / 2**20, st['down_bytes'] / 2**20, st['bulk_ok'],
                st['short_ok'], st['corrupt'], st['failed'], fmt(c), fmt(s)), flush=True)
        alive = tun.poll() is None
        STOP.set()
        for t in threads:
            t.join(90)
        slow_t.join(180)

        warm = [x for x in samples if x[0] >= 60 and x[1]] or [x for x in samples if x[1]]
        verdict = []
        if not alive:
            verdict.append('the tunnel exited (status %s)' % tun.returncode)
        if STATS['corrupt']:
            verdict.append('%d corrupted transfers' % STATS['corrupt'])
        if STATS['failed']:
            verdict.append('%d failed transfers' % STATS['failed'])
        if not slow.get('ok'):
            verdict.append('the slow reader did not get its 64 MiB intact (%s)' % slow)
        print()
        for who, i in (('client engine', 1), ('server engine', 2)):
            ws = [x[i] for x in warm if x[i]]
            if len(ws) < 2:
                continue
            first, last = ws[0]['VmRSS'], ws[-1]['VmRSS']
            peak = max(w['VmRSS'] for w in ws)
            grew = last - first
            print('%s: RSS after warm-up %d KiB, at the end %d KiB (%+d), peak %d KiB; '
                  'fds %d -> %d' % (who, first, last, grew, peak, ws[0]['fds'], ws[-1]['fds']))
            if grew > max(2048, first // 10):
                verdict.append('%s memory grew by %d KiB' % (who, grew))
        print('verified: %.0f MiB up, %.0f MiB down in %d bulk transfers; %d short connections; '
              'slow reader: %s' % (STATS['up_bytes'] / 2**20, STATS['down_bytes'] / 2**20,
                                    STATS['bulk_ok'], STATS['short_ok'],
                                    'intact' if slow.get('ok') else slow))
        for e in STATS['errors']:
            print('  ' + e)
        print('RESULT: %s' % ('PASS' if not verdict else 'FAIL: ' + '; '.join(verdict)))
        code = 0 if not verdict else 1
    finally:
        STOP.set()
        if tun and tun.poll() is None:
            tun.send_signal(signal.SIGTERM)
            try:
                tun.wait(10)
            except Exception:  # noqa: BLE001
                tun.kill()
        lab.teardown()
    return code


if __name__ == '__main__':
    sys.exit(main())
