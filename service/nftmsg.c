/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nftmsg.c — see nftmsg.h. */
#include "config.h"

#include "nftmsg.h"

#include <errno.h>
#include <netinet/in.h> /* before the linux/ headers, which then skip their copy */
#include <arpa/inet.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>

/* libnftnl's type of a table comment inside NFTA_TABLE_USERDATA (its
 * NFTNL_UDATA_TABLE_COMMENT), which nft writes: records of a type byte, a
 * length byte and that many bytes of value, the comment with its NUL. */
#define UDATA_TABLE_COMMENT 0

void
sh_nft_put_attr (GByteArray *b, guint16 type, const void *data, guint16 len)
{
  guint16 alen = 4 + len;
  static const guint8 pad[4] = { 0 };

  g_byte_array_append (b, (const guint8 *) &alen, 2);
  g_byte_array_append (b, (const guint8 *) &type, 2);
  g_byte_array_append (b, data, len);
  g_byte_array_append (b, pad, ((alen + 3u) & ~3u) - alen);
}

void
sh_nft_put_msg (GByteArray *b, guint16 type, guint16 flags, guint8 family, guint16 res_id,
                guint32 seq, const GByteArray *body)
{
  struct nlmsghdr nh = { .nlmsg_len = NLMSG_HDRLEN + sizeof (struct nfgenmsg) + body->len,
                         .nlmsg_type = type,
                         .nlmsg_flags = NLM_F_REQUEST | flags,
                         .nlmsg_seq = seq };
  struct nfgenmsg g = { .nfgen_family = family, .version = NFNETLINK_V0, .res_id = htons (res_id) };

  g_byte_array_append (b, (const guint8 *) &nh, sizeof nh);
  g_byte_array_append (b, (const guint8 *) &g, sizeof g);
  g_byte_array_append (b, body->data, body->len);
}

void
sh_nft_put_get_table (GByteArray *b, guint8 family, const char *name, guint32 seq)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();

  /* No NLM_F_ACK: the answer is the table, or an error, in one message. */
  sh_nft_put_attr (body, NFTA_TABLE_NAME, name, strlen (name) + 1);
  sh_nft_put_msg (b, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE, 0, family, 0, seq, body);
}

/* The comment record in @udata, or "" without one. */
static char *
udata_comment (const guint8 *udata, gsize len)
{
  gsize at = 0;

  while (at + 2 <= len)
    {
      guint8 type = udata[at], vlen = udata[at + 1];

      if (at + 2 + vlen > len)
        break;
      if (type == UDATA_TABLE_COMMENT)
        {
          const char *v = (const char *) udata + at + 2;
          return g_strndup (v, MIN (strnlen (v, vlen), SH_NFT_COMMENT_MAX));
        }
      at += 2 + vlen;
    }
  return g_strdup ("");
}

int
sh_nft_parse_table_comment (const guint8 *buf, gsize len, char **comment)
{
  struct nlmsghdr nh;

  *comment = NULL;
  if (len < NLMSG_HDRLEN)
    return EIO;
  memcpy (&nh, buf, sizeof nh);
  if (nh.nlmsg_len < NLMSG_HDRLEN || nh.nlmsg_len > len)
    return EIO;
  if (nh.nlmsg_type == NLMSG_ERROR)
    {
      gint32 e;

      if (nh.nlmsg_len < NLMSG_HDRLEN + 4)
        return EIO;
      memcpy (&e, buf + NLMSG_HDRLEN, 4);
      return e < 0 && e > -4096 ? -e : EIO;
    }
  if (nh.nlmsg_type != ((NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE))
    return EIO;

  gsize at = NLMSG_HDRLEN + sizeof (struct nfgenmsg);
  if (at > nh.nlmsg_len)
    return EIO;
  while (at + 4 <= nh.nlmsg_len)
    {
      guint16 alen, atype;

      memcpy (&alen, buf + at, 2);
      memcpy (&atype, buf + at + 2, 2);
      if (alen < 4 || at + alen > nh.nlmsg_len)
        return EIO;
      if ((atype & NLA_TYPE_MASK) == NFTA_TABLE_USERDATA)
        {
          *comment = udata_comment (buf + at + 4, alen - 4);
          return 0;
        }
      at += (alen + 3u) & ~3u;
    }
  *comment = g_strdup ("");
  return 0;
}
