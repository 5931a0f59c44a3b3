/* SPDX-License-Identifier: GPL-2.0-or-later */
/* run-dialog.h — "Run a program in this tunnel…": a small dialog for a
 * command line, which then runs as `shuttle run --attach ENGINE -- …`
 * (runcmd.h): the program, and its children, reach the tunnelled subnets
 * through that engine's door, as the user who runs the applet. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

/* Shows the dialog for the engine at bus name @engine, titled with the
 * connection's @name. It closes itself; a program that cannot start is
 * said in a notification. */
void sh_run_dialog_show (GtkApplication *app, const char *engine, const char *name);

G_END_DECLS
