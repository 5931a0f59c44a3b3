/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nftmsg.h — the few nf_tables netlink messages firewall.c writes or reads
 * itself rather than through libnftables: the SYN queue's rule (an xtables
 * target, which nft's language cannot write) and a table's comment (which
 * nft can only show by printing every rule of the table, and printing the
 * queue rule goes through libxtables: noise on stderr, and a leak, where
 * iptables' extensions are not installed). Pure: bytes in, bytes out. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Appends one netlink attribute, padded to 4 bytes. */
void sh_nft_put_attr (GByteArray *b, guint16 type, const void *data, guint16 len);

/* Appends one nfnetlink message (header, nfgenmsg, @body). NLM_F_REQUEST
 * is always set. */
void sh_nft_put_msg (GByteArray *b, guint16 type, guint16 flags, guint8 family, guint16 res_id,
                     guint32 seq, const GByteArray *body);

/* A GETTABLE request for table @name of @family. */
void sh_nft_put_get_table (GByteArray *b, guint8 family, const char *name, guint32 seq);

/* The kernel's answer to sh_nft_put_get_table(), @len bytes: 0 with
 * *@comment set (a new string, "" when the table has none), or an errno
 * (ENOENT: no such table; EIO: not an answer we can read). At most
 * SH_NFT_COMMENT_MAX bytes of comment are kept; a comment is text up to
 * its first NUL. */
#define SH_NFT_COMMENT_MAX 128
int sh_nft_parse_table_comment (const guint8 *buf, gsize len, char **comment);

G_END_DECLS
