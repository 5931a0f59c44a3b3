/* SPDX-License-Identifier: GPL-2.0-or-later */
/* control.c — io.github.shuttlevpn.Engine1 on a peer-to-peer connection. */
#include "config.h"

#include "control.h"

#include <gio/gunixsocketaddress.h>

#include "engine-iface.h"

#define ENGINE_PATH "/io/github/shuttlevpn/Engine"
#define ENGINE_IFACE "io.github.shuttlevpn.Engine1"

struct _ShControl
{
  GDBusConnection *conn;
  guint registration;
  gulong closed_handler;
  ShControlState state;
  char *failure;
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

static void
stop (ShControl *c)
{
  if (c->stopped)
    return;
  c->stopped = TRUE;
  c->on_stop (c->on_stop_data);
}

static void
method_call (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer data)
{
  /* Only Disconnect exists; GDBus has checked the name and signature. */
  g_dbus_method_invocation_return_value (inv, NULL);
  g_dbus_connection_flush (conn, NULL, NULL, NULL);
  stop (data);
}

static GVariant *
get_property (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
              const char *name, GError **error, gpointer data)
{
  ShControl *c = data;

  if (g_str_equal (name, "State"))
    return g_variant_new_string (state_names[c->state]);
  return g_variant_new_string (c->failure ? c->failure : "");
}

static const GDBusInterfaceVTable vtable = { method_call, get_property, NULL };

static void
on_closed (GDBusConnection *conn, gboolean remote_peer_vanished, GError *error, gpointer data)
{
  /* Our controller is gone (NetworkManager stopped the plugin, or it
   * crashed): nobody would remove a tunnel that stayed up. */
  stop (data);
}

ShControl *
sh_control_new (int fd, GSourceFunc on_stop, gpointer data, GError **error)
{
  g_autoptr (ShControl) c = g_new0 (ShControl, 1);
  g_autoptr (GSocket) sock = NULL;
  g_autoptr (GSocketConnection) stream = NULL;

  c->on_stop = on_stop;
  c->on_stop_data = data;
  sock = g_socket_new_from_fd (fd, error);
  if (sock == NULL)
    return NULL;
  stream = g_socket_connection_factory_create_connection (sock);
  c->conn = g_dbus_connection_new_sync (
      G_IO_STREAM (stream), NULL, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT, NULL, NULL, error);
  if (c->conn == NULL)
    return NULL;
  g_dbus_connection_set_exit_on_close (c->conn, FALSE);
  c->registration = g_dbus_connection_register_object (
      c->conn, ENGINE_PATH, (GDBusInterfaceInfo *) &sh_ctl_engine1_interface, &vtable, c, NULL,
      error);
  if (c->registration == 0)
    return NULL;
  c->closed_handler = g_signal_connect (c->conn, "closed", G_CALLBACK (on_closed), c);
  return g_steal_pointer (&c);
}

GDBusConnection *
sh_control_get_connection (ShControl *c)
{
  return c->conn;
}

void
sh_control_set_state (ShControl *c, ShControlState state, const char *failure)
{
  GVariantBuilder changed;

  if (c == NULL)
    return;
  c->state = state;
  g_free (c->failure);
  c->failure = g_strdup (state == SH_CONTROL_FAILED && failure ? failure : "");
  g_dbus_connection_emit_signal (c->conn, NULL, ENGINE_PATH, ENGINE_IFACE, "StateChanged",
                                 g_variant_new ("(ss)", state_names[state], c->failure), NULL);
  g_variant_builder_init (&changed, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&changed, "{sv}", "State", g_variant_new_string (state_names[state]));
  g_variant_builder_add (&changed, "{sv}", "Failure", g_variant_new_string (c->failure));
  g_dbus_connection_emit_signal (c->conn, NULL, ENGINE_PATH, "org.freedesktop.DBus.Properties",
                                 "PropertiesChanged",
                                 g_variant_new ("(sa{sv}as)", ENGINE_IFACE, &changed, NULL), NULL);
}

void
sh_control_free (ShControl *c)
{
  if (c == NULL)
    return;
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
  g_free (c->failure);
  g_free (c);
}
