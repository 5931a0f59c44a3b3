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

#include "firewall.h"
#include "nfqueue.h"
#include "synrelay.h"

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

/* The relay's records (synrelay.h): a SYN goes through unchanged, for
 * both families; a verdict is taken only at its exact length with a known
 * outcome. */
static void
test_relay_records (void)
{
  ShNfqPacket pkt = { .id = 0xdeadbeef, .family = AF_INET6, .sport = 40000, .dport = 9 };
  ShNfqPacket back;
  guint8 rec[SH_SYN_RELAY_SYN_LEN + 1];
  guint32 id;
  ShSynOutcome outcome;

  for (int i = 0; i < 16; i++)
    pkt.src[i] = i, pkt.dst[i] = 0xf0 + i;
  sh_syn_relay_put_syn (rec, &pkt);
  g_assert_true (sh_syn_relay_parse_syn (rec, SH_SYN_RELAY_SYN_LEN, &back));
  g_assert_cmpuint (back.id, ==, pkt.id);
  g_assert_cmpint (back.family, ==, AF_INET6);
  g_assert_cmpuint (back.sport, ==, 40000);
  g_assert_cmpuint (back.dport, ==, 9);
  g_assert_cmpmem (back.src, 16, pkt.src, 16);
  g_assert_cmpmem (back.dst, 16, pkt.dst, 16);
  g_assert_cmpuint (back.tcp_flags, ==, 0x02);
  g_assert_false (sh_syn_relay_parse_syn (rec, SH_SYN_RELAY_SYN_LEN - 1, &back));
  g_assert_false (sh_syn_relay_parse_syn (rec, SH_SYN_RELAY_SYN_LEN + 1, &back));

  /* IPv4: only the first four bytes of each address travel. */
  pkt.family = AF_INET;
  sh_syn_relay_put_syn (rec, &pkt);
  g_assert_cmpuint (rec[4], ==, 4);
  g_assert_true (sh_syn_relay_parse_syn (rec, SH_SYN_RELAY_SYN_LEN, &back));
  g_assert_cmpint (back.family, ==, AF_INET);
  g_assert_cmpmem (back.dst, 4, pkt.dst, 4);
  g_assert_cmpuint (back.dst[4], ==, 0);
  rec[4] = 5;
  g_assert_false (sh_syn_relay_parse_syn (rec, SH_SYN_RELAY_SYN_LEN, &back));

  sh_syn_relay_put_verdict (rec, 77, SH_SYN_NET_UNREACH);
  g_assert_true (sh_syn_relay_parse_verdict (rec, SH_SYN_RELAY_VERDICT_LEN, &id, &outcome));
  g_assert_cmpuint (id, ==, 77);
  g_assert_cmpint (outcome, ==, SH_SYN_NET_UNREACH);
  g_assert_false (sh_syn_relay_parse_verdict (rec, SH_SYN_RELAY_VERDICT_LEN - 1, &id, &outcome));
  g_assert_false (sh_syn_relay_parse_verdict (rec, SH_SYN_RELAY_VERDICT_LEN + 1, &id, &outcome));
  sh_syn_relay_put_verdict (rec, 77, (ShSynOutcome) (SH_SYN_OUTCOME_MAX + 1));
  g_assert_false (sh_syn_relay_parse_verdict (rec, SH_SYN_RELAY_VERDICT_LEN, &id, &outcome));
}

/* The far side's errno -> outcome -> verdict, as both paths give it. */
static void
test_outcomes (void)
{
  static const struct
  {
    int err;
    guint32 verdict, mark;
  } rows[] = {
    { 0, NF_ACCEPT, 0 },
    { ECONNREFUSED, NF_REPEAT, SH_FIREWALL_REFUSED_MARK },
    { EHOSTUNREACH, NF_REPEAT, SH_FIREWALL_HOST_UNREACH_MARK },
    { ENETUNREACH, NF_REPEAT, SH_FIREWALL_NET_UNREACH_MARK },
    { ETIMEDOUT, NF_DROP, 0 },
    { EACCES, NF_REPEAT, SH_FIREWALL_REFUSED_MARK },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (rows); i++)
    {
      guint32 v, m;
      sh_syn_outcome_verdict (sh_syn_outcome_from_errno (rows[i].err), &v, &m);
      g_assert_cmpuint (v, ==, rows[i].verdict);
      g_assert_cmpuint (m, ==, rows[i].mark);
    }
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
  g_test_add_func ("/nfqueue/relay-records", test_relay_records);
  g_test_add_func ("/nfqueue/outcomes", test_outcomes);
  return g_test_run ();
}
