/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-nftmsg.c — a table's comment from the kernel's answer to GETTABLE,
 * built here as nf_tables writes it (the helper and the engine read every
 * owner record this way). */
#include "config.h"

#include <errno.h>
#include <netinet/in.h> /* before the linux/ headers, which then skip their copy */
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netlink.h>
#include <string.h>

#include <glib.h>

#include "nftmsg.h"

/* A NEWTABLE answer: name, flags, and @udata (NULL: none) as USERDATA. */
static GByteArray *
new_table (const char *name, const guint8 *udata, guint16 udata_len)
{
  g_autoptr (GByteArray) body = g_byte_array_new ();
  GByteArray *msg = g_byte_array_new ();
  guint32 flags = 0;

  sh_nft_put_attr (body, NFTA_TABLE_NAME, name, strlen (name) + 1);
  sh_nft_put_attr (body, NFTA_TABLE_FLAGS, &flags, 4);
  if (udata != NULL)
    sh_nft_put_attr (body, NFTA_TABLE_USERDATA, udata, udata_len);
  sh_nft_put_msg (msg, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWTABLE, 0, NFPROTO_INET, 0, 1, body);
  return msg;
}

static void
test_comment (void)
{
  /* nft's own layout: the comment record, with its NUL, after another. */
  static const guint8 udata[]
      = { 7, 2, 'x', 'y', 0, 13, 's', 'h', 'u', 't', 't', 'l', 'e', ' ', 'p', 'i', 'd', '=', 0 };
  g_autoptr (GByteArray) msg = new_table ("shuttle-1", udata, sizeof udata);
  g_autofree char *comment = NULL;

  g_assert_cmpint (sh_nft_parse_table_comment (msg->data, msg->len, &comment), ==, 0);
  g_assert_cmpstr (comment, ==, "shuttle pid=");
}

static void
test_no_comment (void)
{
  g_autoptr (GByteArray) msg = new_table ("shuttle-1", NULL, 0);
  g_autofree char *comment = NULL;

  g_assert_cmpint (sh_nft_parse_table_comment (msg->data, msg->len, &comment), ==, 0);
  g_assert_cmpstr (comment, ==, "");
}

static void
test_error (void)
{
  g_autoptr (GByteArray) msg = g_byte_array_new ();
  struct nlmsghdr nh = { .nlmsg_len = NLMSG_HDRLEN + 4 + sizeof nh, .nlmsg_type = NLMSG_ERROR };
  gint32 e = -ENOENT;
  char *comment = (char *) "unset";

  g_byte_array_append (msg, (const guint8 *) &nh, sizeof nh);
  g_byte_array_append (msg, (const guint8 *) &e, 4);
  g_byte_array_append (msg, (const guint8 *) &nh, sizeof nh);
  g_assert_cmpint (sh_nft_parse_table_comment (msg->data, msg->len, &comment), ==, ENOENT);
  g_assert_null (comment);
}

/* Lengths that point past the message or the record are refused, never
 * read: a comment whose record claims more bytes than the attribute has
 * ends the search (""), an attribute longer than its message is EIO. */
static void
test_bounds (void)
{
  static const guint8 udata[] = { 0, 200, 'a', 'b', 0 };
  g_autoptr (GByteArray) msg = new_table ("t", udata, sizeof udata);
  g_autofree char *comment = NULL;
  char *none = NULL;

  g_assert_cmpint (sh_nft_parse_table_comment (msg->data, msg->len, &comment), ==, 0);
  g_assert_cmpstr (comment, ==, "");
  for (gsize cut = 0; cut < msg->len; cut++)
    {
      char *c = NULL;
      int err = sh_nft_parse_table_comment (msg->data, cut, &c);
      g_assert_true (err == EIO || (err == 0 && c != NULL));
      g_free (c);
    }
  /* Not a table at all. */
  g_autoptr (GByteArray) body = g_byte_array_new ();
  g_autoptr (GByteArray) other = g_byte_array_new ();
  sh_nft_put_msg (other, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWCHAIN, 0, NFPROTO_INET, 0, 1,
                  body);
  g_assert_cmpint (sh_nft_parse_table_comment (other->data, other->len, &none), ==, EIO);
  g_assert_null (none);
}

/* The request names the table, NUL included, in a GETTABLE without ACK. */
static void
test_request (void)
{
  g_autoptr (GByteArray) msg = g_byte_array_new ();
  struct nlmsghdr nh;

  sh_nft_put_get_table (msg, NFPROTO_INET, "shuttle-c1_5-nm", 9);
  memcpy (&nh, msg->data, sizeof nh);
  g_assert_cmpuint (nh.nlmsg_len, ==, msg->len);
  g_assert_cmpuint (nh.nlmsg_type, ==, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_GETTABLE);
  g_assert_cmpuint (nh.nlmsg_flags, ==, NLM_F_REQUEST);
  g_assert_cmpuint (nh.nlmsg_seq, ==, 9);
  g_assert_cmpmem (msg->data + NLMSG_HDRLEN + 4 + 4, 16, "shuttle-c1_5-nm", 16);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nftmsg/comment", test_comment);
  g_test_add_func ("/nftmsg/no-comment", test_no_comment);
  g_test_add_func ("/nftmsg/error", test_error);
  g_test_add_func ("/nftmsg/bounds", test_bounds);
  g_test_add_func ("/nftmsg/request", test_request);
  return g_test_run ();
}
