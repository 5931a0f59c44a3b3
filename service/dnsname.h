/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dnsname.h — one name to one address through a DNS message, pure: the
 * query the engine sends as DNS_QUERY for a SOCKS5 request by name (the
 * name is resolved on the far side, by the server's resolver), and the
 * first address of the answer. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SH_DNS_TYPE_A 1
#define SH_DNS_TYPE_AAAA 28

/* A recursive query for @name (a valid host name, sh_hostname_is_valid())
 * of @qtype with @id into @out (at least 12 + 255 + 5 bytes). Returns its
 * length. */
gsize sh_dns_name_query (const char *name, guint16 qtype, guint16 id, guint8 *out);

/* The first answer record of @qtype (A: 4 bytes, AAAA: 16) in the reply
 * @msg (@len bytes) into @addr. Returns 0; -ENOENT when the reply carries
 * no such address (NXDOMAIN, no data, SERVFAIL); -EPROTO when @msg is not
 * a well-formed reply. Names in answers are skipped, never followed. */
int sh_dns_name_answer (const guint8 *msg, gsize len, guint16 qtype, guint8 addr[16]);

G_END_DECLS
