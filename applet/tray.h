/* SPDX-License-Identifier: GPL-2.0-or-later */
/* tray.h — the applet's tray item (a StatusNotifierItem), whatever
 * implements it: today libayatana-appindicator3 (tray-ayatana.c); a direct
 * StatusNotifierItem + dbusmenu implementation can replace that file. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

typedef struct _ShTray ShTray;

/* Called with TRUE when a tray host (org.kde.StatusNotifierWatcher on the
 * session bus) is there, FALSE when there is none; first once the bus
 * answered, then on every change. */
typedef void (*ShTrayHostFunc) (gboolean present, gpointer data);

/* A new, visible item with the id @id (stable: hosts remember positions by
 * it) and the title @title. */
ShTray *sh_tray_new (const char *id, const char *title, ShTrayHostFunc host_func, gpointer data);

/* @icon_name is looked up in the icon theme; @description is read by
 * screen readers and shown where the host has no icon. */
void sh_tray_set_icon (ShTray *tray, const char *icon_name, const char *description);

/* The item's menu; the tray takes a reference. Changing the menu's items
 * later is seen by the host. */
void sh_tray_set_menu (ShTray *tray, GtkMenu *menu);

void sh_tray_free (ShTray *tray);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShTray, sh_tray_free)

G_END_DECLS
