/* SPDX-License-Identifier: GPL-2.0-or-later */
/* runcmd.h — "Run a program in this tunnel…": the command line the user
 * typed made the argv of `shuttle run --attach ENGINE -- COMMAND…`. Pure
 * (GLib only), so unit tests read it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The shuttle program the applet runs: $SHUTTLE_BIN when it is an absolute
 * path (a build tree's, for tests), else the installed one. Static. */
const char *sh_runcmd_shuttle (void);

/* @shuttle run --attach @engine -- the words of @cmdline (split as a shell
 * would, without running one: no expansion, no pipes). NULL with @error
 * when @cmdline is empty or unbalanced. Newly allocated. */
char **sh_runcmd_argv (const char *shuttle, const char *engine, const char *cmdline,
                       GError **error);

G_END_DECLS
