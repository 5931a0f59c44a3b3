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

/* A private bus, the caller's connection with its watch, and a second
 * connection that plays the helper, which owns the name at the start. */
typedef struct
{
  GTestDBus *bus;
  GDBusConnection *caller, *helper;
  ShFwWatch *watch;
  Caller c;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer holds_at_start)
{
  f->bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (f->bus);
  f->caller = connect_bus (f->bus);
  f->helper = connect_bus (f->bus);
  f->c.holds = GPOINTER_TO_INT (holds_at_start);
  own (f->helper, TRUE);
  f->watch = sh_fw_watch_new (f->caller, holds, restarting, &f->c);
  spin (&f->c, 0, 100);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  sh_fw_watch_free (f->watch);
  g_clear_object (&f->caller);
  g_clear_object (&f->helper);
  g_test_dbus_down (f->bus);
  g_clear_object (&f->bus);
}

static void
test_restart (Fixture *f, gconstpointer unused)
{
  Caller *c = &f->c;
  GDBusConnection *helper = f->helper;
  gint64 left;

  /* Holding nothing: a helper that leaves is left alone. */
  own (helper, FALSE);
  spin (c, 0, SH_HELPER_RESTART_MS * 2);
  g_assert_cmpuint (c->restarts, ==, 0);

  /* Holding something: started again after SH_HELPER_RESTART_MS. */
  c->holds = TRUE;
  own (helper, TRUE);
  spin (c, 0, 100);
  left = g_get_monotonic_time ();
  own (helper, FALSE);
  spin (c, 1, 5000);
  g_assert_cmpuint (c->restarts, ==, 1);
  g_assert_cmpint (c->restarted_at - left, >=, (SH_HELPER_RESTART_MS - 50) * 1000);

  /* Leaving again soon after that restart: the delay doubles. */
  own (helper, TRUE);
  spin (c, 0, 100);
  left = g_get_monotonic_time ();
  own (helper, FALSE);
  spin (c, 2, 5000);
  g_assert_cmpuint (c->restarts, ==, 2);
  g_assert_cmpint (c->restarted_at - left, >=, (2 * SH_HELPER_RESTART_MS - 50) * 1000);

  /* Nothing held any more by the time the restart is due: none. */
  own (helper, TRUE);
  spin (c, 0, 100);
  own (helper, FALSE);
  spin (c, 0, 50);
  c->holds = FALSE;
  spin (c, 0, 8 * SH_HELPER_RESTART_MS);
  g_assert_cmpuint (c->restarts, ==, 2);
}

/* A start that fails (here the private bus knows no such service; on the
 * system bus, a helper that exits before it owns its name) never makes the
 * helper appear, so it can never vanish: the watcher must try again by
 * itself, with growing delays, until a helper is there. */
static void
test_failed_start (Fixture *f, gconstpointer unused)
{
  Caller *c = &f->c;
  GDBusConnection *helper = f->helper;
  gint64 first;

  own (helper, FALSE);
  spin (c, 1, 5000);
  g_assert_cmpuint (c->restarts, ==, 1);
  first = c->restarted_at;
  /* nobody took the name: tried again, after twice the delay */
  spin (c, 2, 5000);
  g_assert_cmpuint (c->restarts, ==, 2);
  g_assert_cmpint (c->restarted_at - first, >=, (2 * SH_HELPER_RESTART_MS - 50) * 1000);

  /* a helper that is there ends the retries */
  own (helper, TRUE);
  spin (c, 0, 8 * SH_HELPER_RESTART_MS);
  g_assert_cmpuint (c->restarts, ==, 2);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add ("/fw-watch/restart", Fixture, GINT_TO_POINTER (FALSE), fixture_set_up, test_restart,
              fixture_tear_down);
  g_test_add ("/fw-watch/failed-start", Fixture, GINT_TO_POINTER (TRUE), fixture_set_up,
              test_failed_start, fixture_tear_down);
  return g_test_run ();
}
