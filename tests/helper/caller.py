#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A long-lived client of shuttle-firewall for the helper tests.

Keeps one system-bus connection (so one unique name owns what it creates)
and reads one JSON request per line on stdin: [method, arg, ...].  Answers
one JSON line: {"ok": true, "ret": ...} or {"ok": false, "error": NAME,
"msg": TEXT}.  The first line it prints is {"name": ":1.N"}.  Exits on EOF.

OpenDatagramTunnel keeps the descriptor it receives (the device lives as
long as this process holds it) and answers [device name]; ["TunRead",
SECONDS] answers the hex of every packet read from it in that time,
["TunClose"] closes it.

OpenSynQueue keeps the relay's descriptor and answers None; ["RelayRead",
SECONDS] answers the hex of every record read from it in that time,
["RelaySend", HEX] sends one record, ["RelayClose"] closes it.

Besides the helper's methods: ["Listen", PORT, UDP] opens (and keeps) a TCP
listener on 127.0.0.1 and, where it can, [::1] at PORT (0: a free one), and
with UDP true a UDP socket on each too, as the engine does; it answers the
port.  The helper wants the redirect port to be such a listener of the
caller's uid, in the network namespace it runs in, so the tests start this
script in that namespace.  Integer option values are sent as uint32.
"""
import errno
import json
import os
import select
import socket
import sys
import time

import dbus

SOCKETS = []
TUN = []
RELAY = []


def listen(port, udp):
    """Opens the sockets on one port, trying again while the kernel picks
    ports taken for UDP or IPv6."""
    for _ in range(32):
        opened = []
        try:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            opened.append(s)
            s.bind(('127.0.0.1', port))
            s.listen(16)
            got = s.getsockname()[1]
            if udp:
                u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                opened.append(u)
                u.bind(('127.0.0.1', got))
            for kind in ([socket.SOCK_STREAM, socket.SOCK_DGRAM] if udp
                         else [socket.SOCK_STREAM]):
                s6 = socket.socket(socket.AF_INET6, kind)
                s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
                try:
                    s6.bind(('::1', got))
                except OSError as e:
                    s6.close()
                    if port == 0 and e.errno == errno.EADDRINUSE:
                        raise
                    continue   # no IPv6 on lo: IPv4 alone
                if kind == socket.SOCK_STREAM:
                    s6.listen(16)
                opened.append(s6)
            SOCKETS.extend(opened)
            return got
        except OSError:
            for s in opened:
                s.close()
            if port != 0:
                raise
    raise OSError('no free port')

SIGS = {
    'ApplyTunnel': 'sqa(yayyqq)a(yayyqq)a(yay)a{sv}',
    'RemoveTunnel': 's',
    'SetHosts': 'sa(ss)',
    'RemoveHosts': 's',
    'OpenDatagramTunnel': 'sa{sv}',
    'OpenSynQueue': 'sa{sv}',
}


def relay_read(seconds):
    out = []
    end = time.monotonic() + seconds
    while RELAY and time.monotonic() < end:
        r, _, _ = select.select([RELAY[0]], [], [], max(0, end - time.monotonic()))
        if r:
            b = RELAY[0].recv(4096)
            if not b:
                break
            out.append(b.hex())
    return out


def tun_read(seconds):
    out = []
    end = time.monotonic() + seconds
    while TUN and time.monotonic() < end:
        r, _, _ = select.select([TUN[0]], [], [], max(0, end - time.monotonic()))
        if r:
            try:
                # The virtio_net_hdr before each packet (IFF_VNET_HDR).
                out.append(os.read(TUN[0], 70000)[10:].hex())
            except BlockingIOError:
                pass
    return out

bus = dbus.SystemBus()
print(json.dumps({'name': bus.get_unique_name()}), flush=True)
for line in sys.stdin:
    req = json.loads(line)
    method, args = req[0], req[1:]
    try:
        if method == 'RequestName':
            ret = int(bus.request_name(args[0]))
        elif method == 'Listen':
            ret = listen(args[0], args[1])
        elif method == 'TunRead':
            ret = tun_read(args[0])
        elif method == 'RelayRead':
            ret = relay_read(args[0])
        elif method == 'RelaySend':
            ret = RELAY[0].send(bytes.fromhex(args[0]))
        elif method == 'RelayClose':
            while RELAY:
                RELAY.pop().close()
            ret = None
        elif method == 'TunClose':
            while TUN:
                os.close(TUN.pop())
            ret = None
        else:
            if method in ('ApplyTunnel', 'OpenDatagramTunnel', 'OpenSynQueue'):
                args[-1] = {k: (dbus.UInt32(v) if type(v) is int else v)
                            for k, v in args[-1].items()}
            obj = bus.get_object('io.github.shuttlevpn.Firewall1',
                                 '/io/github/shuttlevpn/Firewall1')
            fn = obj.get_dbus_method(method, 'io.github.shuttlevpn.Firewall1')
            ret = fn(*args, signature=SIGS[method], timeout=60)
            if method == 'OpenDatagramTunnel':
                TUN.append(ret[0].take())
                ret = str(ret[1])
            elif method == 'OpenSynQueue':
                while RELAY:
                    RELAY.pop().close()
                RELAY.append(socket.socket(fileno=ret.take()))
                ret = None
            else:
                ret = str(ret) if ret is not None else None
        print(json.dumps({'ok': True, 'ret': ret}), flush=True)
    except dbus.exceptions.DBusException as e:
        print(json.dumps({'ok': False, 'error': e.get_dbus_name(),
                          'msg': e.get_dbus_message()}), flush=True)
