/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The client's SERVFAIL answers (dnsclient.c): what an application's
 * resolver gets when the tunnel has no answer for it. */
#include "config.h"

#include <string.h>

#include "dnsclient.h"

/* A query for "a.example" A IN, id 0xbeef, RD set, with an EDNS OPT record
 * in the additional section (which a SERVFAIL does not repeat). */
static const guint8 query[] = {
  0xbe, 0xef, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, /* header */
  0x01, 'a',  0x07, 'e',  'x',  'a',  'm',  'p',  'l',  'e',  0x00,       /* a.example */
  0x00, 0x01, 0x00, 0x01,                                                 /* A IN */
  0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,       /* OPT */
};

static void
test_servfail (void)
{
  guint8 out[sizeof query];
  gsize n = sh_dns_servfail (query, sizeof query, out);
  gsize question_end = 12 + 11 + 4;

  g_assert_cmpuint (n, ==, question_end);
  g_assert_cmpuint (out[0], ==, 0xbe); /* the same id */
  g_assert_cmpuint (out[1], ==, 0xef);
  g_assert_cmpuint (out[2], ==, 0x81);     /* QR, opcode QUERY, RD */
  g_assert_cmpuint (out[3] & 0x0f, ==, 2); /* SERVFAIL */
  g_assert_cmpuint (out[4] << 8 | out[5], ==, 1);
  for (int i = 6; i < 12; i++)
    g_assert_cmpuint (out[i], ==, 0); /* no answer, authority or additional */
  g_assert_cmpmem (out + 12, question_end - 12, query + 12, question_end - 12);
}

static void
test_servfail_refuses (void)
{
  guint8 out[sizeof query];
  guint8 q[sizeof query];

  /* too short, a response, a question running past the end, compression */
  g_assert_cmpuint (sh_dns_servfail (query, 11, out), ==, 0);
  memcpy (q, query, sizeof q);
  q[2] |= 0x80;
  g_assert_cmpuint (sh_dns_servfail (q, sizeof q, out), ==, 0);
  g_assert_cmpuint (sh_dns_servfail (query, 20, out), ==, 0);
  memcpy (q, query, sizeof q);
  q[12] = 0xc0;
  g_assert_cmpuint (sh_dns_servfail (q, sizeof q, out), ==, 0);
  memcpy (q, query, sizeof q);
  q[5] = 2; /* two questions, only one there */
  g_assert_cmpuint (sh_dns_servfail (q, 27, out), ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dnsclient/servfail", test_servfail);
  g_test_add_func ("/dnsclient/servfail-refuses", test_servfail_refuses);
  return g_test_run ();
}
