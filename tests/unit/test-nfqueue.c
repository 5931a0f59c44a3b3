/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-nfqueue.c — the nfnetlink_queue codec (service/nfqueue.c). */
#include "config.h"

#include <errno.h>
#include <netinet/in.h> /* before the linux/ headers, which then skip their copy */
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

#include "nfqueue.h"

/* A queued IPv4 SYN 10.231.1.2:40000 → 10.231.2.5:80, packet id 7, as the
 * kernel sends it (seed-syn4 of fuzz-nfqueue). */
static GByteArray *
queued_syn4 (guint32 id, guint8 flags)
{
  GByteArray *b = g_byte_array_new ();
  guint8 ip[40] = { 0x45, 0, 0, 40,   0,    0, 0x40, 0, 64, 6, 0, 0, 10, 231, 1, 2,    10,
                    231,  2, 5, 0x9c, 0x40, 0, 80,   0, 0,  0, 1, 0, 0,  0,   0, 0x50, flags };
  guint8 nh[16] = { 0 };
  guint8 gen[4] = { 0, 0, 0x53, 0x68 };
  guint8 hdr_attr[12] = { 11, 0, 1, 0, id >> 24, id >> 16, id >> 8, id, 0x08, 0, 3, 0 };
  guint8 pl_attr[4] = { 44, 0, 10, 0 };
  guint32 len = 16 + 4 + 12 + 4 + 40;
  guint16 type = (3 << 8) | 0;

  memcpy (nh, &len, 4);
  memcpy (nh + 4, &type, 2);
  g_byte_array_append (b, nh, 16);
  g_byte_array_append (b, gen, 4);
  g_byte_array_append (b, hdr_attr, 12);
  g_byte_array_append (b, pl_attr, 4);
  g_byte_array_append (b, ip, 40);
  return b;
}

static void
test_syn4 (void)
{
  g_autoptr (GByteArray) b = queued_syn4 (7, 0x02);
  ShNfqPacket pkt;
  gboolean is_packet;
  int err;
  static const guint8 src[4] = { 10, 231, 1, 2 }, dst[4] = { 10, 231, 2, 5 };

  g_assert_cmpint (sh_nfq_parse (b->data, b->len, &pkt, &is_packet, &err), ==, (int) b->len);
  g_assert_true (is_packet);
  g_assert_cmpint (err, ==, 0);
  g_assert_cmpuint (pkt.id, ==, 7);
  g_assert_cmpint (pkt.family, ==, AF_INET);
  g_assert_cmpmem (pkt.src, 4, src, 4);
  g_assert_cmpmem (pkt.dst, 4, dst, 4);
  g_assert_cmpuint (pkt.sport, ==, 40000);
  g_assert_cmpuint (pkt.dport, ==, 80);
  g_assert_cmpuint (pkt.tcp_flags, ==, 0x02);
}

static void
test_truncated (void)
{
  g_autoptr (GByteArray) b = queued_syn4 (7, 0x02);
  ShNfqPacket pkt;
  gboolean is_packet;
  int err;

  /* Every cut inside the message is refused, none reads past it. */
  for (guint cut = 0; cut < b->len; cut++)
    g_assert_cmpint (sh_nfq_parse (b->data, cut, &pkt, &is_packet, &err), <, 0);

  /* A payload too short for the TCP ports: still a message with an id
   * (it needs a verdict), but no packet. */
  guint32 len = b->len - 30;
  guint16 alen = 44 - 30;
  memcpy (b->data, &len, 4);
  memcpy (b->data + 32, &alen, 2);
  g_assert_cmpint (sh_nfq_parse (b->data, len, &pkt, &is_packet, &err), ==, (int) len);
  g_assert_false (is_packet);
  g_assert_cmpuint (pkt.id, ==, 7);
  g_assert_cmpint (pkt.family, ==, 0);
}

static void
test_error (void)
{
  guint8 msg[36] = { 0 };
  guint32 len = sizeof msg;
  guint16 type = NLMSG_ERROR;
  gint32 e = -EBUSY;
  ShNfqPacket pkt;
  gboolean is_packet;
  int err;

  memcpy (msg, &len, 4);
  memcpy (msg + 4, &type, 2);
  memcpy (msg + 16, &e, 4);
  g_assert_cmpint (sh_nfq_parse (msg, sizeof msg, &pkt, &is_packet, &err), ==, 36);
  g_assert_false (is_packet);
  g_assert_cmpint (err, ==, EBUSY);
}

static void
test_verdict (void)
{
  guint8 out[SH_NFQ_MSG_MAX];
  gsize len = sh_nfq_put_verdict (out, 0x5368, 0x01020304, NF_REPEAT, 0x5369, 9);
  guint32 l;
  guint16 type;

  g_assert_cmpuint (len, ==, 16 + 4 + 12 + 8);
  memcpy (&l, out, 4);
  memcpy (&type, out + 4, 2);
  g_assert_cmpuint (l, ==, len);
  g_assert_cmpuint (type, ==, (3 << 8) | 1);
  g_assert_cmpuint (out[18], ==, 0x53); /* res_id, big-endian */
  g_assert_cmpuint (out[19], ==, 0x68);
  /* verdict header: verdict then id, big-endian */
  g_assert_cmpuint (out[27], ==, NF_REPEAT);
  g_assert_cmpuint (out[28], ==, 1);
  g_assert_cmpuint (out[31], ==, 4);
  /* the mark */
  g_assert_cmpuint (out[38], ==, 0x53);
  g_assert_cmpuint (out[39], ==, 0x69);

  /* No mark: no attribute. */
  g_assert_cmpuint (sh_nfq_put_verdict (out, 1, 2, NF_ACCEPT, 0, 0), ==, 16 + 4 + 12);
}

static void
test_bind (void)
{
  guint8 out[SH_NFQ_MSG_MAX];
  gsize len = sh_nfq_put_bind (out, 5, 1024, 1);
  guint32 l;
  guint16 flags;

  g_assert_cmpuint (len, <=, SH_NFQ_MSG_MAX);
  memcpy (&l, out, 4);
  memcpy (&flags, out + 6, 2);
  g_assert_cmpuint (l, ==, len);
  g_assert_cmpuint (flags, ==, NLM_F_REQUEST | NLM_F_ACK);
  g_assert_cmpuint (out[24], ==, 1); /* NFQNL_CFG_CMD_BIND */
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nfqueue/syn4", test_syn4);
  g_test_add_func ("/nfqueue/truncated", test_truncated);
  g_test_add_func ("/nfqueue/error", test_error);
  g_test_add_func ("/nfqueue/verdict", test_verdict);
  g_test_add_func ("/nfqueue/bind", test_bind);
  return g_test_run ();
}
