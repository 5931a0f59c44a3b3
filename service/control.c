/* SPDX-License-Identifier: GPL-2.0-or-later */
/* control.c — io.github.shuttlevpn.Engine1 on a peer-to-peer connection
 * and/or the session bus. One model, exported on each connection we have;
 * every signal goes to all of them. */
#include "config.h"

#include "control.h"

#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <unistd.h>

#include "engine-iface.h"
#include "log.h"
#include "shuttle-dbus.h"

struct _ShControl
{
  GDBusConnection *conn; /* the peer (nm-shuttle-service), or NULL */
  guint registration;
  gulong closed_handler;
  GDBusConnection *bus; /* the session bus, once we are on it */
  guint bus_registration;
  guint bus_name;
  GCancellable *cancel;

  ShControlState state;
  char *failure;
  char *reconnect_reason; /* while SH_CONTROL_RECONNECTING, else "" */
  gint64 reconnect_at;    /* monotonic µs of the next attempt, or 0 */
  gint64 connected_since;
  char *server;
  char *door;
  GStrv routes;
  GStrv excludes;
  GStrv ssh_addresses;
  GTree *hosts;           /* name -> address, sorted by name */
  GVariantBuilder *added; /* hosts not yet signalled, or NULL */
  ShControlCountersFunc counters;
  gpointer counters_data;

  GSourceFunc on_stop;
  gpointer on_stop_data;
  gboolean stopped;
};

static const char *const state_names[] = {
  [SH_CONTROL_CONNECTING] = "connecting",
  [SH_CONTROL_CONNECTED] = "connected",
  [SH_CONTROL_RECONNECTING] = "reconnecting",
  [SH_CONTROL_FAILED] = "failed",
};

static int
compare_names (gconstpointer a, gconstpointer b, gpointer unused)
{
  return strcmp (a, b);
}

static void
stop (ShControl *c)
{
  if (c->stopped)
    return;
  c->stopped = TRUE;
  c->on_stop (c->on_stop_data);
}

/* Sends a signal of ours on every connection we are exported on. */
static void
emit (ShControl *c, const char *iface, const char *signal, GVariant *params)
{
  g_variant_ref_sink (params);
  if (c->conn != NULL && c->registration != 0)
    g_dbus_connection_emit_signal (c->conn, NULL, SH_ENGINE_PATH, iface, signal, params, NULL);
  if (c->bus != NULL && c->bus_registration != 0)
    g_dbus_connection_emit_signal (c->bus, NULL, SH_ENGINE_PATH, iface, signal, params, NULL);
  g_variant_unref (params);
}

static void
emit_changed (ShControl *c, GVariantBuilder *changed)
{
  emit (c, "org.freedesktop.DBus.Properties", "PropertiesChanged",
        g_variant_new ("(sa{sv}as)", SH_ENGINE_IFACE, changed, NULL));
}

static void
method_call (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer data)
{
  /* Only Disconnect exists; GDBus has checked the name and signature. On
   * the session bus every client is our own user. */
  g_dbus_method_invocation_return_value (inv, NULL);
  g_dbus_connection_flush (conn, NULL, NULL, NULL);
  stop (data);
}

static gboolean
add_host (gpointer key, gpointer value, gpointer data)
{
  g_variant_builder_add (data, "(ss)", key, value);
  return FALSE;
}

static GVariant *
strv_or_empty (GStrv v)
{
  return g_variant_new_strv ((const char *const *) v, v ? -1 : 0);
}

static GVariant *
get_property (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
              const char *name, GError **error, gpointer data)
{
  ShControl *c = data;
  ShControlCounters n = { 0 };

  if (g_str_equal (name, "State"))
    return g_variant_new_string (state_names[c->state]);
  if (g_str_equal (name, "Failure"))
    return g_variant_new_string (c->failure ? c->failure : "");
  if (g_str_equal (name, "ReconnectReason"))
    return g_variant_new_string (c->reconnect_reason ? c->reconnect_reason : "");
  if (g_str_equal (name, "ReconnectAt"))
    return g_variant_new_int64 (c->reconnect_at);
  if (g_str_equal (name, "Name"))
    return g_variant_new_string ("shuttle");
  if (g_str_equal (name, "Uuid"))
    return g_variant_new_string ("");
  if (g_str_equal (name, "Server"))
    return g_variant_new_string (c->server ? c->server : "");
  if (g_str_equal (name, "ConnectedSince"))
    return g_variant_new_int64 (c->connected_since);
  if (g_str_equal (name, "Door"))
    return g_variant_new_string (c->door ? c->door : "");
  if (g_str_equal (name, "Routes"))
    return strv_or_empty (c->routes);
  if (g_str_equal (name, "Excludes"))
    return strv_or_empty (c->excludes);
  if (g_str_equal (name, "SshAddresses"))
    return strv_or_empty (c->ssh_addresses);
  if (g_str_equal (name, "Hosts"))
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ss)"));
      g_tree_foreach (c->hosts, add_host, &b);
      return g_variant_builder_end (&b);
    }
  if (c->counters != NULL)
    c->counters (c->counters_data, &n);
  if (g_str_equal (name, "BytesSent"))
    return g_variant_new_uint64 (n.bytes_sent);
  if (g_str_equal (name, "BytesReceived"))
    return g_variant_new_uint64 (n.bytes_received);
  if (g_str_equal (name, "OpenSessions"))
    return g_variant_new_uint32 (n.open_sessions);
  if (g_str_equal (name, "DatagramsSent"))
    return g_variant_new_uint64 (n.datagrams_sent);
  if (g_str_equal (name, "DatagramsReceived"))
    return g_variant_new_uint64 (n.datagrams_received);
  if (g_str_equal (name, "DatagramBytesSent"))
    return g_variant_new_uint64 (n.datagram_bytes_sent);
  if (g_str_equal (name, "DatagramBytesReceived"))
    return g_variant_new_uint64 (n.datagram_bytes_received);
  if (g_str_equal (name, "OpenFlows"))
    return g_variant_new_uint32 (n.open_flows);
  /* GDBus only asks for properties of the interface's XML */
  g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "no property %s", name);
  return NULL;
}

static const GDBusInterfaceVTable vtable = { method_call, get_property, NULL };

static void
on_closed (GDBusConnection *conn, gboolean remote_peer_vanished, GError *error, gpointer data)
{
  /* Our controller is gone (NetworkManager stopped the plugin, or it
   * crashed): nobody would remove a tunnel that stayed up. */
  stop (data);
}

static void
on_session_bus (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *bus = g_bus_get_finish (res, &error);
  ShControl *c;

  if (bus == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        sh_debug ("no session bus, the engine's status is not published: %s", error->message);
      return;
    }
  c = data;
  c->bus = bus;
  c->bus_registration = g_dbus_connection_register_object (
      bus, SH_ENGINE_PATH, (GDBusInterfaceInfo *) &sh_ctl_engine1_interface, &vtable, c, NULL,
      &error);
  if (c->bus_registration == 0)
    {
      sh_debug ("cannot publish the engine's status: %s", error->message);
      return;
    }
  g_autofree char *name = g_strdup_printf (SH_ENGINE_SESSION_PREFIX "%d", (int) getpid ());
  c->bus_name = g_bus_own_name_on_connection (bus, name, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE, NULL,
                                              NULL, NULL, NULL);
  sh_debug ("status published on the session bus as %s", name);
}

/* A session bus we may use: one named in the environment, or the user's
 * bus socket. Never autolaunch one (that would start a dbus-daemon). */
static gboolean
have_session_bus (void)
{
  g_autofree char *sock = NULL;

  if (g_getenv ("DBUS_SESSION_BUS_ADDRESS") != NULL)
    return TRUE;
  sock = g_build_filename (g_get_user_runtime_dir (), "bus", NULL);
  return g_file_test (sock, G_FILE_TEST_EXISTS) && getuid () != 0;
}

ShControl *
sh_control_new (int fd, gboolean session_bus, GSourceFunc on_stop, gpointer data, GError **error)
{
  g_autoptr (ShControl) c = g_new0 (ShControl, 1);

  c->on_stop = on_stop;
  c->on_stop_data = data;
  c->hosts = g_tree_new_full (compare_names, NULL, g_free, g_free);
  c->cancel = g_cancellable_new ();
  if (fd >= 0)
    {
      g_autoptr (GSocket) sock = g_socket_new_from_fd (fd, error);
      g_autoptr (GSocketConnection) stream = NULL;
      if (sock == NULL)
        return NULL;
      stream = g_socket_connection_factory_create_connection (sock);
      c->conn = g_dbus_connection_new_sync (G_IO_STREAM (stream), NULL,
                                            G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL,
                                            NULL, error);
      if (c->conn == NULL)
        return NULL;
      g_dbus_connection_set_exit_on_close (c->conn, FALSE);
      c->registration = g_dbus_connection_register_object (
          c->conn, SH_ENGINE_PATH, (GDBusInterfaceInfo *) &sh_ctl_engine1_interface, &vtable, c,
          NULL, error);
      if (c->registration == 0)
        return NULL;
      c->closed_handler = g_signal_connect (c->conn, "closed", G_CALLBACK (on_closed), c);
    }
  if (session_bus && have_session_bus ())
    g_bus_get (G_BUS_TYPE_SESSION, c->cancel, on_session_bus, c);
  return g_steal_pointer (&c);
}

GDBusConnection *
sh_control_get_connection (ShControl *c)
{
  return c->conn;
}

/* Publishes the state and what goes with it; the reconnect fields are
 * set by the caller before. */
static void
publish_state (ShControl *c, ShControlState state, const char *failure)
{
  GVariantBuilder changed;
  gboolean same = c->state == state;

  if (state == SH_CONTROL_CONNECTED && c->state != SH_CONTROL_CONNECTED)
    c->connected_since = g_get_real_time () / G_USEC_PER_SEC;
  else if (state != SH_CONTROL_CONNECTED)
    c->connected_since = 0;
  c->state = state;
  g_free (c->failure);
  c->failure = g_strdup (state == SH_CONTROL_FAILED && failure ? failure : "");
  /* A new reason or time while reconnecting is no new state. */
  if (!same || state != SH_CONTROL_RECONNECTING)
    emit (c, SH_ENGINE_IFACE, "StateChanged",
          g_variant_new ("(ss)", state_names[state], c->failure));
  g_variant_builder_init (&changed, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&changed, "{sv}", "State", g_variant_new_string (state_names[state]));
  g_variant_builder_add (&changed, "{sv}", "Failure", g_variant_new_string (c->failure));
  g_variant_builder_add (&changed, "{sv}", "ConnectedSince",
                         g_variant_new_int64 (c->connected_since));
  g_variant_builder_add (&changed, "{sv}", "ReconnectReason",
                         g_variant_new_string (c->reconnect_reason ? c->reconnect_reason : ""));
  g_variant_builder_add (&changed, "{sv}", "ReconnectAt", g_variant_new_int64 (c->reconnect_at));
  /* Set once at start, but a client that read before the engine was there
   * (NetworkManager's re-export answers with fallbacks then) learns it here. */
  g_variant_builder_add (&changed, "{sv}", "Door", g_variant_new_string (c->door ? c->door : ""));
  emit_changed (c, &changed);
}

void
sh_control_set_state (ShControl *c, ShControlState state, const char *failure)
{
  if (c == NULL)
    return;
  if (state != SH_CONTROL_RECONNECTING)
    {
      g_clear_pointer (&c->reconnect_reason, g_free);
      c->reconnect_at = 0;
    }
  publish_state (c, state, failure);
}

void
sh_control_set_reconnecting (ShControl *c, const char *reason, gint64 at)
{
  if (c == NULL)
    return;
  if (reason != NULL)
    {
      g_free (c->reconnect_reason);
      c->reconnect_reason = g_strdup (reason);
    }
  c->reconnect_at = at;
  publish_state (c, SH_CONTROL_RECONNECTING, NULL);
}

void
sh_control_set_info (ShControl *c, const char *server, const char *const *excludes)
{
  if (c == NULL)
    return;
  g_free (c->server);
  c->server = g_strdup (server);
  g_strfreev (c->excludes);
  c->excludes = g_strdupv ((char **) excludes);
}

void
sh_control_set_ssh_addresses (ShControl *c, const char *const *addresses)
{
  if (c == NULL)
    return;
  g_strfreev (c->ssh_addresses);
  c->ssh_addresses = g_strdupv ((char **) addresses);
}

void
sh_control_set_door (ShControl *c, const char *path)
{
  if (c == NULL)
    return;
  g_free (c->door);
  c->door = g_strdup (path);
}

void
sh_control_set_routes (ShControl *c, const char *const *routes)
{
  GVariantBuilder changed;

  if (c == NULL)
    return;
  g_strfreev (c->routes);
  c->routes = g_strdupv ((char **) routes);
  g_variant_builder_init (&changed, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&changed, "{sv}", "Routes", strv_or_empty (c->routes));
  emit_changed (c, &changed);
}

void
sh_control_add_host (ShControl *c, const char *name, const char *address)
{
  const char *old;

  if (c == NULL)
    return;
  old = g_tree_lookup (c->hosts, name);
  if (old != NULL && g_str_equal (old, address))
    return;
  g_tree_replace (c->hosts, g_strdup (name), g_strdup (address));
  if (c->added == NULL)
    c->added = g_variant_builder_new (G_VARIANT_TYPE ("a(ss)"));
  g_variant_builder_add (c->added, "(ss)", name, address);
}

void
sh_control_flush_hosts (ShControl *c)
{
  if (c == NULL || c->added == NULL)
    return;
  emit (c, SH_ENGINE_IFACE, "HostsChanged", g_variant_new ("(a(ss))", c->added));
  g_clear_pointer (&c->added, g_variant_builder_unref);
}

void
sh_control_set_counters_func (ShControl *c, ShControlCountersFunc func, gpointer data)
{
  if (c == NULL)
    return;
  c->counters = func;
  c->counters_data = data;
}

void
sh_control_free (ShControl *c)
{
  if (c == NULL)
    return;
  g_cancellable_cancel (c->cancel);
  g_clear_object (&c->cancel);
  if (c->bus != NULL)
    {
      if (c->bus_name != 0)
        g_bus_unown_name (c->bus_name);
      if (c->bus_registration != 0)
        g_dbus_connection_unregister_object (c->bus, c->bus_registration);
      g_dbus_connection_flush_sync (c->bus, NULL, NULL);
      g_clear_object (&c->bus);
    }
  if (c->conn != NULL)
    {
      g_clear_signal_handler (&c->closed_handler, c->conn);
      if (c->registration != 0)
        g_dbus_connection_unregister_object (c->conn, c->registration);
      /* The last StateChanged must reach the service before we exit. */
      g_dbus_connection_flush_sync (c->conn, NULL, NULL);
      g_dbus_connection_close_sync (c->conn, NULL, NULL);
      g_object_unref (c->conn);
    }
  g_clear_pointer (&c->added, g_variant_builder_unref);
  g_tree_unref (c->hosts);
  g_strfreev (c->routes);
  g_strfreev (c->excludes);
  g_strfreev (c->ssh_addresses);
  g_free (c->server);
  g_free (c->door);
  g_free (c->failure);
  g_free (c->reconnect_reason);
  g_free (c);
}
