/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-export.c — Engine1 on the system bus, for root and the
 * connection's user.
 *
 * The engine's signals carry the tunnel's state, routes and discovered
 * host names: they are not broadcast. A caller that passed the uid check
 * (the applet reads the properties when it finds an engine) becomes a
 * listener, and each known signal of the engine, checked against the
 * introspection, is sent to each listener by its unique name. Listeners are
 * forgotten when they leave the bus, and there are at most MAX_LISTENERS.
 * The one broadcast is a value-free "read me" when the object appears. */
#include "config.h"

#include "nm-shuttle-export.h"

#include "engine-iface.h"
#include "shuttle-dbus.h"

#define PROPS_IFACE "org.freedesktop.DBus.Properties"
#define CALL_TIMEOUT_MS 2000
/* Programs of the connection's user (or root) that read the status at once:
 * an applet or two, a status bar, gdbus. */
#define MAX_LISTENERS 16

struct _ShNmExport
{
  GDBusConnection *bus;
  guint registration;
  uid_t user;
  char *name;
  char *uuid;
  char *server;
  char *reconnect_reason; /* between engines (vpn.persistent): why, or NULL */
  gint64 reconnect_at;    /* ... and when the next engine starts (monotonic µs) */
  GHashTable *listeners;  /* unique name -> name watch: allowed, and sent the signals */
  GDBusConnection *peer;
  guint signal_sub;
  gint refs;     /* ours, and one per call on its way */
  gboolean dead; /* sh_nm_export_free() ran: only late answers remain */
  GSourceFunc on_disconnect;
  gpointer data;
};

/* Everything here is asynchronous: this is NetworkManager's plugin, and its
 * main loop must not wait for the bus daemon or for an engine. GDBus sends
 * the Properties calls to method_call because the vtable has no getter. */
/* A call keeps the export (not its registration) alive until answered: a
 * read that races the connection's end still gets Name and Uuid, which is
 * how the applet ties the engine's last failure to its connection. */
typedef struct
{
  ShNmExport *export;
  GDBusMethodInvocation *inv;
} Call;

static void export_unref (ShNmExport *e);

static void
call_free (Call *call)
{
  export_unref (call->export);
  g_object_unref (call->inv);
  g_free (call);
}

/* What a property is while there is no engine to ask. */
static GVariant *
fallback (ShNmExport *e, const char *name)
{
  if (g_str_equal (name, "Name"))
    return g_variant_new_string (e->name);
  if (g_str_equal (name, "Uuid"))
    return g_variant_new_string (e->uuid);
  if (g_str_equal (name, "Server"))
    return g_variant_new_string (e->server);
  if (g_str_equal (name, "State"))
    return g_variant_new_string (e->reconnect_reason ? "reconnecting" : "connecting");
  if (g_str_equal (name, "ReconnectReason"))
    return g_variant_new_string (e->reconnect_reason ? e->reconnect_reason : "");
  if (g_str_equal (name, "ReconnectAt"))
    return g_variant_new_int64 (e->reconnect_at);
  if (g_str_equal (name, "ConnectedSince"))
    return g_variant_new_int64 (0);
  if (g_str_equal (name, "Routes") || g_str_equal (name, "Excludes")
      || g_str_equal (name, "SshAddresses"))
    return g_variant_new_strv (NULL, 0);
  if (g_str_equal (name, "Hosts"))
    return g_variant_new_array (G_VARIANT_TYPE ("(ss)"), NULL, 0);
  if (g_str_equal (name, "BytesSent") || g_str_equal (name, "BytesReceived")
      || g_str_has_prefix (name, "Datagram"))
    return g_variant_new_uint64 (0);
  if (g_str_equal (name, "OpenSessions") || g_str_equal (name, "OpenFlows"))
    return g_variant_new_uint32 (0);
  return g_variant_new_string ("");
}

/* All properties: the engine's, with Name and Uuid ours; without an answer
 * from the engine, the fallbacks. */
static GVariant *
all_properties (ShNmExport *e, GVariant *engine_dict)
{
  GVariantBuilder b;
  GDBusInterfaceInfo *info = (GDBusInterfaceInfo *) &sh_ctl_engine1_interface;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  for (guint i = 0; info->properties[i] != NULL; i++)
    {
      const char *name = info->properties[i]->name;
      g_autoptr (GVariant) v = NULL;
      if (engine_dict != NULL && !g_str_equal (name, "Name") && !g_str_equal (name, "Uuid"))
        v = g_variant_lookup_value (engine_dict, name, NULL);
      g_variant_builder_add (&b, "{sv}", name, v != NULL ? v : fallback (e, name));
    }
  return g_variant_new ("(a{sv})", &b);
}

static void
on_engine_get (GObject *peer, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  g_autoptr (GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (peer), res, NULL);
  const char *method;

  method = g_dbus_method_invocation_get_method_name (call->inv);
  if (g_str_equal (method, "GetAll"))
    {
      g_autoptr (GVariant) dict = r ? g_variant_get_child_value (r, 0) : NULL;
      g_dbus_method_invocation_return_value (call->inv, all_properties (call->export, dict));
    }
  else if (r != NULL)
    g_dbus_method_invocation_return_value (call->inv, g_steal_pointer (&r));
  else
    {
      const char *name;
      g_variant_get (g_dbus_method_invocation_get_parameters (call->inv), "(&s&s)", NULL, &name);
      g_dbus_method_invocation_return_value (call->inv,
                                             g_variant_new ("(v)", fallback (call->export, name)));
    }
  call_free (call);
}

/* The caller may look: answer it. */
static void
serve (Call *call)
{
  ShNmExport *e = call->export;
  const char *method = g_dbus_method_invocation_get_method_name (call->inv);
  GVariant *params = g_dbus_method_invocation_get_parameters (call->inv);
  const char *name = NULL;

  if (g_str_equal (method, "Disconnect") && e->dead)
    {
      g_dbus_method_invocation_return_error_literal (call->inv, G_DBUS_ERROR, G_DBUS_ERROR_FAILED,
                                                     "the connection is already going down");
      call_free (call);
      return;
    }
  if (g_str_equal (method, "Disconnect"))
    {
      /* Through NetworkManager's own path, so it sees the connection end
       * the usual way. */
      g_dbus_method_invocation_return_value (call->inv, NULL);
      call_free (call);
      e->on_disconnect (e->data);
      return;
    }
  if (g_str_equal (method, "Set"))
    {
      g_dbus_method_invocation_return_error_literal (
          call->inv, G_DBUS_ERROR, G_DBUS_ERROR_PROPERTY_READ_ONLY, "the status is read-only");
      call_free (call);
      return;
    }
  if (g_str_equal (method, "Get"))
    {
      g_variant_get (params, "(&s&s)", NULL, &name);
      if (g_dbus_interface_info_lookup_property ((GDBusInterfaceInfo *) &sh_ctl_engine1_interface,
                                                 name)
          == NULL)
        {
          g_dbus_method_invocation_return_error (
              call->inv, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", name);
          call_free (call);
          return;
        }
    }
  if (e->peer == NULL
      || (name != NULL && (g_str_equal (name, "Name") || g_str_equal (name, "Uuid"))))
    {
      g_dbus_method_invocation_return_value (
          call->inv,
          name != NULL ? g_variant_new ("(v)", fallback (e, name)) : all_properties (e, NULL));
      call_free (call);
      return;
    }
  g_dbus_connection_call (e->peer, NULL, SH_ENGINE_PATH, PROPS_IFACE, method,
                          name != NULL ? g_variant_new ("(ss)", SH_ENGINE_IFACE, name)
                                       : g_variant_new ("(s)", SH_ENGINE_IFACE),
                          NULL, G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, on_engine_get, call);
}

static void
on_listener_vanished (GDBusConnection *bus, const char *name, gpointer data)
{
  ShNmExport *e = data;

  g_hash_table_remove (e->listeners, name);
}

/* @name may look: it gets the signals from now on. Unique names are never
 * reused on a bus, so it is not asked again while it stays. */
static void
add_listener (ShNmExport *e, const char *name)
{
  guint watch;

  if (e->dead || g_hash_table_contains (e->listeners, name)
      || g_hash_table_size (e->listeners) >= MAX_LISTENERS)
    return;
  /* Watching a unique name tells of its end even when it is already gone. */
  watch = g_bus_watch_name_on_connection (e->bus, name, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                          on_listener_vanished, e, NULL);
  g_hash_table_insert (e->listeners, g_strdup (name), GUINT_TO_POINTER (watch));
}

static void
unwatch (gpointer watch)
{
  g_bus_unwatch_name (GPOINTER_TO_UINT (watch));
}

/* Only root and the connection's user may look: the routes, hosts and
 * counters of someone's tunnel are theirs. */
static void
check_uid (Call *call, guint32 uid)
{
  if (uid == 0 || uid == call->export->user)
    {
      add_listener (call->export, g_dbus_method_invocation_get_sender (call->inv));
      serve (call);
      return;
    }
  g_dbus_method_invocation_return_error_literal (
      call->inv, G_DBUS_ERROR, G_DBUS_ERROR_ACCESS_DENIED,
      "only the connection's user may read its tunnel's status");
  call_free (call);
}

static void
on_caller_uid (GObject *bus, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (bus), res, &error);
  guint32 uid;

  if (r == NULL)
    {
      g_dbus_method_invocation_return_gerror (call->inv, error);
      call_free (call);
      return;
    }
  g_variant_get (r, "(u)", &uid);
  check_uid (call, uid);
}

static void
method_call (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer data)
{
  ShNmExport *e = data;
  Call *call = g_new0 (Call, 1);

  call->export = e;
  e->refs++;
  call->inv = g_object_ref (inv);
  if (g_hash_table_contains (e->listeners, sender))
    {
      serve (call);
      return;
    }
  g_dbus_connection_call (e->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, CALL_TIMEOUT_MS, NULL, on_caller_uid, call);
}

static const GDBusInterfaceVTable vtable = { method_call, NULL, NULL };

/* A property the engine may report a change of: in the introspection, of
 * its type, and not one of ours. */
static gboolean
engine_property (const char *name, GVariant *value)
{
  GDBusPropertyInfo *prop = g_dbus_interface_info_lookup_property (
      (GDBusInterfaceInfo *) &sh_ctl_engine1_interface, name);

  if (prop == NULL || g_str_equal (name, "Name") || g_str_equal (name, "Uuid"))
    return FALSE;
  return value == NULL || g_variant_is_of_type (value, G_VARIANT_TYPE (prop->signature));
}

/* PropertiesChanged of Engine1, keeping only engine_property()s; NULL when
 * nothing is left. A new floating variant. */
static GVariant *
properties_changed (GVariant *params)
{
  g_autoptr (GVariant) changed = NULL;
  g_autoptr (GVariant) invalidated = NULL;
  const char *iface;
  GVariantBuilder c, inv;
  GVariantIter it;
  const char *name;
  GVariant *value;
  gboolean any = FALSE;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv}as)")))
    return NULL;
  g_variant_get (params, "(&s@a{sv}@as)", &iface, &changed, &invalidated);
  if (!g_str_equal (iface, SH_ENGINE_IFACE))
    return NULL;
  g_variant_builder_init (&c, G_VARIANT_TYPE ("a{sv}"));
  g_variant_iter_init (&it, changed);
  while (g_variant_iter_next (&it, "{&sv}", &name, &value))
    {
      if (engine_property (name, value))
        {
          g_variant_builder_add (&c, "{sv}", name, value);
          any = TRUE;
        }
      g_variant_unref (value);
    }
  g_variant_builder_init (&inv, G_VARIANT_TYPE ("as"));
  g_variant_iter_init (&it, invalidated);
  while (g_variant_iter_next (&it, "&s", &name))
    if (engine_property (name, NULL))
      {
        g_variant_builder_add (&inv, "s", name);
        any = TRUE;
      }
  if (!any)
    {
      g_variant_builder_clear (&c);
      g_variant_builder_clear (&inv);
      return NULL;
    }
  return g_variant_new ("(sa{sv}as)", SH_ENGINE_IFACE, &c, &inv);
}

/* What of an engine's signal may go on: a signal of Engine1 with the
 * arguments its introspection gives, or the Engine1 properties of a
 * PropertiesChanged. NULL for anything else. A new reference. */
static GVariant *
engine_signal (const char *iface, const char *signal, GVariant *params)
{
  GDBusSignalInfo *info;
  g_autoptr (GString) sig = NULL;

  if (g_str_equal (iface, PROPS_IFACE))
    {
      GVariant *v = g_str_equal (signal, "PropertiesChanged") ? properties_changed (params) : NULL;
      return v != NULL ? g_variant_ref_sink (v) : NULL;
    }
  if (!g_str_equal (iface, SH_ENGINE_IFACE))
    return NULL;
  info = g_dbus_interface_info_lookup_signal ((GDBusInterfaceInfo *) &sh_ctl_engine1_interface,
                                              signal);
  if (info == NULL)
    return NULL;
  sig = g_string_new ("(");
  for (guint i = 0; info->args != NULL && info->args[i] != NULL; i++)
    g_string_append (sig, info->args[i]->signature);
  g_string_append_c (sig, ')');
  if (!g_str_equal (g_variant_get_type_string (params), sig->str))
    return NULL;
  return g_variant_ref (params);
}

/* Sends @params (floating, or borrowed) to each listener. */
static void
to_listeners (ShNmExport *e, const char *iface, const char *signal, GVariant *params)
{
  GHashTableIter it;
  gpointer name;

  g_variant_ref_sink (params);
  g_hash_table_iter_init (&it, e->listeners);
  while (g_hash_table_iter_next (&it, &name, NULL))
    g_dbus_connection_emit_signal (e->bus, name, SH_ENGINE_PATH, iface, signal, params, NULL);
  g_variant_unref (params);
}

/* The engine's known signals, to each listener and nobody else. */
static void
on_engine_signal (GDBusConnection *peer, const char *sender, const char *path, const char *iface,
                  const char *signal, GVariant *params, gpointer data)
{
  ShNmExport *e = data;
  GVariant *out;

  if (!g_str_equal (path, SH_ENGINE_PATH))
    return;
  out = engine_signal (iface, signal, params);
  if (out == NULL)
    return;
  to_listeners (e, iface, signal, out);
  g_variant_unref (out);
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
  e->listeners = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, unwatch);
  e->refs = 1;
  e->on_disconnect = on_disconnect;
  e->data = data;
  e->registration = g_dbus_connection_register_object (
      bus, SH_ENGINE_PATH, (GDBusInterfaceInfo *) &sh_ctl_engine1_interface, &vtable, e, NULL,
      error);
  if (e->registration == 0)
    {
      sh_nm_export_free (e);
      return NULL;
    }
  /* NetworkManager's plugin owns its bus name before it has this object: a
   * client that found the name and read too early got an error and is no
   * listener. One broadcast, with no value in it, tells every client that
   * the object is here now (State is to be read), so the applet reads
   * again. Only that the connection exists is public, as its name is. */
  g_dbus_connection_emit_signal (
      bus, NULL, SH_ENGINE_PATH, PROPS_IFACE, "PropertiesChanged",
      g_variant_new_parsed ("(%s, @a{sv} {}, ['State'])", SH_ENGINE_IFACE), NULL);
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
  g_clear_pointer (&e->reconnect_reason, g_free);
  e->reconnect_at = 0;
  e->peer = g_object_ref (peer);
  e->signal_sub
      = g_dbus_connection_signal_subscribe (peer, NULL, NULL, NULL, SH_ENGINE_PATH, NULL,
                                            G_DBUS_SIGNAL_FLAGS_NONE, on_engine_signal, e, NULL);
}

void
sh_nm_export_set_reconnecting (ShNmExport *e, const char *reason, gint64 at)
{
  GVariantBuilder b;

  if (e == NULL)
    return;
  if (reason != NULL || e->reconnect_reason == NULL)
    {
      g_free (e->reconnect_reason);
      e->reconnect_reason = g_strdup (reason ? reason : "");
    }
  e->reconnect_at = at;
  if (e->peer != NULL) /* an engine answers for itself */
    return;
  to_listeners (e, SH_ENGINE_IFACE, "StateChanged", g_variant_new ("(ss)", "reconnecting", ""));
  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  const char *props[] = { "State", "ReconnectReason", "ReconnectAt", "Failure", "ConnectedSince" };
  for (guint i = 0; i < G_N_ELEMENTS (props); i++)
    g_variant_builder_add (&b, "{sv}", props[i], fallback (e, props[i]));
  to_listeners (e, PROPS_IFACE, "PropertiesChanged",
                g_variant_new ("(sa{sv}as)", SH_ENGINE_IFACE, &b, NULL));
}

static void
export_unref (ShNmExport *e)
{
  if (--e->refs > 0)
    return;
  g_object_unref (e->bus);
  g_hash_table_unref (e->listeners);
  g_free (e->name);
  g_free (e->uuid);
  g_free (e->server);
  g_free (e->reconnect_reason);
  g_free (e);
}

void
sh_nm_export_free (ShNmExport *e)
{
  if (e == NULL)
    return;
  e->dead = TRUE;
  sh_nm_export_set_engine (e, NULL);
  /* No name watch may call back into an export that is going. */
  g_hash_table_remove_all (e->listeners);
  if (e->registration != 0)
    g_dbus_connection_unregister_object (e->bus, e->registration);
  e->registration = 0;
  export_unref (e);
}
