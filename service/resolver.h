/* SPDX-License-Identifier: GPL-2.0-or-later */
/* resolver.h — "the server's resolver" of docs/protocol.md: the first
 * nameserver in /etc/resolv.conf, 127.0.0.1 when there is none. */
#pragma once

#include <glib.h>

#include "mux.h"

G_BEGIN_DECLS

/* Pure: the first usable "nameserver" line of resolv.conf @text (IPv6
 * link-local scopes are not supported and skipped). FALSE when none. */
gboolean sh_resolver_parse (const char *text, ShOpen *out);

/* Pure: every usable "nameserver" of @text, appended to @out (ShOpen)
 * with @port, in the file's order. */
void sh_resolver_parse_all (const char *text, guint16 port, GArray *out);

/* Reads /etc/resolv.conf now (it may change while we run); fills @out with
 * @port. Never fails: 127.0.0.1 is glibc's default too. */
void sh_resolver_get (guint16 port, ShOpen *out);

G_END_DECLS
