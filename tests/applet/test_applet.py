#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""shuttle-applet with the real things around it.

The NetworkManager sandbox of tests/nm/test_nm.py (imported as a module,
with its own prefix and WORK so that it cannot meet a run of the nm suite's
files; the two suites must still not run at once: both usermod the test
user), a real sshd and LAN in netlab's namespaces, an Xvfb, a private
session bus, a StatusNotifierWatcher stand-in (sni_watcher.py) and a
notification server stand-in (notifyd.py). The applet runs as the
sandbox's non-root user on that session bus and NetworkManager's private
system bus. The test reads the tray menu with com.canonical.dbusmenu
GetLayout and clicks with Event, as a tray host would.

Output is TAP. Exit 77 (skip) when not root or a tool is missing, except
under CI (env CI set), where that is a failure.

Environment (set by meson): SHUTTLE_APPLET_BIN, SHUTTLE_LOCALEDIR (the
build tree's po/), and test_nm.py's variables.
"""
import json
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SRC, 'tests', 'nm'))
import test_nm as nm  # noqa: E402
import harness  # noqa: E402  (test_nm put tests/lib on the path)
import netlab  # noqa: E402
from harness import check, diag, read, skip_all, wait_for  # noqa: E402

import gi  # noqa: E402
gi.require_version('GdkPixbuf', '2.0')
from gi.repository import GdkPixbuf, Gio, GLib  # noqa: E402

# Our own names, so leftovers of the two suites never mix.
nm.PREFIX = 'shap%d' % (os.getpid() % 10000)
nm.WORK = '/tmp/shuttle-applet-%s' % nm.PREFIX
nm.BUS_SOCK = nm.WORK + '/run/dbus/system_bus_socket'
WORK = nm.WORK
APPLET = os.environ.get('SHUTTLE_APPLET_BIN', '')
LOCALEDIR = os.environ.get('SHUTTLE_LOCALEDIR', '')
SCREENSHOT = os.environ.get('SHUTTLE_APPLET_SCREENSHOT', '/tmp/shuttle-applet-status.png')
CON = 'shap-work'
CON_BAD = 'shap-hostkey'
CON_PERS = 'shap-persist'
SNI = 'org.kde.StatusNotifierItem'

PROCS = []       # (label, Popen) we started, stopped in reverse order
SESSION = None   # Gio.DBusConnection to the private session bus (as root)
ENV = {}         # the applet's environment
APP = None       # the running applet's Popen
results = []


def spawn(label, argv, user=None, env=None):
    out = open('%s/logs/%s.log' % (WORK, label), 'a')
    kw = {}
    if user is not None:
        kw = dict(user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    p = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, env=env, cwd='/', **kw)
    PROCS.append((label, p))
    return p


def log_of(label):
    return read('%s/logs/%s.log' % (WORK, label))


# ------------------------------------------------------------ the desktop
def start_xvfb():
    p, display = harness.start_xvfb('1024x768x24')
    PROCS.append(('xvfb', p))
    check(display, 'Xvfb did not start')
    return display


def start_session_bus():
    global SESSION
    sock = WORK + '/session_bus_socket'
    with open(WORK + '/session.conf', 'w') as f:
        f.write(harness.bus_config(sock, bus_type='session'))
    spawn('session-bus', ['dbus-daemon', '--config-file=' + WORK + '/session.conf', '--nofork',
                          '--nopidfile'])
    check(wait_for(lambda: os.path.exists(sock), 10), 'the session bus did not start')
    addr = 'unix:path=' + sock
    SESSION = Gio.DBusConnection.new_for_address_sync(
        addr, Gio.DBusConnectionFlags.AUTHENTICATION_CLIENT
        | Gio.DBusConnectionFlags.MESSAGE_BUS_CONNECTION, None, None)
    return addr


def start_helper(label, script, env):
    spawn(label, ['/usr/bin/python3', os.path.join(HERE, script)], env=env)
    check(wait_for(lambda: 'ready' in log_of(label).split('\n'), 10),
          '%s did not start:\n%s' % (script, log_of(label)))


def icon_tree():
    """The state icons where the applet's XDG_DATA_DIRS finds them, as if
    installed into hicolor."""
    d = WORK + '/share/icons/hicolor/scalable/status'
    os.makedirs(d)
    for f in os.listdir(os.path.join(SRC, 'data', 'icons')):
        shutil.copy(os.path.join(SRC, 'data', 'icons', f), d)
    return WORK + '/share'


def applet_env(display, session, user):
    run = WORK + '/xdg-run'
    os.makedirs(run, mode=0o700, exist_ok=True)
    os.chown(run, user.pw_uid, user.pw_gid)
    return {'PATH': '/usr/bin:/bin', 'HOME': user.pw_dir, 'USER': user.pw_name,
            'DISPLAY': display, 'DBUS_SESSION_BUS_ADDRESS': session,
            'DBUS_SYSTEM_BUS_ADDRESS': 'unix:path=' + nm.BUS_SOCK,
            'XDG_RUNTIME_DIR': run, 'XDG_DATA_DIRS': icon_tree() + ':/usr/share',
            'LANG': 'C.UTF-8', 'NO_AT_BRIDGE': '1', 'GDK_BACKEND': 'x11',
            'GSETTINGS_BACKEND': 'memory', 'G_MESSAGES_DEBUG': 'shuttle-applet',
            # what "Run a program in this tunnel…" starts: this build's
            'SHUTTLE_BIN': os.environ.get('SHUTTLE_BIN', ''),
            'SHUTTLE_PRELOAD_LIBRARY': os.environ.get('SHUTTLE_PRELOAD_LIBRARY', '')}


def start_applet(extra=None, label='applet'):
    global APP
    env = dict(ENV)
    env.update(extra or {})
    APP = spawn(label, [APPLET], user=pwd.getpwnam(nm.USER), env=env)
    return APP


# ------------------------------------------------------- tray host's side
def call(dest, path, iface, method, args=None, sig=None, timeout=10000):
    return SESSION.call_sync(dest, path, iface, method, args,
                             GLib.VariantType(sig) if sig else None,
                             Gio.DBusCallFlags.NONE, timeout, None).unpack()


def item():
    """(bus, path) of the registered item, or None."""
    lines = [ln.split()[1] for ln in log_of('watcher').splitlines() if ln.startswith('item ')]
    gone = [ln.split()[1] for ln in log_of('watcher').splitlines() if ln.startswith('gone ')]
    live = [i for i in lines if i not in gone]
    if not live:
        return None
    bus, _, path = live[-1].partition('/')
    return bus, '/' + path


def sni(prop):
    bus, path = item()
    return call(bus, path, 'org.freedesktop.DBus.Properties', 'Get',
                GLib.Variant('(ss)', (SNI, prop)), '(v)')[0]


def layout():
    """The menu as a list of dicts (id, label, toggle-state, enabled, children)."""
    bus, _ = item()
    rev, root = call(bus, sni('Menu'), 'com.canonical.dbusmenu', 'GetLayout',
                     GLib.Variant('(iias)', (0, -1, [])), '(u(ia{sv}av))')

    def conv(node):
        nid, props, kids = node
        d = dict(props)
        d['id'] = nid
        d['children'] = [conv(k) for k in kids]
        return d
    return conv(root)['children']


def labels(items=None):
    return [i.get('label', '') for i in (layout() if items is None else items)]


def find(label_pred):
    for i in layout():
        if label_pred(i.get('label', '')):
            return i
    return None


def entry(name):
    """The check item of connection @name and the state text under it."""
    items = layout()
    for n, i in enumerate(items):
        if i.get('label') == name and i.get('toggle-type') == 'checkmark':
            below = items[n + 1].get('label', '') if n + 1 < len(items) else ''
            hosts = None
            if n + 2 < len(items) and items[n + 2].get('label') == 'Discovered hosts':
                hosts = items[n + 2]['children']
            return i, below, hosts
    return None, '', None


def click(target):
    """Click a menu item: its id, or a function that finds the item.

    The applet rebuilds its menu whenever a connection changes state, and
    the rebuild renumbers every item (libdbusmenu never reuses an id), so a
    click racing a rebuild names an item that is gone; given a function, look
    the item up again in the new menu, as a user would."""
    for attempt in range(5):
        item_id = target()['id'] if callable(target) else target
        bus, _ = item()
        try:
            call(bus, sni('Menu'), 'com.canonical.dbusmenu', 'Event',
                 GLib.Variant('(isvu)', (item_id, 'clicked', GLib.Variant('i', 0), 0)))
            return
        except GLib.Error as e:
            if not callable(target) or 'does not refer to a menu item' not in str(e) \
                    or attempt == 4:
                raise
            diag('menu item %d went with a rebuild before the click; looking again' % item_id)
            time.sleep(0.2)


def notifications():
    out = []
    for ln in log_of('notifyd').splitlines():
        if ln.startswith('{'):
            out.append(json.loads(ln))
    return out


def notified(pred):
    return [n for n in notifications() if pred(n)]


def window_ids(name):
    r = subprocess.run(['xdotool', 'search', '--name', name], env={'DISPLAY': ENV['DISPLAY']},
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return r.stdout.split()


# ------------------------------------------------------------------ cases
CASES, case = harness.registry()


@case('refuses to run as root, with a clear message')
def t_root():
    r = subprocess.run([APPLET], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       env=dict(ENV), timeout=20)
    check(r.returncode != 0, 'ran as root (rc 0)')
    check('must not run as root' in r.stderr, 'message: %r' % r.stderr)


@case('no tray host: says so once and opens the status window')
def t_no_tray():
    start_applet()
    check(wait_for(lambda: notified(lambda n: n['summary'] == 'No system tray'), 20),
          'no "No system tray" notification: %r\n%s' % (notifications(), log_of('applet')))
    check(wait_for(lambda: window_ids('Shuttle VPN status'), 10),
          'no status window:\n' + log_of('applet'))


@case('a tray host that comes later gets the item; its menu lists the connection')
def t_register():
    start_helper('watcher', 'sni_watcher.py', ENV_ROOT)
    check(wait_for(item, 15), 'the applet did not register:\n' + log_of('applet'))
    check(wait_for(lambda: entry(CON)[0] is not None, 20),
          'no check item %r in %r' % (CON, labels()))
    it, below, _ = entry(CON)
    check(it.get('toggle-state') == 0, 'toggle-state %r, want 0 (off)' % it.get('toggle-state'))
    check(below == 'Disconnected', 'state under the name: %r' % below)
    for want in ('Status…', 'Edit connections…', 'Quit'):
        check(want in labels(), '%r not in the menu %r' % (want, labels()))
    check(sni('IconName') == 'shuttle-disconnected', 'IconName %r' % sni('IconName'))
    check('disconnected' in sni('IconAccessibleDesc'),
          'IconAccessibleDesc %r' % sni('IconAccessibleDesc'))
    told = notified(lambda n: n['summary'] == 'No system tray')
    check(len(told) == 1, 'told %d times about the missing tray' % len(told))


@case('clicking the toggle activates it in NetworkManager; icon, state and hosts follow')
def t_connect():
    click(lambda: entry(CON)[0])
    check(wait_for(lambda: nm.state(CON) == 'activated', 90, 0.5),
          'NetworkManager state %r:\n%s\n%s' % (nm.state(CON), log_of('applet'), nm.tail_log(30)))
    check(wait_for(lambda: sni('IconName') == 'shuttle-connected', 15),
          'IconName %r' % sni('IconName'))
    check('connected' in sni('IconAccessibleDesc'), 'IconAccessibleDesc %r'
          % sni('IconAccessibleDesc'))
    check(wait_for(lambda: entry(CON)[1].startswith('Connected since '), 10),
          'state under the name: %r' % entry(CON)[1])
    check(entry(CON)[0].get('toggle-state') == 1, 'toggle not on: %r' % entry(CON)[0])
    check(wait_for(lambda: notified(lambda n: n['summary'] == CON + ' connected'), 10),
          'no "connected" notification: %r' % notifications())

    def host_item():
        hosts = entry(CON)[2] or []
        return [h for h in hosts if h.get('label', '').startswith(netlab.NAME_GWHOSTS + ' (')]
    check(wait_for(host_item, 40, 0.5), 'no %s under "Discovered hosts": %r'
          % (netlab.NAME_GWHOSTS, entry(CON)[2]))
    h = host_item()[0]
    address = h['label'].split('(')[-1].rstrip(')')
    diag('discovered: %s' % h['label'])
    click(lambda: host_item()[0])
    check(wait_for(lambda: notified(lambda n: n['summary'] == 'Copied ' + address
                                    and netlab.NAME_GWHOSTS in n['body']), 10),
          'no "Copied %s" notification: %r' % (address, notifications()))


@case('an active connection offers "Run a program in this tunnel…": the typed command runs '
      'through the engine\'s door and reaches the LAN from outside the lab\'s namespace')
def t_run_program():
    user = pwd.getpwnam(nm.USER)
    out = WORK + '/run-program'
    os.makedirs(out, exist_ok=True)
    os.chown(out, user.pw_uid, user.pw_gid)
    url = 'http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT)
    probe = out + '/probe.sh'
    with open(probe, 'w') as f:
        f.write('#!/bin/sh\nenv > %s/env\ncurl -sS -m 10 %s > %s/body 2> %s/err\n'
                'echo $? > %s/rc\n' % (out, url, out, out, out))
    os.chmod(probe, 0o755)
    # The applet runs outside the lab's namespace, where the connection's
    # rules capture nothing: only what goes through the door shows in the
    # engine's counters.
    def received():
        m = re.search(r'uint64 (\d+)', nm.engine_status('BytesReceived'))
        check(m, 'BytesReceived: %s' % nm.engine_status('BytesReceived'))
        return int(m.group(1))
    before = received()
    it = wait_for(lambda: find(lambda s: s == 'Run a program in this tunnel…'), 15)
    check(it, 'no "Run a program in this tunnel…" in %r' % labels())
    items = labels()
    check(items.index('Run a program in this tunnel…') > items.index(CON),
          'the item is not under %s: %r' % (CON, items))
    click(lambda: find(lambda s: s == 'Run a program in this tunnel…'))
    title = 'Run a program in ' + CON
    check(wait_for(lambda: window_ids(title), 10), 'no dialog %r:\n%s' % (title, log_of('applet')))
    wid = window_ids(title)[0]
    xenv = {'DISPLAY': ENV['DISPLAY']}
    subprocess.run(['xdotool', 'windowfocus', wid], env=xenv, timeout=10)
    time.sleep(0.5)
    subprocess.run(['xdotool', 'type', '--delay', '20', probe], env=xenv, timeout=30)
    subprocess.run(['xdotool', 'key', 'Return'], env=xenv, timeout=10)
    check(wait_for(lambda: os.path.exists(out + '/rc'), 30),
          'the command did not run:\n%s' % log_of('applet'))
    env = read(out + '/env')
    door = re.search(r"<'(/[^']+)'>", nm.engine_status('Door'))
    check(door and 'SHUTTLE_PRELOAD_SOCKET=%s\n' % door.group(1) in env
          and 'libshuttle-preload' in env,
          'not started through the engine\'s door %s:\n%s' % (nm.engine_status('Door'), env))
    body = read(out + '/body')
    check(read(out + '/rc').strip() == '0' and 'Hello' in body,
          'curl from the program: rc %s %s' % (read(out + '/rc').strip(), read(out + '/err')))
    check(wait_for(lambda: received() - before >= len(body), 5),
          'the engine carried %d bytes back, the program got %d: not through the door'
          % (received() - before, len(body)))
    check(wait_for(lambda: not window_ids(title), 5), 'the dialog stayed open')


@case('the status window renders (screenshot)')
def t_screenshot():
    check(window_ids('Shuttle VPN status'), 'the status window is gone')
    # some traffic, so the counters have something to show
    check(wait_for(lambda: nm.curl_lan(3), 10), 'no traffic through the tunnel')
    check(wait_for(lambda: 'uint64 0' not in nm.engine_status('BytesReceived'), 10),
          'BytesReceived: %s' % nm.engine_status('BytesReceived'))
    # The window polls the counters once a second; this pause only makes
    # the picture show them (nothing below depends on it).
    time.sleep(2.5)
    r = subprocess.run(['import', '-window', 'root', SCREENSHOT], env={'DISPLAY': ENV['DISPLAY']},
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
    check(r.returncode == 0, 'import failed: %s' % r.stderr)
    pix = GdkPixbuf.Pixbuf.new_from_file(SCREENSHOT)
    data = pix.get_pixels()
    stride, n = pix.get_rowstride(), pix.get_n_channels()
    colours = set()
    for y in range(0, pix.get_height(), 4):
        for x in range(0, pix.get_width(), 4):
            o = y * stride + x * n
            colours.add(bytes(data[o:o + 3]))
    diag('screenshot %s: %dx%d, %d colours' % (SCREENSHOT, pix.get_width(), pix.get_height(),
                                               len(colours)))
    check(len(colours) > 20, 'the screenshot is nearly blank (%d colours)' % len(colours))


@case('clicking the toggle again deactivates it')
def t_disconnect():
    click(lambda: entry(CON)[0])
    check(wait_for(lambda: nm.state(CON) == '', 30, 0.5), 'still %r' % nm.state(CON))
    check(wait_for(lambda: sni('IconName') == 'shuttle-disconnected', 15),
          'IconName %r' % sni('IconName'))
    check(wait_for(lambda: entry(CON)[1] == 'Disconnected', 10), 'state %r' % entry(CON)[1])
    check(entry(CON)[2] is None, 'hosts submenu left after disconnecting')
    check(not notified(lambda n: 'unexpectedly' in n['summary']),
          'a user disconnect was reported as unexpected: %r' % notifications())
    nm.assert_clean('after the applet disconnected')


@case('two connections to different networks at once: the menu shows each connected with its '
      'own toggle; one going leaves the other connected')
def t_two_tunnels():
    a, b = 'shap-net-a', 'shap-net-b'
    # two networks of the lab's remote site: one host each (as nm t_two_tunnels)
    nm.add_profile(a, subnets=netlab.LAN4 + '/32', dns_domains='a.example')
    nm.add_profile(b, subnets=netlab.LAN4_B + '/32', dns_domains='b.example')
    try:
        check(wait_for(lambda: entry(a)[0] and entry(b)[0], 15),
              'the menu lacks one of them: %r' % labels())
        for n in (a, b):
            click(lambda: entry(n)[0])
            check(wait_for(lambda: nm.state(n) == 'activated', 90, 0.5),
                  '%s: NetworkManager state %r:\n%s' % (n, nm.state(n), nm.tail_log(30)))
        check(wait_for(lambda: all(entry(n)[1].startswith('Connected since ') for n in (a, b)),
                       15), 'states under the names: %r %r' % (entry(a)[1], entry(b)[1]))
        check(all(entry(n)[0].get('toggle-state') == 1 for n in (a, b)),
              'toggles: %r %r' % (entry(a)[0], entry(b)[0]))
        check(len(nm.shuttle_tables()) == 2, 'tables %r' % nm.shuttle_tables())
        check(sni('IconName') == 'shuttle-connected', 'IconName %r' % sni('IconName'))
        click(lambda: entry(a)[0])
        check(wait_for(lambda: nm.state(a) == '', 30, 0.5), '%s still %r' % (a, nm.state(a)))
        check(wait_for(lambda: entry(a)[1] == 'Disconnected', 10), '%s: %r' % (a, entry(a)[1]))
        check(entry(b)[1].startswith('Connected since ') and entry(b)[0].get('toggle-state') == 1,
              '%s after %s went: %r' % (b, a, entry(b)))
        check(sni('IconName') == 'shuttle-connected', 'IconName %r with %s still up'
              % (sni('IconName'), b))
        click(lambda: entry(b)[0])
        check(wait_for(lambda: nm.state(b) == '', 30, 0.5), '%s still %r' % (b, nm.state(b)))
        check(wait_for(lambda: sni('IconName') == 'shuttle-disconnected', 15),
              'IconName %r' % sni('IconName'))
        nm.assert_clean('after both went')
    finally:
        nm.down(a)
        nm.down(b)
        nm.nmcli('connection', 'delete', a)
        nm.nmcli('connection', 'delete', b)


@case('a persistent connection whose ssh dies: the menu counts down "Reconnecting in N s — '
      'why", then shows it connected again')
def t_reconnecting():
    nm.add_profile(CON_PERS, persistent=True)
    check(wait_for(lambda: entry(CON_PERS)[0] is not None, 15),
          'the new connection is not in the menu: %r' % labels())
    click(lambda: entry(CON_PERS)[0])
    check(wait_for(lambda: nm.state(CON_PERS) == 'activated', 90, 0.5),
          'NetworkManager state %r:\n%s' % (nm.state(CON_PERS), nm.tail_log(30)))
    check(wait_for(lambda: entry(CON_PERS)[1].startswith('Connected since '), 10),
          'state under the name: %r' % entry(CON_PERS)[1])
    # sshd away for a while: the plugin's pauses grow (1, 2, 4 s), long
    # enough to watch a countdown
    nm.gw_sshd_stop()
    try:
        for p in nm.ssh_pids():
            os.kill(p, signal.SIGKILL)
        seen, ids = [], {}
        end = time.monotonic() + 12
        while time.monotonic() < end:
            items = layout()
            n = [k for k, i in enumerate(items) if i.get('label') == CON_PERS][0]
            below = items[n + 1].get('label', '')
            if below.startswith('Reconnecting') and (not seen or seen[-1] != below):
                seen.append(below)
                ids[below] = (items[n]['id'], items[n + 1]['id'])
            time.sleep(0.2)
    finally:
        nm.gw_sshd_start()
    diag('under the name during the outage: %r' % seen)
    counting = [b for b in seen if re.match(r'Reconnecting in \d+ s — \S', b)]
    check(len(set(counting)) >= 2, 'no countdown with a reason: %r' % seen)
    # The countdown changes the line's text in place: the tray host keeps
    # the items (an open menu is not rebuilt every second).
    kept = set(ids[b] for b in counting)
    check(len(kept) < len(set(counting)),
          'every step of the countdown made new menu items: %r' % [(b, ids[b]) for b in counting])
    check(any('ended' in b or 'killed' in b or 'exited' in b for b in counting),
          'no reason in %r' % counting)
    check(wait_for(lambda: nm.state(CON_PERS) == 'activated', 60, 0.5),
          'not activated again: %r\n%s' % (nm.state(CON_PERS), nm.tail_log(30)))
    check(wait_for(lambda: entry(CON_PERS)[1].startswith('Connected since '), 15),
          'state under the name after the return: %r' % entry(CON_PERS)[1])
    click(lambda: entry(CON_PERS)[0])
    check(wait_for(lambda: nm.state(CON_PERS) == '', 30, 0.5), 'still %r' % nm.state(CON_PERS))
    nm.nmcli('connection', 'delete', CON_PERS)
    nm.assert_clean('after the reconnecting connection')


@case('a wrong pinned host key: failed icon and state, a notification with the reason')
def t_failure():
    other = WORK + '/other_key'
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-f', other], check=True)
    with open(other + '.pub') as f:
        wrong = ' '.join(f.read().split()[:2])
    nm.add_profile(CON_BAD, host_key=wrong)
    check(wait_for(lambda: entry(CON_BAD)[0] is not None, 15),
          'the new connection is not in the menu: %r' % labels())
    click(lambda: entry(CON_BAD)[0])
    fp = nm.host_fingerprint()
    got = wait_for(lambda: notified(lambda n: n['summary'] == CON_BAD + ' failed to connect'), 60,
                   0.3)
    check(got, 'no failure notification: %r\n%s' % (notifications(), log_of('applet')))
    diag('notification: %s / %s' % (got[-1]['summary'], got[-1]['body']))
    check(fp in got[-1]['body'], 'the reason lacks the offered key %s: %r' % (fp, got[-1]['body']))
    check('Reconnect' in got[-1]['actions'], 'no Reconnect button: %r' % got[-1]['actions'])
    check(wait_for(lambda: sni('IconName') == 'shuttle-failed', 10), 'IconName %r'
          % sni('IconName'))
    check(entry(CON_BAD)[1].startswith('Failed: '), 'state %r' % entry(CON_BAD)[1])
    nm.nmcli('connection', 'delete', CON_BAD)
    nm.assert_clean('after the host-key failure')


@case('Quit ends the applet and its item')
def t_quit():
    click(lambda: find(lambda s: s == 'Quit'))
    check(wait_for(lambda: APP.poll() is not None, 10), 'still running after Quit')
    check(wait_for(lambda: item() is None, 10), 'the item is still registered')
    crit = [ln for ln in log_of('applet').splitlines() if 'CRITICAL' in ln]
    check(not crit, 'criticals in the applet\'s log:\n' + '\n'.join(crit))


@case('LANGUAGE=de: the built catalogue translates the menu')
def t_german():
    start_applet({'LANGUAGE': 'de', 'SHUTTLE_LOCALEDIR': LOCALEDIR}, label='applet-de')
    check(wait_for(lambda: item() is not None and 'Beenden' in labels(), 20),
          'no "Beenden" in %r\n%s' % (labels() if item() else None, log_of('applet-de')))
    check('Verbindungen bearbeiten…' in labels(), 'menu %r' % labels())
    check(wait_for(lambda: entry(CON)[1] == 'Getrennt', 10), 'state %r' % entry(CON)[1])


def cleanup():
    for label, p in reversed(PROCS):
        if p.poll() is None:
            p.terminate()
            try:
                p.wait(5)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    PROCS.clear()
    nm.cleanup()


def main():
    global ENV, ENV_ROOT
    if os.geteuid() != 0:
        skip_all('needs root (namespaces, NetworkManager, another user)')
    for tool in ('Xvfb', 'dbus-daemon', 'xdotool', 'import', 'nmcli', 'nm-online', 'sshd',
                 'nft', 'curl', 'dig'):
        if shutil.which(tool) is None and not os.path.exists('/usr/sbin/' + tool):
            skip_all('%s not installed (tests/deps.sh)' % tool)
    if not os.path.exists('/usr/sbin/NetworkManager'):
        skip_all('NetworkManager not installed (tests/deps.sh)')
    for k, v in list(nm.ENV.items()) + [('SHUTTLE_APPLET_BIN', APPLET),
                                         ('SHUTTLE_LOCALEDIR', LOCALEDIR)]:
        if not v or not os.path.exists(v):
            skip_all('%s not set (run through meson)' % k)
    print('1..%d' % len(CASES))
    sys.stdout.flush()
    shutil.rmtree(WORK, ignore_errors=True)
    try:
        nm.LAB = netlab.Lab(nm.PREFIX)
        nm.LAB.up()
        netlab.ensure_lab_user()
        nm.setup()
        user = nm.ensure_user()
        nm.start_nm()
        r = nm.nmcli('connection', 'add', 'type', 'ethernet', 'ifname', 'c0', 'con-name',
                     'shap-base', 'autoconnect', 'no', 'ipv4.method', 'manual', 'ipv4.addresses',
                     netlab.CLIENT4 + '/24', 'ipv4.gateway', netlab.GW4, 'ipv6.method', 'ignore')
        check(r.returncode == 0, 'base profile: %s' % r.stderr)
        r = nm.nmcli('--wait', '30', 'connection', 'up', 'shap-base')
        check(r.returncode == 0, 'base profile up: %s\n%s' % (r.stderr, nm.tail_log(30)))
        check(nm.LAB.wait_port(nm.LAB.ns_client, netlab.GW4, 22), 'sshd unreachable under NM')
        nm.add_profile(CON, auto_hosts='yes')
        display = start_xvfb()
        session = start_session_bus()
        ENV = applet_env(display, session, user)
        ENV_ROOT = dict(os.environ, DISPLAY=display, DBUS_SESSION_BUS_ADDRESS=session)
        ENV_ROOT.pop('G_DEBUG', None)
        start_helper('notifyd', 'notifyd.py', ENV_ROOT)
    except BaseException as e:
        harness.setup_failed(CASES, e)
        cleanup()
        return 1
    failed = harness.run_cases(CASES, timed=True)
    if failed:
        diag('applet log:\n' + log_of('applet') + log_of('applet-de'))
    cleanup()
    return 1 if failed else 0


ENV_ROOT = {}

if __name__ == '__main__':
    sys.exit(main())
