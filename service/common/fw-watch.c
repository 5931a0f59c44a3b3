/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "fw-watch.h"

#include "backoff.h"
#include "shuttle-dbus.h"

struct _ShFwWatch
{
  GDBusConnection *bus;
  ShFwWatchHolds holds;
  GFunc restarting;
  gpointer data;
  guint name_watch;
  gboolean present;     /* the helper owns its name now */
  guint restart_source; /* a pending re-activation of the helper */
  guint restart_ms;     /* the delay before the next re-activation */
  gint64 restarted_at;  /* monotonic time of the last one, 0: none */
  GCancellable *cancel; /* a StartServiceByName in flight */
};

static gboolean restart_helper (gpointer data);

/* A restart after the backoff's delay, unless one is pending already, the
 * helper is there, or nothing is held. */
static void
schedule_restart (ShFwWatch *w)
{
  if (w->restart_source == 0 && !w->present && w->holds (w->data))
    {
      gint64 since = w->restarted_at ? g_get_monotonic_time () - w->restarted_at : -1;
      w->restart_ms = sh_backoff_helper_restart_ms (w->restart_ms, since);
      w->restart_source = g_timeout_add (w->restart_ms, restart_helper, w);
    }
}

/* The bus answers StartServiceByName once the helper owns its name, or with
 * an error when it exited before (Spawn.ChildExited). A helper that never
 * appeared never vanishes either, so without trying again here one failed
 * start would leave the caller's rules with nobody to remove them. Freeing
 * the watch cancels the call, and a cancelled call (even one whose answer
 * had already arrived: GTask checks the cancellable) never touches it. */
static void
on_started (GObject *bus, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (bus), res, &error);
  ShFwWatch *w = data;

  if (r == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_debug ("starting %s again failed: %s", SH_FW_BUS_NAME, error->message);
      schedule_restart (w);
    }
}

static gboolean
restart_helper (gpointer data)
{
  ShFwWatch *w = data;

  w->restart_source = 0;
  w->restarted_at = g_get_monotonic_time ();
  if (w->present || !w->holds (w->data))
    return G_SOURCE_REMOVE;
  if (w->restarting != NULL)
    w->restarting (w->data, NULL);
  g_dbus_connection_call (w->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "StartServiceByName",
                          g_variant_new ("(su)", SH_FW_BUS_NAME, 0u), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, w->cancel, on_started, w);
  return G_SOURCE_REMOVE;
}

static void
on_helper_appeared (GDBusConnection *bus, const char *name, const char *owner, gpointer data)
{
  ShFwWatch *w = data;

  w->present = TRUE;
  g_clear_handle_id (&w->restart_source, g_source_remove);
}

static void
on_helper_vanished (GDBusConnection *bus, const char *name, gpointer data)
{
  ShFwWatch *w = data;

  w->present = FALSE;
  schedule_restart (w);
}

ShFwWatch *
sh_fw_watch_new (GDBusConnection *bus, ShFwWatchHolds holds, GFunc restarting, gpointer data)
{
  ShFwWatch *w = g_new0 (ShFwWatch, 1);

  w->bus = g_object_ref (bus);
  w->holds = holds;
  w->restarting = restarting;
  w->data = data;
  w->cancel = g_cancellable_new ();
  w->name_watch
      = g_bus_watch_name_on_connection (bus, SH_FW_BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                        on_helper_appeared, on_helper_vanished, w, NULL);
  return w;
}

void
sh_fw_watch_free (ShFwWatch *w)
{
  if (w == NULL)
    return;
  g_bus_unwatch_name (w->name_watch);
  g_clear_handle_id (&w->restart_source, g_source_remove);
  g_cancellable_cancel (w->cancel);
  g_clear_object (&w->cancel);
  g_clear_object (&w->bus);
  g_free (w);
}
