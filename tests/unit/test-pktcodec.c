/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-pktcodec.c — the datagram device's packet codec (service/pktcodec.c). */
#include "config.h"

#include <string.h>

#include "pktcodec.h"

static const guint8 A4[4] = { 10, 231, 2, 10 };
static const guint8 B4[4] = { 10, 231, 1, 2 };
static const guint8 A6[16] = { 0xfd, 0x31, 0, 2, [15] = 0x10 };
static const guint8 B6[16] = { 0xfd, 0x31, 0, 1, [15] = 0x02 };

/* The one's-complement sum written independently of the codec: a packet
 * whose checksum is right sums to 0xffff over the covered bytes. */
static guint16
ones_sum (const guint8 *p, gsize len, guint32 sum)
{
  for (gsize i = 0; i < len; i++)
    sum += (i % 2 == 0) ? (guint32) p[i] << 8 : p[i];
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (guint16) sum;
}

static guint32
pseudo (const guint8 *pkt, gboolean v4, guint8 proto, gsize l4_len)
{
  guint32 sum = proto + (guint32) l4_len;
  const guint8 *addrs = pkt + (v4 ? 12 : 8);
  gsize n = v4 ? 8 : 32;

  for (gsize i = 0; i < n; i += 2)
    sum += (guint32) addrs[i] << 8 | addrs[i + 1];
  return sum;
}

static ShPacket
packet (guint8 family, guint8 kind, const guint8 *payload, gsize len)
{
  ShPacket p = { .family = family, .kind = kind, .sport = 40000, .dport = 5353 };

  memcpy (p.src, family == 4 ? A4 : A6, family == 4 ? 4 : 16);
  memcpy (p.dst, family == 4 ? B4 : B6, family == 4 ? 4 : 16);
  p.payload = payload;
  p.payload_len = len;
  return p;
}

static void
test_round_trip (void)
{
  static const guint8 families[] = { 4, 6 };
  static const guint8 kinds[] = { SH_PKT_KIND_UDP, SH_PKT_KIND_ECHO };
  static const gsize sizes[] = { 0, 1, 5, 1397, 1400, 60000 };
  g_autofree guint8 *buf = g_malloc (SH_PKT_MAX);
  g_autofree guint8 *data = g_malloc (60000);

  for (gsize i = 0; i < 60000; i++)
    data[i] = (guint8) (i * 7 + 3);
  for (guint f = 0; f < 2; f++)
    for (guint k = 0; k < 2; k++)
      for (guint s = 0; s < G_N_ELEMENTS (sizes); s++)
        {
          gboolean v4 = families[f] == 4;
          ShPacket p = packet (families[f], kinds[k], data, sizes[s]);
          ShPacket q;
          gsize hdr = v4 ? 20 : 40;
          gsize n = sh_pkt_build (&p, buf);
          guint8 proto = kinds[k] == SH_PKT_KIND_UDP ? 17 : v4 ? 1 : 58;

          g_assert_cmpuint (n, ==, hdr + 8 + sizes[s]);
          if (v4)
            g_assert_cmpuint (ones_sum (buf, 20, 0), ==, 0xffff);
          g_assert_cmpuint (
              ones_sum (buf + hdr, n - hdr, proto == 1 ? 0 : pseudo (buf, v4, proto, n - hdr)), ==,
              0xffff);
          if (kinds[k] == SH_PKT_KIND_ECHO)
            {
              /* A reply: the codec parses requests only. */
              g_assert_cmpuint (buf[hdr], ==, v4 ? 0 : 129);
              g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_OTHER);
              buf[hdr] = v4 ? 8 : 128;
            }
          g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_OK);
          g_assert_cmpuint (q.family, ==, families[f]);
          g_assert_cmpuint (q.kind, ==, kinds[k]);
          g_assert_cmpmem (q.src, v4 ? 4 : 16, p.src, v4 ? 4 : 16);
          g_assert_cmpmem (q.dst, v4 ? 4 : 16, p.dst, v4 ? 4 : 16);
          g_assert_cmpuint (q.sport, ==, 40000);
          g_assert_cmpuint (q.dport, ==, 5353);
          g_assert_cmpmem (q.payload, q.payload_len, data, sizes[s]);
          /* trailing bytes after the IP length are not the packet's */
          g_assert_cmpint (sh_pkt_parse (buf, n + 3, &q), ==, SH_PKT_OK);
          g_assert_cmpuint (q.payload_len, ==, sizes[s]);
          /* one byte short */
          g_assert_cmpint (sh_pkt_parse (buf, n - 1, &q), ==, SH_PKT_MALFORMED);
        }
}

/* A datagram Linux wrote into the tun in the helper test, and its known
 * checksum: 10.231.1.2:45097 -> 10.231.2.10:5000 "in4". */
static void
test_known_checksum (void)
{
  static const guint8 payload[] = "in4";
  guint8 buf[SH_PKT_MAX];
  ShPacket p = packet (4, SH_PKT_KIND_UDP, payload, 3);
  gsize n;

  memcpy (p.src, B4, 4);
  memcpy (p.dst, A4, 4);
  p.sport = 0xb029;
  p.dport = 5000;
  n = sh_pkt_build (&p, buf);
  g_assert_cmpuint (n, ==, 31);
  g_assert_cmpuint (buf[26] << 8 | buf[27], ==, 0x85de);
}

/* Headers with a partial checksum (a device with checksum offload): the
 * kernel sums from the UDP header to the end, the field's partial value
 * included, and stores the complement. That must give the checksum of the
 * whole packet, and the headers must be the whole packet's. */
static void
test_partial_checksum (void)
{
  static guint8 payload[3000];
  guint8 whole[SH_PKT_MAX], part[SH_PKT_MAX];

  for (gsize i = 0; i < sizeof payload; i++)
    payload[i] = (guint8) (i * 31 + 7);
  for (guint8 family = 4; family <= 6; family += 2)
    for (gsize len = 0; len <= sizeof payload; len += len < 10 ? 1 : 997)
      {
        ShPacket p = packet (family, SH_PKT_KIND_UDP, payload, len);
        gsize hlen = family == 4 ? SH_PKT_UDP4_HDR : SH_PKT_UDP6_HDR;
        gsize ip_hdr = hlen - 8;
        gsize n = sh_pkt_build (&p, whole);
        guint16 c;

        g_assert_cmpuint (sh_pkt_build_udp_headers (&p, part), ==, hlen);
        memcpy (part + hlen, payload, len);
        c = (guint16) ~ones_sum (part + ip_hdr, n - ip_hdr, 0);
        if (c == 0)
          c = 0xffff;
        part[ip_hdr + 6] = (guint8) (c >> 8);
        part[ip_hdr + 7] = (guint8) c;
        g_assert_cmpmem (part, n, whole, n);
      }
  /* Only UDP; and not a payload that does not fit. */
  {
    ShPacket echo = packet (4, SH_PKT_KIND_ECHO, payload, 10);
    ShPacket big = packet (4, SH_PKT_KIND_UDP, NULL, SH_PKT_UDP4_MAX + 1);

    g_assert_cmpuint (sh_pkt_build_udp_headers (&echo, part), ==, 0);
    g_assert_cmpuint (sh_pkt_build_udp_headers (&big, part), ==, 0);
  }
}

static void
test_refused (void)
{
  guint8 buf[SH_PKT_MAX];
  ShPacket p = packet (4, SH_PKT_KIND_UDP, (const guint8 *) "x", 1), q;
  gsize n = sh_pkt_build (&p, buf);

  /* IPv4 fragments: more fragments, or an offset */
  buf[6] = 0x20;
  g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_FRAGMENT);
  buf[6] = 0x00;
  buf[7] = 0x01;
  g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_FRAGMENT);
  buf[7] = 0x00;
  /* don't-fragment is fine */
  buf[6] = 0x40;
  g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_OK);
  /* TCP */
  buf[9] = 6;
  g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_OTHER);
  buf[9] = 17;
  /* a UDP length beyond the IP packet */
  buf[25] = 10;
  g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_MALFORMED);
  /* header length under 20 */
  buf[0] = 0x44;
  g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_MALFORMED);
  buf[0] = 0x55;
  g_assert_cmpint (sh_pkt_parse (buf, 5, &q), ==, SH_PKT_MALFORMED);

  p = packet (6, SH_PKT_KIND_UDP, (const guint8 *) "x", 1);
  n = sh_pkt_build (&p, buf);
  for (guint i = 0; i < 5; i++)
    {
      static const guint8 ext[] = { 0, 43, 44, 60, 51 };
      buf[6] = ext[i];
      g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_EXTENSION);
    }
  /* ICMPv6 router solicitation */
  p = packet (6, SH_PKT_KIND_ECHO, NULL, 0);
  n = sh_pkt_build (&p, buf);
  buf[40] = 133;
  g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_OTHER);
  /* no IP at all */
  g_assert_cmpint (sh_pkt_parse (buf, 0, &q), ==, SH_PKT_MALFORMED);
  buf[0] = 0x20;
  g_assert_cmpint (sh_pkt_parse (buf, n, &q), ==, SH_PKT_MALFORMED);
}

static void
test_build_limits (void)
{
  g_autofree guint8 *buf = g_malloc (SH_PKT_MAX);
  g_autofree guint8 *data = g_malloc0 (SH_PKT_MAX);
  ShPacket p = packet (4, SH_PKT_KIND_UDP, data, SH_PKT_UDP4_MAX);

  g_assert_cmpuint (sh_pkt_build (&p, buf), ==, 65535);
  p.payload_len++;
  g_assert_cmpuint (sh_pkt_build (&p, buf), ==, 0);
  p = packet (6, SH_PKT_KIND_UDP, data, SH_PKT_UDP6_MAX);
  g_assert_cmpuint (sh_pkt_build (&p, buf), ==, SH_PKT_MAX);
  p.payload_len++;
  g_assert_cmpuint (sh_pkt_build (&p, buf), ==, 0);
  p = packet (5, SH_PKT_KIND_UDP, data, 1);
  g_assert_cmpuint (sh_pkt_build (&p, buf), ==, 0);
  p = packet (4, 6, data, 1);
  g_assert_cmpuint (sh_pkt_build (&p, buf), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/pktcodec/round-trip", test_round_trip);
  g_test_add_func ("/pktcodec/known-checksum", test_known_checksum);
  g_test_add_func ("/pktcodec/partial-checksum", test_partial_checksum);
  g_test_add_func ("/pktcodec/refused", test_refused);
  g_test_add_func ("/pktcodec/build-limits", test_build_limits);
  return g_test_run ();
}
