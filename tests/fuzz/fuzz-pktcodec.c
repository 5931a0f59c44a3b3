/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-pktcodec.c — packets from the datagram device (service/pktcodec.c),
 * as the local kernel, or anything that can write there, would give them.
 *
 * Invariants, checked here so that a violation crashes: a parsed packet's
 * payload lies inside the input; the family and kind are the two known;
 * and the packet the codec builds from what it parsed (a reply, turned back
 * into a request) parses again to the same fields and payload. A UDP
 * packet's headers built for checksum offload are the same headers, but
 * for the checksum field. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pktcodec.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static guint8 out[SH_PKT_MAX], hdr[SH_PKT_UDP6_HDR];

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  ShPacket p, q;
  gsize n, alen;

  if (sh_pkt_parse (data, size, &p) != SH_PKT_OK)
    return 0;
  if (p.family != 4 && p.family != 6)
    abort ();
  if (p.kind != SH_PKT_KIND_UDP && p.kind != SH_PKT_KIND_ECHO)
    abort ();
  if (p.payload < data || p.payload + p.payload_len > data + size)
    abort ();
  n = sh_pkt_build (&p, out);
  if (n == 0)
    abort (); /* whatever parses fits a packet */
  if (p.kind == SH_PKT_KIND_ECHO)
    out[p.family == 4 ? 20 : 40] = p.family == 4 ? 8 : 128;
  if (sh_pkt_parse (out, n, &q) != SH_PKT_OK)
    abort ();
  alen = p.family == 4 ? 4 : 16;
  if (q.family != p.family || q.kind != p.kind || q.sport != p.sport || q.dport != p.dport
      || memcmp (q.src, p.src, alen) != 0 || memcmp (q.dst, p.dst, alen) != 0
      || q.payload_len != p.payload_len || memcmp (q.payload, p.payload, p.payload_len) != 0)
    abort ();
  if (p.kind == SH_PKT_KIND_UDP)
    {
      gsize hlen = sh_pkt_build_udp_headers (&p, hdr);

      if (hlen != (p.family == 4 ? SH_PKT_UDP4_HDR : SH_PKT_UDP6_HDR)
          || memcmp (hdr, out, hlen - 2) != 0)
        abort ();
    }
  return 0;
}
