#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A long-lived client of shuttle-firewall for the helper tests.

Keeps one system-bus connection (so one unique name owns what it creates)
and reads one JSON request per line on stdin: [method, arg, ...].  Answers
one JSON line: {"ok": true, "ret": ...} or {"ok": false, "error": NAME,
"msg": TEXT}.  The first line it prints is {"name": ":1.N"}.  Exits on EOF.
"""
import json
import sys

import dbus

SIGS = {
    'ApplyTunnel': 'sqa(yayyqq)a(yayyqq)a(yay)a{sv}',
    'RemoveTunnel': 's',
    'SetHosts': 'sa(ss)',
    'RemoveHosts': 's',
}

bus = dbus.SystemBus()
print(json.dumps({'name': bus.get_unique_name()}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    method, args = req[0], req[1:]
    try:
        if method == 'RequestName':
            ret = int(bus.request_name(args[0]))
        else:
            obj = bus.get_object('io.github.shuttlevpn.Firewall1',
                                 '/io/github/shuttlevpn/Firewall1')
            fn = obj.get_dbus_method(method, 'io.github.shuttlevpn.Firewall1')
            ret = fn(*args, signature=SIGS[method], timeout=60)
            ret = str(ret) if ret is not None else None
        print(json.dumps({'ok': True, 'ret': ret}), flush=True)
    except dbus.exceptions.DBusException as e:
        print(json.dumps({'ok': False, 'error': e.get_dbus_name(),
                          'msg': e.get_dbus_message()}), flush=True)
