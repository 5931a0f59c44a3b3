#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Tests of shuttle-firewall with the real things: a private system bus
(dbus-daemon) that D-Bus-activates the built helper, a real polkitd, real
nftables and a real /etc/hosts bind mount, all inside the client namespace of
a netlab lab (tests/lib/netlab.py), so no change reaches the host.

  the lab's client namespace, with one private mount namespace where
    /usr/share/polkit-1/actions  <- our policy + the system's
    /etc/polkit-1/rules.d        <- WORK/rules.d (the rules example goes here)
    /etc/hosts                   <- WORK/hosts (a bind mount, as in containers)
  runs dbus-daemon (listening on WORK/bus, servicedir WORK/services with a
  test copy of the activation file) and polkitd; the helper is started by
  activation into the same namespaces.

Output is TAP.  Exit 77 (skip) when not root or a tool is missing, except
under CI (env CI set), where a missing piece is a failure.

Environment (set by meson): SHUTTLE_BIN, SHUTTLE_FIREWALL_BIN,
SHUTTLE_FIREWALL_SERVICE (the built .service file), SHUTTLE_POLKIT_POLICY,
SHUTTLE_DBUS_POLICY, SHUTTLE_RULES_EXAMPLE, SHUTTLE_POLKIT_FLOOD (polkit-flood.c);
SHUTTLE_HELPER_ONLY=substr,...
runs only matching cases.
"""
import glob
import json
import os
import pwd
import grp
import shutil
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), 'lib'))
import harness  # noqa: E402
import netlab  # noqa: E402
from harness import Fail, check, diag, read, skip_all  # noqa: E402

PY = '/usr/bin/python3'
PREFIX = 'hlp%d' % (os.getpid() % 100000)
WORK = '/tmp/shuttle-helper-%s' % PREFIX
BUS = WORK + '/bus'
USER = 'shuttletest'      # in group GROUP: allowed once the rules example is in
USER2 = 'shuttletest2'    # a second such user
GROUP = 'netdev'          # the group the shipped rules example names
OTHER = 'nobody'          # never allowed
ERR = 'io.github.shuttlevpn.Firewall1.Error.'
HOSTS_ORIG = ('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'
              '# the last line has no newline on purpose')
ENV = {k: os.environ.get(k, '') for k in (
    'SHUTTLE_BIN', 'SHUTTLE_FIREWALL_BIN', 'SHUTTLE_FIREWALL_SERVICE', 'SHUTTLE_POLKIT_POLICY',
    'SHUTTLE_DBUS_POLICY', 'SHUTTLE_RULES_EXAMPLE', 'SHUTTLE_POLKIT_FLOOD')}
POLKIT_TIMEOUT = 6        # the helper's --polkit-timeout here
LAB = None


def wait_for(pred, timeout, step=0.05):
    # finer than the shared default: several cases time how fast the helper reacts
    return harness.wait_for(pred, timeout, step)


# ------------------------------------------------------------ the sandbox
LAUNCH = """#!/bin/sh
# runs inside `ip netns exec` (a private mount namespace)
set -e
mount --bind %(w)s/actions /usr/share/polkit-1/actions
mount --bind %(w)s/rules.d /etc/polkit-1/rules.d
mount --bind %(w)s/hosts /etc/hosts
# the cgroup v2 hierarchy where a systemd host has it (scope rules)
mountpoint -q /sys/fs/cgroup || mount -t cgroup2 cgroup2 /sys/fs/cgroup || true
dbus-daemon --config-file=%(w)s/dbus.conf --nofork --nopidfile >>%(w)s/dbus.log 2>&1 &
i=0; while [ ! -S %(bus)s ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
exec /usr/lib/polkit-1/polkitd >>%(w)s/polkitd.log 2>&1
"""


def ensure_users():
    if subprocess.run(['getent', 'group', GROUP], stdout=subprocess.DEVNULL).returncode != 0:
        subprocess.run(['groupadd', '-r', GROUP], check=True)
    for user in (USER, USER2):
        if subprocess.run(['id', user], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode != 0:
            subprocess.run(['useradd', '-r', '-M', '-d', '/nonexistent', '-s',
                            '/usr/sbin/nologin', user], check=True)
        if user not in grp.getgrnam(GROUP).gr_mem:
            subprocess.run(['usermod', '-a', '-G', GROUP, user], check=True)


def setup_sandbox():
    os.makedirs(WORK + '/actions')
    os.makedirs(WORK + '/rules.d')
    os.makedirs(WORK + '/services')
    os.chmod(WORK, 0o755)
    for f in glob.glob('/usr/share/polkit-1/actions/*.policy'):
        shutil.copy(f, WORK + '/actions/')
    shutil.copy(ENV['SHUTTLE_POLKIT_POLICY'], WORK + '/actions/')
    # The test copy of the activation file: the built helper, a short idle
    # timeout; everything else as installed.
    with open(ENV['SHUTTLE_FIREWALL_SERVICE']) as f:
        service = f.read()
    lines = [('Exec=%s --idle-timeout 3 --polkit-timeout %d'
              % (ENV['SHUTTLE_FIREWALL_BIN'], POLKIT_TIMEOUT))
             if ln.startswith('Exec=') else ln for ln in service.splitlines()]
    with open(WORK + '/services/io.github.shuttlevpn.Firewall1.service', 'w') as f:
        f.write('\n'.join(lines) + '\n')
    with open(WORK + '/dbus.conf', 'w') as f:
        # as on a real system bus: nobody owns our name unless our policy says so
        f.write(harness.bus_config(BUS, servicedir=WORK + '/services',
                                   deny_own=['io.github.shuttlevpn.Firewall1'],
                                   include=ENV['SHUTTLE_DBUS_POLICY']))
    with open(WORK + '/hosts', 'w') as f:
        f.write(HOSTS_ORIG)
    with open(WORK + '/launch.sh', 'w') as f:
        f.write(LAUNCH % dict(w=WORK, bus=BUS))
    os.chmod(WORK + '/launch.sh', 0o755)
    os.environ['DBUS_SYSTEM_BUS_ADDRESS'] = 'unix:path=' + BUS
    os.environ['LIBMOUNT_UTAB'] = WORK + '/utab'
    LAB.spawn(LAB.ns_client, ['/bin/sh', WORK + '/launch.sh'], label='bus-polkitd',
              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    ok = wait_for(lambda: gdbus_ok('org.freedesktop.DBus', '/org/freedesktop/DBus',
                                   'org.freedesktop.DBus.NameHasOwner',
                                   'org.freedesktop.PolicyKit1', want='(true,)'), 15, 0.1)
    if not ok:
        raise Fail('polkitd did not come up:\n' + read(WORK + '/polkitd.log')
                   + read(WORK + '/dbus.log'))


def gdbus_ok(dest, path, method, *args, want=None):
    r = subprocess.run(['gdbus', 'call', '--system', '--dest', dest, '--object-path', path,
                        '--method', method] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=30)
    return r.returncode == 0 and (want is None or r.stdout.strip() == want)


# ------------------------------------------------------------ callers
def as_user(user):
    if user is None or user == 'root':
        return []
    pw = pwd.getpwnam(user)
    return ['setpriv', '--reuid=%d' % pw.pw_uid, '--regid=%d' % pw.pw_gid, '--init-groups']


class Caller:
    """caller.py as @user: one bus connection, requests over a pipe.  It runs
    in the lab's client namespace, the helper's, and (with @listen) listens
    on a port of its own, self.port, which ApplyTunnel uses when
    tunnel_args() names none."""

    def __init__(self, user=None, listen=True):
        self.user = user
        self.p = subprocess.Popen(['ip', 'netns', 'exec', LAB.ns_client] + as_user(user)
                                  + [PY, os.path.join(HERE, 'caller.py')],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.name = json.loads(self.p.stdout.readline())['name']
        self.port = self.ok('Listen', 0, True) if listen else None

    def call(self, method, *args):
        args = list(args)
        if method == 'ApplyTunnel' and args[1] is None:
            args[1] = self.port
        self.p.stdin.write(json.dumps([method] + args) + '\n')
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line:
            raise Fail('caller.py died')
        return json.loads(line)

    def ok(self, method, *args):
        r = self.call(method, *args)
        check(r['ok'], '%s as %s failed: %s' % (method, self.user or 'root', r))
        return r['ret']

    def err(self, method, *args):
        r = self.call(method, *args)
        check(not r['ok'], '%s as %s should have failed: %s' % (method, self.user or 'root', r))
        return r

    def kill(self):
        self.p.kill()
        self.p.wait()

    def close(self):
        if self.p.poll() is None:
            self.p.stdin.close()
            self.p.wait(timeout=10)


def subnet(addr, prefix, lo=0, hi=0):
    if ':' in addr:
        import ipaddress
        return [6, list(ipaddress.IPv6Address(addr).packed), prefix, lo, hi]
    return [4, [int(x) for x in addr.split('.')], prefix, lo, hi]


LAN = subnet('10.231.2.0', 24)
LAN6 = subnet('fd31:2::', 64)


def tunnel_args(label, subnets=None, excludes=None, port=None, dns=None, options=None):
    return [label, port, subnets if subnets is not None else [LAN],
            excludes if excludes is not None else [], dns or [], options or {}]


def tables():
    return [t for t in LAB.nft_tables(LAB.ns_client) if t.startswith('inet shuttle-')]


def table_text(name):
    r = LAB.run(LAB.ns_client, ['nft', 'list', 'table'] + name.split(), timeout=10)
    return r.stdout


def hosts():
    with open(WORK + '/hosts') as f:
        return f.read()


def helper_pids():
    """Running helpers (zombies and processes that just exited excluded)."""
    out = []
    for p in LAB.run(None, ['pgrep', '-x', 'shuttle-firewal']).stdout.split():
        try:
            if os.readlink('/proc/%s/exe' % p) == os.path.realpath(ENV['SHUTTLE_FIREWALL_BIN']):
                out.append(int(p))
        except OSError:
            pass
    return out


# What the cases that need an authorized ordinary user install. The shipped
# example (polkit/50-shuttle.rules.example) grants only local, active
# sessions, and no caller here has a login session at all (no logind seat in
# the sandbox), so those cases grant the group outright; the example itself
# is checked by t_rules_example.
GRANT_RULE = """// tests/helper: grants %(group)s without a session (the sandbox has none)
polkit.addRule(function (action, subject) {
    if ((action.id == "io.github.shuttlevpn.firewall" ||
         action.id == "io.github.shuttlevpn.hosts") && subject.isInGroup("%(group)s"))
        return polkit.Result.YES;
    return polkit.Result.NOT_HANDLED;
});
"""


def set_rules(on, example=False):
    """on: the group may (the test grant rule, or with example=True the
    shipped rules example as is); off: no rules file."""
    dst = WORK + '/rules.d/50-shuttle.rules'
    if on and example:
        shutil.copy(ENV['SHUTTLE_RULES_EXAMPLE'], dst)
        os.chmod(dst, 0o644)
    elif on:
        with open(dst + '.new', 'w') as f:
            f.write(GRANT_RULE % {'group': GROUP})
        os.chmod(dst + '.new', 0o644)
        os.rename(dst + '.new', dst)
    elif os.path.exists(dst):
        os.unlink(dst)


# ------------------------------------------------------------ cases
CASES, case = harness.registry()


@case('root caller: the helper is activated, applies and removes a table')
def t_root_apply():
    check(helper_pids() == [], 'a helper already runs')
    a = Caller()
    try:
        table = a.ok('ApplyTunnel', *tunnel_args('t1', excludes=[subnet('10.231.2.11', 32, 22, 22)],
                                                 dns=[[4, [10, 231, 2, 53]]]))
        token = 'c' + a.name[1:].replace('.', '_')
        check(table == 'inet shuttle-%s-t1' % token, 'table name %r' % table)
        check(table in tables(), 'table %s not in %s' % (table, tables()))
        text = table_text(table)
        check('uid=0' in text and ('owner=%s' % a.name) in text, 'owner comment:\n' + text)
        check(('redirect to :%d' % a.port) in text
              and 'ip daddr 10.231.2.11 tcp dport 22 return' in text, 'rules:\n' + text)
        check(('ip daddr 10.231.2.53 udp dport 53 redirect to :%d' % a.port) in text,
              'DNS rule:\n' + text)
        check(len(helper_pids()) == 1, 'helper not running after activation')
        a.ok('RemoveTunnel', 't1')
        check(table not in tables(), 'table still there after RemoveTunnel')
        r = a.err('RemoveTunnel', 't1')
        check(r['error'] == ERR + 'NotFound', 'second remove: %s' % r)
    finally:
        a.close()


@case('options: block-ipv6=true adds the IPv6 leak block chain, false or absent does not; '
      'a duplicate key is refused')
def t_block_ipv6_option():
    a = Caller()
    try:
        ssh6 = subnet('fd31:1::1', 128, 22, 22)
        table = a.ok('ApplyTunnel', *tunnel_args('v6', subnets=[subnet('0.0.0.0', 0)],
                                                 excludes=[ssh6],
                                                 options={'block-ipv6': True}))
        text = table_text(table)
        check('chain block_ipv6' in text and 'ip6 daddr fd31:1::1 tcp dport 22 accept' in text
              and 'reject with icmpv6 admin-prohibited' in text, 'no block:\n' + text)
        for opts in ({'block-ipv6': False}, {}):
            a.ok('ApplyTunnel', *tunnel_args('v6', subnets=[subnet('0.0.0.0', 0)], options=opts))
            check('block_ipv6' not in table_text(table), 'block with %s' % opts)
        # a{sv} may carry a key twice on the wire; python-dbus cannot send
        # that, gdbus can.
        g = subprocess.run(['gdbus', 'call', '--system', '--dest', 'io.github.shuttlevpn.Firewall1',
                            '--object-path', '/io/github/shuttlevpn/Firewall1', '--method',
                            'io.github.shuttlevpn.Firewall1.ApplyTunnel', 'dup', '12300',
                            '@a(yayyqq) []', '@a(yayyqq) []', '@a(yay) []',
                            "[{'block-ipv6', <true>}, {'block-ipv6', <false>}]"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=30)
        check(g.returncode != 0 and 'InvalidArgs' in g.stderr and 'twice' in g.stderr,
              'duplicate key: %s %s' % (g.stdout, g.stderr))
    finally:
        a.close()
    check(wait_for(lambda: not tables(), 1), 'table left')


@case('D-Bus policy: only root may own io.github.shuttlevpn.Firewall1')
def t_policy_own():
    c = Caller(OTHER)
    try:
        r = c.err('RequestName', 'io.github.shuttlevpn.Firewall1')
        check(r['error'] == 'org.freedesktop.DBus.Error.AccessDenied', str(r))
    finally:
        c.close()


@case('unauthorized user: NotAuthorized, no table, hosts file untouched')
def t_unauthorized():
    set_rules(False)
    before = tables()
    for user in (USER, OTHER):
        c = Caller(user)
        try:
            r = c.err('ApplyTunnel', *tunnel_args('t1'))
            check(r['error'] == ERR + 'NotAuthorized', 'ApplyTunnel as %s: %s' % (user, r))
            diag('%s: %s' % (user, r['msg']))
            r = c.err('SetHosts', 'h1', [['10.231.2.10', 'lanhost']])
            check(r['error'] == ERR + 'NotAuthorized', 'SetHosts as %s: %s' % (user, r))
        finally:
            c.close()
    check(tables() == before, 'tables changed: %s' % tables())
    check(hosts() == HOSTS_ORIG, 'hosts file changed')


@case('shipped rules example: a member of %s without a local, active session is refused, '
      'and polkitd compiles the file' % GROUP)
def t_rules_example():
    a = Caller(USER)
    try:
        # The grant rule first, so that a refusal below is the example's doing
        # and not a polkitd that has not reloaded yet.
        set_rules(True)
        check(wait_for(lambda: a.call('ApplyTunnel', *tunnel_args('ex'))['ok'], 5, 0.2),
              'the test grant rule did not take effect')
        a.ok('RemoveTunnel', 'ex')
        set_rules(True, example=True)
        refused = wait_for(lambda: not a.call('ApplyTunnel', *tunnel_args('ex'))['ok'], 5, 0.2)
        check(refused, 'the example granted a caller that has no login session at all')
        r = a.err('ApplyTunnel', *tunnel_args('ex'))
        check(r['error'] == ERR + 'NotAuthorized', str(r))
        bad = [ln for ln in read(WORK + '/polkitd.log').splitlines()
               if '50-shuttle.rules' in ln and 'rror' in ln]
        check(not bad, 'polkitd about the example:\n' + '\n'.join(bad))
    finally:
        a.close()
        set_rules(False)
    check(wait_for(lambda: not [t for t in tables() if t.endswith('-ex')], 1), 'table left')


@case('group rule for %s: its member may, others still may not' % GROUP)
def t_group_rule():
    set_rules(True)
    try:
        a = Caller(USER)
        try:
            # polkitd reloads rules asynchronously
            r = wait_for(lambda: a.call('ApplyTunnel', *tunnel_args('t1')), 0)
            deadline = time.monotonic() + 5
            while not r['ok'] and time.monotonic() < deadline:
                time.sleep(0.2)
                r = a.call('ApplyTunnel', *tunnel_args('t1'))
            check(r['ok'], 'member of %s: %s' % (GROUP, r))
            check('uid=%d' % pwd.getpwnam(USER).pw_uid in table_text(r['ret']), 'uid comment')
            a.ok('SetHosts', 'h1', [['10.231.2.10', 'lanhost']])
            check('10.231.2.10 lanhost' in hosts(), 'hosts block missing')
            b = Caller(OTHER)
            try:
                r = b.err('ApplyTunnel', *tunnel_args('t1'))
                check(r['error'] == ERR + 'NotAuthorized', 'nobody: %s' % r)
            finally:
                b.close()
        finally:
            a.close()
        # a normal exit (connection closed) also removes everything
        check(wait_for(lambda: not [t for t in tables() if t.endswith('-t1')], 1),
              'table left after the caller exited')
        check(wait_for(lambda: hosts() == HOSTS_ORIG, 1), 'hosts not restored')
    finally:
        set_rules(False)


def apply_when_allowed(c, *args):
    """ApplyTunnel, again while polkitd has not read new rules yet (it
    reloads them asynchronously); the last answer."""
    deadline = time.monotonic() + 5
    r = c.call('ApplyTunnel', *args)
    while not r['ok'] and 'polkit' in r['msg'] and time.monotonic() < deadline:
        time.sleep(0.2)
        r = c.call('ApplyTunnel', *args)
    return r


@case("a second authorized user cannot point the helper at the first user's port, nor at a port "
      "nobody listens on; DNS needs the UDP socket too")
def t_port_owner():
    set_rules(True)
    uid_a, uid_b = pwd.getpwnam(USER).pw_uid, pwd.getpwnam(USER2).pw_uid
    a, b = Caller(USER), Caller(USER2)
    try:
        # B is authorized: its own port works
        r = apply_when_allowed(b, *tunnel_args('own', dns=[[4, [10, 231, 2, 53]]]))
        check(r['ok'], 'B on its own port: %s' % r)
        before, log0 = tables(), len(read(WORK + '/dbus.log'))
        for what, port, why in (("A's port", a.port, 'uid %d listens there' % uid_a),
                                ('a port nobody listens on', 1, 'nothing listens')):
            r = b.err('ApplyTunnel', *tunnel_args('steal', port=port))
            want = 'TCP port %d is not a loopback listener of uid %d' % (port, uid_b)
            check(r['error'] == ERR + 'NotAuthorized' and want in r['msg'] and why in r['msg'],
                  '%s: %s' % (what, r))
            diag('%s: %s' % (what, r['msg']))
        # DNS goes to the same port over UDP: a TCP listener alone is not enough
        tcp_only = b.ok('Listen', 0, False)
        r = b.err('ApplyTunnel', *tunnel_args('dns', port=tcp_only, dns=[[4, [10, 231, 2, 53]]]))
        check(r['error'] == ERR + 'NotAuthorized' and 'UDP port %d' % tcp_only in r['msg'],
              'TCP-only with DNS: %s' % r)
        b.ok('ApplyTunnel', *tunnel_args('dns', port=tcp_only))
        check(len(tables()) == len(before) + 1, 'tables: %s' % tables())
        log = read(WORK + '/dbus.log')[log0:]
        check('uid %d (%s): ApplyTunnel refused: TCP port %d is not a loopback listener of uid %d'
              % (uid_b, b.name, a.port, uid_b) in log, 'no refusal logged:\n' + log)
        # A on its own port still works
        r = apply_when_allowed(a, *tunnel_args('own'))
        check(r['ok'], 'A on its own port: %s' % r)
    finally:
        a.close()
        b.close()
        set_rules(False)
    check(wait_for(lambda: not tables(), 1), 'tables left: %s' % tables())


@case('a root caller (the NM plugin) names the uid it acts for: the port must be that uid\'s and '
      'the log names it; no one else may name a uid')
def t_on_behalf_of():
    set_rules(True)
    uid_a, uid_b = pwd.getpwnam(USER).pw_uid, pwd.getpwnam(USER2).pw_uid
    a, root = Caller(USER), Caller()
    try:
        log0 = len(read(WORK + '/dbus.log'))
        t = root.ok('ApplyTunnel', *tunnel_args('nm', port=a.port,
                                                options={'on-behalf-of-uid': uid_a}))
        check(t in tables(), 'tables: %s' % tables())
        r = root.err('ApplyTunnel', *tunnel_args('nm2', port=a.port,
                                                 options={'on-behalf-of-uid': uid_b}))
        check(r['error'] == ERR + 'NotAuthorized' and 'uid %d listens there' % uid_a in r['msg'],
              'for B at A\'s port: %s' % r)
        r = root.err('ApplyTunnel', *tunnel_args('nm3', options={'on-behalf-of-uid': uid_a}))
        check(r['error'] == ERR + 'NotAuthorized' and 'uid 0 listens there' in r['msg'],
              "for A at root's port: %s" % r)
        log = read(WORK + '/dbus.log')[log0:]
        check('uid %d via uid 0 (%s): applied table' % (uid_a, root.name) in log
              and 'uid %d via uid 0 (%s): ApplyTunnel refused' % (uid_b, root.name) in log,
              'the log does not name the real requester:\n' + log)
        diag('\n'.join(ln for ln in log.splitlines() if 'via uid 0' in ln))
        # a user may not name a uid, not even its own
        r = a.err('ApplyTunnel', *tunnel_args('x', options={'on-behalf-of-uid': uid_a}))
        check(r['error'] == ERR + 'NotAuthorized' and 'only root' in r['msg'], 'user: %s' % r)
        check(tables() == [t], 'tables: %s' % tables())
    finally:
        a.close()
        root.close()
        set_rules(False)
    check(wait_for(lambda: not tables(), 1), 'tables left: %s' % tables())


def _host_cgroup2():
    with open('/proc/self/mounts') as f:
        for ln in f:
            fields = ln.split()
            if len(fields) > 2 and fields[2] == 'cgroup2':
                return fields[1]
    return None


@case('shuttle run --scope: a cgroup of the caller\'s own is matched by the rules; another '
      'user\'s, a made-up path or a wrong level is refused')
def t_scope_cgroup_owner():
    root_dir = _host_cgroup2()
    check(root_dir is not None, 'no cgroup v2 hierarchy on this host')
    set_rules(True)
    uid_a, uid_b = pwd.getpwnam(USER).pw_uid, pwd.getpwnam(USER2).pw_uid
    tag = 'shuttle-helpertest-%d' % os.getpid()
    mine, theirs = tag + '-a', tag + '-b'
    for name, uid in ((mine, uid_a), (theirs, uid_b)):
        os.makedirs(os.path.join(root_dir, name), exist_ok=True)
        os.chown(os.path.join(root_dir, name), uid, uid)
    a = Caller(USER)
    try:
        def scope(name, level=1):
            return {'cgroup': name, 'cgroup-level': level}
        r = apply_when_allowed(a, *tunnel_args('own', options=scope(mine)))
        check(r['ok'], 'A with its own cgroup: %s' % r)
        text = table_text([t for t in tables() if t.endswith('-own')][0])
        check('socket cgroupv2 level 1' in text, 'no cgroup match:\n%s' % text)
        for what, opts, err in (("B's cgroup", scope(theirs), 'NotAuthorized'),
                                ('no such cgroup', scope(tag + '-none'), 'InvalidArgs'),
                                ('a wrong level', scope(mine, 2), 'InvalidArgs'),
                                ('a path out of the tree', scope('../' + mine), 'InvalidArgs')):
            r = a.err('ApplyTunnel', *tunnel_args('x', options=opts))
            check(r['error'] == ERR + err, '%s: %s' % (what, r))
            diag('%s: %s' % (what, r['msg']))
        check(not [t for t in tables() if t.endswith('-x')], 'tables: %s' % tables())
    finally:
        a.close()
        set_rules(False)
        for name in (mine, theirs):
            try:
                os.rmdir(os.path.join(root_dir, name))
            except OSError:
                pass
    check(wait_for(lambda: not tables(), 1), 'tables left: %s' % tables())


@case('polkit questions: at most 8 pending per uid, more are refused at once; pending ones end '
      'after --polkit-timeout')
def t_polkit_cap():
    # No rules: the policy's auth_admin. polkit-flood is the agent of its
    # own process and never answers, so the questions really stay pending.
    set_rules(False)
    p = subprocess.run(as_user(USER) + [ENV['SHUTTLE_POLKIT_FLOOD'], '11',
                                        str(POLKIT_TIMEOUT + 4), '12300'],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                       timeout=POLKIT_TIMEOUT + 30)
    check(p.returncode == 0, 'polkit-flood: %d %s' % (p.returncode, p.stderr))
    events = [json.loads(ln) for ln in p.stdout.splitlines()]
    replies = sorted((e for e in events if e['event'] == 'reply'), key=lambda e: e['t'])
    asked = [e for e in events if e['event'] == 'asked']
    diag('agent asked %d times; replies: %s' % (len(asked), ', '.join(
        '%.2f s %s' % (e['t'], e['msg'][:40]) for e in replies)))
    check(asked, 'the agent was never asked: nothing was pending:\n' + p.stdout)
    # a question that times out is withdrawn at polkit, which closes the dialog
    cancelled = [e for e in events if e['event'] == 'cancelled']
    check(len(cancelled) == len(asked), 'asked %d, cancelled %d' % (len(asked), len(cancelled)))
    check(len(replies) == 11, 'replies: %s' % replies)
    capped = [e for e in replies if 'waiting for authorization' in e['msg']]
    timed = [e for e in replies if 'within %d s' % POLKIT_TIMEOUT in e['msg']]
    check(len(capped) == 3 and all(e['t'] < 2 and e['error'] == ERR + 'NotAuthorized'
                                   for e in capped), 'not refused at once: %s' % replies)
    check(len(timed) == 8 and all(e['t'] > POLKIT_TIMEOUT - 1
                                  and e['error'] == ERR + 'NotAuthorized' for e in timed),
          'no timeout: %s' % replies)
    # the count went back: the next question is asked (and refused: no agent now)
    c = Caller(USER, listen=False)
    try:
        r = c.err('ApplyTunnel', *tunnel_args('after', port=12300))
        check(r['error'] == ERR + 'NotAuthorized' and 'waiting' not in r['msg'], str(r))
    finally:
        c.close()
    check(not tables(), 'tables: %s' % tables())


@case('kill -9 of the caller: table and hosts block gone within 1 s')
def t_sigkill():
    set_rules(True)
    try:
        a = Caller(USER)
        r = None
        for _ in range(25):
            r = a.call('ApplyTunnel', *tunnel_args('k', subnets=[LAN, LAN6]))
            if r['ok']:
                break
            time.sleep(0.2)
        check(r['ok'], str(r))
        a.ok('SetHosts', 'k', [['10.231.2.10', 'killme'], ['fd31:2:0::10', 'killme6']])
        check(r['ret'] in tables() and 'fd31:2::10 killme6' in hosts(), 'not applied')
        a.kill()
        t0 = time.monotonic()
        gone = wait_for(lambda: r['ret'] not in tables() and hosts() == HOSTS_ORIG, 1.0, 0.02)
        check(gone, 'still there 1 s after kill -9: %s / %r' % (tables(), hosts()))
        diag('removed %.0f ms after SIGKILL' % ((time.monotonic() - t0) * 1000))
    finally:
        set_rules(False)


def dgram_state():
    """What a datagram device leaves in the client namespace: our ip rules
    (both families), routes in our tables, shuttle<n> devices."""
    ns = LAB.ns_client
    rules = [ln for fam in ('-4', '-6')
             for ln in LAB.run(ns, ['ip', fam, 'rule']).stdout.splitlines()
             if ln.startswith('5368:')]
    routes = [ln for fam in ('-4', '-6')
              for ln in LAB.run(ns, ['ip', fam, 'route', 'show', 'table', 'all']).stdout.splitlines()
              if 'dev shuttle' in ln]
    links = [ln for ln in LAB.run(ns, ['ip', '-o', 'link']).stdout.splitlines()
             if ': shuttle' in ln]
    return rules + routes + links


def decode(hexpkt):
    """(family, protocol, payload tail) of a packet read from the tun."""
    b = bytes.fromhex(hexpkt)
    if b[0] >> 4 == 4:
        return 4, b[9], b[(b[0] & 15) * 4:]
    return 6, b[6], b[40:]


SEND_DGRAMS = r"""
import socket, subprocess
for fam, addr, data in ((socket.AF_INET, '10.231.2.10', b'in4'),
                        (socket.AF_INET6, 'fd31:2::10', b'in6'),
                        (socket.AF_INET, '10.231.2.9', b'excluded'),
                        (socket.AF_INET, '10.231.2.11', b'port22'),
                        (socket.AF_INET, '10.231.2.53', b'dns')):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.sendto(data, (addr, 22 if data == b'port22' else 53 if data == b'dns' else 5000))
t = socket.socket()
t.setblocking(False)
t.connect_ex(('10.231.2.10', 5000))
subprocess.run(['ping', '-c', '1', '-W', '1', '-p', 'abcd', '10.231.2.10'],
               stdout=subprocess.DEVNULL)
subprocess.run(['ping', '-6', '-c', '1', '-W', '1', '-p', 'abcd', 'fd31:2::10'],
               stdout=subprocess.DEVNULL)
"""


@case('OpenDatagramTunnel: a user-owned tun gets the UDP and echo requests to the subnets '
      '(not TCP, excludes or the captured DNS); RemoveTunnel and kill -9 leave no rule, route '
      'or device')
def t_dgram_tun():
    set_rules(True)
    a = b = None
    try:
        check(dgram_state() == [], 'leftovers before: %s' % dgram_state())
        a = Caller(USER)
        args = tunnel_args('u', subnets=[LAN, LAN6],
                           excludes=[subnet('10.231.2.9', 32), subnet('10.231.2.11', 32, 22, 22)],
                           dns=[[4, [10, 231, 2, 53]]])
        r = apply_when_allowed(a, *args)
        check(r['ok'], str(r))
        table = r['ret']
        r = a.err('OpenDatagramTunnel', 'other', {})
        check(r['error'] == ERR + 'NotFound', 'without a tunnel: %s' % r)
        dev = a.ok('OpenDatagramTunnel', 'u', {})
        uid = pwd.getpwnam(USER).pw_uid
        detail = LAB.run(LAB.ns_client, ['ip', '-d', 'link', 'show', 'dev', dev]).stdout
        check(('user %d' % uid in detail or 'user %s' % USER in detail) and 'UP' in detail,
              'device:\n' + detail)
        state = dgram_state()
        check(len([x for x in state if x.startswith('5368:')]) == 2
              and len([x for x in state if x.startswith('default dev ' + dev)]) == 2,
              'rules and routes: %s' % state)
        text = table_text(table)
        check('type route hook output' in text and 'ip daddr 10.231.2.53 udp dport 53 return'
              in text, 'table:\n' + text)
        LAB.run(LAB.ns_client, [PY, '-c', SEND_DGRAMS], timeout=30)
        got = [decode(p) for p in a.ok('TunRead', 1.0)]
        diag('from the tun: %s' % [(f, p, t[-12:].hex()) for f, p, t in got])
        check(any(f == 4 and p == 17 and t.endswith(b'in4') for f, p, t in got), 'no UDP v4')
        check(any(f == 6 and p == 17 and t.endswith(b'in6') for f, p, t in got), 'no UDP v6')
        check(any(f == 4 and p == 1 and t[0] == 8 for f, p, t in got), 'no echo v4')
        check(any(f == 6 and p == 58 and t[0] == 128 for f, p, t in got), 'no echo v6')
        check(not any(p == 6 for f, p, t in got), 'TCP entered the tun')
        check(not any(t.endswith(b'excluded') or t.endswith(b'port22') or t.endswith(b'dns')
                      for f, p, t in got), 'an exclude or the captured DNS entered the tun')
        a.ok('RemoveTunnel', 'u')
        check(dgram_state() == [], 'after RemoveTunnel: %s' % dgram_state())

        # kill -9 of the holder: rules, routes and device gone within 1 s
        b = Caller(USER)
        check(apply_when_allowed(b, *tunnel_args('k', subnets=[LAN, LAN6]))['ok'], 'apply')
        b.ok('OpenDatagramTunnel', 'k', {})
        check(len(dgram_state()) >= 5, 'not set up: %s' % dgram_state())
        b.kill()
        t0 = time.monotonic()
        gone = wait_for(lambda: dgram_state() == [], 1.0, 0.02)
        check(gone, 'still there 1 s after kill -9: %s' % dgram_state())
        diag('removed %.0f ms after SIGKILL' % ((time.monotonic() - t0) * 1000))
    finally:
        for c in (a, b):
            if c is not None:
                c.close()
        set_rules(False)


def queues():
    """The netfilter queues bound in the client namespace (their numbers)."""
    text = LAB.run(LAB.ns_client, ['cat', '/proc/net/netfilter/nfnetlink_queue']).stdout
    return [int(ln.split()[0]) for ln in text.splitlines() if ln.strip()]


def syn_chains(table):
    """Whether @table has chain "syn" and the queue rule in its chain "q".

    The rule is the xtables NFQUEUE target (firewall.c says why). nft's
    text shows it only where iptables' extensions are installed (as "queue
    num"; without them the chain reads empty), so ask its JSON, which
    names the target either way."""
    r = LAB.run(LAB.ns_client, ['nft', '-j', 'list', 'table'] + table.split(), timeout=10)
    if r.returncode != 0:
        return False
    objs = json.loads(r.stdout)['nftables']
    chains = [o['chain']['name'] for o in objs if 'chain' in o]
    queued = [e for o in objs if 'rule' in o and o['rule']['chain'] == 'q'
              for e in o['rule']['expr']
              if 'queue' in e or e.get('xt', {}).get('name') == 'NFQUEUE']
    return 'syn' in chains and bool(queued)


CONNECT = r"""
import errno, socket, sys, time
s = socket.socket()
s.settimeout(float(sys.argv[3]))
t0 = time.monotonic()
try:
    s.connect((sys.argv[1], int(sys.argv[2])))
    r = 'connected'
except socket.timeout:
    r = 'hang'
except OSError as e:
    r = errno.errorcode.get(e.errno, str(e))
print(r, '%.2f' % (time.monotonic() - t0), flush=True)
"""


def connect_later(host, port, timeout):
    """A blocking connect() in the client namespace, running meanwhile."""
    return subprocess.Popen(['ip', 'netns', 'exec', LAB.ns_client, PY, '-c', CONNECT, host,
                             str(port), str(timeout)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def syn_record(hexrec):
    """(id, family, sport, dport, dst) of a relay's SYN record (synrelay.h)."""
    import ipaddress
    import struct
    b = bytes.fromhex(hexrec)
    check(len(b) == 44, 'a SYN record of %d bytes' % len(b))
    pid, fam, sport, dport = struct.unpack('=IBxHH', b[:10])
    dst = b[28:32] if fam == 4 else b[28:44]
    return pid, fam, sport, dport, str(ipaddress.ip_address(dst))


def verdict(pid, outcome):
    import struct
    return struct.pack('=II', pid, outcome).hex()


@case('OpenSynQueue: the helper relays the SYNs of the caller\'s table and gives the verdict it '
      'answers (ECONNREFUSED at connect); malformed records and unknown ids do nothing; another '
      'user cannot reach the queue; closing the relay or kill -9 unbinds it and takes the chains '
      'within 1 s')
def t_synq_relay():
    set_rules(True)
    a = b = conn = None
    try:
        a = Caller(USER)
        r = apply_when_allowed(a, *tunnel_args('q', subnets=[LAN]))
        check(r['ok'], str(r))
        table = r['ret']
        before = queues()
        r = a.err('OpenSynQueue', 'other', {})
        check(r['error'] == ERR + 'NotFound', 'without a tunnel: %s' % r)
        r = a.err('OpenSynQueue', 'q', {'cgroup-exclude': True})
        check(r['error'] == ERR + 'InvalidArgs', 'a foreign option: %s' % r)
        a.ok('OpenSynQueue', 'q', {})
        check(syn_chains(table), 'no SYN chains:\n' + table_text(table))
        mine = [q for q in queues() if q not in before]
        check(len(mine) == 1, 'queues %s, before %s' % (queues(), before))
        # another user: its bus name holds no such tunnel, so neither the
        # queue nor the table is within its reach
        b = Caller(USER2)
        r = b.err('OpenSynQueue', 'q', {})
        check(r['error'] == ERR + 'NotFound', 'USER2 opened a queue on q: %s' % r)
        r = b.err('RemoveTunnel', 'q')
        check(r['error'] == ERR + 'NotFound', 'USER2 removed q: %s' % r)

        conn = connect_later(netlab.LAN4, netlab.CLOSED_PORT, 8)
        recs = a.ok('RelayRead', 1.5)
        check(recs, 'no SYN record from the helper')
        pid, fam, sport, dport, dst = syn_record(recs[0])
        diag('record: id %d family %d %d -> %s:%d' % (pid, fam, sport, dst, dport))
        check(fam == 4 and dst == netlab.LAN4 and dport == netlab.CLOSED_PORT and sport > 0,
              'record %s' % (syn_record(recs[0]),))
        # none of these may answer the SYN
        for bad in ('00' * 7, verdict(pid, 1) + '00', verdict(pid, 99), verdict(pid ^ 0x5a5a5a, 1),
                    verdict(pid + 100000, 0)):
            a.ok('RelaySend', bad)
        time.sleep(0.5)
        check(conn.poll() is None, 'a refused record had an effect: the connect ended')
        a.ok('RelaySend', verdict(pid, 1))   # refused
        text = conn.communicate(timeout=10)[0]
        out = text.split()
        check(len(out) == 2 and out[0] == 'ECONNREFUSED' and float(out[1]) < 5,
              'connect: %r (exit %s)' % (text, conn.returncode))
        diag('connect: %s after %s s' % tuple(out))
        conn = None
        # a second verdict for the same id is refused too (it is no longer held)
        a.ok('RelaySend', verdict(pid, 0))

        # the engine's end closes: queue and chains go, the table stays
        a.ok('RelayClose')
        t0 = time.monotonic()
        check(wait_for(lambda: not syn_chains(table) and mine[0] not in queues(), 1.0, 0.02),
              'still there 1 s after the relay closed: %s\n%s' % (queues(), table_text(table)))
        diag('unbound %.0f ms after close' % ((time.monotonic() - t0) * 1000))
        check(table in tables(), 'the table went with the relay')
        log = read(WORK + '/dbus.log')
        check('6 records from the engine refused' in log, 'the helper did not count the bad '
              'records:\n' + log[-1500:])

        # kill -9 of the engine: the same within 1 s
        a.ok('OpenSynQueue', 'q', {'fail-closed': True})
        check(syn_chains(table), 'no SYN chains again')
        again = [q for q in queues() if q not in before]
        a.kill()
        t0 = time.monotonic()
        check(wait_for(lambda: table not in tables() and not [q for q in queues()
                                                             if q in again], 1.0, 0.02),
              'still there 1 s after kill -9: %s %s' % (queues(), tables()))
        diag('removed %.0f ms after SIGKILL' % ((time.monotonic() - t0) * 1000))
    finally:
        if conn is not None:
            conn.kill()
        for c in (a, b):
            if c is not None:
                c.close()
        set_rules(False)


def connect_errno(host, port, timeout=8.0, blocking=True):
    """(errno name or 'connected', seconds) of one connect() in the client
    namespace (netlab.Lab.connect_errno)."""
    return LAB.connect_errno(LAB.ns_client, host, port, timeout, blocking)


@case("caller B cannot remove caller A's table or hosts block")
def t_isolation():
    a, b = Caller(), Caller()
    try:
        ta = a.ok('ApplyTunnel', *tunnel_args('shared'))
        a.ok('SetHosts', 'shared', [['10.231.2.10', 'a-host']])
        for m in ('RemoveTunnel', 'RemoveHosts'):
            r = b.err(m, 'shared')
            check(r['error'] == ERR + 'NotFound', '%s by B: %s' % (m, r))
        check(ta in tables() and 'a-host' in hosts(), "A's state was touched")
        tb = b.ok('ApplyTunnel', *tunnel_args('shared'))
        check(tb != ta and ta in tables() and tb in tables(), 'same label, same table?')
        b.close()
        check(wait_for(lambda: tb not in tables(), 1), "B's table left")
        check(ta in tables(), "A's table went with B")
    finally:
        a.close()
        b.close()
    check(wait_for(lambda: hosts() == HOSTS_ORIG and not tables(), 1), 'state left')


BAD = [
    ('prefix 33', tunnel_args('bad', subnets=[subnet('10.0.0.0', 33)])),
    ('IPv6 prefix 129', tunnel_args('bad', subnets=[subnet('fd00::', 129)])),
    ('family 5', tunnel_args('bad', subnets=[[5, [10, 0, 0, 0], 8, 0, 0]])),
    ('IPv4 with 16 bytes', tunnel_args('bad', subnets=[[4, [0] * 16, 8, 0, 0]])),
    ('reversed port range', tunnel_args('bad', subnets=[subnet('10.0.0.0', 8, 90, 80)])),
    ('port range 0-80', tunnel_args('bad', excludes=[subnet('10.0.0.0', 8, 0, 80)])),
    ('listener port 0', tunnel_args('bad', port=0)),
    ('label with /', tunnel_args('a/b')),
    ('label with ..', tunnel_args('..')),
    ('empty label', tunnel_args('')),
    ('label of 33', tunnel_args('a' * 33)),
    ('upper-case label', tunnel_args('Work')),
    ('1025 subnets', tunnel_args('bad', subnets=[subnet('10.0.0.0', 8)] * 1025)),
    ('DNS server of 5 bytes', tunnel_args('bad', dns=[[4, [10, 231, 2, 10, 1]]])),
    ('DNS server of family 5', tunnel_args('bad', dns=[[5, [10, 231, 2, 10]]])),
    ('17 DNS servers', tunnel_args('bad', dns=[[4, [10, 231, 2, i]] for i in range(17)])),
    ('unknown option', tunnel_args('bad', options={'ipv6-leak-block': True})),
    ('block-ipv6 as a string', tunnel_args('bad', options={'block-ipv6': 'yes'})),
    ('block-ipv6 as a number', tunnel_args('bad', options={'block-ipv6': 1})),
    ('a known and an unknown option', tunnel_args('bad', options={'block-ipv6': True,
                                                                  'fail-open': True})),
]
BAD_HOSTS = [
    ('name with a space', ['h', [['10.0.0.1', 'a b']]]),
    ('name with a newline', ['h', [['10.0.0.1', 'a\n10.0.0.2 evil']]]),
    ('name with #', ['h', [['10.0.0.1', 'a#b']]]),
    ('label of 64', ['h', [['10.0.0.1', 'a' * 64 + '.x']]]),
    ('leading hyphen', ['h', [['10.0.0.1', '-a']]]),
    ('empty name', ['h', [['10.0.0.1', '']]]),
    ('address with text', ['h', [['10.0.0.1 x', 'a']]]),
    ('address with zone', ['h', [['fe80::1%eth0', 'a']]]),
    ('not an address', ['h', [['example.com', 'a']]]),
    ('label with /', ['a/b', [['10.0.0.1', 'a']]]),
    ('4097 entries', ['h', [['10.0.0.1', 'a']] * 4097]),
]


@case('malformed arguments: InvalidArgs and no change')
def t_malformed():
    a = Caller()
    try:
        a.ok('ApplyTunnel', *tunnel_args('keep'))
        a.ok('SetHosts', 'keep', [['10.231.2.10', 'keep']])
        t0, h0 = tables(), hosts()
        for what, args in BAD:
            r = a.err('ApplyTunnel', *args)
            check(r['error'] == ERR + 'InvalidArgs', '%s: %s' % (what, r))
        for what, args in BAD_HOSTS:
            r = a.err('SetHosts', *args)
            check(r['error'] == ERR + 'InvalidArgs', '%s: %s' % (what, r))
        # a good table with a bad replacement: the old one stays whole
        r = a.err('ApplyTunnel', *tunnel_args('keep', subnets=[subnet('10.0.0.0', 33)]))
        check(tables() == t0 and hosts() == h0, 'state changed by refused calls')
        # wrong D-Bus types never reach the helper's code
        g = subprocess.run(['gdbus', 'call', '--system', '--dest', 'io.github.shuttlevpn.Firewall1',
                            '--object-path', '/io/github/shuttlevpn/Firewall1', '--method',
                            'io.github.shuttlevpn.Firewall1.RemoveTunnel', '1', '2'],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        check(g.returncode != 0 and 'InvalidArgs' in g.stderr, 'wrong types: ' + g.stderr)
        # limits are inclusive: 1024 subnets and 4096 hosts are fine (the
        # block 'keep' goes first: 4096 entries is also what a uid may hold)
        a.ok('RemoveHosts', 'keep')
        a.ok('ApplyTunnel', *tunnel_args('big', subnets=[subnet('10.%d.%d.0' % (i // 256, i % 256), 24)
                                                          for i in range(1024)]))
        a.ok('SetHosts', 'big', [['10.0.%d.%d' % (i // 256, i % 256), 'h%d.example' % i]
                                 for i in range(4096)])
    finally:
        a.close()
    check(wait_for(lambda: hosts() == HOSTS_ORIG and not tables(), 2), 'state left')


@case('hosts blocks of two callers merge; the file (a bind mount) is restored byte for byte')
def t_hosts_merge():
    ino = os.stat(WORK + '/hosts').st_ino
    a, b = Caller(), Caller()
    try:
        a.ok('ApplyTunnel', *tunnel_args('work', subnets=[LAN, LAN6]))
        b.ok('ApplyTunnel', *tunnel_args('work'))
        a.ok('SetHosts', 'work', [['10.231.2.10', 'alpha'], ['fd31:2::10', 'alpha6']])
        b.ok('SetHosts', 'work', [['10.231.2.11', 'beta']])
        text = hosts()
        check(text.startswith(HOSTS_ORIG) and 'alpha6' in text and 'beta' in text, text)
        a.ok('SetHosts', 'work', [['10.231.2.12', 'alpha-new']])
        text = hosts()
        check('alpha-new' in text and 'alpha6' not in text and 'beta' in text, text)
        check(text.index('alpha-new') < text.index('beta'), 'replaced block moved: ' + text)
        diag(text)
        a.ok('RemoveHosts', 'work')
        check('alpha' not in hosts() and 'beta' in hosts(), hosts())
        a.ok('SetHosts', 'again', [['10.231.2.12', 'gamma']])
        b.kill()
        check(wait_for(lambda: 'beta' not in hosts(), 1), 'B block left')
    finally:
        a.close()
        b.close()
    check(wait_for(lambda: hosts() == HOSTS_ORIG, 1), 'not restored: %r' % hosts())
    check(os.stat(WORK + '/hosts').st_ino == ino, 'the file was replaced, not rewritten')


HOSTILE = [['10.231.2.10', 'good.lab'],          # inside the caller's tunnel: kept
           ['fd31:2::10', 'good6.lab'],          # inside the IPv6 subnet: kept
           ['140.82.121.4', 'github.com'],       # outside every tunnel
           ['10.231.9.5', 'other.lab'],          # inside another caller's tunnel only
           ['10.231.2.11', 'localhost'],         # a name /etc/hosts has
           ['10.231.2.12', 'IP6-LOCALHOST'],     # ... in another case
           ['10.231.2.13', 'admin.lab']]         # the admin's own line, added below


@case('SetHosts keeps only names inside the caller\'s tunnels that /etc/hosts lacks')
def t_hosts_hostile():
    with open(WORK + '/hosts', 'a') as f:   # in place: the bind mount stays
        f.write('\n10.0.0.1 admin.lab')
    orig = hosts()
    a, b = Caller(USER), Caller()
    set_rules(True)
    try:
        r = None
        for _ in range(25):
            r = a.call('ApplyTunnel', *tunnel_args('h', subnets=[LAN, LAN6]))
            if r['ok']:
                break
            time.sleep(0.2)
        check(r['ok'], str(r))
        b.ok('ApplyTunnel', *tunnel_args('other', subnets=[subnet('10.231.9.0', 24)]))
        a.ok('SetHosts', 'h', HOSTILE)
        text = hosts()
        diag(text[len(orig):])
        check('10.231.2.10 good.lab' in text and 'fd31:2::10 good6.lab' in text,
              'good names missing:\n' + text)
        for addr, name in HOSTILE[2:]:
            check(('%s %s' % (addr, name)) not in text, '%s %s written:\n%s' % (addr, name, text))
        log = read(WORK + '/dbus.log')
        check('dropped 140.82.121.4 github.com: the address is in none' in log
              and 'dropped 10.231.2.11 localhost: the hosts file has' in log,
              'no log of what was dropped:\n' + log[-2000:])
        # a caller without any tunnel gets nothing in
        c = Caller()
        try:
            c.ok('SetHosts', 'none', [['10.231.2.10', 'no-tunnel.lab']])
            check('no-tunnel.lab' not in hosts(), 'written without a tunnel:\n' + hosts())
        finally:
            c.close()
        # the tunnel removed: its names are no longer accepted
        a.ok('RemoveTunnel', 'h')
        a.ok('SetHosts', 'h', [['10.231.2.20', 'late.lab']])
        check('late.lab' not in hosts(), 'written after RemoveTunnel:\n' + hosts())
    finally:
        a.close()
        b.close()
        set_rules(False)
    check(wait_for(lambda: hosts() == orig, 1), 'not restored: %r' % hosts())
    with open(WORK + '/hosts', 'w') as f:
        f.write(HOSTS_ORIG)


@case('caps per uid: at most %d blocks and %d entries in the hosts file'
      % (16, 4096))
def t_hosts_caps():
    a, b = Caller(), Caller()
    try:
        a.ok('ApplyTunnel', *tunnel_args('cap', subnets=[subnet('10.0.0.0', 8)]))
        b.ok('ApplyTunnel', *tunnel_args('cap', subnets=[subnet('10.0.0.0', 8)]))
        for i in range(16):
            (a if i % 2 else b).ok('SetHosts', 'b%d' % i, [['10.1.0.%d' % i, 'n%d.cap' % i]])
        r = a.err('SetHosts', 'b16', [['10.1.0.16', 'n16.cap']])
        check('at most' in r['msg'], str(r))
        check('n16.cap' not in hosts(), 'the 17th block was written')
        # replacing a block of its own is no new block
        a.ok('SetHosts', 'b1', [['10.1.0.99', 'n99.cap']])
        for i in range(16):
            (a if i % 2 else b).ok('RemoveHosts', 'b%d' % i)
        a.ok('SetHosts', 'big', [['10.2.%d.%d' % (i // 256, i % 256), 'h%d.cap' % i]
                                 for i in range(4095)])
        b.ok('SetHosts', 'one', [['10.3.0.1', 'one.cap']])
        r = b.err('SetHosts', 'two', [['10.3.0.2', 'two.cap']])
        check('4097 host entries' in r['msg'], str(r))
    finally:
        a.close()
        b.close()
    check(wait_for(lambda: hosts() == HOSTS_ORIG, 2), 'not restored')


def long_block(owner, token, n=4096):
    """A block as a helper on another bus left it: n long names."""
    name = '.'.join(['x' * 63] * 3 + ['y' * 50])
    lines = ['10.9.%d.%d %s.n%d' % (i // 256, i % 256, name, i) for i in range(n)]
    return ('# shuttle-firewall %s-old begin owner=%s bus=0123456789abcdef0123456789abcdef '
            'uid=0\n%s\n# shuttle-firewall %s-old end\n' % (token, owner, '\n'.join(lines), token))


@case('a hosts file over 4 MiB: the helper still starts and sweeps, removals work, growth does not')
def t_hosts_big():
    check(wait_for(lambda: not helper_pids(), 8), 'a helper still runs')
    with open(WORK + '/hosts', 'w') as f:
        f.write(HOSTS_ORIG + '\n')
        for i in range(5):
            f.write(long_block(':1.%d' % (99990 + i), 'c1_%d' % (99990 + i)))
    check(os.path.getsize(WORK + '/hosts') > 4 << 20, 'not big enough')
    a = Caller()
    try:
        # the call activates a helper, which must sweep the stale blocks first
        a.ok('ApplyTunnel', *tunnel_args('big'))
        check('shuttle-firewall' not in hosts(), 'stale blocks left')
        a.ok('SetHosts', 'big', [['10.231.2.10', 'mine.lab']])
        # the admin's own text makes the file big: removal still works
        with open(WORK + '/hosts', 'a') as f:
            f.write(''.join('# padding line %d of the admin\'s own %s\n' % (i, 'p' * 60)
                            for i in range(70000)))
        check(os.path.getsize(WORK + '/hosts') > 4 << 20, 'not big enough')
        r = a.err('SetHosts', 'more', [['10.231.2.11', 'more.lab']])
        check('would grow' in r['msg'], str(r))
        a.ok('RemoveHosts', 'big')
        check('mine.lab' not in hosts(), 'not removed')
    finally:
        a.close()
    with open(WORK + '/hosts', 'w') as f:
        f.write(HOSTS_ORIG)


@case('--sweep-hosts (the boot unit): every block goes, other text stays, also on a bind mount')
def t_sweep_hosts():
    path = WORK + '/boot-hosts'
    orig = '127.0.0.1 localhost\n# admin\n10.0.0.1 admin.lab'
    stale = (orig + '\n# shuttle-firewall c1_5-x begin owner=:1.5 bus=ab uid=1000 +nl\n'
             '10.231.2.10 stale.lab\n# shuttle-firewall c1_5-x end\n'
             '# shuttle-firewall p4242 begin shuttle pid 4242\n10.231.2.11 stale2.lab\n'
             '# shuttle-firewall p4242 end\n')
    for how in ('bind mount', '--hosts-file'):
        with open(path, 'w') as f:
            f.write(stale)
        if how == 'bind mount':
            argv = ['unshare', '-m', '--propagation', 'private', 'sh', '-c',
                    'mount --bind "$1" /etc/hosts && exec "$2" --sweep-hosts', 'sh', path,
                    ENV['SHUTTLE_FIREWALL_BIN']]
        else:
            argv = [ENV['SHUTTLE_FIREWALL_BIN'], '--sweep-hosts', '--hosts-file', path]
        r = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
        check(r.returncode == 0, '%s: exit %d: %s' % (how, r.returncode, r.stdout))
        check(read(path) == orig, '%s: not swept: %r' % (how, read(path)))
        check('swept 2 stale' in r.stdout, '%s: %s' % (how, r.stdout))
    os.unlink(path)


@case('helper killed and restarted: stale tables and blocks swept, live ones adopted')
def t_restart_sweep():
    a, b = Caller(), Caller()
    try:
        ta = a.ok('ApplyTunnel', *tunnel_args('live'))
        a.ok('SetHosts', 'live', [['10.231.2.10', 'live-host']])
        tb = b.ok('ApplyTunnel', *tunnel_args('dead'))
        b.ok('SetHosts', 'dead', [['10.231.2.11', 'dead-host']])
        pids = helper_pids()
        check(len(pids) == 1, 'helper pids %s' % pids)
        os.kill(pids[0], signal.SIGKILL)
        check(wait_for(lambda: not helper_pids(), 2), 'helper survived SIGKILL')
        b.kill()   # dies while no helper watches
        time.sleep(0.3)
        check(tb in tables() and 'dead-host' in hosts(), 'B state should still be there')
        # a table of an owner on another bus (say, before a bus restart)
        fake = 'shuttle-c1_99999-old'
        LAB.run(LAB.ns_client, ['nft', 'add table inet %s { comment "shuttle-firewall '
                                'owner=:1.99999 bus=0123456789abcdef0123456789abcdef uid=0"; }'
                                % fake], check=True)
        # and a table that is not ours at all stays
        LAB.run(LAB.ns_client, ['nft', 'add table inet shuttle-cfoo-x'], check=True)
        # the next call activates a new helper, which sweeps first
        r = a.err('RemoveTunnel', 'nonexistent')
        check(r['error'] == ERR + 'NotFound', str(r))
        t = tables()
        check(tb not in t and 'inet ' + fake not in t, 'stale tables left: %s' % t)
        check(ta in t and 'inet shuttle-cfoo-x' in t, 'live or foreign table removed: %s' % t)
        check('dead-host' not in hosts() and 'live-host' in hosts(), hosts())
        log = read(WORK + '/dbus.log')
        check('adopted table' in log and 'swept stale table' in log, 'no sweep log')
        # adopted: A's exit still removes its state
        a.kill()
        check(wait_for(lambda: ta not in tables() and hosts() == HOSTS_ORIG, 1),
              'adopted state not removed: %s %r' % (tables(), hosts()))
    finally:
        a.close()
        b.close()
        LAB.run(LAB.ns_client, ['nft', 'delete table inet shuttle-cfoo-x'])


@case('helper killed and restarted: a live datagram device is adopted (and goes with its owner), '
      'a dead owner\'s device and rules are swept')
def t_dgram_restart_sweep():
    a, b = Caller(), Caller()
    try:
        a.ok('ApplyTunnel', *tunnel_args('live', subnets=[LAN, LAN6]))
        dev_a = a.ok('OpenDatagramTunnel', 'live', {})
        b.ok('ApplyTunnel', *tunnel_args('dead', subnets=[LAN, LAN6]))
        dev_b = b.ok('OpenDatagramTunnel', 'dead', {})
        pids = helper_pids()
        check(len(pids) == 1, 'helper pids %s' % pids)
        os.kill(pids[0], signal.SIGKILL)
        check(wait_for(lambda: not helper_pids(), 2), 'helper survived SIGKILL')
        b.kill()   # its device goes with its descriptor; its rules stay, nobody watching
        time.sleep(0.3)
        rules = [x for x in dgram_state() if x.startswith('5368:')]
        check(len(rules) == 4, 'both owners\' rules should still be there: %s' % dgram_state())
        # a rule left by nobody (a slot no device holds)
        LAB.run(LAB.ns_client, ['ip', 'rule', 'add', 'fwmark', '0x536801ff', 'lookup',
                                str(0x536801ff), 'priority', '5368'], check=True)
        r = a.err('RemoveTunnel', 'nonexistent')   # activates a helper, which sweeps first
        check(r['error'] == ERR + 'NotFound', str(r))
        state = dgram_state()
        check(len([x for x in state if x.startswith('5368:')]) == 2
              and not any('0x536801ff' in x for x in state)
              and any(dev_a in x for x in state) and not any(dev_b + ':' in x for x in state),
              'after the sweep: %s' % state)
        check('adopted datagram device' in read(WORK + '/dbus.log'), 'no adoption logged')
        a.kill()
        check(wait_for(lambda: dgram_state() == [], 1), 'adopted device left: %s' % dgram_state())
    finally:
        a.close()
        b.close()
        LAB.run(LAB.ns_client, ['ip', 'rule', 'del', 'fwmark', '0x536801ff', 'lookup',
                                str(0x536801ff), 'priority', '5368'])


@case('the helper stays while it holds rules and exits when idle')
def t_idle():
    a = Caller()
    try:
        a.ok('ApplyTunnel', *tunnel_args('idle'))
        time.sleep(4.5)   # > --idle-timeout 3
        check(len(helper_pids()) == 1, 'helper exited while holding a table')
    finally:
        a.close()
    check(wait_for(lambda: not tables(), 1), 'table left')
    check(wait_for(lambda: not helper_pids(), 6), 'helper still running when idle')


def user_ssh_files():
    """The lab's ssh key and config, readable by USER."""
    d = WORK + '/user-ssh'
    os.makedirs(d, exist_ok=True)
    pw = pwd.getpwnam(USER)
    shutil.copy(LAB.client_key, d + '/id')
    shutil.copy(LAB.known_hosts, d + '/known_hosts')
    with open(LAB.ssh_config) as f:
        conf = f.read().replace(LAB.client_key, d + '/id').replace(LAB.known_hosts,
                                                                    d + '/known_hosts')
    with open(d + '/config', 'w') as f:
        f.write(conf)
    for p in (d, d + '/id', d + '/known_hosts', d + '/config'):
        os.chown(p, pw.pw_uid, pw.pw_gid)
    os.chmod(d + '/id', 0o600)
    return d + '/config'


@case("end to end: an unprivileged user's shuttle gets its rules through the helper")
def t_e2e_user():
    set_rules(True)
    conf = user_ssh_files()
    argv = as_user(USER) + ['ip', 'netns', 'exec', LAB.ns_client] if False else None
    # the namespace is entered as root, then the uid dropped
    argv = ['ip', 'netns', 'exec', LAB.ns_client] + as_user(USER) + [
        ENV['SHUTTLE_BIN'], '-v', '-r', LAB.remote, '-e', 'ssh -F ' + conf,
        '--server-cmd', ENV['SHUTTLE_BIN'] + ' --server', netlab.LAN_NET4]
    log = open(WORK + '/shuttle-user.log', 'w+')
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         env=dict(os.environ, HOME='/nonexistent'))
    try:
        up = wait_for(lambda: 'connected to' in read(WORK + '/shuttle-user.log')
                      or p.poll() is not None, 30, 0.1)
        text = read(WORK + '/shuttle-user.log')
        check(up and p.poll() is None, 'shuttle did not come up:\n' + text)
        check('through shuttle-firewall' in text, 'not through the helper:\n' + text)
        mine = [t for t in tables() if t.endswith('-%d' % p.pid)]
        check(len(mine) == 1, 'tables: %s' % tables())
        r = LAB.run(LAB.ns_client, ['curl', '-sS', '--max-time', '20',
                                    'http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT)])
        check(r.returncode == 0 and 'Hello from the remote LAN' in r.stdout,
              'curl through the tunnel: %d %s' % (r.returncode, r.stderr))
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        check(wait_for(lambda: mine[0] not in tables(), 1), 'table left after kill -9')
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        log.close()
        set_rules(False)


@case('end to end: without authorization the engine says so and applies nothing')
def t_e2e_denied():
    set_rules(False)
    conf = user_ssh_files()
    argv = ['ip', 'netns', 'exec', LAB.ns_client] + as_user(USER) + [
        ENV['SHUTTLE_BIN'], '-r', LAB.remote, '-e', 'ssh -F ' + conf,
        '--server-cmd', ENV['SHUTTLE_BIN'] + ' --server', netlab.LAN_NET4]
    r = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=60,
                       env=dict(os.environ, HOME='/nonexistent'))
    diag(r.stdout.strip())
    check(r.returncode != 0 and 'not authorized to change the firewall' in r.stdout,
          'exit %d: %s' % (r.returncode, r.stdout))
    check(not tables(), 'tables: %s' % tables())


def start_user_engine(logname, extra=(), subnets=(netlab.LAN_NET4,)):
    """shuttle as USER through the helper, with -H; returns (Popen, log path, table)."""
    conf = user_ssh_files()
    path = WORK + '/' + logname
    argv = ['ip', 'netns', 'exec', LAB.ns_client] + as_user(USER) + [
        ENV['SHUTTLE_BIN'], '-v', '-r', LAB.remote, '-e', 'ssh -F ' + conf,
        '--server-cmd', ENV['SHUTTLE_BIN'] + ' --server', '-H'] + list(extra) + list(subnets)
    log = open(path, 'w+')
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                         env=dict(os.environ, HOME='/nonexistent'))
    log.close()
    up = wait_for(lambda: 'connected to' in read(path) or p.poll() is not None, 30, 0.1)
    check(up and p.poll() is None, 'shuttle did not come up:\n' + read(path))
    mine = [t for t in tables() if t.endswith('-%d' % p.pid)]
    check(len(mine) == 1, 'tables: %s' % tables())
    check(wait_for(lambda: netlab.NAME_GWHOSTS in hosts(), 30, 0.2),
          'no hosts block from -H:\n%s\n%s' % (hosts(), read(path)))
    return p, path, mine[0]


@case('end to end: -N -H through the helper: the names wait for the routes and the rules, '
      'then the helper takes them')
def t_e2e_auto_nets_hosts():
    set_rules(True)
    p = None
    try:
        p, path, table = start_user_engine('shuttle-nh.log', extra=['-N'], subnets=())
        text = hosts()
        check(netlab.NAME_GWHOSTS in text and netlab.LAN4 in text, text)
        check('dropped' not in read(WORK + '/dbus.log').split('applied table %s' % table)[-1],
              'the helper dropped names the engine sent:\n' + read(WORK + '/dbus.log')[-2000:])
        os.kill(p.pid, signal.SIGTERM)
        check(wait_for(lambda: table not in tables() and hosts() == HOSTS_ORIG, 2.0, 0.02),
              'state left: %s %r' % (tables(), hosts()))
        p.wait(10)
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        set_rules(False)


@case("end to end: an unprivileged user's engine gets connect fidelity through the helper: "
      "ECONNREFUSED, EHOSTUNREACH and ENETUNREACH at connect; kill -9 unbinds the queue")
def t_e2e_user_fidelity():
    set_rules(True)
    p = None
    try:
        before = queues()
        p, path, table = start_user_engine(
            'shuttle-cf.log', subnets=(netlab.LAN_NET4, netlab.UNREACH_NET4, netlab.NOROUTE_NET4))
        check(wait_for(lambda: 'SYN queue through shuttle-firewall' in read(path), 10, 0.1),
              'no SYN relay:\n' + read(path))
        check(syn_chains(table), 'no SYN chains:\n' + table_text(table))
        mine = [q for q in queues() if q not in before]
        for blocking in (True, False):
            how = 'blocking' if blocking else 'non-blocking'
            got, secs = connect_errno(netlab.LAN4, netlab.CLOSED_PORT, blocking=blocking)
            diag('%s:%d %s: %s after %.2fs' % (netlab.LAN4, netlab.CLOSED_PORT, how, got, secs))
            check(got == 'ECONNREFUSED', 'closed port: want ECONNREFUSED, got %s' % got)
            got, secs = connect_errno(netlab.UNREACH4, 80, blocking=blocking)
            diag('%s %s: %s after %.2fs' % (netlab.UNREACH4, how, got, secs))
            check(got == 'EHOSTUNREACH' and secs < 3, 'unreachable host: %s' % got)
            got, secs = connect_errno(netlab.NOROUTE4, 80, blocking=blocking)
            diag('%s %s: %s after %.2fs' % (netlab.NOROUTE4, how, got, secs))
            check(got == 'ENETUNREACH' and secs < 3, 'no route: %s' % got)
        got, secs = connect_errno(netlab.LAN4, netlab.HTTP_PORT)
        check(got == 'connected', 'open port: %s' % got)
        check(curl_lan(), 'curl through the tunnel')
        os.kill(p.pid, signal.SIGKILL)
        p.wait()
        t0 = time.monotonic()
        check(wait_for(lambda: table not in tables() and not [q for q in queues() if q in mine],
                       1.0, 0.02), 'left 1 s after kill -9: %s %s' % (tables(), queues()))
        diag('removed %.0f ms after SIGKILL' % ((time.monotonic() - t0) * 1000))
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        set_rules(False)


def prober():
    """bench/src/prober.c, built for this run."""
    out = WORK + '/prober'
    if not os.path.exists(out):
        src = os.path.join(os.path.dirname(os.path.dirname(HERE)), 'bench', 'src', 'prober.c')
        subprocess.run(['gcc', '-O2', '-pthread', '-o', out, src], check=True)
    return out


def conn_rate(n, parallel):
    """Short connections (64 bytes echoed) per second to the LAN's echo port,
    as bench.py's cps rows measure them."""
    r = LAB.run(LAB.ns_client, [prober(), 'conn', netlab.LAN4, str(netlab.ECHO_PORT), str(n), '0',
                                '120', '64', str(parallel)], timeout=180)
    j = json.loads(r.stdout)
    check('rate_per_s' in j and j['fail'] == 0, 'prober: %s %s' % (r.stdout[-500:], r.stderr))
    return j


if os.environ.get('SHUTTLE_HELPER_BENCH'):
    @case('bench (SHUTTLE_HELPER_BENCH set): connections/s of a user\'s engine through the '
          'helper, with and without connect fidelity, 1 and 8 clients; 8 clients reach 5000/s')
    def t_bench_helper_cps():
        set_rules(True)
        try:
            rates = {}
            for extra in ((), ('--no-connect-fidelity',)):
                p, path, table = start_user_engine('shuttle-bench.log', extra=list(extra))
                try:
                    if not extra:
                        check(wait_for(lambda: 'SYN queue through shuttle-firewall' in read(path),
                                       10, 0.1), 'no SYN relay:\n' + read(path))
                    conn_rate(200, 8)   # warm up
                    one = conn_rate(2000, 1)
                    eight = conn_rate(4000, 8)
                    key = 'nocf' if extra else 'relay'
                    rates[key] = (one, eight)
                    diag('%s: 1 client %s; 8 clients %s' % (key, json.dumps(one),
                                                             json.dumps(eight)))
                finally:
                    os.kill(p.pid, signal.SIGTERM)
                    p.wait(10)
                    wait_for(lambda: table not in tables(), 3)
            par = rates['relay'][1]
            check(par['rate_per_s'] >= 5000,
                  'through the helper 8 clients make %s/s, want >= 5000' % par)
        finally:
            set_rules(False)


def curl_lan():
    r = LAB.run(LAB.ns_client, ['curl', '-sS', '--max-time', '20',
                                'http://%s:%d/' % (netlab.LAN4, netlab.HTTP_PORT)])
    return r.returncode == 0 and 'Hello from the remote LAN' in r.stdout


def kill_helper_and_check_adoption(table):
    pids = helper_pids()
    check(len(pids) == 1, 'helper pids %s' % pids)
    log_before = len(read(WORK + '/dbus.log'))
    os.kill(pids[0], signal.SIGKILL)
    check(wait_for(lambda: pids[0] not in helper_pids(), 2), 'helper survived SIGKILL')
    check(table in tables() and netlab.NAME_GWHOSTS in hosts(),
          'rules or hosts gone with the helper: %s %r' % (tables(), hosts()))
    check(curl_lan(), 'the tunnel stopped working when the helper was killed')
    # The engine starts the helper again (it holds rules), and the new one
    # adopts them because their owner still runs.
    check(wait_for(lambda: len(helper_pids()) == 1, 5, 0.05), 'no new helper')
    adopted = wait_for(lambda: ('adopted table inet %s' % table[len('inet '):])
                       in read(WORK + '/dbus.log')[log_before:], 5, 0.05)
    check(adopted, 'the new helper did not adopt %s:\n%s'
          % (table, read(WORK + '/dbus.log')[log_before:]))
    # The helper adopts tables first, then hosts blocks (18 ms apart seen).
    check(wait_for(lambda: 'adopted hosts block' in read(WORK + '/dbus.log')[log_before:], 5,
                   0.05), 'hosts not adopted:\n' + read(WORK + '/dbus.log')[log_before:])
    # the SYN queue was the dead helper's: its chains go with the adoption
    # (with --fail-closed they would drop every new connection)
    check(not syn_chains(table), 'SYN chains without a reader:\n' + table_text(table))
    check(table in tables() and curl_lan(), 'the tunnel after the new helper came')


@case('helper killed while a tunnel runs: rules stay, the next helper adopts them, and they go '
      'within 2 s when the engine stops or is killed')
def t_helper_killed_under_tunnel():
    set_rules(True)
    procs = []
    try:
        for how in ('SIGTERM', 'SIGKILL'):
            p, path, table = start_user_engine(
                'shuttle-adopt-%s.log' % how,
                extra=['--reconnect', '--fail-closed'] if how == 'SIGKILL' else [])
            procs.append(p)
            check(wait_for(lambda: syn_chains(table), 10, 0.1), 'no SYN relay:\n' + read(path))
            kill_helper_and_check_adoption(table)
            os.kill(p.pid, getattr(signal, how))
            t0 = time.monotonic()
            gone = wait_for(lambda: table not in tables()
                            and netlab.NAME_GWHOSTS not in hosts(), 2.0, 0.02)
            check(gone, '%s of the engine: still there after 2 s: %s %r\n%s' % (
                how, tables(), hosts(), read(WORK + '/dbus.log')[-2000:]))
            diag('%s of the engine: its table and hosts block gone in %.0f ms'
                 % (how, (time.monotonic() - t0) * 1000))
            p.wait(10)
            if how == 'SIGTERM':
                check(p.returncode == 0, 'exit %s:\n%s' % (p.returncode, read(path)))
        check(hosts() == HOSTS_ORIG, 'hosts not restored: %r' % hosts())
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        set_rules(False)


def name_owned():
    return gdbus_ok('org.freedesktop.DBus', '/org/freedesktop/DBus',
                    'org.freedesktop.DBus.NameHasOwner', 'io.github.shuttlevpn.Firewall1',
                    want='(true,)')


@case('a helper that keeps dying is started again after growing delays (not in a tight loop), '
      'and the last one still adopts the rules')
def t_helper_restart_backoff():
    set_rules(True)
    p = None
    try:
        p, path, table = start_user_engine('shuttle-backoff.log')
        gaps = []
        for i in range(4):
            pids = helper_pids()
            check(len(pids) == 1, 'helper pids %s' % pids)
            # killed only once it has started (swept, adopted, owns its
            # name): a helper killed within its start-up sweep never owned
            # the name, so no watcher sees it leave
            check(wait_for(name_owned, 5, 0.02), 'the helper did not finish starting')
            os.kill(pids[0], signal.SIGKILL)
            t0 = time.monotonic()
            check(wait_for(lambda: pids[0] not in helper_pids(), 2, 0.01), 'helper survived SIGKILL')
            check(wait_for(lambda: len(helper_pids()) == 1, 10, 0.02),
                  'no new helper after kill %d' % (i + 1))
            gaps.append(time.monotonic() - t0)
        diag('a new helper after each kill: %s s' % ', '.join('%.2f' % g for g in gaps))
        # 250 ms, then doubling: 0.25, 0.5, 1, 2 s plus the helper's start
        check(gaps[0] < 1.0, 'the first restart took %.2f s' % gaps[0])
        check(gaps[3] >= 1.5 and gaps[3] > 3 * gaps[0],
              'the delay did not grow: %s' % ['%.2f' % g for g in gaps])
        check(wait_for(lambda: ('adopted table inet %s' % table[len('inet '):])
                       in read(WORK + '/dbus.log'), 5, 0.05), 'the last helper adopted nothing')
        check(table in tables() and curl_lan(), 'the tunnel after the last helper came')
        os.kill(p.pid, signal.SIGTERM)
        check(wait_for(lambda: table not in tables(), 2.0, 0.02), 'rules outlived the engine')
        p.wait(10)
    finally:
        if p and p.poll() is None:
            p.kill()
            p.wait()
        set_rules(False)


# ------------------------------------------------------------ main
def main():
    global LAB
    if os.geteuid() != 0:
        skip_all('needs root (namespaces, nftables, a private system bus)')
    for k, v in ENV.items():
        if not v or not os.path.exists(v):
            skip_all('%s not set or missing' % k)
    for tool in ('dbus-daemon', 'gdbus', 'nft', 'sshd', 'setpriv', 'curl'):
        if not shutil.which(tool) and not os.path.exists('/usr/sbin/' + tool):
            skip_all('%s not installed' % tool)
    if not os.path.exists('/usr/lib/polkit-1/polkitd'):
        skip_all('polkitd not installed')
    try:
        import dbus  # noqa: F401
    except ImportError:
        skip_all('python3-dbus not installed')
    only = [s for s in os.environ.get('SHUTTLE_HELPER_ONLY', '').split(',') if s]
    cases = [c for c in CASES if not only or any(s in c[0] for s in only)]
    print('1..%d' % len(cases))
    sys.stdout.flush()
    try:
        ensure_users()
        shutil.rmtree(WORK, ignore_errors=True)
        LAB = netlab.Lab(PREFIX, big_mib=1)
        LAB.up()
        setup_sandbox()
    except BaseException as e:
        harness.setup_failed(cases, e)
        cleanup()
        return 1
    failed = harness.run_cases(cases, on_fail=lambda: diag(
        'helper log (tail):\n' + '\n'.join(read(WORK + '/dbus.log').splitlines()[-15:])))
    cleanup()
    return 1 if failed else 0


def cleanup():
    if LAB is not None:
        try:
            LAB.teardown()   # kills dbus-daemon, polkitd, the helper: all in its namespaces
        except Exception as e:
            diag('teardown: %s' % e)
    if os.environ.get('SHUTTLE_HELPER_KEEP'):
        return
    shutil.rmtree(WORK, ignore_errors=True)


if __name__ == '__main__':
    sys.exit(main())
