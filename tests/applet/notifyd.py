#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A stand-in org.freedesktop.Notifications server for the applet's tests:
prints every notification as one JSON line ({"summary", "body", "actions",
"icon"}) after a "ready" line, and answers like a real one."""
import json
import sys

from gi.repository import Gio, GLib

IFACE_XML = """<node><interface name="org.freedesktop.Notifications">
  <method name="Notify">
    <arg type="s" direction="in"/><arg type="u" direction="in"/><arg type="s" direction="in"/>
    <arg type="s" direction="in"/><arg type="s" direction="in"/><arg type="as" direction="in"/>
    <arg type="a{sv}" direction="in"/><arg type="i" direction="in"/><arg type="u" direction="out"/>
  </method>
  <method name="CloseNotification"><arg type="u" direction="in"/></method>
  <method name="GetCapabilities"><arg type="as" direction="out"/></method>
  <method name="GetServerInformation">
    <arg type="s" direction="out"/><arg type="s" direction="out"/>
    <arg type="s" direction="out"/><arg type="s" direction="out"/>
  </method>
  <signal name="NotificationClosed"><arg type="u"/><arg type="u"/></signal>
  <signal name="ActionInvoked"><arg type="u"/><arg type="s"/></signal>
</interface></node>"""
serial = [0]


def on_call(conn, sender, path, iface, method, params, invocation):
    if method == 'Notify':
        app, replaces, icon, summary, body, actions, hints, timeout = params.unpack()
        serial[0] += 1
        print(json.dumps({'app': app, 'icon': icon, 'summary': summary, 'body': body,
                          'actions': actions}), flush=True)
        invocation.return_value(GLib.Variant('(u)', (replaces or serial[0],)))
    elif method == 'GetCapabilities':
        invocation.return_value(GLib.Variant('(as)', (['body', 'actions'],)))
    elif method == 'GetServerInformation':
        invocation.return_value(GLib.Variant('(ssss)', ('notifyd.py', 'shuttle tests', '1',
                                                        '1.2')))
    else:
        invocation.return_value(None)


def on_bus(conn, name):
    info = Gio.DBusNodeInfo.new_for_xml(IFACE_XML).interfaces[0]
    conn.register_object('/org/freedesktop/Notifications', info, on_call, None, None)


Gio.bus_own_name(Gio.BusType.SESSION, 'org.freedesktop.Notifications',
                 Gio.BusNameOwnerFlags.NONE, on_bus, lambda c, n: print('ready', flush=True),
                 lambda c, n: sys.exit(1))
GLib.MainLoop().run()
