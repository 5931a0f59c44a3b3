/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests for service/subnet.c. */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "subnet.h"

typedef struct
{
  const char *spec;
  const char *canonical; /* what sh_subnet_to_string() gives back */
  int family;
  guint prefix;
  guint port_lo;
  guint port_hi;
} GoodCase;

static const GoodCase good_cases[] = {
  { "10.1.2.3", "10.1.2.3/32", AF_INET, 32, 0, 0 },
  { "10.0.0.0/8", "10.0.0.0/8", AF_INET, 8, 0, 0 },
  { "10/8", "10.0.0.0/8", AF_INET, 8, 0, 0 },
  { "0/0", "0.0.0.0/0", AF_INET, 0, 0, 0 },
  { "0.0.0.0/0", "0.0.0.0/0", AF_INET, 0, 0, 0 },
  { "192.168/16", "192.168.0.0/16", AF_INET, 16, 0, 0 },
  { "172.16.1/24", "172.16.1.0/24", AF_INET, 24, 0, 0 },
  { "10.1.2.3/8", "10.0.0.0/8", AF_INET, 8, 0, 0 },
  { "10.255.255.255/9", "10.128.0.0/9", AF_INET, 9, 0, 0 },
  { "255.255.255.255/31", "255.255.255.254/31", AF_INET, 31, 0, 0 },
  { "1.2.3.4/32", "1.2.3.4/32", AF_INET, 32, 0, 0 },
  { "10.0.0.0/8:443", "10.0.0.0/8:443", AF_INET, 8, 443, 443 },
  { "10.0.0.0/8:8000-8999", "10.0.0.0/8:8000-8999", AF_INET, 8, 8000, 8999 },
  { "1.2.3.4:1", "1.2.3.4/32:1", AF_INET, 32, 1, 1 },
  { "1.2.3.4:65535", "1.2.3.4/32:65535", AF_INET, 32, 65535, 65535 },
  { "1.2.3.4:1-65535", "1.2.3.4/32:1-65535", AF_INET, 32, 1, 65535 },
  { "1.2.3.4:80-80", "1.2.3.4/32:80", AF_INET, 32, 80, 80 },
  { "0/0:22", "0.0.0.0/0:22", AF_INET, 0, 22, 22 },
  { "1.2.3.4:0080", "1.2.3.4/32:80", AF_INET, 32, 80, 80 },
  { "10.0.0.0/008", "10.0.0.0/8", AF_INET, 8, 0, 0 },
  { "::/0", "::/0", AF_INET6, 0, 0, 0 },
  { "fd00::/8", "fd00::/8", AF_INET6, 8, 0, 0 },
  { "2001:db8::1", "2001:db8::1/128", AF_INET6, 128, 0, 0 },
  { "2001:db8::1/64", "2001:db8::/64", AF_INET6, 64, 0, 0 },
  { "[fd00::]/8", "fd00::/8", AF_INET6, 8, 0, 0 },
  { "[fd00::]/8:22", "[fd00::]/8:22", AF_INET6, 8, 22, 22 },
  { "[2001:db8::1]:443", "[2001:db8::1]/128:443", AF_INET6, 128, 443, 443 },
  { "[::1]", "::1/128", AF_INET6, 128, 0, 0 },
  { "[fd00::]/8:1000-2000", "[fd00::]/8:1000-2000", AF_INET6, 8, 1000, 2000 },
  { "fdff:ffff::/9", "fd80::/9", AF_INET6, 9, 0, 0 },
  { "::ffff:10.1.2.3/128", "::ffff:10.1.2.3/128", AF_INET6, 128, 0, 0 },
  { "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/127", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127",
    AF_INET6, 127, 0, 0 },
};

static void
test_parse_good (void)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (good_cases); i++)
    {
      const GoodCase *c = &good_cases[i];
      g_autoptr (GError) error = NULL;
      g_autofree char *str = NULL;
      ShSubnet s;

      g_test_message ("spec %s", c->spec);
      g_assert_true (sh_subnet_parse (c->spec, &s, &error));
      g_assert_no_error (error);
      g_assert_cmpint (s.family, ==, c->family);
      g_assert_cmpuint (s.prefix, ==, c->prefix);
      g_assert_cmpuint (s.port_lo, ==, c->port_lo);
      g_assert_cmpuint (s.port_hi, ==, c->port_hi);
      str = sh_subnet_to_string (&s);
      g_assert_cmpstr (str, ==, c->canonical);
    }
}

static void
test_parse_address_bytes (void)
{
  static const guint8 v4[16] = { 192, 168, 0, 0 };
  static const guint8 v6[16] = { 0xfd, 0x12, 0x34, 0x56 };
  ShSubnet s;

  /* Bytes past the IPv4 address stay zero; host bits are cleared. */
  memset (&s, 0xaa, sizeof s);
  g_assert_true (sh_subnet_parse ("192.168.77.9/16", &s, NULL));
  g_assert_cmpmem (s.addr, sizeof s.addr, v4, sizeof v4);

  memset (&s, 0xaa, sizeof s);
  g_assert_true (sh_subnet_parse ("fd12:3456:789a::1/32", &s, NULL));
  g_assert_cmpmem (s.addr, sizeof s.addr, v6, sizeof v6);
}

typedef struct
{
  const char *spec;
  const char *message; /* the whole message */
} BadCase;

static const BadCase bad_cases[] = {
  { "10.0.0.300/8", "invalid subnet '10.0.0.300/8': '10.0.0.300' is not an IPv4 address" },
  { "10.0.0.0/33", "invalid subnet '10.0.0.0/33': '33' is not a prefix length (0..32)" },
  { "fd00::/129", "invalid subnet 'fd00::/129': '129' is not a prefix length (0..128)" },
  { "1.2.3.4:0", "invalid subnet '1.2.3.4:0': port '0' is out of range (1..65535)" },
  { ":70000", "invalid subnet ':70000': missing address" },
  { "1.2.3.4:70000", "invalid subnet '1.2.3.4:70000': port '70000' is out of range (1..65535)" },
  { "1.2.3.4:5-3", "invalid subnet '1.2.3.4:5-3': port range '5-3' is reversed" },
  { "garbage", "invalid subnet 'garbage': 'garbage' is not an IP address" },
  { "", "invalid subnet '': empty" },
  { "10.0.0.0/8x", "invalid subnet '10.0.0.0/8x': '8x' is not a prefix length (0..32)" },
  { "10.0.0.0/", "invalid subnet '10.0.0.0/': missing prefix length after '/'" },
  { "10.0.0.0:", "invalid subnet '10.0.0.0:': missing port" },
  { "10.0.0.0:http", "invalid subnet '10.0.0.0:http': 'http' is not a port number" },
  { "10.0.0.0:80-", "invalid subnet '10.0.0.0:80-': missing port" },
  { "10.0.0.0:-80", "invalid subnet '10.0.0.0:-80': missing port" },
  { "10.0.0.0:1-2-3", "invalid subnet '10.0.0.0:1-2-3': '2-3' is not a port number" },
  { "10.0.0.0:+80", "invalid subnet '10.0.0.0:+80': '+80' is not a port number" },
  { "10.0.0.0:000000",
    "invalid subnet '10.0.0.0:000000': port '000000' is out of range (1..65535)" },
  { "10.0.0.0/+8", "invalid subnet '10.0.0.0/+8': '+8' is not a prefix length (0..32)" },
  { "10.0.0.0/-1", "invalid subnet '10.0.0.0/-1': '-1' is not a prefix length (0..32)" },
  { "10.0.0.0/0008", "invalid subnet '10.0.0.0/0008': '0008' is not a prefix length (0..32)" },
  { "1.2.3.4.5", "invalid subnet '1.2.3.4.5': '1.2.3.4.5' is not an IPv4 address" },
  { "1..2.3", "invalid subnet '1..2.3': '1..2.3' is not an IPv4 address" },
  { "1.2.3.", "invalid subnet '1.2.3.': '1.2.3.' is not an IPv4 address" },
  { ".1.2.3", "invalid subnet '.1.2.3': '.1.2.3' is not an IPv4 address" },
  { "010.0.0.1", "invalid subnet '010.0.0.1': '010.0.0.1' is not an IPv4 address" },
  { "1.2.3.1000", "invalid subnet '1.2.3.1000': '1.2.3.1000' is not an IPv4 address" },
  { "10", "invalid subnet '10': partial address '10' needs a prefix length, e.g. 10/8" },
  { "0x0a.0.0.1/8", "invalid subnet '0x0a.0.0.1/8': '0x0a.0.0.1' is not an IP address" },
  { " 10.0.0.0/8", "invalid subnet ' 10.0.0.0/8': ' 10.0.0.0' is not an IP address" },
  { "10.0.0.0/8 ", "invalid subnet '10.0.0.0/8 ': '8 ' is not a prefix length (0..32)" },
  { "10.0.0.0/8\n", "invalid subnet '10.0.0.0/8\\x0a': '8\\x0a' is not a prefix length (0..32)" },
  { "fd00::/8:22",
    "invalid subnet 'fd00::/8:22': '8:22' is not a prefix length; write IPv6 with a port in "
    "brackets, e.g. [fd00::]/8:22" },
  { "fd00:::1", "invalid subnet 'fd00:::1': 'fd00:::1' is not an IPv6 address" },
  { "fd00::g", "invalid subnet 'fd00::g': 'fd00::g' is not an IPv6 address" },
  { "[fd00::", "invalid subnet '[fd00::': missing ']'" },
  { "[fd00::]x", "invalid subnet '[fd00::]x': unexpected 'x' after ']'" },
  { "[fd00::]/8]", "invalid subnet '[fd00::]/8]': '8]' is not a prefix length (0..128)" },
  { "[]/8", "invalid subnet '[]/8': missing address" },
  { "[10.0.0.1]:22", "invalid subnet '[10.0.0.1]:22': '10.0.0.1' is not an IPv6 address" },
  { "[fd00::/8]", "invalid subnet '[fd00::/8]': 'fd00::/8' is not an IPv6 address" },
  { "/8", "invalid subnet '/8': missing address" },
  { ":", "invalid subnet ':': missing address" },
  { "fe80::1%eth0", "invalid subnet 'fe80::1%eth0': 'fe80::1%eth0' is not an IPv6 address" },
};

static void
test_parse_bad (void)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (bad_cases); i++)
    {
      const BadCase *c = &bad_cases[i];
      g_autoptr (GError) error = NULL;
      ShSubnet s;

      g_test_message ("spec %s", c->spec);
      g_assert_false (sh_subnet_parse (c->spec, &s, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
      g_assert_cmpstr (error->message, ==, c->message);
    }
}

static void
test_parse_bad_output_untouched (void)
{
  ShSubnet s;
  ShSubnet before;

  memset (&s, 0x5a, sizeof s);
  before = s;
  g_assert_false (sh_subnet_parse ("10.0.0.0/8:0", &s, NULL));
  g_assert_cmpmem (&s, sizeof s, &before, sizeof before);
}

static void
test_parse_long_and_binary (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *longspec = g_strnfill (5000, '1');
  ShSubnet s;

  /* Long input: refused, and the message quotes only a bounded prefix. */
  g_assert_false (sh_subnet_parse (longspec, &s, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_nonnull (strstr (error->message, "longer than 512 characters"));
  g_assert_cmpuint (strlen (error->message), <, 200);
  g_clear_error (&error);

  /* Control bytes never reach the message raw: it stays one line. */
  g_assert_false (sh_subnet_parse ("1\n2\t\x01", &s, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_null (strchr (error->message, '\n'));
  g_assert_null (strchr (error->message, '\t'));
  g_assert_nonnull (strstr (error->message, "1\\x0a2\\x09\\x01"));
}

static void
test_to_string_round_trip (void)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (good_cases); i++)
    {
      g_autofree char *str = NULL;
      ShSubnet a;
      ShSubnet b;

      g_assert_true (sh_subnet_parse (good_cases[i].spec, &a, NULL));
      str = sh_subnet_to_string (&a);
      g_assert_true (sh_subnet_parse (str, &b, NULL));
      g_assert_cmpint (a.family, ==, b.family);
      g_assert_cmpmem (a.addr, sizeof a.addr, b.addr, sizeof b.addr);
      g_assert_cmpuint (a.prefix, ==, b.prefix);
      g_assert_cmpuint (a.port_lo, ==, b.port_lo);
      g_assert_cmpuint (a.port_hi, ==, b.port_hi);
    }
}

static void
addr4 (const char *text, guint8 out[16])
{
  memset (out, 0, 16);
  g_assert_cmpint (inet_pton (AF_INET, text, out), ==, 1);
}

static void
addr6 (const char *text, guint8 out[16])
{
  g_assert_cmpint (inet_pton (AF_INET6, text, out), ==, 1);
}

static void
test_contains_v4 (void)
{
  ShSubnet s;
  guint8 a[16];

  g_assert_true (sh_subnet_parse ("10.0.0.0/8", &s, NULL));
  addr4 ("10.0.0.1", a);
  g_assert_true (sh_subnet_contains (&s, AF_INET, a, 80));
  addr4 ("10.255.255.255", a);
  g_assert_true (sh_subnet_contains (&s, AF_INET, a, 1));
  addr4 ("11.0.0.0", a);
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 80));
  addr4 ("9.255.255.255", a);
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 80));

  /* A prefix that does not end on a byte boundary. */
  g_assert_true (sh_subnet_parse ("192.168.4.0/22", &s, NULL));
  addr4 ("192.168.7.255", a);
  g_assert_true (sh_subnet_contains (&s, AF_INET, a, 0));
  addr4 ("192.168.8.0", a);
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 0));
  addr4 ("192.168.3.255", a);
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 0));

  g_assert_true (sh_subnet_parse ("0/0", &s, NULL));
  addr4 ("203.0.113.9", a);
  g_assert_true (sh_subnet_contains (&s, AF_INET, a, 65535));

  g_assert_true (sh_subnet_parse ("1.2.3.4", &s, NULL));
  addr4 ("1.2.3.4", a);
  g_assert_true (sh_subnet_contains (&s, AF_INET, a, 22));
  addr4 ("1.2.3.5", a);
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 22));
}

static void
test_contains_ports (void)
{
  ShSubnet s;
  guint8 a[16];

  addr4 ("10.9.9.9", a);
  g_assert_true (sh_subnet_parse ("10/8:8000-8999", &s, NULL));
  g_assert_true (sh_subnet_contains (&s, AF_INET, a, 8000));
  g_assert_true (sh_subnet_contains (&s, AF_INET, a, 8500));
  g_assert_true (sh_subnet_contains (&s, AF_INET, a, 8999));
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 7999));
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 9000));
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 0));

  g_assert_true (sh_subnet_parse ("10/8:443", &s, NULL));
  g_assert_true (sh_subnet_contains (&s, AF_INET, a, 443));
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 444));
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 442));
}

static void
test_contains_v6 (void)
{
  ShSubnet s;
  guint8 a[16];

  g_assert_true (sh_subnet_parse ("fd00::/8", &s, NULL));
  addr6 ("fdab::1", a);
  g_assert_true (sh_subnet_contains (&s, AF_INET6, a, 22));
  addr6 ("fe00::1", a);
  g_assert_false (sh_subnet_contains (&s, AF_INET6, a, 22));

  g_assert_true (sh_subnet_parse ("[2001:db8::]/33:22", &s, NULL));
  addr6 ("2001:db8:7fff::1", a);
  g_assert_true (sh_subnet_contains (&s, AF_INET6, a, 22));
  g_assert_false (sh_subnet_contains (&s, AF_INET6, a, 23));
  addr6 ("2001:db8:8000::1", a);
  g_assert_false (sh_subnet_contains (&s, AF_INET6, a, 22));

  g_assert_true (sh_subnet_parse ("::/0", &s, NULL));
  addr6 ("::1", a);
  g_assert_true (sh_subnet_contains (&s, AF_INET6, a, 1));

  g_assert_true (sh_subnet_parse ("2001:db8::1", &s, NULL));
  addr6 ("2001:db8::1", a);
  g_assert_true (sh_subnet_contains (&s, AF_INET6, a, 1));
  addr6 ("2001:db8::2", a);
  g_assert_false (sh_subnet_contains (&s, AF_INET6, a, 1));
}

static void
test_contains_family_mismatch (void)
{
  ShSubnet s;
  guint8 a[16] = { 0 };

  /* ::/0 and 0/0 cover everything of their own family only. */
  g_assert_true (sh_subnet_parse ("0/0", &s, NULL));
  g_assert_false (sh_subnet_contains (&s, AF_INET6, a, 80));
  g_assert_true (sh_subnet_contains (&s, AF_INET, a, 80));
  g_assert_true (sh_subnet_parse ("::/0", &s, NULL));
  g_assert_false (sh_subnet_contains (&s, AF_INET, a, 80));
  g_assert_true (sh_subnet_contains (&s, AF_INET6, a, 80));
}

static void
test_resolve_numeric (void)
{
  g_autoptr (GArray) out = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  g_autofree char *s0 = NULL;
  g_autofree char *s1 = NULL;

  g_assert_true (sh_subnet_parse_resolve ("10/8", out, NULL));
  g_assert_true (sh_subnet_parse_resolve ("[fd00::]/8:22", out, NULL));
  g_assert_cmpuint (out->len, ==, 2);
  s0 = sh_subnet_to_string (&g_array_index (out, ShSubnet, 0));
  s1 = sh_subnet_to_string (&g_array_index (out, ShSubnet, 1));
  g_assert_cmpstr (s0, ==, "10.0.0.0/8");
  g_assert_cmpstr (s1, ==, "[fd00::]/8:22");
}

static void
test_resolve_name (void)
{
  g_autoptr (GArray) out = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  g_autoptr (GError) error = NULL;
  gboolean seen_v4_loopback = FALSE;
  guint8 lo[16];
  guint i;

  /* localhost comes from /etc/hosts, so no network is needed. */
  g_assert_true (sh_subnet_parse_resolve ("10.1.1.1", out, NULL));
  g_assert_true (sh_subnet_parse_resolve ("localhost:8000-8080", out, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (out->len, >=, 2);
  addr4 ("127.0.0.1", lo);
  for (i = 1; i < out->len; i++)
    {
      const ShSubnet *s = &g_array_index (out, ShSubnet, i);

      g_assert_cmpuint (s->port_lo, ==, 8000);
      g_assert_cmpuint (s->port_hi, ==, 8080);
      if (s->family == AF_INET)
        {
          g_assert_cmpuint (s->prefix, ==, 32);
          seen_v4_loopback = seen_v4_loopback || memcmp (s->addr, lo, 16) == 0;
        }
      else
        {
          g_assert_cmpint (s->family, ==, AF_INET6);
          g_assert_cmpuint (s->prefix, ==, 128);
        }
      /* No duplicates (getaddrinfo returns one entry per socket type). */
      for (guint j = 1; j < i; j++)
        g_assert_false (memcmp (s, &g_array_index (out, ShSubnet, j), sizeof *s) == 0);
    }
  g_assert_true (seen_v4_loopback);
  /* Appended: what was there before is kept. */
  g_assert_cmpuint (g_array_index (out, ShSubnet, 0).addr[0], ==, 10);

  /* A width applies to every address of the name. */
  g_array_set_size (out, 0);
  g_assert_true (sh_subnet_parse_resolve ("localhost/8", out, NULL));
  g_assert_cmpuint (out->len, >=, 1);
  for (i = 0; i < out->len; i++)
    g_assert_cmpuint (g_array_index (out, ShSubnet, i).prefix, ==, 8);
}

static void
test_resolve_bad (void)
{
  g_autoptr (GArray) out = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  g_autoptr (GError) error = NULL;

  g_assert_false (sh_subnet_parse_resolve ("nosuchhost.invalid", out, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_assert_true (g_str_has_prefix (error->message,
                                   "invalid subnet 'nosuchhost.invalid': cannot resolve "
                                   "'nosuchhost.invalid': "));
  g_assert_cmpuint (out->len, ==, 0);
  g_clear_error (&error);

  /* Numeric-looking but malformed: an address error, never a lookup. */
  g_assert_false (sh_subnet_parse_resolve ("10.0.0.300/8", out, &error));
  g_assert_cmpstr (error->message, ==,
                   "invalid subnet '10.0.0.300/8': '10.0.0.300' is not an IPv4 address");
  g_clear_error (&error);

  /* inet_aton() forms are not names either. */
  g_assert_false (sh_subnet_parse_resolve ("0x0a.1/8", out, &error));
  g_assert_cmpstr (error->message, ==,
                   "invalid subnet '0x0a.1/8': '0x0a.1' is neither an IP address nor a host "
                   "name");
  g_clear_error (&error);

  g_assert_false (sh_subnet_parse_resolve ("-oops", out, &error));
  g_assert_cmpstr (error->message, ==,
                   "invalid subnet '-oops': '-oops' is neither an IP address nor a host name");
  g_clear_error (&error);

  g_assert_false (sh_subnet_parse_resolve ("bad name", out, &error));
  g_assert_cmpstr (error->message, ==,
                   "invalid subnet 'bad name': 'bad name' is neither an IP address nor a host "
                   "name");
  g_clear_error (&error);

  /* The port part of a name is checked like any other. */
  g_assert_false (sh_subnet_parse_resolve ("localhost:0", out, &error));
  g_assert_cmpstr (error->message, ==,
                   "invalid subnet 'localhost:0': port '0' is out of range (1..65535)");
  g_clear_error (&error);

  g_assert_false (sh_subnet_parse_resolve ("localhost/33", out, &error));
  g_assert_cmpstr (error->message, ==,
                   "invalid subnet 'localhost/33': '33' is not a prefix length (0..32)");
  g_clear_error (&error);

  g_assert_false (sh_subnet_parse_resolve ("", out, &error));
  g_assert_cmpstr (error->message, ==, "invalid subnet '': empty");
  g_assert_cmpuint (out->len, ==, 0);
}

/* The IPv6 leak block's condition: IPv4 0/0 on all ports, IPv6 ::/0 not. */
static void
test_leaks_ipv6 (void)
{
  static const struct
  {
    const char *subnets;
    gboolean leaks;
  } cases[] = {
    { "", FALSE },         { "0/0", TRUE },      { "10/8,0/0,fd00::/8", TRUE },
    { "0/0,::/0", FALSE }, { "0/0:443", FALSE }, { "0/0,[::]/0:443", TRUE },
    { "10/8", FALSE },     { "::/0", FALSE },    { "0.0.0.0/1,128.0.0.0/1", FALSE },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GArray) a = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
      g_auto (GStrv) items = g_strsplit (cases[i].subnets, ",", -1);

      for (char **it = items; *it != NULL && **it != '\0'; it++)
        {
          ShSubnet s;
          g_assert_true (sh_subnet_parse (*it, &s, NULL));
          g_array_append_val (a, s);
        }
      g_test_message ("%s", cases[i].subnets);
      g_assert_cmpint (sh_subnet_list_leaks_ipv6 (a), ==, cases[i].leaks);
    }
  g_assert_false (sh_subnet_list_leaks_ipv6 (NULL));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/subnet/parse/good", test_parse_good);
  g_test_add_func ("/subnet/parse/address-bytes", test_parse_address_bytes);
  g_test_add_func ("/subnet/parse/bad", test_parse_bad);
  g_test_add_func ("/subnet/parse/bad-output-untouched", test_parse_bad_output_untouched);
  g_test_add_func ("/subnet/parse/long-and-binary", test_parse_long_and_binary);
  g_test_add_func ("/subnet/to-string/round-trip", test_to_string_round_trip);
  g_test_add_func ("/subnet/contains/v4", test_contains_v4);
  g_test_add_func ("/subnet/contains/ports", test_contains_ports);
  g_test_add_func ("/subnet/contains/v6", test_contains_v6);
  g_test_add_func ("/subnet/contains/family-mismatch", test_contains_family_mismatch);
  g_test_add_func ("/subnet/leaks-ipv6", test_leaks_ipv6);
  g_test_add_func ("/subnet/resolve/numeric", test_resolve_numeric);
  g_test_add_func ("/subnet/resolve/name", test_resolve_name);
  g_test_add_func ("/subnet/resolve/bad", test_resolve_bad);

  return g_test_run ();
}
