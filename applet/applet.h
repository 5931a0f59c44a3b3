/* SPDX-License-Identifier: GPL-2.0-or-later */
/* applet.h — shuttle-applet as a GtkApplication (single instance: starting
 * it again opens the status window of the running one). */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define SH_TYPE_APPLET (sh_applet_get_type ())
G_DECLARE_FINAL_TYPE (ShApplet, sh_applet, SH, APPLET, GtkApplication)

#define SH_APPLET_ID "io.github.shuttlevpn.Applet"

ShApplet *sh_applet_new (void);

G_END_DECLS
