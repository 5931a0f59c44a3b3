/* SPDX-License-Identifier: GPL-2.0-or-later */
/* client.h — the tunnel engine: listener, transport (ssh), firewall. */
#pragma once

#include "options.h"

G_BEGIN_DECLS

/* Runs until SIGINT/SIGTERM/SIGHUP (returns 0) or until the session ends or
 * fails (returns 1; 2 for a problem with the arguments found late, such as an
 * ssh server name that does not resolve). Errors are logged here. */
int sh_client_run (const ShOptions *opts);

G_END_DECLS
