#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""fuzz_agent.py: the Python agent's frame parser and dispatch
(service/agent/shuttle-agent.py), fed what a hostile client could send.

The agent is loaded as a module and one Session runs per input, in this
process: the input goes into its stdin pipe followed by end of stream, and the
session runs until it ends, exactly as main() runs it. Like fuzz-session, this
first moves into a private network namespace where nothing is reachable (lo
is down), so OPEN and DNS_QUERY frames reach nothing; without root it skips
(exit 77). The host watch's scanner thread is not started (it reads local
sources, not client bytes); HOSTS_WATCH itself is parsed.

A failure is any of:
  - an exception other than the agent's ProtocolError / SessionEnd (a bug:
    the real agent would answer "internal error" and die with a traceback);
  - a session that does not end within 10 s of end of stream;
  - output that is not whole, well-formed server frames starting with HELLO,
    or an ERROR frame that is not the last, or a ProtocolError without one;
  - a file descriptor left open after the session.

  fuzz_agent.py --replay DIR|FILE...      run each input once (the test suite)
  fuzz_agent.py --fuzz SECONDS CORPUS [--artifacts DIR] [--seed N]

--fuzz is a small mutation fuzzer (python3-atheris is not in Debian 12): it
mutates inputs from CORPUS (bit flips, byte and integer edits, frame-aware
splices and header edits, inserted well-formed frames) and keeps an input in
CORPUS/../<name>-new/ when it shows new behaviour: a new set of frame types
handled, a new outcome (error message with numbers removed) or new output
frame types. Crashes go to --artifacts as crash-<sha1>.
"""

import ctypes
import hashlib
import importlib.util
import os
import random
import re
import signal
import struct
import sys
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
AGENT = os.path.join(HERE, '..', '..', 'service', 'agent', 'shuttle-agent.py')
CLONE_NEWNET = 0x40000000
MAX_INPUT = 64 * 1024


def load_agent():
    spec = importlib.util.spec_from_file_location('shuttle_agent', AGENT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    # The scanner thread reads this host's files and runs tools: not client
    # input, and slow. The frame that starts it is still parsed.
    mod.HostWatch.run = lambda self: None
    return mod


def isolate():
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return False
    return True


class Crash(Exception):
    pass


def open_fds():
    return set(os.listdir('/proc/self/fd'))


# Server → client frame types and their payload bounds (docs/protocol.md).
SERVER_FRAMES = {
    0x01: (28, 28 + 64), 0x03: (4, 4 + 128), 0x04: (1, 32768), 0x05: (4, 4),
    0x06: (0, 0), 0x07: (1, 1), 0x09: (8, 8), 0x0a: (4, 4), 0x0b: (2, 2 + 512),
    0x0d: (0, 32768), 0x0f: (0, 32768), 0x11: (7, 271), 0x12: (8, 65527), 0x13: (4, 4),
}


def check_output(out, protocol_error):
    pos = 0
    types = []
    while pos < len(out):
        if len(out) - pos < 8:
            raise Crash('output ends inside a frame header')
        t, flags, ln, cid = struct.unpack_from('>BBHI', out, pos)
        rule = SERVER_FRAMES.get(t)
        if rule is None or flags or not rule[0] <= ln <= rule[1]:
            raise Crash('malformed output frame type 0x%02x len %d' % (t, ln))
        if len(out) - pos - 8 < ln:
            raise Crash('output ends inside a frame')
        types.append(t)
        pos += 8 + ln
    if not types or types[0] != 0x01:
        raise Crash('output does not start with HELLO')
    if 0x0b in types[:-1]:
        raise Crash('frames after ERROR')
    if protocol_error and types[-1] != 0x0b:
        raise Crash('a protocol error without an ERROR frame')
    return types


def drain(fd, sink):
    while True:
        try:
            b = os.read(fd, 1 << 16)
        except BlockingIOError:
            return
        if not b:
            return
        sink += b


def run_one(agent, data):
    """Runs one input; returns a behaviour signature. Raises Crash."""
    before = open_fds()
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    fcntl_pipe = 1031
    import fcntl
    for fd in (in_w, out_r):
        fcntl.fcntl(fd, fcntl_pipe, 1 << 20)
    os.write(in_w, data)    # at most MAX_INPUT: fits the pipe
    os.close(in_w)
    os.set_blocking(out_r, False)
    handled = set()
    session = agent.Session(in_r, out_w)
    real_handle = session.handle_frame

    def handle(t, cid, p, ln):
        handled.add(t)
        return real_handle(t, cid, p, ln)
    session.handle_frame = handle

    out = bytearray()
    outcome = 'end'
    protocol_error = False

    def on_alarm(signum, frame):
        raise Crash('the session did not end within 10 s of end of stream')
    old = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(10)
    try:
        try:
            session.run()
        except agent.ProtocolError as e:
            protocol_error = True
            outcome = 'protocol:%d:%s' % (e.code, re.sub(r'\d+', 'N', e.msg))
            session.send_error(e.code, e.msg)
            session.close_all()
        except agent.SessionEnd as e:
            outcome = 'end:%d:%s' % (e.status, re.sub(r'\d+', 'N', e.msg or ''))
            session.close_all()
        except Crash:
            raise
        except Exception:
            raise Crash('exception in the agent:\n' + traceback.format_exc())
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)
        drain(out_r, out)
        # What main()'s process exit would close.
        session.poller.ep.close()
        if session.hostwatch is not None:
            os.close(session.hostwatch.rfd)
            os.close(session.hostwatch.wfd)
        for fd in (in_r, out_w, out_r):
            os.close(fd)
    types = check_output(bytes(out), protocol_error)
    left = open_fds() - before
    if left:
        raise Crash('file descriptors left open: %s' % sorted(left))
    return (outcome, tuple(sorted(handled)), tuple(sorted(set(types))))


# ------------------------------------------------------------ mutation

def hdr(t, cid, payload, flags=0):
    return struct.pack('>BBHI', t, flags, len(payload), cid) + payload


def random_frame(rnd):
    t = rnd.choice([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19,
                    rnd.randrange(256)])
    cid = rnd.choice([0, 1, 2, 3, rnd.randrange(1 << 32)])
    if t == 2:
        fam = rnd.choice([0, 4, 6, 5])
        payload = struct.pack('>BBH', fam, 0, rnd.choice([0, 22, 80, 65535])) \
            + bytes(rnd.randrange(256) for _ in range({0: 0, 4: 4, 6: 16}.get(fam, 3)))
    elif t == 12:
        fam = rnd.choice([0, 4, 6])
        alen = {0: 0, 4: 4, 6: 16}[fam]
        payload = struct.pack('>BBH', fam, 0, 53) + bytes(alen) \
            + bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 11, 12, 30, 4097])))
    elif t == 18:
        fam = rnd.choice([4, 6, 5])
        payload = struct.pack('>BBH', fam, rnd.choice([1, 17, 6]), rnd.choice([0, 9, 53])) \
            + bytes({4: 4, 6: 16}.get(fam, 3)) + bytes(rnd.choice([0, 1, 100]))
    elif t == 19:
        payload = struct.pack('>BBH', rnd.randrange(5), rnd.choice([0, 0, 1]), 13)
    elif t in (5, 10):
        payload = struct.pack('>I', rnd.choice([0, 1, 4096, 1 << 24, 0xffffffff]))
    elif t in (8, 9):
        payload = struct.pack('>Q', rnd.randrange(1 << 64))
    elif t == 7:
        payload = bytes([rnd.randrange(3)])
    elif t == 16:
        payload = b','.join(rnd.choice([b'a', b'db.lan', b' ', b'\xff', b'x' * 300])
                            for _ in range(rnd.randrange(5)))
    else:
        payload = bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 1, 4, 8, 100])))
    return hdr(t, cid, payload)


def frame_offsets(data):
    offs = []
    pos = 0
    while len(data) - pos >= 8:
        offs.append(pos)
        ln = struct.unpack_from('>H', data, pos + 2)[0]
        pos += 8 + ln
    return offs


def mutate(rnd, data, corpus):
    b = bytearray(data)
    for _ in range(rnd.choice([1, 1, 2, 3, 5])):
        op = rnd.randrange(10)
        offs = frame_offsets(b)
        if op == 0 and b:
            i = rnd.randrange(len(b))
            b[i] ^= 1 << rnd.randrange(8)
        elif op == 1 and b:
            b[rnd.randrange(len(b))] = rnd.choice([0, 1, 0x7f, 0x80, 0xff, rnd.randrange(256)])
        elif op == 2 and b:
            i = rnd.randrange(len(b))
            del b[i:i + rnd.randrange(1, 16)]
        elif op == 3:
            i = rnd.randrange(len(b) + 1)
            b[i:i] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(1, 8)))
        elif op == 4 and offs:       # a header field of some frame
            o = rnd.choice(offs)
            field = rnd.choice([(0, 'B'), (1, 'B'), (2, 'H'), (4, 'I')])
            vals = {'B': [0, 1, 0x11, 0xff], 'H': [0, 1, 7, 8, 28, 32768, 32769, 0xffff],
                    'I': [0, 1, 2, 0x7fffffff, 0xffffffff]}[field[1]]
            struct.pack_into('>' + field[1], b, o + field[0], rnd.choice(vals))
        elif op == 5 and offs:       # a frame repeated
            o = rnd.choice(offs)
            ln = struct.unpack_from('>H', b, o + 2)[0]
            f = bytes(b[o:o + 8 + ln])
            b[o:o] = f * rnd.randrange(1, 4)
        elif op == 6:                # a well-formed frame inserted
            pos = rnd.choice(offs + [len(b)]) if offs else len(b)
            b[pos:pos] = random_frame(rnd)
        elif op == 7 and corpus:     # splice with another input, at frame boundaries
            other = rnd.choice(corpus)
            oo = frame_offsets(other)
            if oo:
                s = rnd.choice(oo)
                cut = rnd.choice(offs + [len(b)]) if offs else len(b)
                b[cut:] = other[s:]
        elif op == 8 and offs and len(offs) > 1:   # a frame dropped
            o = rnd.choice(offs[1:])
            ln = struct.unpack_from('>H', b, o + 2)[0]
            del b[o:o + 8 + ln]
        elif op == 9 and len(b) >= 4:  # an integer somewhere
            i = rnd.randrange(len(b) - 3)
            struct.pack_into('>I', b, i, rnd.choice([0, 1, 0xffffffff, 0x80000000, 4096]))
    return bytes(b[:MAX_INPUT])


def read_inputs(paths):
    out = []
    for p in paths:
        if os.path.isdir(p):
            for n in sorted(os.listdir(p)):
                f = os.path.join(p, n)
                if os.path.isfile(f):
                    out.append((f, open(f, 'rb').read()))
        else:
            out.append((p, open(p, 'rb').read()))
    return out


def replay(agent, paths):
    inputs = read_inputs(paths)
    failed = 0
    for name, data in inputs:
        try:
            run_one(agent, data[:MAX_INPUT])
        except Crash as e:
            failed += 1
            print('FAIL %s: %s' % (name, e))
    print('replayed %d inputs, %d failed' % (len(inputs), failed))
    return 1 if failed or not inputs else 0


def fuzz(agent, seconds, corpus_dir, artifacts, seed):
    rnd = random.Random(seed)
    new_dir = corpus_dir.rstrip('/') + '-new'
    os.makedirs(new_dir, exist_ok=True)
    os.makedirs(artifacts, exist_ok=True)
    corpus = [d for _, d in read_inputs([corpus_dir, new_dir])]
    seen = set()
    for d in corpus:
        try:
            seen.add(run_one(agent, d))
        except Crash as e:
            print('seed input crashes: %s' % e)
            return 1
    start = time.monotonic()
    execs = crashes = 0
    last = start
    while time.monotonic() - start < seconds:
        data = mutate(rnd, rnd.choice(corpus), corpus)
        execs += 1
        try:
            sig = run_one(agent, data)
        except Crash as e:
            crashes += 1
            h = hashlib.sha1(data).hexdigest()
            with open(os.path.join(artifacts, 'crash-' + h), 'wb') as f:
                f.write(data)
            print('CRASH crash-%s: %s' % (h, e), flush=True)
            if crashes >= 20:
                break
            continue
        if sig not in seen:
            seen.add(sig)
            corpus.append(data)
            with open(os.path.join(new_dir, hashlib.sha1(data).hexdigest()), 'wb') as f:
                f.write(data)
        now = time.monotonic()
        if now - last >= 30:
            last = now
            print('#%d %.0fs corpus %d behaviours %d crashes %d'
                  % (execs, now - start, len(corpus), len(seen), crashes), flush=True)
    print('done: %d executions in %.0f s, %d behaviours, corpus %d, %d crashes'
          % (execs, time.monotonic() - start, len(seen), len(corpus), crashes))
    return 1 if crashes else 0


def main(argv):
    if len(argv) < 2 or argv[0] not in ('--replay', '--fuzz'):
        print(__doc__)
        return 2
    if not isolate():
        print('fuzz_agent: cannot enter a private network namespace; run as root. '
              'Nothing fuzzed.')
        return 77
    agent = load_agent()
    if argv[0] == '--replay':
        return replay(agent, argv[1:])
    args = argv[1:]
    seconds, corpus_dir = float(args[0]), args[1]
    artifacts = '/tmp/fuzz-agent-artifacts'
    seed = int(time.time())
    rest = args[2:]
    while rest:
        if rest[0] == '--artifacts':
            artifacts = rest[1]
        elif rest[0] == '--seed':
            seed = int(rest[1])
        rest = rest[2:]
    print('fuzz_agent: seed %d' % seed)
    return fuzz(agent, seconds, corpus_dir, artifacts, seed)


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
