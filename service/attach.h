/* SPDX-License-Identifier: GPL-2.0-or-later */
/* attach.h — `shuttle run --attach ENGINE -- COMMAND`: COMMAND through a
 * running engine instead of a new one. The engine's Engine1 object says
 * where its door is (Door) and what it tunnels (Routes, Excludes); the
 * command starts with the preload library pointed at that door, as
 * `shuttle run` starts its own. No engine, rule or privilege of ours: the
 * door takes only its engine's uid, so a command of another user is
 * refused there. The tray applet's "Run a program in this tunnel…" runs
 * this. */
#pragma once

#include <gio/gio.h>

#include "options.h"

G_BEGIN_DECLS

/* Pure: which bus and name @engine means: a standalone engine's PID
 * ("1234": the session bus, io.github.shuttlevpn.Engine.p1234) or a bus
 * name (NetworkManager's org.freedesktop.NetworkManager.shuttle.*: the
 * system bus; io.github.shuttlevpn.Engine.p*: the session bus). NULL with
 * @error for anything else. Newly allocated. */
char *sh_attach_bus_name (const char *engine, GBusType *bus_type, GError **error);

/* Pure: the engine's properties (a{sv} of Engine1) as the door's path and
 * the subnets (ShSubnet) to send there, less the excluded ones; FALSE with
 * @error when the engine has no door or is not connected. */
gboolean sh_attach_read (GVariant *props, char **door_out, GArray *subnets, GArray *excludes,
                         GError **error);

/* Runs opts->run_argv through opts->attach; the command's exit status (as
 * a shell gives it), or 1 (2 for usage) after saying why on stderr. */
int sh_attach_main (const ShOptions *opts);

G_END_DECLS
