/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-export.c — Engine1 on the system bus, for root and the
 * connection's user. */
#include "config.h"

#include "nm-shuttle-export.h"

#include "engine-iface.h"

#define ENGINE_PATH "/io/github/shuttlevpn/Engine"
#define ENGINE_IFACE "io.github.shuttlevpn.Engine1"
#define PROPS_IFACE "org.freedesktop.DBus.Properties"
#define CALL_TIMEOUT_MS 2000

struct _ShNmExport
{
  GDBusConnection *bus;
  guint registration;
  uid_t user;
  char *name;
  char *uuid;
  char *server;
  GHashTable *uids; /* unique name -> uid + 1 (0: not known yet) */
  GDBusConnection *peer;
  guint signal_sub;
  GSourceFunc on_disconnect;
  gpointer data;
};

/* Only root and the connection's user may look: the routes, hosts and
 * counters of someone's tunnel are theirs. (HostsChanged is broadcast: the
 * same names are in the world-readable /etc/hosts.) Unique names are never
 * reused on a bus, so the answer is cached per name. */
static gboolean
caller_allowed (ShNmExport *e, const char *sender, GError **error)
{
  gpointer cached = g_hash_table_lookup (e->uids, sender);
  guint32 uid;

  if (cached != NULL)
    uid = GPOINTER_TO_UINT (cached) - 1;
  else
    {
      g_autoptr (GVariant) r = g_dbus_connection_call_sync (
          e->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
          "GetConnectionUnixUser", g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
          G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, error);
      if (r == NULL)
        return FALSE;
      g_variant_get (r, "(u)", &uid);
      g_hash_table_insert (e->uids, g_strdup (sender), GUINT_TO_POINTER (uid + 1));
    }
  if (uid == 0 || uid == e->user)
    return TRUE;
  g_set_error_literal (error, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
                       "only the connection's user may read its tunnel's status");
  return FALSE;
}

static void
method_call (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer data)
{
  ShNmExport *e = data;
  GError *error = NULL;

  /* Disconnect, the only method: through NetworkManager's own path, so it
   * sees the connection end the usual way. */
  if (!caller_allowed (e, sender, &error))
    {
      g_dbus_method_invocation_take_error (inv, error);
      return;
    }
  g_dbus_method_invocation_return_value (inv, NULL);
  e->on_disconnect (e->data);
}

/* What a property is while there is no engine to ask. */
static GVariant *
fallback (const char *name)
{
  if (g_str_equal (name, "State"))
    return g_variant_new_string ("connecting");
  if (g_str_equal (name, "ConnectedSince"))
    return g_variant_new_int64 (0);
  if (g_str_equal (name, "Routes") || g_str_equal (name, "Excludes"))
    return g_variant_new_strv (NULL, 0);
  if (g_str_equal (name, "Hosts"))
    return g_variant_new_array (G_VARIANT_TYPE ("(ss)"), NULL, 0);
  if (g_str_equal (name, "BytesSent") || g_str_equal (name, "BytesReceived"))
    return g_variant_new_uint64 (0);
  if (g_str_equal (name, "OpenSessions"))
    return g_variant_new_uint32 (0);
  return g_variant_new_string ("");
}

static GVariant *
get_property (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
              const char *name, GError **error, gpointer data)
{
  ShNmExport *e = data;
  g_autoptr (GVariant) r = NULL;
  GVariant *v;

  if (!caller_allowed (e, sender, error))
    return NULL;
  if (g_str_equal (name, "Name"))
    return g_variant_new_string (e->name);
  if (g_str_equal (name, "Uuid"))
    return g_variant_new_string (e->uuid);
  if (e->peer != NULL)
    r = g_dbus_connection_call_sync (
        e->peer, NULL, ENGINE_PATH, PROPS_IFACE, "Get", g_variant_new ("(ss)", ENGINE_IFACE, name),
        G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, NULL);
  if (r == NULL)
    {
      if (g_str_equal (name, "Server"))
        return g_variant_new_string (e->server);
      return fallback (name);
    }
  g_variant_get (r, "(v)", &v);
  return v;
}

static const GDBusInterfaceVTable vtable = { method_call, get_property, NULL };

/* The engine's signals, as they are, on the system bus. */
static void
on_engine_signal (GDBusConnection *peer, const char *sender, const char *path, const char *iface,
                  const char *signal, GVariant *params, gpointer data)
{
  ShNmExport *e = data;

  if (!g_str_equal (path, ENGINE_PATH))
    return;
  if (!g_str_equal (iface, ENGINE_IFACE) && !g_str_equal (iface, PROPS_IFACE))
    return;
  g_dbus_connection_emit_signal (e->bus, NULL, ENGINE_PATH, iface, signal, params, NULL);
}

ShNmExport *
sh_nm_export_new (GDBusConnection *bus, uid_t user, const char *name, const char *uuid,
                  const char *server, GSourceFunc on_disconnect, gpointer data, GError **error)
{
  ShNmExport *e = g_new0 (ShNmExport, 1);

  e->bus = g_object_ref (bus);
  e->user = user;
  e->name = g_strdup (name);
  e->uuid = g_strdup (uuid);
  e->server = g_strdup (server);
  e->uids = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  e->on_disconnect = on_disconnect;
  e->data = data;
  e->registration = g_dbus_connection_register_object (
      bus, ENGINE_PATH, (GDBusInterfaceInfo *) &sh_ctl_engine1_interface, &vtable, e, NULL, error);
  if (e->registration == 0)
    {
      sh_nm_export_free (e);
      return NULL;
    }
  return e;
}

void
sh_nm_export_set_engine (ShNmExport *e, GDBusConnection *peer)
{
  if (e == NULL)
    return;
  if (e->signal_sub != 0)
    g_dbus_connection_signal_unsubscribe (e->peer, e->signal_sub);
  e->signal_sub = 0;
  g_clear_object (&e->peer);
  if (peer == NULL)
    return;
  e->peer = g_object_ref (peer);
  e->signal_sub
      = g_dbus_connection_signal_subscribe (peer, NULL, NULL, NULL, ENGINE_PATH, NULL,
                                            G_DBUS_SIGNAL_FLAGS_NONE, on_engine_signal, e, NULL);
}

void
sh_nm_export_free (ShNmExport *e)
{
  if (e == NULL)
    return;
  sh_nm_export_set_engine (e, NULL);
  if (e->registration != 0)
    g_dbus_connection_unregister_object (e->bus, e->registration);
  g_object_unref (e->bus);
  g_hash_table_unref (e->uids);
  g_free (e->name);
  g_free (e->uuid);
  g_free (e->server);
  g_free (e);
}
