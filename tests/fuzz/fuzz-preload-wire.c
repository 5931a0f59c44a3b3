/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-preload-wire.c — the door of `shuttle run` (preload/preload-wire.c)
 * on arbitrary bytes: what the engine reads from the preload library (a
 * connection's header or a name request), and what the library reads from
 * the engine (the answer to a name).
 *
 * Input: the first byte picks the side (even: a request, odd: an answer).
 * Besides not crashing: the size a request asks for is a fixed upper bound
 * and grows only once the header is known (no byte of the program's stream
 * is read), a parsed request is consistent (a name NUL-terminated, of the
 * stated length; a connection's port not 0), and an answer found is of
 * AF_INET or AF_INET6. */
#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>

#include "preload-wire.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_request (const uint8_t *buf, size_t len)
{
  ShPreloadRequest r;
  size_t got = 0;
  int need;

  /* Read as the engine does: no more than the size asked for. */
  while ((need = sh_preload_request_size (buf, got)) > 0 && (size_t) need > got && got < len)
    {
      assert ((size_t) need <= sizeof (ShPreloadNameHeader) + 255);
      got = (size_t) need < len ? (size_t) need : len;
    }
  if (need < 0 || (size_t) need != got)
    return;
  if (sh_preload_request_parse (buf, got, &r) != 0)
    return;
  if (r.is_name)
    {
      assert (r.family == 0 || r.family == 4 || r.family == 6);
      assert (strlen (r.name) == got - sizeof (ShPreloadNameHeader));
      assert (strlen (r.name) >= 1 && strlen (r.name) <= SH_PRELOAD_NAME_MAX);
    }
  else
    {
      assert (r.family == 4 || r.family == 6);
      assert (r.port != 0);
      assert (got == sizeof (ShPreloadHeader));
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  uint8_t addr[16];
  int family = 0;

  if (size < 1)
    return 0;
  if ((data[0] & 1) == 0)
    {
      fuzz_request (data + 1, size - 1);
      return 0;
    }
  if (sh_preload_answer_parse (data + 1, size - 1, &family, addr) == 0)
    assert (family == AF_INET || family == AF_INET6);
  return 0;
}
