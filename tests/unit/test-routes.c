/* SPDX-License-Identifier: GPL-2.0-or-later */
/* routes.c and hostwatch.c's parsers on fixture texts shaped like this
 * machine's /proc files. */
#include "config.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

#include "hostwatch.h"
#include "routes.h"

static char *
route_text (const ShRoute *r)
{
  char a[INET6_ADDRSTRLEN];
  inet_ntop (r->family, r->addr, a, sizeof a);
  return g_strdup_printf ("%s/%u", a, r->prefix);
}

static char *
all_routes (GArray *routes)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < routes->len; i++)
    {
      g_autofree char *one = route_text (&g_array_index (routes, ShRoute, i));
      g_string_append_printf (s, "%s%s", i ? " " : "", one);
    }
  return g_string_free (s, FALSE);
}

/* Destinations and masks are the kernel's network-order words printed as
 * numbers: on this (little-endian) machine 10.231.2.0 reads 0002E70A. */
static const char v4[]
    = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
      "g0\t00000000\t0101E70A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"  /* default */
      "g0\t0001E70A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"  /* 10.231.1.0/24 */
      "g1\t0502E70A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"  /* host bits set */
      "g1\t0002E70A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"  /* duplicate */
      "lo\t0000007F\t00000000\t0001\t0\t0\t0\t000000FF\t0\t0\t0\n"  /* loopback */
      "g1\t0000FEA9\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n"  /* link-local */
      "g1\t000000E0\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0\n"  /* multicast */
      "g1\t0004E70A\t00000000\t0201\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"  /* reject */
      "g1\t0006E70A\t00000000\t0000\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"  /* not up */
      "g1\t00000010\t00000000\t0001\t0\t0\t0\t0000F0FF\t0\t0\t0\n"; /* 16.0.0.0/12 */

static const char v6[]
    = "fd310002000000000000000000000000 40 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000100 00000001 00000000 00000001 g1\n"
      "fd310002000000000000000000000010 80 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000000 00000002 00000000 80200001 g1\n" /* local */
      "fe800000000000000000000000000000 40 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000100 00000001 00000000 00000001 g1\n"
      "00000000000000000000000000000001 80 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000000 00000002 00000000 80200001 lo\n"
      "fd310004000000000000000000000000 40 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000400 00000001 00000000 00200201 lo\n" /* reject */
      "00000000000000000000000000000000 00 00000000000000000000000000000000 00 "
      "00000000000000000000000000000000 00000400 00000001 00000000 00000003 g1\n"; /* default */

static void
test_routes (void)
{
  g_autoptr (GArray) r = g_array_new (FALSE, TRUE, sizeof (ShRoute));
  sh_routes_parse_v4 (v4, r);
  sh_routes_parse_v6 (v6, r);
  g_autofree char *text = all_routes (r);
  g_assert_cmpstr (text, ==, "10.231.1.0/24 10.231.2.0/24 16.0.0.0/12 fd31:2::/64");
}

static void
test_routes_garbage (void)
{
  g_autoptr (GArray) r = g_array_new (FALSE, TRUE, sizeof (ShRoute));
  sh_routes_parse_v4 ("", r);
  sh_routes_parse_v4 ("header\nonly three fields\ng0 zz 0 1 0 0 0 00FFFFFF\n", r);
  sh_routes_parse_v6 ("short 40\nfd31 80 x x x x x x 1 g1\n", r);
  g_assert_cmpuint (r->len, ==, 0);
}

static void
test_hosts_and_arp (void)
{
  g_autoptr (GPtrArray) pairs = g_ptr_array_new_with_free_func (g_free);
  sh_host_watch_parse_hosts ("127.0.0.1\tlocalhost\n"
                             "# comment 10.0.0.1 nope\n"
                             "10.231.2.10  intranet.lab.internal   intranet # both\n"
                             "fe80::1 ll.example\n" /* link-local: no interface */
                             "::1 ip6-localhost\n0.0.0.0 blocked.example\n"
                             "224.0.0.251 mdns.example\nff02::1 all-nodes\n"
                             "10.0.0.9 bad_name. -bad ok.example.\n"
                             "not-an-address name\n",
                             pairs);
  g_autoptr (GString) s = g_string_new (NULL);
  for (guint i = 0; i + 1 < pairs->len; i += 2)
    g_string_append_printf (s, "%s=%s ", (char *) pairs->pdata[i], (char *) pairs->pdata[i + 1]);
  g_assert_cmpstr (s->str, ==,
                   "10.231.2.10=intranet.lab.internal 10.231.2.10=intranet "
                   "10.0.0.9=bad_name 10.0.0.9=ok.example ");

  g_autoptr (GPtrArray) addrs = g_ptr_array_new_with_free_func (g_free);
  sh_host_watch_parse_arp (
      "IP address       HW type     Flags       HW address            Mask     "
      "Device\n"
      "10.231.2.11      0x1         0x2         ca:d7:df:db:10:c2     *     g1\n"
      "10.231.2.99      0x1         0x0         00:00:00:00:00:00     *     g1\n",
      addrs);
  g_assert_cmpuint (addrs->len, ==, 1);
  g_assert_cmpstr (addrs->pdata[0], ==, "10.231.2.11");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/routes/parse", test_routes);
  g_test_add_func ("/routes/garbage", test_routes_garbage);
  g_test_add_func ("/hostwatch/hosts-and-arp", test_hosts_and_arp);
  return g_test_run ();
}
