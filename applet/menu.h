/* SPDX-License-Identifier: GPL-2.0-or-later */
/* menu.h — the tray menu: one check item per Shuttle connection with its
 * state underneath, a "Discovered hosts" submenu per active connection,
 * "Run a program in this tunnel…" under each connected one whose engine has
 * a door, then Status…, Edit connections… and Quit. */
#pragma once

#include "connections.h"

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Replaces the items of @menu by ones for the current state of @conns and
 * @engines. The items activate actions of @actions (the application):
 * "connect" (s uuid), "disconnect" (s uuid), "stop-engine" (s bus name of
 * a standalone engine), "copy-host" ((ss) name, address), "run-program" ((ss) engine bus name,
 * connection name), "status",
 * "edit-connections", "quit". TRUE when an item counts down (a reconnect's
 * next attempt): fill it again in a second. */
gboolean sh_menu_fill (GtkMenu *menu, ShConnections *conns, ShEngines *engines,
                       GActionGroup *actions);

G_END_DECLS
