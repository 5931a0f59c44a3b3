# SPDX-License-Identifier: GPL-2.0-or-later
"""What every Python suite under tests/ shares: TAP output, checks, skips,
waiting, and the configuration of a private D-Bus daemon.

A suite puts this folder on sys.path (the line below) and imports it:

    sys.path.insert(0, os.path.join(<tests>, 'lib'))
    import harness
    from harness import Fail, check, diag, skip_all, wait_for

Two shapes of suite use it:
  - case suites (helper, nm, applet, e2e, conformance): each case is a
    function registered with `case(name)`; a case fails by raising Fail
    (check() does) and the runner prints one TAP line per case;
  - tally suites (nm-ui): many small checks, one TAP line each, counted by
    a Tally and the plan printed at the end.
Stdlib only: the suites run on the system python.
"""
import os
import subprocess
import sys
import time
import traceback

# In CI nothing may skip: a skipped suite would hide everything it tests.
IN_CI = bool(os.environ.get('CI'))


class Fail(Exception):
    """A check that did not hold: the case fails with this message."""


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def diag(msg):
    """Print msg as TAP comments, one per line."""
    for ln in str(msg).splitlines() or ['']:
        print('# ' + ln)
    sys.stdout.flush()


def skip_all(why):
    """The machine cannot run the suite: skip it (exit 77), or fail under CI."""
    if IN_CI:
        print('1..0 # FAIL (CI): %s' % why)
        sys.exit(1)
    print('1..0 # SKIP %s' % why)
    sys.exit(77)


def wait_for(pred, timeout, step=0.1):
    """Poll pred until it returns something true or timeout seconds pass;
    return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(step)


def read(path):
    """A log or state file's text, '' when it cannot be read."""
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


# ------------------------------------------------------------ case suites
def registry():
    """A case list and its decorator: `CASES, case = harness.registry()`,
    then `@case('what a user would see')` above each case function."""
    cases = []

    def case(name):
        def reg(fn):
            cases.append((name, fn))
            return fn
        return reg
    return cases, case


def setup_failed(cases, e):
    """The suite's set-up raised e: every case fails, with the reason."""
    for i, (name, _) in enumerate(cases, 1):
        print('not ok %d - %s # setup failed' % (i, name))
    diag('setup: %s' % e)
    diag(traceback.format_exc())


def run_cases(cases, timed=False, on_fail=None):
    """Run (name, fn) cases in order, one TAP line each ("(N.N s)" after the
    name of a passing case when timed); on_fail() adds diagnostics after a
    failure. Returns the number of failures."""
    failed = 0
    for i, (name, fn) in enumerate(cases, 1):
        t0 = time.monotonic()
        try:
            fn()
            took = ' (%.1f s)' % (time.monotonic() - t0) if timed else ''
            print('ok %d - %s%s' % (i, name, took))
        except Exception as e:
            failed += 1
            print('not ok %d - %s' % (i, name))
            diag(e if isinstance(e, Fail) else traceback.format_exc())
            if on_fail:
                on_fail()
        sys.stdout.flush()
    return failed


# ----------------------------------------------------------- tally suites
class Tally:
    """One TAP line per check(); plan() prints the plan after the last."""

    def __init__(self, prefix=''):
        self.prefix = prefix    # before every name (say, which toolkit)
        self.results = []

    def check(self, name, ok, detail=''):
        self.results.append(ok)
        print('%s %d - %s%s' % ('ok' if ok else 'not ok', len(self.results), self.prefix, name),
              flush=True)
        if not ok and detail:
            for line in str(detail).splitlines():
                print('#   ' + line)
        return ok

    def plan(self):
        print('1..%d' % len(self.results))

    def passed(self):
        return all(self.results)


# ----------------------------------------------------------- a display
def start_xvfb(screen, extra=()):
    """An Xvfb on the first free display, @screen like '1024x768x24'.
    Returns (Popen, ':N'), or (Popen, None) when it did not start."""
    r, w = os.pipe()
    proc = subprocess.Popen(['Xvfb', '-displayfd', str(w), '-screen', '0', screen,
                             '-nolisten', 'tcp'] + list(extra),
                            pass_fds=[w], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    number = b''
    while True:
        c = os.read(r, 1)
        if not c or c == b'\n':
            break
        number += c
    os.close(r)
    return proc, (':' + number.decode()) if number else None


# ------------------------------------------------------- a private D-Bus
def bus_config(listen, bus_type='system', servicedir=None, deny_own=(), include=None):
    """A dbus-daemon configuration for a test's own bus: anyone may own,
    send and receive, except the names in deny_own (as on a real system bus,
    where nobody owns ours unless our policy file, include, says so)."""
    lines = ['<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"',
             ' "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">',
             '<busconfig>',
             '  <type>%s</type>' % bus_type,
             '  <listen>unix:path=%s</listen>' % listen,
             '  <auth>EXTERNAL</auth>']
    if servicedir:
        lines.append('  <servicedir>%s</servicedir>' % servicedir)
    lines += ['  <policy context="default">',
              '    <allow user="*"/>',
              '    <allow own="*"/>',
              '    <allow send_destination="*"/>',
              '    <allow receive_sender="*"/>']
    lines += ['    <deny own="%s"/>' % name for name in deny_own]
    lines.append('  </policy>')
    if include:
        lines.append('  <include>%s</include>' % include)
    lines.append('</busconfig>')
    return '\n'.join(lines) + '\n'
