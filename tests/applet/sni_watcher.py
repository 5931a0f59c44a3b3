#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""A stand-in org.kde.StatusNotifierWatcher for the applet's tests: takes
registrations, answers the properties a tray host would read, and prints
one line per event ("ready", "item BUS/PATH", "gone BUS/PATH") so the test
can wait on them. It is also its own host (IsStatusNotifierHostRegistered)."""
import sys

from gi.repository import Gio, GLib

IFACE_XML = """<node><interface name="org.kde.StatusNotifierWatcher">
  <method name="RegisterStatusNotifierItem"><arg name="service" type="s" direction="in"/></method>
  <method name="RegisterStatusNotifierHost"><arg name="service" type="s" direction="in"/></method>
  <property name="RegisteredStatusNotifierItems" type="as" access="read"/>
  <property name="IsStatusNotifierHostRegistered" type="b" access="read"/>
  <property name="ProtocolVersion" type="i" access="read"/>
  <signal name="StatusNotifierItemRegistered"><arg type="s"/></signal>
  <signal name="StatusNotifierItemUnregistered"><arg type="s"/></signal>
  <signal name="StatusNotifierHostRegistered"/>
</interface></node>"""
PATH = '/StatusNotifierWatcher'
NAME = 'org.kde.StatusNotifierWatcher'
items = {}


def say(*words):
    print(*words, flush=True)


def on_call(conn, sender, path, iface, method, params, invocation):
    if method == 'RegisterStatusNotifierItem':
        arg = params.unpack()[0]
        # libappindicator sends its object path; the spec also allows a bus name
        if arg.startswith('/'):
            bus, obj = sender, arg
        else:
            bus, obj = arg, '/StatusNotifierItem'
        item = bus + obj
        if item not in items:
            def vanished(c, name, item=item):
                Gio.bus_unwatch_name(items.pop(item))
                say('gone', item)
                c.emit_signal(None, PATH, NAME, 'StatusNotifierItemUnregistered',
                              GLib.Variant('(s)', (item,)))
            items[item] = Gio.bus_watch_name_on_connection(conn, bus, 0, None, vanished)
            say('item', item)
            conn.emit_signal(None, PATH, NAME, 'StatusNotifierItemRegistered',
                             GLib.Variant('(s)', (item,)))
    invocation.return_value(None)


def on_get(conn, sender, path, iface, prop):
    return {'RegisteredStatusNotifierItems': GLib.Variant('as', list(items)),
            'IsStatusNotifierHostRegistered': GLib.Variant('b', True),
            'ProtocolVersion': GLib.Variant('i', 0)}.get(prop)


def on_bus(conn, name):
    info = Gio.DBusNodeInfo.new_for_xml(IFACE_XML).interfaces[0]
    conn.register_object(PATH, info, on_call, on_get, None)


Gio.bus_own_name(Gio.BusType.SESSION, NAME, Gio.BusNameOwnerFlags.NONE, on_bus,
                 lambda c, n: say('ready'), lambda c, n: (say('lost'), sys.exit(1)))
GLib.MainLoop().run()
