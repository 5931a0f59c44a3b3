/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz the mux frame decoder: a stream of frames as a peer might send it.
 * Checks beyond "no crash": a decoded frame never claims more bytes than it
 * was given, its payload lies inside the input, and re-encoding the frames
 * that have an encoder yields exactly the input bytes. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "mux.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_reencode (const ShFrame *f, const uint8_t *raw, gssize n)
{
  guint8 out[SH_MUX_MAX_FRAME];
  gsize m = 0;
  switch (f->type)
    {
    case SH_FRAME_OPEN:
      m = sh_frame_put_open (out, f->channel, &f->u.open);
      break;
    case SH_FRAME_WINDOW:
      m = sh_frame_put_u32 (out, SH_FRAME_WINDOW, f->channel, f->u.window);
      break;
    case SH_FRAME_ACK:
      m = sh_frame_put_u32 (out, SH_FRAME_ACK, 0, f->u.ack);
      break;
    case SH_FRAME_PING:
    case SH_FRAME_PONG:
      m = sh_frame_put_u64 (out, f->type, f->u.token);
      break;
    case SH_FRAME_CLOSE:
      m = sh_frame_put_close (out, f->channel, f->u.close_reason);
      break;
    case SH_FRAME_DGRAM:
      if (f->u.dgram.data + f->u.dgram.data_len != raw + n)
        abort (); /* the data is the rest of the payload */
      m = sh_frame_put_dgram (out, f->channel, &f->u.dgram);
      break;
    case SH_FRAME_DGRAM_CLOSE:
      m = sh_frame_put_dgram_close (out, f->channel, f->u.dgram_close.reason, f->u.dgram_close.err);
      break;
    default:
      return;
    }
  if ((gssize) m != n || memcmp (out, raw, m) != 0)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  /* The client's view: junk, then HELLO, then frames. */
  gssize at = sh_frame_find_hello (data, size);
  if (at < -1 || at > (gssize) size)
    abort ();

  size_t pos = 0;
  while (pos < size)
    {
      ShFrame f;
      gssize n = sh_frame_decode (data + pos, size - pos, &f);
      if (n <= 0)
        break;
      if ((size_t) n > size - pos || n < SH_MUX_HDR_LEN)
        abort ();
      if (f.payload != data + pos + SH_MUX_HDR_LEN || f.len != n - SH_MUX_HDR_LEN)
        abort ();
      if (f.type == SH_FRAME_HELLO && strlen (f.u.hello.name) > SH_MUX_MAX_NAME)
        abort ();
      check_reencode (&f, data + pos, n);
      pos += n;
    }
  return 0;
}
