#!/usr/bin/python3
# nm-shuttle-auth-dialog driven as NetworkManager's secret agents drive it:
# profile data and secrets written on stdin, the answer read from stdout, in
# both the classic and the --external-ui-mode protocol. Agent-owned secrets
# come from libsecret's file backend (no D-Bus, no keyring daemon).
# Env: SHUTTLE_AUTH_DIALOG (the built binary). TAP on stdout.
import atexit
import configparser
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'lib'))
import harness  # noqa: E402

import gi  # noqa: E402

gi.require_version('Secret', '1')
from gi.repository import Secret  # noqa: E402

SERVICE = 'org.freedesktop.NetworkManager.shuttle'
UUID = '7b1f6c52-0d4e-4b8e-9a51-2f3c1e0d9a11'
TMP = tempfile.mkdtemp(prefix='shuttle-auth-')
atexit.register(shutil.rmtree, TMP, True)
# libsecret reads these when the first call is made: set before any use.
ENV = dict(os.environ, SECRET_BACKEND='file',
           SECRET_FILE_TEST_PATH=os.path.join(TMP, 'test.keyring'),
           SECRET_FILE_TEST_PASSWORD='not-a-real-password')
ENV.pop('DISPLAY', None)  # the non-interactive paths must not need one
os.environ.update({k: ENV[k] for k in ('SECRET_BACKEND', 'SECRET_FILE_TEST_PATH',
                                       'SECRET_FILE_TEST_PASSWORD')})
NM_SCHEMA = Secret.Schema.new('org.freedesktop.NetworkManager.Connection',
                              Secret.SchemaFlags.DONT_MATCH_NAME,
                              {'connection-uuid': Secret.SchemaAttributeType.STRING,
                               'setting-name': Secret.SchemaAttributeType.STRING,
                               'setting-key': Secret.SchemaAttributeType.STRING})

T = harness.Tally()
check = T.check
results = T.results


def store(uuid, key, value):
    assert Secret.password_store_sync(NM_SCHEMA, {'connection-uuid': uuid, 'setting-name': 'vpn',
                                                  'setting-key': key},
                                      Secret.COLLECTION_DEFAULT, 'VPN %s for test' % key, value,
                                      None)


def details(data, secrets=None):
    out = ''
    for k, v in data.items():
        out += 'DATA_KEY=%s\nDATA_VAL=%s\n\n' % (k, v)
    for k, v in (secrets or {}).items():
        out += 'SECRET_KEY=%s\nSECRET_VAL=%s\n\n' % (k, v)
    return out + 'DONE\n'


def run(data, secrets=None, args=(), uuid=UUID, keep_open=True):
    """Runs the dialog; returns (rc, stdout, stderr, waited) where waited says
    whether, in classic mode, it stayed alive after answering until stdin was
    closed (the protocol's handshake)."""
    argv = [os.environ['SHUTTLE_AUTH_DIALOG'], '-u', uuid, '-n', 'work vpn', '-s', SERVICE]
    argv += list(args)
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=ENV)
    p.stdin.write(details(data, secrets).encode())
    p.stdin.flush()
    out = b''
    waited = None
    if keep_open and '--external-ui-mode' not in args:
        # Read the answer while stdin stays open: the dialog must answer,
        # then wait for us.
        deadline = time.time() + 10
        while not out.endswith(b'\n\n') and time.time() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 0.5)
            if r:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        time.sleep(0.2)
        waited = p.poll() is None
    p.stdin.close()
    p.stdin = None  # closed: communicate() must not flush it
    rest, err = p.communicate(timeout=10)
    return p.returncode, (out + rest).decode(), err.decode(), waited


def pairs(stdout):
    """'k\\nv\\n...\\n\\n' -> dict, asserting the terminator."""
    assert stdout.endswith('\n\n'), repr(stdout)
    body = stdout[:-2]
    lines = body.split('\n') if body else []
    if lines and lines[-1] == '':
        lines.pop()
    return dict(zip(lines[0::2], lines[1::2]))


def keyfile(stdout):
    kf = configparser.ConfigParser(interpolation=None)
    kf.optionxform = str
    kf.read_string(stdout)
    return kf


def make_key(path, passphrase):
    subprocess.run(['ssh-keygen', '-q', '-t', 'ed25519', '-N', passphrase, '-C', '', '-f', path],
                   check=True, stdin=subprocess.DEVNULL)


def accept_name(fp):
    """The answer's secret name for the key of fingerprint @fp (SHA256:...)."""
    return 'host-key-accept-' + fp[len('SHA256:'):].replace('+', '-').replace('/', '_')


def gui_answer(data, args, keys, uuid='no-such-uuid', shot_env='SHUTTLE_AUTH_DIALOG_SHOT'):
    """Runs the dialog on a private Xvfb, waits for its window, types @keys
    (xdotool key names) into it; returns (rc, stdout, stderr, shown)."""
    if shutil.which('Xvfb') is None or shutil.which('xdotool') is None:
        return None
    xvfb, display = harness.start_xvfb('1024x768x24')
    if not display:
        xvfb.kill()
        return None
    env = dict(ENV, DISPLAY=display)
    argv = [os.environ['SHUTTLE_AUTH_DIALOG'], '-u', uuid, '-n', 'work vpn', '-s',
            SERVICE] + list(args)
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, env=env)
    p.stdin.write(details(data).encode())
    p.stdin.flush()
    wid = None
    try:
        deadline = time.time() + 15
        while wid is None and time.time() < deadline and p.poll() is None:
            r = subprocess.run(['xdotool', 'search', '--onlyvisible', '--name',
                                'Authenticate VPN'], env=env, stdout=subprocess.PIPE, text=True)
            ids = r.stdout.split()
            wid = ids[0] if ids else None
            time.sleep(0.2)
        if wid is not None:
            time.sleep(0.5)
            shot = os.environ.get(shot_env) if shot_env else None
            if shot and shutil.which('import'):
                subprocess.run(['import', '-window', wid, shot], env=env)
            subprocess.run(['xdotool', 'windowfocus', '--sync', wid], env=env)
            for k in keys:
                subprocess.run(['xdotool', 'key', k], env=env)
                time.sleep(0.2)
        out = b''
        deadline = time.time() + 10
        while not out.endswith(b'\n\n') and time.time() < deadline and p.poll() is None:
            ready, _, _ = select.select([p.stdout], [], [], 0.5)
            if ready:
                chunk = os.read(p.stdout.fileno(), 4096)
                if not chunk:
                    break
                out += chunk
        p.stdin.close()
        p.stdin = None
        rest, err = p.communicate(timeout=10)
        return p.returncode, (out + rest).decode(), err.decode(), wid is not None
    finally:
        if p.poll() is None:
            p.kill()
        xvfb.kill()
        xvfb.wait()


def host_key_cases(pw, agent):
    """An unknown server: the service sends its key in a hint and asks for
    the answer named after it."""
    key_path = os.path.join(TMP, 'ssh_host_ed25519_key')
    make_key(key_path, '')
    with open(key_path + '.pub') as f:
        key = ' '.join(f.read().split()[:2])
    fp = subprocess.run(['ssh-keygen', '-lf', key_path + '.pub'], stdout=subprocess.PIPE,
                        text=True, check=True).stdout.split()[1]
    name = accept_name(fp)
    hints = ['-t', name, '-t', 'x-shuttle-host-key:' + key,
             '-t', 'x-vpn-message:the service\'s own words']

    # nmcli --ask: one field to type yes into, the fingerprint in the text.
    rc, out, err, _ = run(pw, args=['--external-ui-mode', '-i'] + hints, uuid='no-such-uuid')
    kf = keyfile(out)
    desc = kf['VPN Plugin UI'].get('Description', '') if kf.has_section('VPN Plugin UI') else ''
    check('host key: external UI shows the fingerprint, the type and the host',
          fp in desc and 'ED25519' in desc and 'gw.example' in desc, out + err)
    g = kf[name] if kf.has_section(name) else {}
    check('host key: external UI asks for the answer (a secret, so nmcli asks)',
          g.get('ShouldAsk') == 'true' and g.get('IsSecret') == 'true' and g.get('Value') == ''
          and 'yes' in g.get('Label', ''), out)
    check('host key: only the answer is asked', kf.sections() == ['VPN Plugin UI', name], out)

    # A stored answer is never taken: without a user, no answer at all.
    rc, out, err, _ = run(pw, {name: 'yes'}, args=hints, uuid='no-such-uuid')
    check('host key: a stored "yes" is not an answer', rc != 0 and 'yes' not in out,
          '%d %r %s' % (rc, out, err))

    # The key in the hint must be a key.
    rc, out, err, _ = run(pw, args=['--external-ui-mode', '-i', '-t', name, '-t',
                                    'x-shuttle-host-key:ssh-ed25519 AAAAnot'],
                          uuid='no-such-uuid', keep_open=False)
    check('host key: a hint that is no key is refused', rc != 0 and 'not one' in err, err)

    # The dialog: Enter cancels (never one keystroke to trust), Alt+T trusts.
    r = gui_answer(agent, ['-i'] + hints, ['Return'])
    if r is None:
        check('host key: GUI dialog (Xvfb and xdotool needed)', True, 'skipped')
        return
    rc, out, err, shown = r
    check('host key: the dialog appears', shown, err)
    check('host key: Enter cancels, nothing answered', rc != 0 and name not in out,
          '%d %r %s' % (rc, out, err))
    rc, out, err, shown = gui_answer(agent, ['-i'] + hints, ['alt+t'])
    check('host key: Trust answers yes for this key',
          rc == 0 and pairs(out) == {name: 'yes'}, '%d %r %s' % (rc, out, err))


def question_cases(pw):
    """A question of the server (a one-time code): its words from a hint,
    an empty hidden field, the answer under the name the service chose."""
    name = 'x-shuttle-answer-0123456789abcdef'
    words = "(shuttlelab@gw.example) One-time password (OATH) for `shuttlelab': "
    hints = ['-t', name, '-t', 'x-shuttle-prompt:' + words,
             '-t', 'x-vpn-message:The server gw.example asks: ' + words]
    stored = dict(pw, **{'password-flags': '1'})   # a saved password in the keyring

    # nmcli --ask: the server's words are the label; nothing else is asked.
    rc, out, err, _ = run(stored, {'password': 'from-nm', name: '999999'},
                          args=['--external-ui-mode', '-i'] + hints)
    kf = keyfile(out)
    g = kf[name] if kf.has_section(name) else {}
    check('question: external UI asks only the answer',
          kf.sections() == ['VPN Plugin UI', name], out)
    check('question: the label is the server\'s words, trimmed', g.get('Label') == words.strip(),
          out)
    check('question: never prefilled (not the saved password, not a stored answer), hidden, '
          'asked', g.get('Value') == '' and g.get('IsSecret') == 'true'
          and g.get('ShouldAsk') == 'true' and 'ForceEcho' not in g, out)
    check('question: the saved password is not handed out with it',
          'from-nm' not in out and 'from-keyring' not in out, out)

    # Hostile words: no control characters, no line breaks, bounded.
    evil = 'x-shuttle-prompt:<span size="99999">Code</span>\x1b[2J\n\tfake: ' + 'A' * 400
    rc, out, err, _ = run(pw, args=['--external-ui-mode', '-i', '-t', name, '-t', evil],
                          uuid='no-such-uuid')
    label = keyfile(out)[name].get('Label', '')
    check('question: hostile words cleaned and bounded',
          label.startswith('<span size="99999">Code</span>[2J fake: AAA')
          and '\x1b' not in label and len(label) == 201 and label.endswith('…'), repr(label))

    # A stored answer is never the answer: nobody to ask, nothing answered.
    rc, out, err, _ = run(stored, {name: '999999'}, args=hints)
    check('question: a stored answer is not used', rc != 0 and '999999' not in out,
          '%d %r %s' % (rc, out, err))
    rc, out, err, _ = run(pw, args=['--external-ui-mode', '-i', '-t', name], uuid='no-such-uuid',
                          keep_open=False)
    check('question: an answer name without words is refused', rc != 0 and 'without words' in err,
          err)

    # The dialog, as the desktop shows the two prompts in turn: the password
    # (the saved one prefilled: Enter sends it), then the server's question
    # (an empty field: what is typed is all that is sent).
    r = gui_answer(stored, ['-i', '-r'], ['Return'], uuid=UUID, shot_env=None)
    if r is None:
        check('question: GUI dialog (Xvfb and xdotool needed)', True, 'skipped')
        return
    rc, out, err, shown = r
    check('question: first the password, prefilled with the saved one',
          shown and rc == 0 and pairs(out) == {'password': 'from-keyring'},
          '%d %r %s' % (rc, out, err))
    rc, out, err, shown = gui_answer(stored, ['-i'] + hints,
                                     ['1', '2', '3', '4', '5', '6', 'Return'], uuid=UUID,
                                     shot_env='SHUTTLE_AUTH_DIALOG_OTP_SHOT')
    check('question: then the server\'s question, empty: only the typed code is sent',
          shown and rc == 0 and pairs(out) == {name: '123456'}, '%d %r %s' % (rc, out, err))
    rc, out, err, shown = gui_answer(stored, ['-i'] + hints, ['Escape'], uuid=UUID, shot_env=None)
    check('question: Escape cancels, nothing sent', shown and rc != 0 and name not in out,
          '%d %r %s' % (rc, out, err))


def main():
    pw = {'host': 'gw.example', 'subnets': '10.0.0.0/8', 'auth-method': 'password'}

    # NM-stored secret (flags 0) arrives on stdin and goes back.
    rc, out, err, waited = run(pw, {'password': 'from-nm s3cret'})
    check('password from stdin: exit 0', rc == 0, err)
    check('password from stdin: answered', pairs(out) == {'password': 'from-nm s3cret'}, out)
    check('classic mode waits for stdin to close after answering', waited is True)
    check('secret not on stderr', 'from-nm' not in err, err)

    # Agent-owned secret (flags 1): from the keyring.
    store(UUID, 'password', 'from-keyring')
    rc, out, err, _ = run(dict(pw, **{'password-flags': '1'}))
    check('agent-owned password from libsecret', rc == 0 and pairs(out) ==
          {'password': 'from-keyring'}, out + err)

    # Not saved (flags 2): never read from the keyring, even if there.
    rc, out, err, _ = run(dict(pw, **{'password-flags': '2'}))
    check('not-saved password is not looked up', rc == 0 and pairs(out) == {}, out + err)

    # Not required (flags 4): nothing asked.
    rc, out, err, _ = run(dict(pw, **{'password-flags': '4'}), args=['--external-ui-mode', '-i'])
    kf = keyfile(out)
    check('not-required password: no [password] group', not kf.has_section('password'), out)

    # auth-method=agent: nothing needed, in both modes.
    agent = {'host': 'gw.example', 'subnets': '10.0.0.0/8'}
    rc, out, err, waited = run(agent)
    check('agent: classic mode answers nothing', rc == 0 and out == '\n\n', repr(out) + err)
    rc, out, err, _ = run(agent, args=['--external-ui-mode', '-i'])
    kf = keyfile(out)
    check('agent: external UI has only its header',
          kf.sections() == ['VPN Plugin UI'] and kf['VPN Plugin UI']['Version'] == '2', out)

    # External UI, interactive, nothing stored: ask for the password.
    rc, out, err, _ = run(pw, args=['--external-ui-mode', '-i'], uuid='no-such-uuid')
    kf = keyfile(out)
    ui = kf['VPN Plugin UI'] if kf.has_section('VPN Plugin UI') else {}
    check('external UI: title names the connection', ui.get('Title') == 'Authenticate VPN work vpn',
          out)
    check('external UI: a description', 'work vpn' in ui.get('Description', ''), out)
    g = kf['password'] if kf.has_section('password') else {}
    check('external UI: [password] asked, secret, empty',
          g.get('ShouldAsk') == 'true' and g.get('IsSecret') == 'true' and g.get('Value') == ''
          and g.get('Label') == 'Password:', out)
    check('external UI: no key-passphrase group', not kf.has_section('key-passphrase'), out)

    # External UI with a stored secret: handed back, not asked; -r asks again.
    rc, out, err, _ = run(dict(pw, **{'password-flags': '1'}), args=['--external-ui-mode', '-i'])
    g = keyfile(out)['password']
    check('external UI: stored secret as Value, not asked',
          g.get('Value') == 'from-keyring' and g.get('ShouldAsk') == 'false', out)
    rc, out, err, _ = run(dict(pw, **{'password-flags': '1'}),
                          args=['--external-ui-mode', '-i', '-r'])
    g = keyfile(out)['password']
    check('external UI: -r asks again, prefilled',
          g.get('Value') == 'from-keyring' and g.get('ShouldAsk') == 'true', out)
    rc, out, err, _ = run(pw, args=['--external-ui-mode'], uuid='no-such-uuid')
    check('external UI without -i never asks', keyfile(out)['password'].get('ShouldAsk') ==
          'false', out)

    # auth-method=key: a passphrase only for an encrypted key.
    plain = os.path.join(TMP, 'id_plain')
    locked = os.path.join(TMP, 'id_locked')
    make_key(plain, '')
    make_key(locked, 'correct horse')
    key = {'host': 'gw.example', 'subnets': '10.0.0.0/8', 'auth-method': 'key'}
    rc, out, err, _ = run(dict(key, **{'key-file': plain}), args=['--external-ui-mode', '-i'])
    check('unencrypted key: no passphrase asked', keyfile(out).sections() == ['VPN Plugin UI'],
          out)
    rc, out, err, _ = run(dict(key, **{'key-file': locked}), args=['--external-ui-mode', '-i'])
    kf = keyfile(out)
    check('encrypted key: key-passphrase asked',
          kf.has_section('key-passphrase') and kf['key-passphrase']['ShouldAsk'] == 'true'
          and not kf.has_section('password'), out)
    store(UUID, 'key-passphrase', 'correct horse')
    rc, out, err, _ = run(dict(key, **{'key-file': locked, 'key-passphrase-flags': '1'}))
    check('encrypted key: passphrase from libsecret',
          rc == 0 and pairs(out) == {'key-passphrase': 'correct horse'}, out + err)

    # Hints from the service override our reading of the profile.
    rc, out, err, _ = run(agent, args=['--external-ui-mode', '-i', '-t', 'key-passphrase', '-t',
                                       'x-vpn-message:The passphrase was refused.'],
                          uuid='no-such-uuid')
    kf = keyfile(out)
    check('hints: the secret hinted is asked', kf.has_section('key-passphrase'), out)
    check('hints: x-vpn-message is the description',
          kf['VPN Plugin UI'].get('Description') == 'The passphrase was refused.', out)

    host_key_cases(pw, agent)
    question_cases(pw)

    # Misuse: one-line errors, failure status.
    p = subprocess.run([os.environ['SHUTTLE_AUTH_DIALOG'], '-u', UUID, '-n', 'x', '-s',
                        'org.freedesktop.NetworkManager.openvpn'], input=details(pw).encode(),
                       capture_output=True, env=ENV, timeout=10)
    check('wrong service: exit 1, one line', p.returncode == 1 and
          len(p.stderr.decode().strip().splitlines()) == 1, p.stderr)
    p = subprocess.run([os.environ['SHUTTLE_AUTH_DIALOG'], '-u', UUID, '-n', 'x', '-s', SERVICE],
                       input=b'DATA_VAL=orphan\nDONE\n', capture_output=True, env=ENV, timeout=10)
    check('malformed input: exit 1 with a message', p.returncode == 1 and
          b'value without its key' in p.stderr, p.stderr)

    print('1..%d' % len(results))
    return 0 if all(results) else 1


if __name__ == '__main__':
    sys.exit(main())
