/* SPDX-License-Identifier: GPL-2.0-or-later */
/* routes.h — the server's networks for -N (docs/protocol.md, "Routes"). */
#pragma once

#include <glib.h>

#include "mux.h"

G_BEGIN_DECLS

/* Pure: appends to @out (ShRoute) the networks of a /proc/net/route text,
 * or of a /proc/net/ipv6_route text, as the doc says: up, not reject (nor,
 * for IPv6, local, anycast or cached), host bits cleared, no default,
 * loopback, link-local or multicast network, none twice. */
void sh_routes_parse_v4 (const char *text, GArray *out);
void sh_routes_parse_v6 (const char *text, GArray *out);

/* Both files of this machine, now. */
GArray *sh_routes_read (void);

G_END_DECLS
