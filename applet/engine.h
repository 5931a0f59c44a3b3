/* SPDX-License-Identifier: GPL-2.0-or-later */
/* engine.h — one tunnel engine's io.github.shuttlevpn.Engine1 object as the
 * applet sees it: a cache of its properties, kept current from its signals.
 * Found and created by ShEngines (engines.h); read-only for everyone else. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define SH_TYPE_ENGINE (sh_engine_get_type ())
G_DECLARE_FINAL_TYPE (ShEngine, sh_engine, SH, ENGINE, GObject)

/* One discovered host name. */
typedef struct
{
  char *name;
  char *address;
} ShHost;

/* A new engine for the object at @name (owned by unique name @owner) on
 * @bus; it loads its properties asynchronously and emits "changed" (no
 * arguments) whenever one of them changes. */
ShEngine *sh_engine_new (GDBusConnection *bus, const char *name, const char *owner);

/* Feeds one signal the bus delivered from the engine's owner. */
void sh_engine_handle_signal (ShEngine *self, const char *iface, const char *signal,
                              GVariant *params);

/* Re-reads the counters (BytesSent, BytesReceived, OpenSessions, and the
 * datagram ones the getters below return). */
void sh_engine_poll_counters (ShEngine *self);

/* Asks the engine to end the tunnel (Disconnect), fire and forget. */
void sh_engine_disconnect (ShEngine *self);

/* Getters; strings are owned by the engine and valid until its next
 * "changed". Before the properties are loaded they are empty / 0. */
const char *sh_engine_get_bus_name (ShEngine *self);
const char *sh_engine_get_owner (ShEngine *self);
/* TRUE for an engine NetworkManager runs (re-exported on the system bus). */
gboolean sh_engine_is_managed (ShEngine *self);
gboolean sh_engine_is_loaded (ShEngine *self);
const char *sh_engine_get_name (ShEngine *self);
const char *sh_engine_get_uuid (ShEngine *self);
const char *sh_engine_get_server (ShEngine *self);
const char *sh_engine_get_state (ShEngine *self);
const char *sh_engine_get_failure (ShEngine *self);
/* The last non-empty Failure seen, or NULL: the plugin's fallback values
 * after its engine exited must not erase why it did. */
const char *sh_engine_get_last_failure (ShEngine *self);
/* TRUE while the properties are being read. */
gboolean sh_engine_is_loading (ShEngine *self);
gint64 sh_engine_get_connected_since (ShEngine *self);
/* ReconnectReason ("" outside "reconnecting") and ReconnectAt (monotonic µs
 * of the next attempt, 0 for none). */
/* Door: the engine's socket for programs started in its tunnel, or "". */
const char *sh_engine_get_door (ShEngine *self);
const char *sh_engine_get_reconnect_reason (ShEngine *self);
gint64 sh_engine_get_reconnect_at (ShEngine *self);
const char *const *sh_engine_get_routes (ShEngine *self);
/* The hosts sorted by name; the array and its ShHost are the engine's. */
GPtrArray *sh_engine_get_hosts (ShEngine *self);
/* Grows by one whenever the host list changes, so views redraw only then. */
guint sh_engine_get_hosts_serial (ShEngine *self);
guint64 sh_engine_get_bytes_sent (ShEngine *self);
guint64 sh_engine_get_bytes_received (ShEngine *self);
guint sh_engine_get_open_sessions (ShEngine *self);
/* UDP and ping: payload bytes each way, flows open now. */
guint64 sh_engine_get_datagram_bytes_sent (ShEngine *self);
guint64 sh_engine_get_datagram_bytes_received (ShEngine *self);
guint sh_engine_get_open_flows (ShEngine *self);

G_END_DECLS
