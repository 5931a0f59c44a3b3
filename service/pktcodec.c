/* SPDX-License-Identifier: GPL-2.0-or-later */
/* pktcodec.c — IPv4/IPv6 UDP and ICMP echo packets of the datagram device. */
#include "config.h"

#include "pktcodec.h"

#include <string.h>

#define IP4_HDR 20
#define IP6_HDR 40
#define L4_HDR 8 /* UDP and ICMP echo headers alike */
#define PROTO_ICMP 1
#define PROTO_UDP 17
#define PROTO_ICMPV6 58

G_STATIC_ASSERT (SH_PKT_UDP4_HDR == IP4_HDR + L4_HDR && SH_PKT_UDP6_HDR == IP6_HDR + L4_HDR);

static guint16
get16 (const guint8 *p)
{
  return (guint16) (p[0] << 8 | p[1]);
}

static void
put16 (guint8 *p, guint16 v)
{
  p[0] = (guint8) (v >> 8);
  p[1] = (guint8) v;
}

/* The one's-complement sum of @len bytes added to @sum, folded to 16 bits
 * (never 0 unless all is 0; callers add small numbers to it). Eight bytes
 * at a time: two big-endian 32-bit words add up to the same sum modulo
 * 0xffff as their four 16-bit halves (2^16 = 1 modulo 0xffff). A reply's
 * checksum covers every byte it carries: the engine's largest per-byte
 * work after the copies. */
static guint32
sum_bytes (guint32 sum, const guint8 *p, gsize len)
{
  guint64 acc = sum;

  for (; len >= 8; p += 8, len -= 8)
    {
      guint64 w;

      memcpy (&w, p, 8);
      w = GUINT64_FROM_BE (w);
      acc += (w >> 32) + (w & 0xffffffffu);
    }
  for (; len >= 2; p += 2, len -= 2)
    acc += get16 (p);
  if (len > 0)
    acc += (guint32) p[0] << 8;
  while (acc >> 16)
    acc = (acc & 0xffff) + (acc >> 16);
  return (guint32) acc;
}

static guint16
fold (guint32 sum)
{
  while (sum >> 16)
    sum = (sum & 0xffff) + (sum >> 16);
  return (guint16) ~sum;
}

/* The IPv6 extension headers (RFC 8200 and the IANA list) and IPv4's
 * nothing: a next header that is one of these is refused as such. */
static gboolean
is_extension (guint8 next)
{
  switch (next)
    {
    case 0:   /* hop-by-hop */
    case 43:  /* routing */
    case 44:  /* fragment */
    case 50:  /* ESP */
    case 51:  /* AH */
    case 60:  /* destination options */
    case 135: /* mobility */
    case 139: /* HIP */
    case 140: /* shim6 */
      return TRUE;
    default:
      return FALSE;
    }
}

/* The transport part: @proto's header and payload in @l4 of @len bytes. */
static ShPktResult
parse_l4 (guint8 proto, const guint8 *l4, gsize len, ShPacket *out)
{
  if (proto == PROTO_UDP)
    {
      guint16 ulen;

      if (len < L4_HDR)
        return SH_PKT_MALFORMED;
      ulen = get16 (l4 + 4);
      if (ulen < L4_HDR || ulen > len)
        return SH_PKT_MALFORMED;
      out->kind = SH_PKT_KIND_UDP;
      out->sport = get16 (l4);
      out->dport = get16 (l4 + 2);
      out->payload = l4 + L4_HDR;
      out->payload_len = ulen - L4_HDR;
      return SH_PKT_OK;
    }
  if (proto == PROTO_ICMP || proto == PROTO_ICMPV6)
    {
      guint8 request = proto == PROTO_ICMP ? 8 : 128;

      if (len < L4_HDR)
        return SH_PKT_MALFORMED;
      if (l4[0] != request || l4[1] != 0)
        return SH_PKT_OTHER;
      out->kind = SH_PKT_KIND_ECHO;
      out->sport = get16 (l4 + 4);
      out->dport = get16 (l4 + 6);
      out->payload = l4 + L4_HDR;
      out->payload_len = len - L4_HDR;
      return SH_PKT_OK;
    }
  return SH_PKT_OTHER;
}

ShPktResult
sh_pkt_parse (const guint8 *data, gsize len, ShPacket *out)
{
  ShPacket p = { 0 };
  ShPktResult r;

  if (data == NULL || len < 1)
    return SH_PKT_MALFORMED;
  if (data[0] >> 4 == 4)
    {
      gsize ihl = (gsize) (data[0] & 0x0f) * 4;
      guint16 total, frag;

      if (len < IP4_HDR || ihl < IP4_HDR || ihl > len)
        return SH_PKT_MALFORMED;
      total = get16 (data + 2);
      if (total < ihl || total > len)
        return SH_PKT_MALFORMED;
      frag = get16 (data + 6);
      if ((frag & 0x2000) != 0 || (frag & 0x1fff) != 0)
        return SH_PKT_FRAGMENT;
      if (data[9] != PROTO_UDP && data[9] != PROTO_ICMP)
        return SH_PKT_OTHER;
      p.family = 4;
      memcpy (p.src, data + 12, 4);
      memcpy (p.dst, data + 16, 4);
      r = parse_l4 (data[9], data + ihl, total - ihl, &p);
    }
  else if (data[0] >> 4 == 6)
    {
      gsize plen;

      if (len < IP6_HDR)
        return SH_PKT_MALFORMED;
      plen = get16 (data + 4);
      if (IP6_HDR + plen > len)
        return SH_PKT_MALFORMED;
      if (is_extension (data[6]))
        return SH_PKT_EXTENSION;
      if (data[6] != PROTO_UDP && data[6] != PROTO_ICMPV6)
        return SH_PKT_OTHER;
      p.family = 6;
      memcpy (p.src, data + 8, 16);
      memcpy (p.dst, data + 24, 16);
      r = parse_l4 (data[6], data + IP6_HDR, plen, &p);
    }
  else
    return SH_PKT_MALFORMED;
  if (r == SH_PKT_OK)
    *out = p;
  return r;
}

/* The sum of @p's pseudo-header (RFC 768, RFC 8200 8.1). */
static guint32
pseudo_sum (const ShPacket *p, guint8 proto, gsize l4_len)
{
  gsize alen = p->family == 4 ? 4 : 16;

  return sum_bytes (sum_bytes (0, p->src, alen), p->dst, alen) + proto + (guint32) l4_len;
}

/* @p's IPv4 or IPv6 header for @l4_len bytes of @proto, and zeros for the
 * L4 header after it. */
static void
put_ip_header (const ShPacket *p, guint8 proto, gsize l4_len, guint8 *buf)
{
  if (p->family == 4)
    {
      memset (buf, 0, IP4_HDR + L4_HDR);
      buf[0] = 0x45;
      put16 (buf + 2, (guint16) (IP4_HDR + l4_len));
      buf[8] = 64;
      buf[9] = proto;
      memcpy (buf + 12, p->src, 4);
      memcpy (buf + 16, p->dst, 4);
      put16 (buf + 10, fold (sum_bytes (0, buf, IP4_HDR)));
    }
  else
    {
      memset (buf, 0, IP6_HDR + L4_HDR);
      buf[0] = 0x60;
      put16 (buf + 4, (guint16) l4_len);
      buf[6] = proto;
      buf[7] = 64;
      memcpy (buf + 8, p->src, 16);
      memcpy (buf + 24, p->dst, 16);
    }
}

gsize
sh_pkt_build (const ShPacket *p, guint8 *buf)
{
  gboolean v4 = p->family == 4;
  gsize ip_hdr = v4 ? IP4_HDR : IP6_HDR;
  gsize max, l4_len, total;
  guint8 proto;
  guint8 *l4;
  guint32 sum = 0;

  if (p->family != 4 && p->family != 6)
    return 0;
  if (p->kind == SH_PKT_KIND_UDP)
    {
      max = v4 ? SH_PKT_UDP4_MAX : SH_PKT_UDP6_MAX;
      proto = PROTO_UDP;
    }
  else if (p->kind == SH_PKT_KIND_ECHO)
    {
      max = v4 ? SH_PKT_ECHO4_MAX : SH_PKT_ECHO6_MAX;
      proto = v4 ? PROTO_ICMP : PROTO_ICMPV6;
    }
  else
    return 0;
  if (p->payload_len > max || (p->payload_len > 0 && p->payload == NULL))
    return 0;
  l4_len = L4_HDR + p->payload_len;
  total = ip_hdr + l4_len;

  put_ip_header (p, proto, l4_len, buf);

  l4 = buf + ip_hdr;
  if (p->payload_len > 0)
    memmove (l4 + L4_HDR, p->payload, p->payload_len);
  if (p->kind == SH_PKT_KIND_UDP)
    {
      put16 (l4, p->sport);
      put16 (l4 + 2, p->dport);
      put16 (l4 + 4, (guint16) l4_len);
    }
  else
    {
      l4[0] = v4 ? 0 : 129;
      put16 (l4 + 4, p->sport);
      put16 (l4 + 6, p->dport);
    }

  /* The pseudo-header for UDP and ICMPv6; ICMP over IPv4 has none. */
  if (proto != PROTO_ICMP)
    sum = pseudo_sum (p, proto, l4_len);
  sum = sum_bytes (sum, l4, l4_len);
  {
    guint16 c = fold (sum);

    /* A UDP checksum of 0 means "none": all ones stands for it. */
    if (proto == PROTO_UDP && c == 0)
      c = 0xffff;
    put16 (l4 + (proto == PROTO_UDP ? 6 : 2), c);
  }
  return total;
}

gsize
sh_pkt_build_udp_headers (const ShPacket *p, guint8 *buf)
{
  gboolean v4 = p->family == 4;
  gsize ip_hdr = v4 ? IP4_HDR : IP6_HDR;
  gsize l4_len = L4_HDR + p->payload_len;

  if ((p->family != 4 && p->family != 6) || p->kind != SH_PKT_KIND_UDP
      || p->payload_len > (v4 ? SH_PKT_UDP4_MAX : SH_PKT_UDP6_MAX))
    return 0;
  put_ip_header (p, PROTO_UDP, l4_len, buf);
  put16 (buf + ip_hdr, p->sport);
  put16 (buf + ip_hdr + 2, p->dport);
  put16 (buf + ip_hdr + 4, (guint16) l4_len);
  /* Not complemented: the kernel adds the header and payload to it. */
  put16 (buf + ip_hdr + 6, (guint16) ~fold (pseudo_sum (p, PROTO_UDP, l4_len)));
  return ip_hdr + L4_HDR;
}

const char *
sh_pkt_result_name (ShPktResult result)
{
  static const char *const names[SH_PKT_N_RESULTS] = {
    [SH_PKT_OK] = "ok",
    [SH_PKT_MALFORMED] = "malformed",
    [SH_PKT_FRAGMENT] = "fragment",
    [SH_PKT_EXTENSION] = "extension header",
    [SH_PKT_OTHER] = "other protocol",
  };

  return (guint) result < SH_PKT_N_RESULTS ? names[result] : "?";
}
