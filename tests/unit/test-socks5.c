/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of socks5.c (the SOCKS5 handshake) and dnsname.c (a name's
 * query and its answer), both pure. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include <glib.h>

#include "dnsname.h"
#include "socks5.h"

static void
test_greeting (void)
{
  static const guint8 noauth[] = { 5, 2, 2, 0 };
  static const guint8 userpass[] = { 5, 1, 2 };
  static const guint8 v4[] = { 4, 1, 0 };

  g_assert_cmpint (sh_socks5_parse_greeting (noauth, 0), ==, 0);
  g_assert_cmpint (sh_socks5_parse_greeting (noauth, 1), ==, 0);
  g_assert_cmpint (sh_socks5_parse_greeting (noauth, 3), ==, 0);
  g_assert_cmpint (sh_socks5_parse_greeting (noauth, 4), ==, 4);
  g_assert_cmpint (sh_socks5_parse_greeting (userpass, 3), ==, -EACCES);
  g_assert_cmpint (sh_socks5_parse_greeting (v4, 3), ==, -EPROTO);
}

static void
test_request (void)
{
  static const guint8 ip4[] = { 5, 1, 0, 1, 10, 1, 2, 3, 0x01, 0xbb };
  static const guint8 ip6[]
      = { 5, 1, 0, 4, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 22 };
  static const guint8 name[] = { 5, 1, 0, 3, 7, 'w', 'w', 'w', '.', 'l', 'a', 'n', 0, 80 };
  static const guint8 literal[] = { 5, 1, 0, 3, 3, ':', ':', '1', 0, 80 };
  static const guint8 bind[] = { 5, 2, 0, 1, 10, 1, 2, 3, 0, 80 };
  static const guint8 badtype[] = { 5, 1, 0, 9, 10, 1, 2, 3, 0, 80 };
  static const guint8 badname[] = { 5, 1, 0, 3, 3, 'a', ' ', 'b', 0, 80 };
  static const guint8 nulname[] = { 5, 1, 0, 3, 3, 'a', 0, 'b', 0, 80 };
  static const guint8 empty[] = { 5, 1, 0, 3, 0, 0, 80 };
  static const guint8 port0[] = { 5, 1, 0, 1, 10, 1, 2, 3, 0, 0 };
  ShSocks5Request r;

  for (gsize i = 0; i < sizeof ip4; i++)
    g_assert_cmpint (sh_socks5_parse_request (ip4, i, &r), ==, 0);
  g_assert_cmpint (sh_socks5_parse_request (ip4, sizeof ip4, &r), ==, sizeof ip4);
  g_assert_cmpint (r.dst.family, ==, AF_INET);
  g_assert_cmpuint (r.dst.port, ==, 443);
  g_assert_cmpmem (r.dst.addr, 4, ip4 + 4, 4);

  g_assert_cmpint (sh_socks5_parse_request (ip6, sizeof ip6, &r), ==, sizeof ip6);
  g_assert_cmpint (r.dst.family, ==, AF_INET6);
  g_assert_cmpuint (r.dst.port, ==, 22);
  g_assert_cmpmem (r.dst.addr, 16, ip6 + 4, 16);

  g_assert_cmpint (sh_socks5_parse_request (name, sizeof name - 1, &r), ==, 0);
  g_assert_cmpint (sh_socks5_parse_request (name, sizeof name, &r), ==, sizeof name);
  g_assert_cmpint (r.dst.family, ==, AF_UNSPEC);
  g_assert_cmpstr (r.name, ==, "www.lan");
  g_assert_cmpuint (r.dst.port, ==, 80);

  g_assert_cmpint (sh_socks5_parse_request (literal, sizeof literal, &r), ==, sizeof literal);
  g_assert_cmpint (r.dst.family, ==, AF_INET6);
  g_assert_cmpstr (r.name, ==, "");

  g_assert_cmpint (sh_socks5_parse_request (bind, sizeof bind, &r), ==, -SH_SOCKS5_BAD_COMMAND);
  g_assert_cmpint (sh_socks5_parse_request (badtype, sizeof badtype, &r), ==,
                   -SH_SOCKS5_BAD_ADDRESS);
  g_assert_cmpint (sh_socks5_parse_request (badname, sizeof badname, &r), ==,
                   -SH_SOCKS5_BAD_ADDRESS);
  g_assert_cmpint (sh_socks5_parse_request (nulname, sizeof nulname, &r), ==, -SH_SOCKS5_FAILURE);
  g_assert_cmpint (sh_socks5_parse_request (empty, sizeof empty, &r), ==, -SH_SOCKS5_FAILURE);
  g_assert_cmpint (sh_socks5_parse_request (port0, sizeof port0, &r), ==, -SH_SOCKS5_FAILURE);
}

static void
test_reply (void)
{
  static const guint8 want[10] = { 5, 4, 0, 1, 0, 0, 0, 0, 0, 0 };
  guint8 out[10];

  sh_socks5_reply (SH_SOCKS5_HOST_UNREACHABLE, out);
  g_assert_cmpmem (out, 10, want, 10);
}

/* A reply to "www.lan A" with a CNAME first, then the address, the name
 * compressed. */
static void
test_dns (void)
{
  static const guint8 want_q[] = { 0x12, 0x34, 1,   0, 0,   1,   0,   0, 0, 0, 0, 0, 3,
                                   'w',  'w',  'w', 3, 'l', 'a', 'n', 0, 0, 1, 0, 1 };
  guint8 q[12 + 256 + 5];
  gsize n = sh_dns_name_query ("www.lan", SH_DNS_TYPE_A, 0x1234, q);
  guint8 reply[128], addr[16];
  gsize p;

  g_assert_cmpmem (q, n, want_q, sizeof want_q);
  memcpy (reply, q, n);
  reply[2] = 0x81;
  reply[3] = 0x80;
  reply[7] = 2; /* two answers */
  p = n;
  /* www.lan CNAME web.lan */
  memcpy (reply + p,
          (guint8[]){ 0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 6, 3, 'w', 'e', 'b', 0xc0, 16 }, 18);
  p += 18;
  /* web.lan A 10.1.2.3 */
  memcpy (reply + p,
          (guint8[]){ 0xc0, (guint8) (n + 12), 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3 }, 16);
  p += 16;
  g_assert_cmpint (sh_dns_name_answer (reply, p, SH_DNS_TYPE_A, addr), ==, 0);
  g_assert_cmpmem (addr, 4, ((guint8[]){ 10, 1, 2, 3 }), 4);
  g_assert_cmpint (sh_dns_name_answer (reply, p, SH_DNS_TYPE_AAAA, addr), ==, -ENOENT);
  g_assert_cmpint (sh_dns_name_answer (reply, p - 1, SH_DNS_TYPE_A, addr), ==, -EPROTO);
  g_assert_cmpint (sh_dns_name_answer (q, n, SH_DNS_TYPE_A, addr), ==, -EPROTO); /* a query */
  reply[3] = 0x83;                                                               /* NXDOMAIN */
  g_assert_cmpint (sh_dns_name_answer (reply, p, SH_DNS_TYPE_A, addr), ==, -ENOENT);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/socks5/greeting", test_greeting);
  g_test_add_func ("/socks5/request", test_request);
  g_test_add_func ("/socks5/reply", test_reply);
  g_test_add_func ("/socks5/dns", test_dns);
  return g_test_run ();
}
