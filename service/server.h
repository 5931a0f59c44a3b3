/* SPDX-License-Identifier: GPL-2.0-or-later */
/* server.h — the remote side: the mux on stdin/stdout. */
#pragma once

#include "options.h"

G_BEGIN_DECLS

/* Serves one session on stdin/stdout until the client goes away.
 * Returns 0 when the client closed the session, 1 on error. */
int sh_server_run (const ShOptions *opts);

G_END_DECLS
