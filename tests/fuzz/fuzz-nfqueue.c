/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-nfqueue.c — sh_nfq_parse() on arbitrary netlink buffers, as the
 * engine reads them from its queue socket.
 *
 * Besides not crashing or reading out of bounds: every step is positive and
 * within the buffer, a packet has a known family, and an encoded verdict for
 * its id parses back as a well-formed, non-packet message. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>

#include <glib.h>

#include "nfqueue.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gsize off = 0;

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
        }
      off += (gsize) n;
    }
  return 0;
}
