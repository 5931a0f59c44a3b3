/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the plugin's re-export of the engine's signals
 * (nm-plugin/service/nm-shuttle-export.c), on a private bus (GTestDBus): a
 * fake engine on a peer-to-peer connection sends known, unknown and
 * malformed signals; a client that read the status gets only the known
 * ones, addressed to it; a client that only subscribed gets nothing. */
#include "config.h"

#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "nm-shuttle-export.h"

#define ENGINE_PATH "/io/github/shuttlevpn/Engine"
#define ENGINE_IFACE "io.github.shuttlevpn.Engine1"
#define PROPS_IFACE "org.freedesktop.DBus.Properties"

typedef struct
{
  GPtrArray *got; /* "Member TYPE-STRING PRINTED" */
} Client;

static void
on_signal (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
           const char *signal, GVariant *params, gpointer data)
{
  Client *c = data;
  g_autofree char *printed = g_variant_print (params, FALSE);

  g_ptr_array_add (c->got, g_strdup_printf ("%s %s", signal, printed));
}

static GDBusConnection *
connect_bus (const char *address)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *c = g_dbus_connection_new_for_address_sync (
      address,
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);
  g_assert_no_error (error);
  return c;
}

static void
on_peer (GObject *src, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection **out = data;

  *out = g_dbus_connection_new_finish (res, &error);
  g_assert_no_error (error);
}

static gboolean
allow_anonymous (GDBusAuthObserver *o, const char *mechanism, gpointer data)
{
  return g_str_equal (mechanism, "ANONYMOUS");
}

/* Both ends of a peer-to-peer D-Bus connection over a socketpair, the way
 * the plugin talks to its engine. */
static void
peer_pair (GDBusConnection **plugin_end, GDBusConnection **engine_end)
{
  int sv[2];
  g_autoptr (GError) error = NULL;
  g_autofree char *guid = g_dbus_generate_guid ();
  g_autoptr (GDBusAuthObserver) observer = g_dbus_auth_observer_new ();

  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
  g_autoptr (GSocket) s0 = g_socket_new_from_fd (sv[0], &error);
  g_autoptr (GSocket) s1 = g_socket_new_from_fd (sv[1], &error);
  g_assert_no_error (error);
  g_autoptr (GSocketConnection) c0 = g_socket_connection_factory_create_connection (s0);
  g_autoptr (GSocketConnection) c1 = g_socket_connection_factory_create_connection (s1);
  g_signal_connect (observer, "allow-mechanism", G_CALLBACK (allow_anonymous), NULL);
  *plugin_end = *engine_end = NULL;
  g_dbus_connection_new (G_IO_STREAM (c0), guid,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER
                             | G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_ALLOW_ANONYMOUS,
                         observer, NULL, on_peer, plugin_end);
  g_dbus_connection_new (G_IO_STREAM (c1), NULL, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT,
                         NULL, NULL, on_peer, engine_end);
  while (*plugin_end == NULL || *engine_end == NULL)
    g_main_context_iteration (NULL, TRUE);
}

static gboolean
no_disconnect (gpointer data)
{
  return G_SOURCE_REMOVE;
}

static gboolean
got_marker (Client *c)
{
  for (guint i = 0; i < c->got->len; i++)
    if (strstr (g_ptr_array_index (c->got, i), "'marker'") != NULL)
      return TRUE;
  return FALSE;
}

static gboolean
on_timeout (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* The plugin's main context is ours: calls to it are asynchronous. */
static void
on_get_all (GObject *src, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  GVariant **out = data;

  *out = g_dbus_connection_call_finish (G_DBUS_CONNECTION (src), res, &error);
  g_assert_no_error (error);
}

static void
emit (GDBusConnection *engine, const char *iface, const char *member, GVariant *params)
{
  g_autoptr (GError) error = NULL;

  g_dbus_connection_emit_signal (engine, NULL, ENGINE_PATH, iface, member, params, &error);
  g_assert_no_error (error);
}

static void
test_signals (void)
{
  g_autoptr (GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) plugin = NULL, listener = NULL, bystander = NULL;
  g_autoptr (GDBusConnection) plugin_end = NULL, engine_end = NULL;
  g_autoptr (GPtrArray) got_listener = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) got_bystander = g_ptr_array_new_with_free_func (g_free);
  Client cl = { got_listener }, cb = { got_bystander };
  g_autoptr (GVariant) all = NULL;
  ShNmExport *export;
  gboolean timed_out = FALSE;
  guint timer;

  g_test_dbus_up (bus);
  plugin = connect_bus (g_test_dbus_get_bus_address (bus));
  listener = connect_bus (g_test_dbus_get_bus_address (bus));
  bystander = connect_bus (g_test_dbus_get_bus_address (bus));
  g_dbus_connection_signal_subscribe (listener, NULL, NULL, NULL, ENGINE_PATH, NULL,
                                      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &cl, NULL);
  g_dbus_connection_signal_subscribe (bystander, NULL, NULL, NULL, ENGINE_PATH, NULL,
                                      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &cb, NULL);
  /* (GDBus subscribes asynchronously: a round trip to the bus settles it.) */
  g_autoptr (GVariant) ping1 = g_dbus_connection_call_sync (
      listener, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId",
      NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  g_autoptr (GVariant) ping2 = g_dbus_connection_call_sync (
      bystander, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId",
      NULL, NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  export
      = sh_nm_export_new (plugin, getuid (), "work", "uuid-1", "gw", no_disconnect, NULL, &error);
  g_assert_no_error (error);
  peer_pair (&plugin_end, &engine_end);
  sh_nm_export_set_engine (export, plugin_end);
  /* The listener reads the status, as the applet does (the fake engine has
   * no object: the export answers with its fallbacks). */
  g_dbus_connection_call (listener, g_dbus_connection_get_unique_name (plugin), ENGINE_PATH,
                          PROPS_IFACE, "GetAll", g_variant_new ("(s)", ENGINE_IFACE),
                          G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL,
                          on_get_all, &all);
  while (all == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_assert_true (g_variant_is_of_type (all, G_VARIANT_TYPE ("(a{sv})")));

  /* known, with the right arguments */
  emit (engine_end, ENGINE_IFACE, "StateChanged", g_variant_new ("(ss)", "connected", ""));
  emit (engine_end, ENGINE_IFACE, "HostsChanged",
        g_variant_new_parsed ("([('db.lab', '10.1.2.3')],)"));
  /* unknown members, other interfaces, wrong arguments */
  emit (engine_end, ENGINE_IFACE, "Bogus", g_variant_new ("(s)", "x"));
  emit (engine_end, "org.example.Other", "StateChanged", g_variant_new ("(ss)", "x", ""));
  emit (engine_end, ENGINE_IFACE, "StateChanged", g_variant_new ("(s)", "connected"));
  emit (engine_end, ENGINE_IFACE, "HostsChanged", g_variant_new ("(as)", NULL));
  emit (engine_end, PROPS_IFACE, "Bogus", g_variant_new ("(s)", ENGINE_IFACE));
  /* PropertiesChanged: Engine1's own properties of the right type only;
   * Name and Uuid are the plugin's, not the engine's to change */
  emit (engine_end, PROPS_IFACE, "PropertiesChanged",
        g_variant_new_parsed ("('io.github.shuttlevpn.Engine1', {'State': <'connected'>, "
                              "'Name': <'evil'>, 'Routes': <int32 5>, 'Secret': <'x'>}, "
                              "['Uuid', 'Routes', 'Nope'])"));
  emit (engine_end, PROPS_IFACE, "PropertiesChanged",
        g_variant_new_parsed ("('org.example.Other', {'State': <'x'>}, @as [])"));
  emit (engine_end, PROPS_IFACE, "PropertiesChanged",
        g_variant_new_parsed ("('io.github.shuttlevpn.Engine1', {'Name': <'evil'>}, @as [])"));
  emit (engine_end, ENGINE_IFACE, "StateChanged", g_variant_new ("(ss)", "marker", ""));

  timer = g_timeout_add_seconds (10, on_timeout, &timed_out);
  while (!got_marker (&cl) && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  /* a moment for anything the bystander might still be sent */
  for (int i = 0; i < 20; i++)
    g_main_context_iteration (NULL, FALSE);
  g_usleep (100 * 1000);
  while (g_main_context_iteration (NULL, FALSE))
    ;
  if (!timed_out)
    g_source_remove (timer);

  for (guint i = 0; i < got_listener->len; i++)
    g_test_message ("listener got: %s", (char *) g_ptr_array_index (got_listener, i));
  for (guint i = 0; i < got_bystander->len; i++)
    g_test_message ("bystander got: %s", (char *) g_ptr_array_index (got_bystander, i));
#define ANNOUNCE "PropertiesChanged ('io.github.shuttlevpn.Engine1', {}, ['State'])"
  g_assert_cmpuint (got_listener->len, ==, 5);
  /* the object's arrival, to everyone, with no value in it */
  g_assert_cmpstr (g_ptr_array_index (got_listener, 0), ==, ANNOUNCE);
  g_assert_cmpstr (g_ptr_array_index (got_listener, 1), ==, "StateChanged ('connected', '')");
  g_assert_cmpstr (g_ptr_array_index (got_listener, 2), ==,
                   "HostsChanged ([('db.lab', '10.1.2.3')],)");
  g_assert_cmpstr (g_ptr_array_index (got_listener, 3), ==,
                   "PropertiesChanged ('io.github.shuttlevpn.Engine1', {'State': <'connected'>}, "
                   "['Routes'])");
  g_assert_cmpstr (g_ptr_array_index (got_listener, 4), ==, "StateChanged ('marker', '')");
  /* a client that did not read gets nothing but the announcement */
  g_assert_cmpuint (got_bystander->len, ==, 1);
  g_assert_cmpstr (g_ptr_array_index (got_bystander, 0), ==, ANNOUNCE);

  sh_nm_export_free (export);
  g_dbus_connection_close_sync (engine_end, NULL, NULL);
  g_dbus_connection_close_sync (listener, NULL, NULL);
  g_dbus_connection_close_sync (bystander, NULL, NULL);
  g_dbus_connection_close_sync (plugin, NULL, NULL);
  g_test_dbus_down (bus);
}

/* Reads one property through the export, as the applet does. */
static GVariant *
get_prop (GDBusConnection *client, GDBusConnection *plugin, const char *name)
{
  g_autoptr (GVariant) r = NULL;
  GVariant *v = NULL;

  g_dbus_connection_call (client, g_dbus_connection_get_unique_name (plugin), ENGINE_PATH,
                          PROPS_IFACE, "Get", g_variant_new ("(ss)", ENGINE_IFACE, name),
                          G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, on_get_all,
                          &r);
  while (r == NULL)
    g_main_context_iteration (NULL, TRUE);
  g_variant_get (r, "(v)", &v);
  return v;
}

static gboolean
got_prefix (Client *c, const char *prefix)
{
  for (guint i = 0; i < c->got->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (c->got, i), prefix))
      return TRUE;
  return FALSE;
}

/* vpn.persistent between engines: the plugin says "reconnecting", why and
 * when, until the next engine speaks for itself. */
static void
test_reconnecting (void)
{
  g_autoptr (GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) plugin = NULL, listener = NULL;
  g_autoptr (GDBusConnection) plugin_end = NULL, engine_end = NULL;
  g_autoptr (GPtrArray) got = g_ptr_array_new_with_free_func (g_free);
  Client cl = { got };
  ShNmExport *export;
  gboolean timed_out = FALSE;
  guint timer;

  g_test_dbus_up (bus);
  plugin = connect_bus (g_test_dbus_get_bus_address (bus));
  listener = connect_bus (g_test_dbus_get_bus_address (bus));
  g_dbus_connection_signal_subscribe (listener, NULL, NULL, NULL, ENGINE_PATH, NULL,
                                      G_DBUS_SIGNAL_FLAGS_NONE, on_signal, &cl, NULL);
  export
      = sh_nm_export_new (plugin, getuid (), "work", "uuid-1", "gw", no_disconnect, NULL, &error);
  g_assert_no_error (error);
  {
    g_autoptr (GVariant) state = get_prop (listener, plugin, "State");
    g_autoptr (GVariant) at = get_prop (listener, plugin, "ReconnectAt");
    g_assert_cmpstr (g_variant_get_string (state, NULL), ==, "connecting");
    g_assert_cmpint (g_variant_get_int64 (at), ==, 0);
  }

  sh_nm_export_set_reconnecting (export, "the tunnel ended (status 1)", 123456789);
  timer = g_timeout_add_seconds (10, on_timeout, &timed_out);
  while (!got_prefix (&cl, "PropertiesChanged ('io.github.shuttlevpn.Engine1', {'State'")
         && !timed_out)
    g_main_context_iteration (NULL, TRUE);
  if (!timed_out)
    g_source_remove (timer);
  for (guint i = 0; i < got->len; i++)
    g_test_message ("listener got: %s", (char *) g_ptr_array_index (got, i));
  g_assert_true (got_prefix (&cl, "StateChanged ('reconnecting', '')"));
  g_assert_true (got_prefix (
      &cl, "PropertiesChanged ('io.github.shuttlevpn.Engine1', {'State': <'reconnecting'>, "
           "'ReconnectReason': <'the tunnel ended (status 1)'>, 'ReconnectAt': <int64 "
           "123456789>"));
  {
    g_autoptr (GVariant) state = get_prop (listener, plugin, "State");
    g_autoptr (GVariant) why = get_prop (listener, plugin, "ReconnectReason");
    g_assert_cmpstr (g_variant_get_string (state, NULL), ==, "reconnecting");
    g_assert_cmpstr (g_variant_get_string (why, NULL), ==, "the tunnel ended (status 1)");
  }
  /* the next engine starts: the reason stays, nothing to count down */
  sh_nm_export_set_reconnecting (export, NULL, 0);
  {
    g_autoptr (GVariant) why = get_prop (listener, plugin, "ReconnectReason");
    g_autoptr (GVariant) at = get_prop (listener, plugin, "ReconnectAt");
    g_assert_cmpstr (g_variant_get_string (why, NULL), ==, "the tunnel ended (status 1)");
    g_assert_cmpint (g_variant_get_int64 (at), ==, 0);
  }
  /* its connection is there: it speaks for itself (this fake one has no
   * object, so the fallbacks answer: plain "connecting" again) */
  peer_pair (&plugin_end, &engine_end);
  sh_nm_export_set_engine (export, plugin_end);
  {
    g_autoptr (GVariant) state = get_prop (listener, plugin, "State");
    g_autoptr (GVariant) why = get_prop (listener, plugin, "ReconnectReason");
    g_assert_cmpstr (g_variant_get_string (state, NULL), ==, "connecting");
    g_assert_cmpstr (g_variant_get_string (why, NULL), ==, "");
  }

  sh_nm_export_free (export);
  g_dbus_connection_close_sync (engine_end, NULL, NULL);
  g_dbus_connection_close_sync (listener, NULL, NULL);
  g_dbus_connection_close_sync (plugin, NULL, NULL);
  g_test_dbus_down (bus);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nm-export/signals", test_signals);
  g_test_add_func ("/nm-export/reconnecting", test_reconnecting);
  return g_test_run ();
}
