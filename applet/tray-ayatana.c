/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tray-ayatana.c — ShTray on libayatana-appindicator3. */
#include "config.h"

#include "tray.h"

#include <libayatana-appindicator/app-indicator.h>

#define WATCHER_NAME "org.kde.StatusNotifierWatcher"

struct _ShTray
{
  AppIndicator *indicator;
  guint watch;
  ShTrayHostFunc host_func;
  gpointer data;
};

/* The indicator itself registers with a watcher whenever one appears; we
 * watch the name only to tell the applet, which must not show nothing
 * where no tray exists. */
static void
on_watcher (GDBusConnection *conn, const char *name, const char *owner, gpointer data)
{
  ShTray *tray = data;

  tray->host_func (TRUE, tray->data);
}

static void
on_no_watcher (GDBusConnection *conn, const char *name, gpointer data)
{
  ShTray *tray = data;

  tray->host_func (FALSE, tray->data);
}

ShTray *
sh_tray_new (const char *id, const char *title, ShTrayHostFunc host_func, gpointer data)
{
  ShTray *tray = g_new0 (ShTray, 1);

  tray->indicator
      = app_indicator_new (id, "shuttle-disconnected", APP_INDICATOR_CATEGORY_COMMUNICATIONS);
  app_indicator_set_title (tray->indicator, title);
  app_indicator_set_status (tray->indicator, APP_INDICATOR_STATUS_ACTIVE);
  tray->host_func = host_func;
  tray->data = data;
  tray->watch = g_bus_watch_name (G_BUS_TYPE_SESSION, WATCHER_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                  on_watcher, on_no_watcher, tray, NULL);
  return tray;
}

void
sh_tray_set_icon (ShTray *tray, const char *icon_name, const char *description)
{
  app_indicator_set_icon_full (tray->indicator, icon_name, description);
}

void
sh_tray_set_menu (ShTray *tray, GtkMenu *menu)
{
  app_indicator_set_menu (tray->indicator, menu);
}

void
sh_tray_free (ShTray *tray)
{
  if (tray == NULL)
    return;
  g_bus_unwatch_name (tray->watch);
  g_object_unref (tray->indicator);
  g_free (tray);
}
