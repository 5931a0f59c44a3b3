/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-nfqueue.c — sh_nfq_parse() on arbitrary netlink buffers, as the
 * engine (or shuttle-firewall's SYN relay) reads them from its queue
 * socket, and the relay's verdict record parser on the same bytes.
 *
 * Besides not crashing or reading out of bounds: every step is positive and
 * within the buffer, a packet has a known family, and an encoded verdict for
 * its id parses back as a well-formed, non-packet message; a packet's relay
 * record (synrelay.h) parses back to the same packet; a verdict record is
 * taken only at its length, with a known outcome. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <glib.h>

#include "nfqueue.h"
#include "synrelay.h"
#include <string.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gsize off = 0;
  guint32 vid;
  ShSynOutcome outcome;

  if (sh_syn_relay_parse_verdict (data, size, &vid, &outcome)
      && (size != SH_SYN_RELAY_VERDICT_LEN || outcome > SH_SYN_OUTCOME_MAX))
    abort ();
  while (off < size)
    {
      ShNfqPacket pkt;
      gboolean is_packet;
      int err;
      int n = sh_nfq_parse (data + off, size - off, &pkt, &is_packet, &err);

      if (n < 0)
        break;
      if (n == 0 || (gsize) n > size - off)
        abort ();
      if (is_packet && pkt.family != AF_INET && pkt.family != AF_INET6)
        abort ();
      if (!is_packet && pkt.family != 0)
        abort ();
      if (err < 0)
        abort ();
      if (is_packet)
        {
          guint8 out[SH_NFQ_MSG_MAX];
          gsize len = sh_nfq_put_verdict (out, 1, pkt.id, 1, 0x5369, 7);
          ShNfqPacket back;
          gboolean back_packet;

          if (len > sizeof out || sh_nfq_parse (out, len, &back, &back_packet, &err) != (int) len
              || back_packet)
            abort ();

          guint8 rec[SH_SYN_RELAY_SYN_LEN];
          gsize alen = pkt.family == AF_INET6 ? 16 : 4;
          sh_syn_relay_put_syn (rec, &pkt);
          if (!sh_syn_relay_parse_syn (rec, sizeof rec, &back) || back.id != pkt.id
              || back.family != pkt.family || back.sport != pkt.sport || back.dport != pkt.dport
              || memcmp (back.src, pkt.src, alen) != 0 || memcmp (back.dst, pkt.dst, alen) != 0)
            abort ();
        }
      off += (gsize) n;
    }
  return 0;
}
