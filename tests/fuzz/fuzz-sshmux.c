/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-sshmux.c — what a hostile or broken ssh master could send on a
 * control connection, to sh_sshmux_parse() (service/sshmux.c) packet after
 * packet, as sshlink.c reads it. A parsed message never reaches past the
 * bytes it was parsed from, and a stream is consumed exactly. */
#include "config.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include <glib.h>

#include "sshmux.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  gsize off = 0;
  for (;;)
    {
      ShSshMuxMsg m;
      gssize n = sh_sshmux_parse (data + off, size - off, &m);
      if (n == 0 || n == -EBADMSG || n == -EMSGSIZE)
        break;
      if (n < 8 || (gsize) n > size - off || n > SH_SSHMUX_MAX_PACKET + 4)
        abort ();
      if (m.text != NULL
          && ((const uint8_t *) m.text < data + off
              || (const uint8_t *) m.text + m.text_len > data + off + (gsize) n))
        abort ();
      if (m.text == NULL && m.text_len != 0)
        abort ();
      off += (gsize) n;
    }
  /* Requests: whatever host the fuzzer names, a request is bounded. */
  g_autoptr (GByteArray) out = g_byte_array_new ();
  g_autofree char *host = g_strndup ((const char *) data, MIN (size, 300));
  guint32 port = size >= 2 ? (guint32) data[0] << 8 | data[1] : 0;
  if (sh_sshmux_put_stdio_fwd (out, 1, host, port) && out->len > 24 + SH_SSHMUX_MAX_HOST)
    abort ();
  return 0;
}
