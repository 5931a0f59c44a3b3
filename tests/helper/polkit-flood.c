/* SPDX-License-Identifier: GPL-2.0-or-later */
/* polkit-flood — for the helper tests: many authorization questions from
 * one uid that stay pending for real.
 *
 *   polkit-flood COUNT SECONDS PORT
 *
 * Registers itself with polkitd as the authentication agent of its own
 * process, an agent that is asked and never answers (as a person who walks
 * away from a password dialog), then sends COUNT ApplyTunnel calls to
 * shuttle-firewall at once, each on a connection of its own (COUNT bus
 * names, one process, so one agent covers them all). Prints one JSON line
 * per event: {"event": "asked"|"cancelled"} from the agent's side and
 * {"event": "reply", "i": N, "t": SECONDS, "ok": BOOL, "error": NAME,
 * "msg": TEXT} per call; after SECONDS it prints {"event": "end"} and
 * exits. */

#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define AGENT_PATH "/io/github/shuttlevpn/TestAgent"

static const char agent_xml[]
    = "<node><interface name='org.freedesktop.PolicyKit1.AuthenticationAgent'>"
      "<method name='BeginAuthentication'>"
      "<arg type='s' direction='in'/><arg type='s' direction='in'/>"
      "<arg type='s' direction='in'/><arg type='a{ss}' direction='in'/>"
      "<arg type='s' name='cookie' direction='in'/><arg type='a(sa{sv})' direction='in'/>"
      "</method>"
      "<method name='CancelAuthentication'><arg type='s' direction='in'/></method>"
      "</interface></node>";

static GHashTable *held; /* cookie -> the BeginAuthentication call, never answered */
static gint64 t0;

static void
print_event (const char *event, const char *detail)
{
  g_autofree char *quoted = g_strescape (detail != NULL ? detail : "", NULL);

  printf ("{\"event\": \"%s\", \"detail\": \"%s\"}\n", event, quoted);
  fflush (stdout);
}

static void
agent_call (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
            const char *method, GVariant *params, GDBusMethodInvocation *invocation, gpointer data)
{
  const char *action, *cookie;
  GDBusMethodInvocation *begun;

  if (g_str_equal (method, "BeginAuthentication"))
    {
      g_variant_get (params, "(&s&s&s@a{ss}&s@a(sa{sv}))", &action, NULL, NULL, NULL, &cookie,
                     NULL);
      print_event ("asked", action);
      g_hash_table_insert (held, g_strdup (cookie), g_object_ref (invocation));
      return;
    }
  g_variant_get (params, "(&s)", &cookie);
  print_event ("cancelled", cookie);
  begun = g_hash_table_lookup (held, cookie);
  if (begun != NULL)
    {
      g_dbus_method_invocation_return_dbus_error (
          begun, "org.freedesktop.PolicyKit1.Error.Cancelled", "cancelled");
      g_hash_table_remove (held, cookie);
    }
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static const GDBusInterfaceVTable agent_vtable = { agent_call, NULL, NULL, { 0 } };

static void
on_reply (GObject *source, GAsyncResult *result, gpointer data)
{
  guint i = GPOINTER_TO_UINT (data);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply
      = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  g_autofree char *name = NULL;
  g_autofree char *msg = NULL;

  if (reply == NULL)
    {
      name = g_dbus_error_get_remote_error (error);
      g_dbus_error_strip_remote_error (error);
      msg = g_strescape (error->message, NULL);
    }
  printf ("{\"event\": \"reply\", \"i\": %u, \"t\": %.3f, \"ok\": %s, \"error\": \"%s\", "
          "\"msg\": \"%s\"}\n",
          i, (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC, reply ? "true" : "false",
          name ? name : "", msg ? msg : "");
  fflush (stdout);
}

/* The start time polkit keys a process by (field 22 of /proc/self/stat). */
static guint64
start_time (void)
{
  g_autofree char *stat = NULL;
  g_auto (GStrv) fields = NULL;
  const char *after;

  if (!g_file_get_contents ("/proc/self/stat", &stat, NULL, NULL)
      || (after = strrchr (stat, ')')) == NULL)
    return 0;
  fields = g_strsplit (after + 2, " ", -1);
  return g_strv_length (fields) > 19 ? g_ascii_strtoull (fields[19], NULL, 10) : 0;
}

static gboolean
quit (gpointer loop)
{
  g_main_loop_quit (loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (GDBusNodeInfo) info = NULL;
  g_autoptr (GVariant) registered = NULL;
  g_autoptr (GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autofree char *address = NULL;
  g_autoptr (GPtrArray) conns = g_ptr_array_new_with_free_func (g_object_unref);
  GVariantBuilder subject;
  guint count, seconds, port;

  if (argc != 4)
    {
      fprintf (stderr, "usage: polkit-flood COUNT SECONDS PORT\n");
      return 2;
    }
  count = (guint) atoi (argv[1]);
  seconds = (guint) atoi (argv[2]);
  port = (guint) atoi (argv[3]);
  held = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);

  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  info = bus ? g_dbus_node_info_new_for_xml (agent_xml, &error) : NULL;
  if (info == NULL
      || !g_dbus_connection_register_object (bus, AGENT_PATH, info->interfaces[0], &agent_vtable,
                                             NULL, NULL, &error))
    {
      fprintf (stderr, "polkit-flood: %s\n", error->message);
      return 1;
    }
  g_variant_builder_init (&subject, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&subject, "{sv}", "pid", g_variant_new_uint32 ((guint32) getpid ()));
  g_variant_builder_add (&subject, "{sv}", "start-time", g_variant_new_uint64 (start_time ()));
  registered = g_dbus_connection_call_sync (
      bus, "org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority",
      "org.freedesktop.PolicyKit1.Authority", "RegisterAuthenticationAgent",
      g_variant_new ("((sa{sv})ss)", "unix-process", &subject, "C", AGENT_PATH), NULL,
      G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);
  if (registered == NULL)
    {
      fprintf (stderr, "polkit-flood: cannot register the agent: %s\n", error->message);
      return 1;
    }
  print_event ("registered", NULL);

  address = g_dbus_address_get_for_bus_sync (G_BUS_TYPE_SYSTEM, NULL, &error);
  if (address == NULL)
    {
      fprintf (stderr, "polkit-flood: %s\n", error->message);
      return 1;
    }
  t0 = g_get_monotonic_time ();
  for (guint i = 0; i < count; i++)
    {
      static const guint8 lan[4] = { 10, 231, 2, 0 };
      g_autofree char *label = g_strdup_printf ("flood%u", i);
      GDBusConnection *c = g_dbus_connection_new_for_address_sync (
          address,
          G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
              | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
          NULL, NULL, &error);
      GVariantBuilder subnets;

      if (c == NULL)
        {
          fprintf (stderr, "polkit-flood: %s\n", error->message);
          return 1;
        }
      g_ptr_array_add (conns, c);
      g_variant_builder_init (&subnets, G_VARIANT_TYPE ("a(yayyqq)"));
      g_variant_builder_add (&subnets, "(y@ayyqq)", 4,
                             g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, lan, 4, 1), 24, 0, 0);
      g_dbus_connection_call (
          c, "io.github.shuttlevpn.Firewall1", "/io/github/shuttlevpn/Firewall1",
          "io.github.shuttlevpn.Firewall1", "ApplyTunnel",
          g_variant_new ("(sqa(yayyqq)a(yayyqq)a(yay)a{sv})", label, (guint16) port, &subnets, NULL,
                         NULL, NULL),
          G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, G_MAXINT, NULL,
          on_reply, GUINT_TO_POINTER (i));
    }
  g_timeout_add_seconds (seconds, quit, loop);
  g_main_loop_run (loop);
  print_event ("end", NULL);
  g_hash_table_unref (held);
  return 0;
}
