/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vpn-details.h — the NM auth-dialog protocol's input, parsed (pure).
 *
 * NetworkManager's secret agents write the profile to the dialog's stdin:
 *   DATA_KEY=host            SECRET_KEY=password
 *   DATA_VAL=gw.example      SECRET_VAL=s3cret
 *   (blank line)             (blank line)
 *   ...                      DONE
 * A line starting with '=' continues the previous key or value after a
 * newline. Everything after DONE (or a NUL byte) is ignored.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Longest line we accept, as libnm's reader does: a profile has no such. */
#define SH_VPN_DETAILS_MAX_LINE (512 * 1024)

/* TRUE when @buf (@len bytes) holds the whole input: a "DONE" line. */
gboolean sh_vpn_details_complete (const char *buf, gsize len);

/* Parses @buf into two new tables (key -> value, owned). The secrets table
 * frees values after zeroing them. FALSE with @error for a malformed input
 * (a value without a key, an overlong line, nothing at all). */
gboolean sh_vpn_details_parse (const char *buf, gsize len, GHashTable **out_data,
                               GHashTable **out_secrets, GError **error);

/* g_free() for secrets: zeroes the string first. NULL is fine. */
void sh_secret_free (char *secret);

G_END_DECLS
