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
  guint restart_source; /* a pending re-activation of the helper */
  guint restart_ms;     /* the delay before the next re-activation */
  gint64 restarted_at;  /* monotonic time of the last one, 0: none */
};

static gboolean
restart_helper (gpointer data)
{
  ShFwWatch *w = data;

  w->restart_source = 0;
  w->restarted_at = g_get_monotonic_time ();
  if (!w->holds (w->data))
    return G_SOURCE_REMOVE;
  if (w->restarting != NULL)
    w->restarting (w->data, NULL);
  g_dbus_connection_call (w->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "StartServiceByName",
                          g_variant_new ("(su)", SH_FW_BUS_NAME, 0u), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL, NULL);
  return G_SOURCE_REMOVE;
}

static void
on_helper_vanished (GDBusConnection *bus, const char *name, gpointer data)
{
  ShFwWatch *w = data;

  if (w->restart_source == 0 && w->holds (w->data))
    {
      gint64 since = w->restarted_at ? g_get_monotonic_time () - w->restarted_at : -1;
      w->restart_ms = sh_backoff_helper_restart_ms (w->restart_ms, since);
      w->restart_source = g_timeout_add (w->restart_ms, restart_helper, w);
    }
}

ShFwWatch *
sh_fw_watch_new (GDBusConnection *bus, ShFwWatchHolds holds, GFunc restarting, gpointer data)
{
  ShFwWatch *w = g_new0 (ShFwWatch, 1);

  w->bus = g_object_ref (bus);
  w->holds = holds;
  w->restarting = restarting;
  w->data = data;
  w->name_watch = g_bus_watch_name_on_connection (
      bus, SH_FW_BUS_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL, on_helper_vanished, w, NULL);
  return w;
}

void
sh_fw_watch_free (ShFwWatch *w)
{
  if (w == NULL)
    return;
  g_bus_unwatch_name (w->name_watch);
  g_clear_handle_id (&w->restart_source, g_source_remove);
  g_clear_object (&w->bus);
  g_free (w);
}
