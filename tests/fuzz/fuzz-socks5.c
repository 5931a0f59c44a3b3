/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-socks5.c — what a local SOCKS5 client sends (socks5.c), and what the
 * far side's resolver answers to a name (dnsname.c), on arbitrary bytes.
 *
 * Input: the first byte picks the parser (even: the greeting then the
 * request, split where the greeting's parse says; odd: a DNS reply for A
 * and for AAAA). Besides not crashing: every prefix of a complete message
 * asks for more bytes rather than deciding early, a parsed length never
 * exceeds the input, and a name we accept is NUL-terminated, non-empty and
 * makes a query of the documented size. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

#include "dnsname.h"
#include "socks5.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
fuzz_request (const guint8 *buf, gsize len)
{
  ShSocks5Request r;
  int n = sh_socks5_parse_request (buf, len, &r);

  if (n > (int) len)
    abort ();
  if (n <= 0)
    return;
  /* A shorter prefix of a complete request is incomplete, never valid. */
  for (gsize i = 0; i < (gsize) n; i++)
    {
      ShSocks5Request s;

      if (sh_socks5_parse_request (buf, i, &s) != 0)
        abort ();
    }
  if (r.dst.port == 0)
    abort ();
  if (r.dst.family == AF_UNSPEC)
    {
      guint8 q[12 + 256 + 5];
      gsize qlen, nlen = strnlen (r.name, sizeof r.name);

      if (nlen == 0 || nlen == sizeof r.name)
        abort ();
      qlen = sh_dns_name_query (r.name, SH_DNS_TYPE_AAAA, 7, q);
      if (qlen != 12 + nlen + 2 + 4)
        abort ();
    }
  else if (r.dst.family != AF_INET && r.dst.family != AF_INET6)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  guint8 addr[16];
  int g;

  if (size < 1)
    return 0;
  if (data[0] & 1)
    {
      sh_dns_name_answer (data + 1, size - 1, SH_DNS_TYPE_A, addr);
      sh_dns_name_answer (data + 1, size - 1, SH_DNS_TYPE_AAAA, addr);
      return 0;
    }
  data++;
  size--;
  g = sh_socks5_parse_greeting (data, size);
  if (g > (int) size)
    abort ();
  if (g > 0)
    fuzz_request (data + g, size - (gsize) g);
  else
    fuzz_request (data, size);
  return 0;
}
