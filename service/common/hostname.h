/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hostname.h — the one rule for host names that may end up in /etc/hosts:
 * what the server's hostwatch sends, what the client accepts from it and
 * what the firewall helper writes all pass the same check. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SH_HOSTNAME_MAX 253

/* RFC 1123 host names, plus '_' (seen in real hosts files for service
 * names): labels of [A-Za-z0-9_-], 1 to 63 long, not starting or ending
 * with '-', separated by single dots; no trailing dot; 253 in all. @len
 * bytes of @name are checked (no NUL needed); a NUL inside fails. */
gboolean sh_hostname_is_valid (const char *name, gsize len);

G_END_DECLS
