#!/usr/bin/python3
# The editor page as nm-connection-editor (GTK 3) and GNOME Settings (GTK 4)
# get it: the plugin library loaded through libnm, get_editor() for a
# profile, the page packed in a window on a private Xvfb, fields filled the
# way a user would, inline errors checked, "Fetch host key" run against a
# real sshd, update_connection() compared with the expected vpn.data, and a
# screenshot written (SHUTTLE_EDITOR_SCREENSHOT, default /tmp/shuttle-editor.png).
# Without Xvfb: skip (exit 77), except under CI (env CI set), where it fails.
# Env: SHUTTLE_NM_PLUGIN. TAP on stdout. "--gtk4" runs the GTK 4 half in a
# child process (one GTK major per process).
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib'))
import harness  # noqa: E402
import netlab  # noqa: E402  (the labs' fixtures: sshd's privsep directory)

SERVICE = 'org.freedesktop.NetworkManager.shuttle'
GTK4 = '--gtk4' in sys.argv
T = harness.Tally('GTK 4: ' if GTK4 else '')
check = T.check
results = T.results


def start_xvfb(tmp):
    if shutil.which('Xvfb') is None:
        harness.skip_all('Xvfb not installed')
    proc, display = harness.start_xvfb('2048x1280x24', ['-auth', os.path.join(tmp, 'xauth')])
    if not display:
        proc.kill()
        harness.skip_all('Xvfb did not start')
    return proc, display


def start_sshd(tmp):
    """A real sshd on a free loopback port, only so ssh-keyscan has a server
    to ask. Returns (proc, port, public key line) or (None, None, None)."""
    sshd = shutil.which('sshd') or ('/usr/sbin/sshd' if os.path.exists('/usr/sbin/sshd') else None)
    if sshd is None or shutil.which('ssh-keyscan') is None:
        return None, None, None
    key = os.path.join(tmp, 'ssh_host_ed25519_key')
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', key],
                   check=True)
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    conf = os.path.join(tmp, 'sshd_config')
    with open(conf, 'w') as f:
        f.write('ListenAddress 127.0.0.1:%d\nHostKey %s\nPidFile none\nUsePAM no\n'
                'StrictModes no\n' % (port, key))
    netlab.ensure_privsep_dir(os.path.join(tmp, 'created_run_sshd'))
    log = os.path.join(tmp, 'sshd.log')
    with open(log, 'wb') as err:
        proc = subprocess.Popen([sshd, '-D', '-e', '-f', conf], stderr=err)
    listening = False
    for _ in range(50):
        with socket.socket() as s:
            if s.connect_ex(('127.0.0.1', port)) == 0:
                listening = True
                break
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    # A dead fixture fails here, with its own words, not later as "the
    # server sent no host key".
    if not check('sshd for the host-key test listens on port %d' % port, listening,
                 'exit status %s\n%s' % (proc.poll(), netlab.log_tail(log))):
        proc.kill()
        proc.wait()
        return None, None, None
    pub = open(key + '.pub').read().split()
    return proc, port, '%s %s' % (pub[0], pub[1])


def fingerprint_by_ssh_keygen(pub):
    out = subprocess.run(['ssh-keygen', '-l', '-E', 'sha256', '-f', '-'], input=pub.encode(),
                         capture_output=True, check=True).stdout.decode()
    return out.split()[1]


def main():
    tmp = tempfile.mkdtemp(prefix='shuttle-editor-')
    xvfb, display = start_xvfb(tmp)
    os.environ['DISPLAY'] = display
    os.environ['NO_AT_BRIDGE'] = '1'   # no accessibility bus here
    os.environ['GTK_A11Y'] = 'none'
    os.environ['GSK_RENDERER'] = 'cairo'  # no GL on Xvfb
    os.environ.pop('WAYLAND_DISPLAY', None)
    sshd = None
    try:
        sshd, port, host_pub = start_sshd(tmp)
        run_editor(tmp, port, host_pub)
    finally:
        if sshd:
            sshd.send_signal(signal.SIGTERM)
            sshd.wait()
        netlab.release_privsep_dir(os.path.join(tmp, 'created_run_sshd'))
        shutil.rmtree(tmp, ignore_errors=True)
        xvfb.kill()
        xvfb.wait()
    if not GTK4:
        child = subprocess.run([sys.executable, os.path.abspath(__file__), '--gtk4'],
                               capture_output=True, text=True, timeout=120)
        for line in child.stdout.splitlines():
            if line.startswith(('ok ', 'not ok ')):
                check(line.split(' - ', 1)[1], line.startswith('ok '))
            elif line.startswith('#'):
                print(line)
        if child.returncode != 0:
            check('GTK 4 half ran to the end', False, child.stderr[-2000:])
        print('1..%d' % len(results))
    else:
        print('1..%d' % len(results))
    return 0 if all(results) else 1


def run_editor(tmp, port, host_pub):
    import gi
    gi.require_version('NM', '1.0')
    gi.require_version('Gtk', '4.0' if GTK4 else '3.0')
    from gi.repository import GLib, Gtk, NM

    if GTK4:
        Gtk.init()
    else:
        Gtk.init([])

    def iterate(seconds=0.2, until=None):
        ctx = GLib.MainContext.default()
        end = time.time() + seconds
        while time.time() < end:
            while ctx.pending():
                ctx.iteration(False)
            if until is not None and until():
                return True
            time.sleep(0.02)
        return until() if until is not None else True

    def children(widget):
        if GTK4:
            c = widget.get_first_child()
            while c is not None:
                yield c
                c = c.get_next_sibling()
        elif isinstance(widget, Gtk.Container):
            yield from widget.get_children()

    def find(root, name):
        stack = [root]
        while stack:
            wdg = stack.pop()
            if Gtk.Buildable.get_buildable_id(wdg) == name if GTK4 else \
                    Gtk.Buildable.get_name(wdg) == name:
                return wdg
            stack.extend(children(wdg))
        raise KeyError(name)

    def set_text(name, text):
        find(page, name).set_text(text)

    plugin = NM.VpnEditorPlugin.load_from_file(os.environ['SHUTTLE_NM_PLUGIN'], SERVICE, -1,
                                               lambda *a: True, None)
    conn = NM.SimpleConnection.new()
    s_con = NM.SettingConnection.new()
    s_con.set_property(NM.SETTING_CONNECTION_ID, 'office')
    s_con.set_property(NM.SETTING_CONNECTION_UUID, NM.utils_uuid_generate())
    s_con.set_property(NM.SETTING_CONNECTION_TYPE, 'vpn')
    conn.add_setting(s_con)
    s_vpn = NM.SettingVpn.new()
    s_vpn.set_property(NM.SETTING_VPN_SERVICE_TYPE, SERVICE)
    s_vpn.add_data_item('host', 'old.example')
    s_vpn.add_data_item('subnets', '10.0.0.0/8')
    s_vpn.set_property(NM.SETTING_VPN_TIMEOUT, 45)
    conn.add_setting(s_vpn)

    editor = plugin.get_editor(conn)
    page = editor.get_widget()
    check('get_editor() gives a widget', isinstance(page, Gtk.Widget), page)
    check('the form is loaded from the profile', find(page, 'host_entry').get_text() ==
          'old.example' and find(page, 'subnets_entry').get_text() == '10.0.0.0/8')
    changed = []
    editor.connect('changed', lambda *a: changed.append(1))

    # The X server's pointer starts at the screen's centre; the screen is
    # twice as wide as the window (at 0,0 without a window manager), so no
    # tooltip pops up over the screenshot.
    win = Gtk.Window(title='Shuttle VPN — office')
    win.set_default_size(760, 1200)
    if GTK4:
        win.set_child(page)
        win.present()
    else:
        win.add(page)
        win.show_all()
    iterate(0.5)
    check('key file row hidden for auth-method=agent',
          not find(page, 'key_file_entry').get_visible())

    # A bad port: error icon on the field, message under the form, refused save.
    set_text('port_entry', '70000')
    iterate(0.1)
    port_entry = find(page, 'port_entry')
    icon = port_entry.get_icon_name(Gtk.EntryIconPosition.SECONDARY)
    tip = port_entry.get_icon_tooltip_text(Gtk.EntryIconPosition.SECONDARY) or ''
    check('inline error icon on a bad port', icon == 'dialog-error-symbolic', icon)
    check('inline error tooltip names the key', "'port'" in tip, tip)
    check('error label shows the problem', "'port'" in find(page, 'error_label').get_label(),
          find(page, 'error_label').get_label())
    check('editing emits "changed"', len(changed) > 0)
    try:
        editor.update_connection(NM.SimpleConnection.new())
        check('update_connection refuses a bad port', False, 'accepted')
    except GLib.Error as e:
        check('update_connection refuses a bad port', "'port'" in e.message, e.message)

    # Fill the form as a user would.
    srv_port = str(port) if port else '2222'
    set_text('host_entry', '127.0.0.1')
    set_text('user_entry', 'alice')
    set_text('port_entry', srv_port)
    iterate(0.1)
    check('the error clears when fixed', port_entry.get_icon_name(
        Gtk.EntryIconPosition.SECONDARY) is None and find(page, 'error_label').get_label() == '')
    find(page, 'auth_combo').set_active_id('key')
    iterate(0.1)
    check('key file row shown for auth-method=key', find(page, 'key_file_entry').get_visible())
    set_text('key_file_entry', '/home/alice/.ssh/id_work')
    set_text('passphrase_entry', 'pass phrase')
    set_text('subnets_entry', '10.0.0.0/8, 192.168.7.0/24  [fd00::]/64')
    set_text('excludes_entry', '10.9.0.0/16')
    find(page, 'dns_combo').set_active_id('split')
    set_text('dns_domains_entry', 'corp.example, lab.example')
    find(page, 'auto_hosts_check').set_active(True)
    set_text('seed_hosts_entry', 'db.corp.example')
    find(page, 'latency_check').set_active(False)
    find(page, 'fail_closed_check').set_active(True)
    set_text('timeout_entry', '30')
    set_text('udp_timeout_entry', '120')
    check('the UDP timeout is editable while UDP is on',
          find(page, 'udp_timeout_entry').get_sensitive())
    find(page, 'udp_check').set_active(False)
    iterate(0.1)
    check('the UDP timeout is greyed out with UDP off',
          not find(page, 'udp_timeout_entry').get_sensitive())
    out = NM.SimpleConnection.new()
    editor.update_connection(out)
    off = out.get_setting_vpn()
    check('udp=no saves no udp-timeout', off.get_data_item('udp') == 'no'
          and off.get_data_item('udp-timeout') is None,
          {k: off.get_data_item(k) for k in off.get_data_keys()})
    find(page, 'udp_check').set_active(True)
    find(page, 'transport_combo').set_active_id('agent')
    iterate(0.2)

    # Fetch host key from a real sshd, compare with ssh-keygen, accept.
    want_key = None
    if port:
        find(page, 'fetch_button').emit('clicked')
        got = iterate(20, until=lambda: find(page, 'fingerprint_combo').get_sensitive())
        combo = find(page, 'fingerprint_combo')
        shown = combo.get_active_text() or '' if got else ''
        want_fp = fingerprint_by_ssh_keygen(host_pub)
        check('fetch host key lists the server key', got and want_fp in shown,
              'shown %r, want %r; status %r' % (shown, want_fp,
                                                find(page, 'hostkey_status_label').get_label()))
        find(page, 'accept_key_button').emit('clicked')
        iterate(0.2)
        check('accepting pins the key', find(page, 'host_key_entry').get_text() == host_pub,
              find(page, 'host_key_entry').get_text())
        check('status shows the pinned fingerprint',
              want_fp in find(page, 'hostkey_status_label').get_label())
        want_key = host_pub
    elif os.environ.get('CI'):
        check('sshd available for the host-key test', False)
    iterate(0.5)

    shot = os.environ.get('SHUTTLE_EDITOR_SCREENSHOT', '/tmp/shuttle-editor.png')
    if GTK4:
        shot = shot.replace('.png', '-gtk4.png')
    ok = screenshot(win, shot, Gtk, GTK4)
    check('screenshot %s' % shot, ok and os.path.getsize(shot) > 10000)

    out = NM.SimpleConnection.new()
    editor.update_connection(out)
    s = out.get_setting_vpn()
    got = {k: s.get_data_item(k) for k in s.get_data_keys()}
    want = {'host': '127.0.0.1', 'user': 'alice', 'port': srv_port, 'auth-method': 'key',
            'key-file': '/home/alice/.ssh/id_work',
            'subnets': '10.0.0.0/8,192.168.7.0/24,[fd00::]/64', 'excludes': '10.9.0.0/16',
            'dns': 'split', 'dns-domains': 'corp.example,lab.example', 'auto-hosts': 'yes',
            'seed-hosts': 'db.corp.example', 'latency-control': 'no', 'connect-timeout': '30',
            'transport': 'agent', 'fail-closed': 'yes', 'udp-timeout': '120'}
    if want_key:
        want['host-key'] = want_key
    check('update_connection: vpn.data as filled', got == want,
          'got  %r\nwant %r' % (got, want))
    check('update_connection: service type', s.get_service_type() == SERVICE)
    # The kill switch means reconnecting: it turns vpn.persistent on; what
    # the page does not show (vpn.timeout) survives it.
    check('update_connection: fail-closed makes the profile persistent', s.get_persistent())
    check('update_connection: vpn.timeout kept', s.get_timeout() == 45, s.get_timeout())
    check('update_connection: passphrase saved (flags 0)',
          s.get_secret('key-passphrase') == 'pass phrase' and s.get_secret('password') is None)
    # What the editor saves is what the export writes and the import reads.
    path = os.path.join(tmp, 'saved.conf')
    out.add_setting(s_con.duplicate())
    plugin.export(path, out)
    back = plugin.import_(path).get_setting_vpn()
    check('saved profile survives export and import',
          {k: back.get_data_item(k) for k in back.get_data_keys()} == got)


def screenshot(win, path, Gtk, gtk4):
    if not gtk4:
        from gi.repository import Gdk
        gw = win.get_window()
        pb = Gdk.pixbuf_get_from_window(gw, 0, 0, gw.get_width(), gw.get_height())
        return pb is not None and pb.savev(path, 'png', [], [])
    # GTK 4: PyGObject cannot carry a GskRenderNode, so take the X screen
    # with ImageMagick's import (the window is alone on this Xvfb).
    tool = shutil.which('import')
    if tool is None:
        return False
    w, h = win.get_width(), win.get_height()
    return subprocess.run([tool, '-window', 'root', '-crop', '%dx%d+0+0' % (w, h), '+repage',
                           path]).returncode == 0


if __name__ == '__main__':
    sys.exit(main())
