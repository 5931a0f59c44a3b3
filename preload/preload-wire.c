/* SPDX-License-Identifier: GPL-2.0-or-later */
/* preload-wire.c — the door's requests and answers (preload-wire.h), pure
 * and without GLib: built into the preload library and the engine, and
 * fuzzed by fuzz-preload-wire. */
#include "preload-wire.h"

#include <string.h>
#include <sys/socket.h>

int
sh_preload_request_size (const uint8_t *buf, size_t len)
{
  if (len < sizeof (ShPreloadNameHeader))
    return (int) sizeof (ShPreloadNameHeader);
  if (memcmp (buf, SH_PRELOAD_MAGIC, 4) == 0)
    return (int) sizeof (ShPreloadHeader);
  if (memcmp (buf, SH_PRELOAD_NAME_MAGIC, 4) == 0)
    return (int) sizeof (ShPreloadNameHeader) + buf[offsetof (ShPreloadNameHeader, len)];
  return -1;
}

int
sh_preload_request_parse (const uint8_t *buf, size_t len, ShPreloadRequest *out)
{
  int size = sh_preload_request_size (buf, len);

  memset (out, 0, sizeof *out);
  if (size < 0 || (size_t) size != len)
    return -1;
  if (memcmp (buf, SH_PRELOAD_MAGIC, 4) == 0)
    {
      ShPreloadHeader h;

      memcpy (&h, buf, sizeof h);
      if ((h.family != 4 && h.family != 6) || h.zero != 0 || (h.port[0] == 0 && h.port[1] == 0))
        return -1;
      out->family = h.family;
      out->port = (uint16_t) (h.port[0] << 8 | h.port[1]);
      memcpy (out->addr, h.addr, h.family == 4 ? 4 : 16);
      return 0;
    }
  {
    ShPreloadNameHeader h;

    memcpy (&h, buf, sizeof h);
    if ((h.family != 0 && h.family != 4 && h.family != 6) || h.len == 0
        || h.len > SH_PRELOAD_NAME_MAX || h.zero[0] != 0 || h.zero[1] != 0
        || memchr (buf + sizeof h, '\0', h.len) != NULL)
      return -1;
    out->is_name = 1;
    out->family = h.family;
    memcpy (out->name, buf + sizeof h, h.len);
    out->name[h.len] = '\0';
    return 0;
  }
}

int
sh_preload_answer_parse (const uint8_t *buf, size_t len, int *family, uint8_t addr[16])
{
  ShPreloadAnswer a;

  if (len != sizeof a)
    return -2;
  memcpy (&a, buf, sizeof a);
  if (memcmp (a.magic, SH_PRELOAD_ANSWER_MAGIC, 4) != 0 || a.zero[0] != 0 || a.zero[1] != 0)
    return -2;
  if (a.status == SH_PRELOAD_NO_NAME)
    return -1;
  if (a.status != SH_PRELOAD_FOUND || (a.family != 4 && a.family != 6))
    return -2;
  *family = a.family == 4 ? AF_INET : AF_INET6;
  memset (addr, 0, 16);
  memcpy (addr, a.addr, a.family == 4 ? 4 : 16);
  return 0;
}
