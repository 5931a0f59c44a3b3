/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-export.h — the engine's io.github.shuttlevpn.Engine1 object,
 * re-exported on the system bus at our own name
 * (org.freedesktop.NetworkManager.shuttle.Connection_N), so the tray applet
 * can show state, routes, hosts and counters of a connection NetworkManager
 * runs. Reads are answered for root and the connection's local user only;
 * Name and Uuid are ours, everything else is read from the engine over the
 * peer connection. The engine's signals are not broadcast: only its known
 * ones (Engine1's, and PropertiesChanged of Engine1's properties, checked
 * against the introspection) go on, each addressed to every bus name that
 * was allowed a read and is still on the bus. */
#pragma once

#include <gio/gio.h>
#include <sys/types.h>

G_BEGIN_DECLS

typedef struct _ShNmExport ShNmExport;

/* Registers the object on @bus. @on_disconnect runs when an allowed caller
 * calls Disconnect. NULL with @error when the object cannot be registered. */
ShNmExport *sh_nm_export_new (GDBusConnection *bus, uid_t user, const char *name, const char *uuid,
                              const char *server, GSourceFunc on_disconnect, gpointer data,
                              GError **error);

/* The engine's peer connection, or NULL while there is no engine (between
 * reconnects): its known signals are forwarded to the listeners, its
 * properties read. */
void sh_nm_export_set_engine (ShNmExport *export, GDBusConnection *peer);

/* vpn.persistent, between engines: State reads "reconnecting" with
 * @reason (NULL keeps the last) and @at (g_get_monotonic_time() of the
 * next engine's start, 0 once it starts), and the listeners are told,
 * until the next engine's connection is set. */
void sh_nm_export_set_reconnecting (ShNmExport *export, const char *reason, gint64 at);

void sh_nm_export_free (ShNmExport *export);

G_END_DECLS
