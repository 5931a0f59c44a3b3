/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-fw-watch.c — the watcher that starts shuttle-firewall again when it
 * leaves while its caller holds something (service/common/fw-watch.c), on a
 * private bus (GTestDBus) where a second connection plays the helper. */
#include "config.h"

#include <gio/gio.h>

#include "backoff.h"
#include "fw-watch.h"
#include "shuttle-dbus.h"

typedef struct
{
  gboolean holds;
  guint restarts;
  gint64 restarted_at;
} Caller;

static gboolean
holds (gpointer data)
{
  return ((Caller *) data)->holds;
}

static void
restarting (gpointer data, gpointer unused)
{
  Caller *c = data;

  c->restarts++;
  c->restarted_at = g_get_monotonic_time ();
}

static GDBusConnection *
connect_bus (GTestDBus *bus)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *c = g_dbus_connection_new_for_address_sync (
      g_test_dbus_get_bus_address (bus),
      G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
          | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
      NULL, NULL, &error);

  g_assert_no_error (error);
  return c;
}

/* The helper's name taken (TRUE) or given up (FALSE) by @helper. */
static void
own (GDBusConnection *helper, gboolean take)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (
      helper, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
      take ? "RequestName" : "ReleaseName",
      take ? g_variant_new ("(su)", SH_FW_BUS_NAME, 0u) : g_variant_new ("(s)", SH_FW_BUS_NAME),
      NULL, G_DBUS_CALL_FLAGS_NONE, -1, NULL, &error);

  g_assert_no_error (error);
}

/* Runs the main loop for @ms, or until @c has seen @restarts restarts. */
static void
spin (Caller *c, guint restarts, guint ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;

  while (g_get_monotonic_time () < end && (restarts == 0 || c->restarts < restarts))
    g_main_context_iteration (NULL, FALSE), g_usleep (1000);
}

static void
test_restart (void)
{
  g_autoptr (GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_autoptr (GDBusConnection) caller = NULL, helper = NULL;
  Caller c = { FALSE };
  ShFwWatch *watch;
  gint64 left;

  g_test_dbus_up (bus);
  caller = connect_bus (bus);
  helper = connect_bus (bus);
  own (helper, TRUE);
  watch = sh_fw_watch_new (caller, holds, restarting, &c);
  spin (&c, 0, 100);

  /* Holding nothing: a helper that leaves is left alone. */
  own (helper, FALSE);
  spin (&c, 0, SH_HELPER_RESTART_MS * 2);
  g_assert_cmpuint (c.restarts, ==, 0);

  /* Holding something: started again after SH_HELPER_RESTART_MS. */
  c.holds = TRUE;
  own (helper, TRUE);
  spin (&c, 0, 100);
  left = g_get_monotonic_time ();
  own (helper, FALSE);
  spin (&c, 1, 5000);
  g_assert_cmpuint (c.restarts, ==, 1);
  g_assert_cmpint (c.restarted_at - left, >=, (SH_HELPER_RESTART_MS - 50) * 1000);

  /* Leaving again soon after that restart: the delay doubles. */
  own (helper, TRUE);
  spin (&c, 0, 100);
  left = g_get_monotonic_time ();
  own (helper, FALSE);
  spin (&c, 2, 5000);
  g_assert_cmpuint (c.restarts, ==, 2);
  g_assert_cmpint (c.restarted_at - left, >=, (2 * SH_HELPER_RESTART_MS - 50) * 1000);

  /* Nothing held any more by the time the restart is due: none. */
  own (helper, TRUE);
  spin (&c, 0, 100);
  own (helper, FALSE);
  spin (&c, 0, 50);
  c.holds = FALSE;
  spin (&c, 0, 8 * SH_HELPER_RESTART_MS);
  g_assert_cmpuint (c.restarts, ==, 2);

  sh_fw_watch_free (watch);
  g_clear_object (&caller);
  g_clear_object (&helper);
  g_test_dbus_down (bus);
}

/* A start that fails (here the private bus knows no such service; on the
 * system bus, a helper that exits before it owns its name) never makes the
 * helper appear, so it can never vanish: the watcher must try again by
 * itself, with growing delays, until a helper is there. */
static void
test_failed_start (void)
{
  g_autoptr (GTestDBus) bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_autoptr (GDBusConnection) caller = NULL, helper = NULL;
  Caller c = { TRUE };
  ShFwWatch *watch;
  gint64 first;

  g_test_dbus_up (bus);
  caller = connect_bus (bus);
  helper = connect_bus (bus);
  own (helper, TRUE);
  watch = sh_fw_watch_new (caller, holds, restarting, &c);
  spin (&c, 0, 100);

  own (helper, FALSE);
  spin (&c, 1, 5000);
  g_assert_cmpuint (c.restarts, ==, 1);
  first = c.restarted_at;
  /* nobody took the name: tried again, after twice the delay */
  spin (&c, 2, 5000);
  g_assert_cmpuint (c.restarts, ==, 2);
  g_assert_cmpint (c.restarted_at - first, >=, (2 * SH_HELPER_RESTART_MS - 50) * 1000);

  /* a helper that is there ends the retries */
  own (helper, TRUE);
  spin (&c, 0, 8 * SH_HELPER_RESTART_MS);
  g_assert_cmpuint (c.restarts, ==, 2);

  sh_fw_watch_free (watch);
  g_clear_object (&caller);
  g_clear_object (&helper);
  g_test_dbus_down (bus);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/fw-watch/restart", test_restart);
  g_test_add_func ("/fw-watch/failed-start", test_failed_start);
  return g_test_run ();
}
