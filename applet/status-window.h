/* SPDX-License-Identifier: GPL-2.0-or-later */
/* status-window.h — the status window: per connection its state and
 * uptime, server, routed subnets, traffic and open connections, and the
 * discovered hosts with a search field and copy buttons. */
#pragma once

#include "connections.h"

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define SH_TYPE_STATUS_WINDOW (sh_status_window_get_type ())
G_DECLARE_FINAL_TYPE (ShStatusWindow, sh_status_window, SH, STATUS_WINDOW, GtkApplicationWindow)

/* A new window of @app following @conns and @engines; it reads the
 * counters only while it is mapped. Buttons use @app's actions (see
 * menu.h). */
GtkWidget *sh_status_window_new (GtkApplication *app, ShConnections *conns, ShEngines *engines);

G_END_DECLS
