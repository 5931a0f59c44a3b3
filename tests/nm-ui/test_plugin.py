#!/usr/bin/python3
# libnm-vpn-plugin-shuttle.so as libnm clients load it (NM.VpnEditorPlugin
# through GObject introspection, the path nmcli and nm-connection-editor
# take): its properties, import of every fixture, export, round trips, and
# that vpn.data the shared whitelist refuses is refused here too.
# Env: SHUTTLE_NM_PLUGIN (the built .so). TAP on stdout.
import atexit
import glob
import os
import shutil
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib'))
import harness  # noqa: E402

import gi  # noqa: E402

gi.require_version('NM', '1.0')
from gi.repository import GLib, NM  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, 'fixtures')
SERVICE = 'org.freedesktop.NetworkManager.shuttle'
DEFAULTS = {'latency-control': 'yes', 'block-ipv6': 'yes', 'fail-closed': 'no', 'udp': 'yes',
            'auto-nets': 'no', 'auto-hosts': 'no',
            'dns': 'none',
            'auth-method': 'agent', 'password-flags': '0', 'key-passphrase-flags': '0'}

T = harness.Tally()
check = T.check
results = T.results


def load():
    return NM.VpnEditorPlugin.load_from_file(os.environ['SHUTTLE_NM_PLUGIN'], SERVICE, -1,
                                             lambda *a: True, None)


def data_of(conn):
    s = conn.get_setting_vpn()
    return {k: s.get_data_item(k) for k in s.get_data_keys()}


def read_expect(path):
    out = {}
    for line in open(path):
        line = line.rstrip('\n')
        if line:
            k, v = line.split('=', 1)
            out[k] = v
    return out


def without_defaults(d):
    return {k: v for k, v in d.items() if DEFAULTS.get(k) != v}


def connection_with(data, name='made-here'):
    conn = NM.SimpleConnection.new()
    s_con = NM.SettingConnection.new()
    s_con.set_property(NM.SETTING_CONNECTION_ID, name)
    s_con.set_property(NM.SETTING_CONNECTION_UUID, NM.utils_uuid_generate())
    s_con.set_property(NM.SETTING_CONNECTION_TYPE, 'vpn')
    conn.add_setting(s_con)
    s_vpn = NM.SettingVpn.new()
    s_vpn.set_property(NM.SETTING_VPN_SERVICE_TYPE, SERVICE)
    for k, v in data.items():
        s_vpn.add_data_item(k, v)
    conn.add_setting(s_vpn)
    return conn


# What NetworkManager reads from the generated .name file, read the way it
# reads it (NMVpnPluginInfo). Without supports-safe-private-file-access,
# NetworkManager >= 1.58 refuses every profile with an owner.
NAME_KEYS = [
    ('VPN Connection', 'name', 'shuttle'),
    ('VPN Connection', 'service', SERVICE),
    ('VPN Connection', 'program', '/nm-shuttle-service'),
    ('VPN Connection', 'supports-multiple-connections', 'true'),
    ('VPN Connection', 'supports-safe-private-file-access', 'true'),
    ('libnm', 'plugin', '/libnm-vpn-plugin-shuttle.so'),
    ('GNOME', 'auth-dialog', '/nm-shuttle-auth-dialog'),
    ('GNOME', 'properties', '/libnm-vpn-plugin-shuttle-editor.so'),
    ('GNOME', 'supports-external-ui-mode', 'true'),
    ('GNOME', 'supports-hints', 'true'),
]


def check_name_file():
    path = os.path.join(os.environ['SHUTTLE_BUILD_ROOT'], 'data', 'nm-shuttle-service.name')
    try:
        info = NM.VpnPluginInfo.new_from_file(path)
    except GLib.Error as e:
        check('.name file: libnm reads it', False, e.message)
        return
    check('.name file: libnm reads it', info.get_service() == SERVICE, info.get_service())
    for group, key, want in NAME_KEYS:
        got = info.lookup_property(group, key)
        ok = got is not None and (got.startswith('/') and got.endswith(want) if want[0] == '/'
                                  else got == want)
        check('.name file: [%s] %s=%s' % (group, key, want), ok, got)


def main():
    check_name_file()
    plugin = load()
    check('plugin name', plugin.props.name.startswith('Shuttle'), plugin.props.name)
    check('plugin service', plugin.props.service == SERVICE, plugin.props.service)
    caps = plugin.get_capabilities()
    check('capabilities IMPORT|EXPORT',
          caps == NM.VpnEditorPluginCapability.IMPORT | NM.VpnEditorPluginCapability.EXPORT,
          caps)
    tmp = tempfile.mkdtemp(prefix='shuttle-nm-ui-')
    atexit.register(shutil.rmtree, tmp, True)

    for conf in sorted(glob.glob(os.path.join(FIXTURES, 'good-*.conf'))):
        base = os.path.basename(conf)
        try:
            conn = plugin.import_(conf)
        except GLib.Error as e:
            check('import %s' % base, False, e.message)
            continue
        want = read_expect(conf[:-5] + '.expect')
        got = data_of(conn)
        check('import %s: vpn.data' % base, got == want, 'got  %r\nwant %r' % (got, want))
        check('import %s: id from the file name' % base, conn.get_id() == base[:-5], conn.get_id())
        check('import %s: service type' % base,
              conn.get_setting_vpn().get_service_type() == SERVICE)
        try:
            conn.normalize()
            check('import %s: a valid NM connection' % base, conn.verify())
        except GLib.Error as e:
            check('import %s: a valid NM connection' % base, False, e.message)
        # data -> file -> data
        out = os.path.join(tmp, base)
        plugin.export(out, conn)
        again = data_of(plugin.import_(out))
        check('round trip %s: import(export(x)) == x' % base,
              without_defaults(again) == without_defaults(got), 'got  %r\nwant %r' % (again, got))

    for conf in sorted(glob.glob(os.path.join(FIXTURES, 'canonical-*.conf'))):
        base = os.path.basename(conf)
        conn = plugin.import_(conf)
        out = os.path.join(tmp, base)
        plugin.export(out, conn)
        text, want = open(out).read(), open(conf).read()
        check('round trip %s: export(import(file)) == file' % base, text == want,
              '--- got\n%s--- want\n%s' % (text, want))

    for conf in sorted(glob.glob(os.path.join(FIXTURES, 'bad-*.conf'))):
        base = os.path.basename(conf)
        first = open(conf).readline()
        want = first.split('expect-error:', 1)[1].strip()
        try:
            plugin.import_(conf)
            check('import %s fails' % base, False, 'imported without error')
        except GLib.Error as e:
            check('import %s fails with "%s..."' % (base, want), e.message.startswith(want),
                  e.message)
            check('import %s: one line' % base, '\n' not in e.message, e.message)

    # vpn.data the whitelist refuses cannot be exported either.
    for data, what in [({'host': 'gw', 'subnets': '10.0.0.0/8', 'bogus': '1'}, 'unknown key'),
                       ({'host': '-oProxyCommand=x', 'subnets': '10.0.0.0/8'}, 'host with -'),
                       ({'subnets': '10.0.0.0/8'}, 'no host'),
                       ({'host': 'gw', 'subnets': '10.0.0.0/8', 'auth-method': 'key'},
                        'key without key-file'),
                       ({'host': 'gw', 'subnets': '10.0.0.0/8', 'dns': 'split'},
                        'split without domains')]:
        try:
            plugin.export(os.path.join(tmp, 'refused.conf'), connection_with(data))
            check('export refuses %s' % what, False, 'exported')
        except GLib.Error as e:
            check('export refuses %s' % what, True, e.message)

    # A suggested file name is safe to use as one.
    name = plugin.get_suggested_filename(connection_with({'host': 'gw'}, 'my/work vpn'))
    check('suggested filename', name == 'my_work_vpn.conf', name)

    print('1..%d' % len(results))
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
