/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-subnet.c — sh_subnet_parse() on arbitrary bytes.
 *
 * Besides not crashing, every accepted spec must survive a round trip: its
 * canonical text parses back to the same subnet, and that text is a fixed
 * point. A broken invariant abort()s so libFuzzer keeps the input. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

#include "subnet.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static gboolean
same_subnet (const ShSubnet *a, const ShSubnet *b)
{
  return a->family == b->family && memcmp (a->addr, b->addr, sizeof a->addr) == 0
         && a->prefix == b->prefix && a->port_lo == b->port_lo && a->port_hi == b->port_hi;
}

static void
check_invariants (const ShSubnet *s)
{
  guint max = s->family == AF_INET ? 32 : 128;

  if (s->family != AF_INET && s->family != AF_INET6)
    abort ();
  if (s->prefix > max)
    abort ();
  /* Either "all ports" or a proper range. */
  if ((s->port_lo == 0) != (s->port_hi == 0) || s->port_lo > s->port_hi)
    abort ();
  /* An address always lies in its own subnet. */
  if (!sh_subnet_contains (s, s->family, s->addr, s->port_lo))
    abort ();
  /* IPv4 never touches bytes past the first four. */
  if (s->family == AF_INET)
    for (guint i = 4; i < sizeof s->addr; i++)
      if (s->addr[i] != 0)
        abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *spec = g_strndup ((const char *) data, size);
  g_autoptr (GError) error = NULL;
  g_autofree char *text = NULL;
  g_autofree char *text2 = NULL;
  ShSubnet s;
  ShSubnet back;

  /* g_strndup stops at an embedded NUL: the parser sees a C string, as it
   * does from argv. */
  if (!sh_subnet_parse (spec, &s, &error))
    {
      if (error == NULL || error->message == NULL || strchr (error->message, '\n') != NULL)
        abort ();
      return 0;
    }
  if (error != NULL)
    abort ();
  check_invariants (&s);

  text = sh_subnet_to_string (&s);
  if (text == NULL || !sh_subnet_parse (text, &back, NULL) || !same_subnet (&s, &back))
    abort ();
  text2 = sh_subnet_to_string (&back);
  if (strcmp (text, text2) != 0)
    abort ();
  return 0;
}
