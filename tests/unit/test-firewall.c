/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-firewall.c — the nft script firewall.c renders, and (as root, each case
 * in a network namespace of its own, so the host firewall is never touched)
 * what applying, replacing, removing and sweeping it does in the kernel,
 * including real redirected connections and their original destination. */
#include "config.h"

#include "firewall.h"
#include "subnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <gio/gio.h>
#include <net/if.h>
#include <netinet/in.h>
#include <nftables/libnftables.h>
#include <sys/poll.h> /* not <poll.h>: service/poll.h shadows it */
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

/* From <linux/netfilter_ipv4.h> and <linux/netfilter_ipv6/ip6_tables.h>,
 * which do not mix well with the libc headers. */
#define TEST_SO_ORIGINAL_DST 80
#define TEST_IP6T_SO_ORIGINAL_DST 80

/* A private stand-in for sh_subnet_parse(): the firewall tests must not depend
 * on the parser, and this way each case states exactly what it passes. */
static ShSubnet
subnet (const char *addr, guint8 prefix, guint16 port_lo, guint16 port_hi)
{
  ShSubnet s = { 0 };

  s.family = strchr (addr, ':') != NULL ? AF_INET6 : AF_INET;
  g_assert_cmpint (inet_pton (s.family, addr, s.addr), ==, 1);
  s.prefix = prefix;
  s.port_lo = port_lo;
  s.port_hi = port_hi;
  return s;
}

static void
spec_init (ShFirewallSpec *spec, guint16 port)
{
  memset (spec, 0, sizeof *spec);
  spec->port = port;
  spec->subnets = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  spec->excludes = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
}

static void
spec_clear (ShFirewallSpec *spec)
{
  g_clear_pointer (&spec->subnets, g_array_unref);
  g_clear_pointer (&spec->excludes, g_array_unref);
}

static void
add (GArray *a, ShSubnet s)
{
  g_array_append_val (a, s);
}

/* A spec with one of everything: IPv4, IPv6, 0/0, an exclude with a port. */
static void
spec_reference (ShFirewallSpec *spec)
{
  spec_init (spec, 12300);
  add (spec->subnets, subnet ("10.0.0.0", 8, 0, 0));
  add (spec->subnets, subnet ("fd00::", 8, 0, 0));
  add (spec->subnets, subnet ("0.0.0.0", 0, 0, 0));
  add (spec->excludes, subnet ("10.9.0.0", 16, 0, 0));
  add (spec->excludes, subnet ("192.0.2.1", 32, 22, 22));
}

/* ---- rendering (no privileges needed) ---------------------------------- */

/* DNS to the nameservers is captured before the excludes and the loopback
 * rule (the nameserver may be the ssh server, or 127.0.0.53), for UDP and
 * TCP alike; a nameserver given as a subnet is refused. */
static void
test_render_dns (void)
{
  ShFirewallSpec spec;
  g_autofree char *text = NULL;

  spec_reference (&spec);
  spec.dns_servers = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  add (spec.dns_servers, subnet ("127.0.0.53", 32, 0, 0));
  add (spec.dns_servers, subnet ("fd00::53", 128, 0, 0));
  text = sh_firewall_render ("1234", &spec);
  g_assert_nonnull (text);
  g_assert_nonnull (strstr (text, "    meta mark 0x5368 return\n"
                                  "    ip daddr 127.0.0.53 udp dport 53 redirect to :12300\n"
                                  "    ip daddr 127.0.0.53 tcp dport 53 redirect to :12300\n"
                                  "    ip6 daddr fd00::53 udp dport 53 redirect to :12300\n"
                                  "    ip6 daddr fd00::53 tcp dport 53 redirect to :12300\n"
                                  "    meta l4proto != tcp return\n"
                                  "    ip daddr 127.0.0.0/8 return\n"));
  g_clear_pointer (&text, g_free);

  add (spec.dns_servers, subnet ("10.0.0.0", 8, 0, 0));
  text = sh_firewall_render ("1234", &spec);
  g_assert_null (text);
  g_clear_pointer (&spec.dns_servers, g_array_unref);
  spec_clear (&spec);
}

/* The leak block is a second chain after the redirects: what must keep
 * working is accepted first (the IPv6 excludes among it, with their ports),
 * then TCP is reset and the rest refused. Without the switch there is no
 * such chain at all. */
/* With a datagram mark: a route chain marks UDP and echo requests to the
 * subnets, after the bypass mark, the captured DNS, loopback and the
 * excludes; a port range applies to UDP, and its subnet never takes echo.
 * Without one, no such chain. */
static void
test_render_dgram (void)
{
  ShFirewallSpec spec;
  g_autofree char *plain = NULL;
  g_autofree char *text = NULL;
  const char *expected = "  chain dgram {\n"
                         "    type route hook output priority mangle; policy accept;\n"
                         "    meta mark 0x5368 return\n"
                         "    ip daddr 10.0.0.53 udp dport 53 return\n"
                         "    ip daddr 127.0.0.0/8 return\n"
                         "    ip6 daddr ::1 return\n"
                         "    meta l4proto udp goto dgram_dst\n"
                         "    icmp type echo-request goto dgram_dst\n"
                         "    icmpv6 type echo-request goto dgram_dst\n"
                         "  }\n"
                         "  chain dgram_dst {\n"
                         "    ip daddr 10.9.0.0/16 return\n"
                         "    ip daddr 192.0.2.1 udp dport 22 return\n"
                         "    ip daddr 10.0.0.0/8 meta mark set 0x53680105\n"
                         "    ip6 daddr fd00::/8 meta mark set 0x53680105\n"
                         "    meta nfproto ipv4 meta mark set 0x53680105\n"
                         "    ip daddr 172.16.0.0/12 udp dport 5000-5100 meta mark set 0x53680105\n"
                         "  }\n"
                         "  chain dgram_in {\n"
                         "    type filter hook prerouting priority mangle; policy accept;\n"
                         "    iifname \"shuttle3\" meta mark set 0x53680105\n"
                         "  }\n"
                         "}\n";

  spec_reference (&spec);
  add (spec.subnets, subnet ("172.16.0.0", 12, 5000, 5100));
  spec.dns_servers = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  add (spec.dns_servers, subnet ("10.0.0.53", 32, 0, 0));
  plain = sh_firewall_render ("1234", &spec);
  g_assert_null (strstr (plain, "dgram"));
  spec.dgram_mark = 0x53680105;
  /* a mark without a valid device name is refused */
  g_assert_null (sh_firewall_render ("1234", &spec));
  g_strlcpy (spec.dgram_ifname, "shuttle\"x", sizeof spec.dgram_ifname);
  g_assert_null (sh_firewall_render ("1234", &spec));
  g_strlcpy (spec.dgram_ifname, "shuttle3", sizeof spec.dgram_ifname);
  text = sh_firewall_render ("1234", &spec);
  g_assert_nonnull (text);
  g_assert_true (g_str_has_suffix (text, expected));
  /* the redirects are unchanged */
  g_assert_nonnull (strstr (text, "redirect to :12300"));
  g_clear_pointer (&spec.dns_servers, g_array_unref);
  spec_clear (&spec);
}

static void
test_render_block_ipv6 (void)
{
  ShFirewallSpec spec;
  g_autofree char *text = NULL;
  g_autofree char *plain = NULL;
  const char *expected = "  chain block_ipv6 {\n"
                         "    type filter hook output priority 0; policy accept;\n"
                         "    meta nfproto != ipv6 accept\n"
                         "    ip6 daddr ::1 accept\n"
                         "    oif \"lo\" accept\n"
                         "    meta mark 0x5368 accept\n"
                         "    ip6 daddr { fe80::/10, ff01::/16, ff02::/16 } accept\n"
                         "    icmpv6 type { nd-router-solicit, nd-neighbor-solicit, "
                         "nd-neighbor-advert } accept\n"
                         "    ct direction reply accept\n"
                         "    ip6 daddr fd31:1::1 tcp dport 22 accept\n"
                         "    ip6 daddr fd77::/16 accept\n"
                         "    meta l4proto tcp reject with tcp reset\n"
                         "    reject with icmpv6 type admin-prohibited\n"
                         "  }\n"
                         "}\n";

  spec_reference (&spec);
  plain = sh_firewall_render ("1234", &spec);
  g_assert_null (strstr (plain, "block_ipv6"));
  g_assert_null (strstr (plain, "reject"));

  add (spec.excludes, subnet ("fd31:1::1", 128, 22, 22));
  add (spec.excludes, subnet ("fd77::", 16, 0, 0));
  spec.block_ipv6 = TRUE;
  text = sh_firewall_render ("1234", &spec);
  g_assert_nonnull (text);
  /* The redirect chain comes first. */
  g_assert_nonnull (strstr (text, "    meta nfproto ipv4 meta l4proto tcp redirect to :12300\n"
                                  "  }\n"
                                  "  chain block_ipv6 {\n"));
  g_assert_true (g_str_has_suffix (text, expected));
  spec_clear (&spec);
}

/* shuttle run --scope: every redirect (DNS too) carries the cgroup match,
 * so a socket of any other cgroup, or none, is never redirected;
 * --exclude-scope: one "return" for the cgroup before all of them. A path
 * nft could misread is refused, and the wire carries the three options
 * back unchanged. */
static void
test_render_scope (void)
{
  ShFirewallSpec spec, back = { 0 };
  g_autofree char *text = NULL, *label = NULL;
  g_autoptr (GVariant) wire = NULL;
  guint32 uid;
  const char *m = "socket cgroupv2 level 2 \"user.slice/shuttle-run-7\" ";

  spec_reference (&spec);
  spec.dns_servers = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  add (spec.dns_servers, subnet ("127.0.0.53", 32, 0, 0));
  spec.cgroup = g_strdup ("user.slice/shuttle-run-7");
  spec.cgroup_level = 2;
  text = sh_firewall_render ("1234", &spec);
  g_assert_nonnull (text);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint redirects = 0;
  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], "redirect") != NULL)
      {
        g_assert_true (g_str_has_prefix (lines[i] + 4, m));
        redirects++;
      }
  g_assert_cmpuint (redirects, ==, 5);

  wire = g_variant_ref_sink (sh_fw_encode_tunnel ("t", &spec, SH_FW_UID_NONE));
  g_assert_true (sh_fw_parse_tunnel (wire, &label, &back, &uid, NULL));
  g_assert_cmpstr (back.cgroup, ==, spec.cgroup);
  g_assert_cmpuint (back.cgroup_level, ==, 2);
  g_assert_false (back.cgroup_exclude);
  sh_fw_spec_clear (&back);

  spec.cgroup_exclude = TRUE;
  g_clear_pointer (&text, g_free);
  text = sh_firewall_render ("1234", &spec);
  g_assert_nonnull (strstr (text,
                            "    meta mark 0x5368 return\n"
                            "    socket cgroupv2 level 2 \"user.slice/shuttle-run-7\" return\n"
                            "    ip daddr 127.0.0.53 udp dport 53 redirect to :12300\n"));
  g_assert_null (strstr (text, "\" ip"));

  const char *bad[] = { "../x", "/a", "a//b", "a/", "a/./b", "a\"b", "a b", "" };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_free (spec.cgroup);
      spec.cgroup = g_strdup (bad[i]);
      g_assert_false (sh_fw_cgroup_path_is_valid (bad[i]));
      g_assert_null (sh_firewall_render ("1234", &spec));
    }
  g_free (spec.cgroup);
  spec.cgroup = g_strdup ("a");
  spec.cgroup_level = 0;
  g_assert_null (sh_firewall_render ("1234", &spec));
  g_clear_pointer (&spec.cgroup, g_free);
  g_clear_pointer (&spec.dns_servers, g_array_unref);
  spec_clear (&spec);
}

/* Connect fidelity (issue 25): the "syn" chain sends the new SYNs the nat
 * chain will redirect, and only those, to chain "q" (its NFQUEUE rule is
 * added in netlink, not here); the marks the engine sets on a failed one are
 * answered first. Under --scope only the cgroup's SYNs wait, under
 * --exclude-scope all but its. */
static void
test_render_syn (void)
{
  ShFirewallSpec spec;
  g_autofree char *plain = NULL, *text = NULL, *scoped = NULL, *excluded = NULL;
  const char *chain = "  chain syn {\n"
                      "    type filter hook output priority -150; policy accept;\n"
                      "    meta mark 0x5369 meta l4proto tcp reject with tcp reset\n"
                      "    meta mark 0x536a reject with icmpx host-unreachable\n"
                      "    meta mark 0x536b reject with icmpx no-route\n"
                      "    meta mark 0x5368 return\n"
                      "    meta l4proto != tcp return\n"
                      "    tcp flags & (syn | ack) != syn return\n"
                      "    ct state != new return\n"
                      "    ip daddr 127.0.0.0/8 return\n"
                      "    ip6 daddr ::1 return\n"
                      "    ip daddr 10.9.0.0/16 return\n"
                      "    ip daddr 192.0.2.1 tcp dport 22 return\n"
                      "    ip daddr 10.0.0.0/8 jump q\n"
                      "    ip6 daddr fd00::/8 jump q\n"
                      "    meta nfproto ipv4 jump q\n"
                      "  }\n"
                      "  chain q {\n"
                      "  }\n";
  const char *m = "socket cgroupv2 level 2 \"user.slice/shuttle-run-7\" ";

  spec_reference (&spec);
  plain = sh_firewall_render ("1234", &spec);
  g_assert_null (strstr (plain, "chain syn"));
  spec.syn_queue = 0x5368;
  text = sh_firewall_render ("1234", &spec);
  g_assert_nonnull (strstr (text, chain));

  spec.cgroup = g_strdup ("user.slice/shuttle-run-7");
  spec.cgroup_level = 2;
  scoped = sh_firewall_render ("1234", &spec);
  g_auto (GStrv) lines = g_strsplit (strstr (scoped, "  chain syn {"), "\n", -1);
  guint jumps = 0;
  for (guint i = 0; lines[i] != NULL; i++)
    if (strstr (lines[i], "jump q") != NULL)
      {
        g_assert_true (g_str_has_prefix (lines[i] + 4, m));
        jumps++;
      }
  g_assert_cmpuint (jumps, ==, 3);

  spec.cgroup_exclude = TRUE;
  excluded = sh_firewall_render ("1234", &spec);
  g_assert_nonnull (strstr (excluded, "    ip6 daddr ::1 return\n"
                                      "    socket cgroupv2 level 2 \"user.slice/shuttle-run-7\" "
                                      "return\n"
                                      "    ip daddr 10.9.0.0/16 return\n"));
  g_assert_nonnull (strstr (excluded, "    ip daddr 10.0.0.0/8 jump q\n"));
  g_clear_pointer (&spec.cgroup, g_free);
  spec_clear (&spec);
}

static void
test_render_reference (void)
{
  ShFirewallSpec spec;
  g_autofree char *text = NULL;
  const char *expected = "add table inet shuttle-1234\n"
                         "delete table inet shuttle-1234\n"
                         "table inet shuttle-1234 {\n"
                         "  comment \"shuttle " PACKAGE_VERSION "\"\n"
                         "  chain output {\n"
                         "    type nat hook output priority -100; policy accept;\n"
                         "    meta mark 0x5368 return\n"
                         "    meta l4proto != tcp return\n"
                         "    ip daddr 127.0.0.0/8 return\n"
                         "    ip6 daddr ::1 return\n"
                         "    ip daddr 10.9.0.0/16 return\n"
                         "    ip daddr 192.0.2.1 tcp dport 22 return\n"
                         "    ip daddr 10.0.0.0/8 meta l4proto tcp redirect to :12300\n"
                         "    ip6 daddr fd00::/8 meta l4proto tcp redirect to :12300\n"
                         "    meta nfproto ipv4 meta l4proto tcp redirect to :12300\n"
                         "  }\n"
                         "}\n";

  spec_reference (&spec);
  text = sh_firewall_render ("1234", &spec);
  g_assert_cmpstr (text, ==, expected);
  spec_clear (&spec);
}

static gsize
offset_of (const char *haystack, const char *needle)
{
  const char *p = strstr (haystack, needle);

  g_assert_nonnull (p);
  return (gsize) (p - haystack);
}

static void
test_render_order (void)
{
  ShFirewallSpec spec;
  g_autofree char *text = NULL;
  gsize last_exclude, first_redirect;

  spec_init (&spec, 1000);
  add (spec.subnets, subnet ("10.0.0.0", 8, 0, 0));
  add (spec.excludes, subnet ("10.1.0.0", 16, 0, 0));
  add (spec.subnets, subnet ("fd00::", 8, 0, 0));
  add (spec.excludes, subnet ("fd00:1::", 32, 0, 0));
  text = sh_firewall_render ("order", &spec);
  g_assert_nonnull (text);

  /* Guards first, in this order, before anything the user asked for (DNS
   * capture, when asked for, sits between the mark and the protocol guard:
   * /firewall/render/dns). */
  g_assert_cmpuint (offset_of (text, "meta mark 0x5368 return"), <,
                    offset_of (text, "meta l4proto != tcp return"));
  g_assert_cmpuint (offset_of (text, "meta l4proto != tcp return"), <,
                    offset_of (text, "ip daddr 127.0.0.0/8 return"));
  g_assert_cmpuint (offset_of (text, "ip daddr 127.0.0.0/8 return"), <,
                    offset_of (text, "ip6 daddr ::1 return"));
  g_assert_cmpuint (offset_of (text, "ip6 daddr ::1 return"), <,
                    offset_of (text, "ip daddr 10.1.0.0/16 return"));

  last_exclude = offset_of (text, "ip6 daddr fd00:1::/32 return");
  g_assert_cmpuint (offset_of (text, "ip daddr 10.1.0.0/16 return"), <, last_exclude);
  first_redirect = offset_of (text, "redirect");
  g_assert_cmpuint (last_exclude, <, first_redirect);
  g_assert_cmpuint (offset_of (text, "ip daddr 10.0.0.0/8 meta l4proto tcp redirect to :1000"), <,
                    offset_of (text, "ip6 daddr fd00::/8 meta l4proto tcp redirect to :1000"));
  spec_clear (&spec);
}

static void
test_render_ports (void)
{
  ShFirewallSpec spec;
  g_autofree char *text = NULL;

  spec_init (&spec, 4242);
  add (spec.subnets, subnet ("10.0.0.0", 8, 8000, 8999));
  add (spec.subnets, subnet ("fd00::", 8, 443, 443));
  add (spec.subnets, subnet ("::", 0, 80, 90));
  add (spec.excludes, subnet ("fd00::", 8, 22, 22));
  add (spec.excludes, subnet ("10.2.0.0", 16, 1, 1024));
  text = sh_firewall_render ("ports", &spec);
  g_assert_nonnull (text);

  /* The port match is the transport match nft needs before "redirect to". */
  g_assert_nonnull (
      strstr (text, "    ip daddr 10.0.0.0/8 tcp dport 8000-8999 redirect to :4242\n"));
  g_assert_nonnull (strstr (text, "    ip6 daddr fd00::/8 tcp dport 443 redirect to :4242\n"));
  g_assert_nonnull (strstr (text, "    meta nfproto ipv6 tcp dport 80-90 redirect to :4242\n"));
  g_assert_nonnull (strstr (text, "    ip6 daddr fd00::/8 tcp dport 22 return\n"));
  g_assert_nonnull (strstr (text, "    ip daddr 10.2.0.0/16 tcp dport 1-1024 return\n"));
  spec_clear (&spec);
}

static void
test_render_addresses (void)
{
  ShFirewallSpec spec;
  g_autofree char *text = NULL;

  spec_init (&spec, 1);
  add (spec.subnets, subnet ("10.1.2.3", 8, 0, 0)); /* host bits cleared */
  add (spec.subnets, subnet ("192.168.1.255", 23, 0, 0));
  add (spec.subnets, subnet ("2001:db8::1", 128, 0, 0)); /* host: no /128 */
  add (spec.subnets, subnet ("fd12:3456::ffff", 31, 0, 0));
  add (spec.excludes, subnet ("198.51.100.7", 32, 0, 0));
  add (spec.excludes, subnet ("::", 0, 0, 0));
  text = sh_firewall_render ("a", &spec);
  g_assert_nonnull (text);

  g_assert_nonnull (strstr (text, "    ip daddr 10.0.0.0/8 meta l4proto tcp redirect to :1\n"));
  g_assert_nonnull (strstr (text, "    ip daddr 192.168.0.0/23 meta l4proto tcp redirect to :1\n"));
  g_assert_nonnull (strstr (text, "    ip6 daddr 2001:db8::1 meta l4proto tcp redirect to :1\n"));
  g_assert_nonnull (
      strstr (text, "    ip6 daddr fd12:3456::/31 meta l4proto tcp redirect to :1\n"));
  g_assert_nonnull (strstr (text, "    ip daddr 198.51.100.7 return\n"));
  g_assert_nonnull (strstr (text, "    meta nfproto ipv6 return\n"));
  g_assert_null (strstr (text, "/0"));
  spec_clear (&spec);
}

static void
test_render_empty (void)
{
  ShFirewallSpec spec = { .port = 5, .subnets = NULL, .excludes = NULL };
  g_autofree char *text = sh_firewall_render ("empty", &spec);

  /* No subnets is a valid (if useless) table: only the guards. */
  g_assert_nonnull (text);
  g_assert_null (strstr (text, "redirect"));
  g_assert_nonnull (strstr (text, "ip6 daddr ::1 return\n  }\n}\n"));
}

static void
test_render_bad_instance (void)
{
  static const char *const bad[] = {
    "",  "A",   "shuttle-1", "a b", "a;b",   "a\"b", "a\nb",
    "é", "a/b", "../x",      "x{",  "1234 ", " 1",   "abcdefghijklmnopqrstuvwxyz0123456", /* 33 */
  };
  ShFirewallSpec spec;
  g_autoptr (GError) error = NULL;

  spec_reference (&spec);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *text = sh_firewall_render (bad[i], &spec);
      g_assert_null (text);
    }
  g_assert_null (sh_firewall_render (NULL, &spec));

  /* Rejected before libnftables is even asked, so this is safe unprivileged. */
  g_assert_false (sh_firewall_apply ("Bad-Name", &spec, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  g_assert_false (sh_firewall_remove ("x y", &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);

  {
    g_autofree char *ok1 = sh_firewall_render ("abcdefghijklmnopqrstuvwxyz012345", &spec);
    g_autofree char *ok2 = sh_firewall_render ("0_a", &spec);
    g_assert_nonnull (ok1);
    g_assert_nonnull (ok2);
  }
  spec_clear (&spec);
}

static void
test_render_bad_spec (void)
{
  ShFirewallSpec spec;
  ShSubnet s;

  g_assert_null (sh_firewall_render ("x", NULL));

  spec_init (&spec, 0);
  g_assert_null (sh_firewall_render ("x", &spec)); /* no listener port */
  spec.port = 1;

  s = subnet ("10.0.0.0", 33, 0, 0);
  add (spec.subnets, s);
  g_assert_null (sh_firewall_render ("x", &spec));
  g_array_set_size (spec.subnets, 0);

  s = subnet ("fd00::", 129, 0, 0);
  add (spec.excludes, s);
  g_assert_null (sh_firewall_render ("x", &spec));
  g_array_set_size (spec.excludes, 0);

  s = subnet ("10.0.0.0", 8, 90, 80);
  add (spec.subnets, s);
  g_assert_null (sh_firewall_render ("x", &spec));
  g_array_set_size (spec.subnets, 0);

  s = subnet ("10.0.0.0", 8, 0, 0);
  s.family = AF_UNIX;
  add (spec.excludes, s);
  g_assert_null (sh_firewall_render ("x", &spec));
  g_array_set_size (spec.excludes, 0);

  {
    g_autofree char *text = sh_firewall_render ("x", &spec);
    g_assert_nonnull (text);
  }
  spec_clear (&spec);
}

/* ---- owners: /proc/PID/stat and the recorded start time ----------------- */

/* A stat line of process 4242 named @comm in @state that started at @start
 * (fields 4 to 21 as a real one has them, and some after 22). */
static char *
stat_line (const char *comm, char state, guint64 start)
{
  return g_strdup_printf ("4242 (%s) %c 1 4242 4242 0 -1 4194560 1234 0 0 0 5 7 0 0 20 0 1 0 "
                          "%" G_GUINT64_FORMAT " 12345678 321 18446744073709551615 1 1 0 0 0 0 "
                          "0 4096 0 0 0 0 17 1 0 0 0 0 0\n",
                          comm, state, start);
}

static void
test_owner_stat_parse (void)
{
  ShProcStat st;
  struct
  {
    const char *comm;
  } names[] = {
    { "shuttle" }, { "a b" }, { "x) R 1 2" }, { ") (" }, { "(" }, { "" }, { "  ) Z 0 0 0 0 0 0" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *line = stat_line (names[i].comm, 'S', 987654321);
      g_assert_true (sh_proc_stat_parse (line, &st));
      g_assert_cmpint (st.state, ==, 'S');
      g_assert_cmpuint (st.start_time, ==, 987654321);
      g_assert_cmpuint (st.comm_len, ==, strlen (names[i].comm));
      g_assert_cmpint (memcmp (st.comm, names[i].comm, st.comm_len), ==, 0);
    }

  /* Not a stat line. */
  const char *bad[] = {
    "",
    "4242",
    "4242 (x S 1 2 3",
    "4242 x) S 1 2 3",
    "4242 (x)S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20",
    "4242 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17", /* ends before field 22 */
    "4242 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 -5 1",
    "4242 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 12ab 1",
    "4242 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 99999999999999999999 1",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    if (sh_proc_stat_parse (bad[i], &st))
      g_error ("parsed \"%s\"", bad[i]);
  /* The last field may end the text. */
  g_assert_true (
      sh_proc_stat_parse ("1 (x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 77", &st));
  g_assert_cmpuint (st.start_time, ==, 77);

  /* A real one: this process, running, started before a child it forks. */
  g_autofree char *self = NULL;
  g_assert_true (g_file_get_contents ("/proc/self/stat", &self, NULL, NULL));
  g_assert_true (sh_proc_stat_parse (self, &st));
  g_assert_cmpint (st.state, ==, 'R');
  guint64 self_start = st.start_time;
  g_autofree char *record = sh_firewall_owner_record ((guint64) getpid ());
  g_autofree char *expect
      = g_strdup_printf ("pid=%d start=%" G_GUINT64_FORMAT, (int) getpid (), self_start);
  g_assert_cmpstr (record, ==, expect);
  g_assert_true (sh_firewall_owner_alive ((guint64) getpid (), record));
}

static void
test_owner_matches (void)
{
  g_autofree char *engine = stat_line ("shuttle", 'S', 5000);
  g_autofree char *renamed = stat_line ("my tunnel (2)", 'S', 5000);
  g_autofree char *reused = stat_line ("shuttle-server", 'S', 9000);
  g_autofree char *zombie = stat_line ("shuttle", 'Z', 5000);
  g_autofree char *other = stat_line ("sleep", 'S', 9000);
  const char *record = "shuttle 0.1.0 pid=4242 start=5000";

  /* The owner: same pid (the caller's lookup) and the same start. */
  g_assert_true (sh_firewall_owner_matches (engine, record));
  g_assert_true (sh_firewall_owner_matches (engine, "shuttle pid=4242 start=5000"));
  g_assert_true (sh_firewall_owner_matches (engine, "start=5000"));
  /* Its name plays no part... */
  g_assert_true (sh_firewall_owner_matches (renamed, record));
  /* ...and a later process with the same pid is not the owner, whatever its
   * name. */
  g_assert_false (sh_firewall_owner_matches (reused, record));
  g_assert_false (sh_firewall_owner_matches (other, record));
  g_assert_false (sh_firewall_owner_matches (engine, "pid=4242 start=4999"));
  g_assert_false (sh_firewall_owner_matches (engine, "pid=4242 start=50000"));
  /* Dead or dying. */
  g_assert_false (sh_firewall_owner_matches (zombie, record));
  g_assert_false (sh_firewall_owner_matches (NULL, record));
  g_assert_false (sh_firewall_owner_matches ("garbage", record));

  /* Records of an older Shuttle have no start time: the name decides. */
  g_assert_true (sh_firewall_owner_matches (engine, "shuttle " PACKAGE_VERSION));
  g_assert_true (sh_firewall_owner_matches (reused, "shuttle pid 4242"));
  g_assert_true (sh_firewall_owner_matches (engine, ""));
  g_assert_false (sh_firewall_owner_matches (other, "shuttle pid 4242"));
  g_assert_false (sh_firewall_owner_matches (renamed, ""));
  g_assert_false (sh_firewall_owner_matches (zombie, ""));
}

/* ---- kernel (root, private network namespace) --------------------------- */

/* Every root case starts here: a fresh, empty network namespace for the rest
 * of this process, so nothing on the host is ever read or changed. */
static gboolean
enter_private_netns (void)
{
  if (geteuid () != 0)
    {
      g_test_skip ("needs root for network namespaces and nftables");
      return FALSE;
    }
  if (unshare (CLONE_NEWNET) != 0)
    {
      g_autofree char *msg = g_strdup_printf ("unshare(CLONE_NEWNET): %s", g_strerror (errno));
      g_test_skip (msg);
      return FALSE;
    }
  return TRUE;
}

typedef struct nft_ctx TestNftCtx;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (TestNftCtx, nft_ctx_free)

/* Runs @cmd through libnftables and returns what it printed; fails the test
 * on an nft error. */
static char *
nft (const char *cmd)
{
  g_autoptr (TestNftCtx) ctx = nft_ctx_new (NFT_CTX_DEFAULT);
  int rc;

  g_assert_nonnull (ctx);
  g_assert_cmpint (nft_ctx_buffer_output (ctx), ==, 0);
  g_assert_cmpint (nft_ctx_buffer_error (ctx), ==, 0);
  rc = nft_run_cmd_from_buffer (ctx, cmd);
  if (rc != 0)
    g_error ("nft \"%s\" failed: %s", cmd, nft_ctx_get_error_buffer (ctx));
  return g_strdup (nft_ctx_get_output_buffer (ctx));
}

static guint
count (const char *haystack, const char *needle)
{
  guint n = 0;

  for (const char *p = strstr (haystack, needle); p != NULL; p = strstr (p + 1, needle))
    n++;
  return n;
}

static void
test_apply_remove (void)
{
  ShFirewallSpec spec;
  g_autoptr (GError) error = NULL;
  g_autofree char *listing = NULL;
  g_autofree char *tables = NULL;
  gboolean ok;

  if (!enter_private_netns ())
    return;

  spec_reference (&spec);
  ok = sh_firewall_apply ("unittest", &spec, &error);
  g_assert_no_error (error);
  g_assert_true (ok);

  listing = nft ("list table inet shuttle-unittest");
  g_assert_nonnull (strstr (listing, "comment \"shuttle " PACKAGE_VERSION "\""));
  g_assert_nonnull (strstr (listing, "type nat hook output priority -100; policy accept;"));
  g_assert_nonnull (strstr (listing, "meta l4proto != tcp return"));
  g_assert_nonnull (strstr (listing, "meta mark 0x00005368 return"));
  g_assert_nonnull (strstr (listing, "ip daddr 127.0.0.0/8 return"));
  g_assert_nonnull (strstr (listing, "ip6 daddr ::1 return"));
  g_assert_nonnull (strstr (listing, "ip daddr 10.9.0.0/16 return"));
  g_assert_nonnull (strstr (listing, "ip daddr 192.0.2.1 tcp dport 22 return"));
  g_assert_nonnull (strstr (listing, "ip daddr 10.0.0.0/8 meta l4proto tcp redirect to :12300"));
  g_assert_nonnull (strstr (listing, "ip6 daddr fd00::/8 meta l4proto tcp redirect to :12300"));
  g_assert_nonnull (strstr (listing, "meta nfproto ipv4 meta l4proto tcp redirect to :12300"));
  g_assert_cmpuint (count (listing, "redirect"), ==, 3);
  g_clear_pointer (&listing, g_free);

  /* Re-applying replaces the table: the new port only, rules not doubled. */
  spec.port = 12301;
  g_array_remove_index (spec.subnets, 2);
  ok = sh_firewall_apply ("unittest", &spec, &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  listing = nft ("list table inet shuttle-unittest");
  g_assert_null (strstr (listing, ":12300"));
  g_assert_cmpuint (count (listing, "redirect to :12301"), ==, 2);
  g_assert_cmpuint (count (listing, "chain output"), ==, 1);
  g_assert_cmpuint (count (listing, "meta mark 0x00005368 return"), ==, 1);
  tables = nft ("list tables inet");
  g_assert_cmpuint (count (tables, "table inet shuttle-unittest\n"), ==, 1);
  g_clear_pointer (&tables, g_free);

  /* Another instance is independent of this one. */
  ok = sh_firewall_apply ("second", &spec, &error);
  g_assert_no_error (error);
  g_assert_true (ok);

  ok = sh_firewall_remove ("unittest", &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  tables = nft ("list tables inet");
  g_assert_null (strstr (tables, "shuttle-unittest"));
  g_assert_nonnull (strstr (tables, "table inet shuttle-second\n"));
  g_clear_pointer (&tables, g_free);

  /* Absent is not an error. */
  ok = sh_firewall_remove ("unittest", &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  ok = sh_firewall_remove ("never_existed", &error);
  g_assert_no_error (error);
  g_assert_true (ok);

  ok = sh_firewall_remove ("second", &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  tables = nft ("list tables inet");
  g_assert_null (strstr (tables, "shuttle-"));

  spec_clear (&spec);
}

static void
test_apply_unprivileged (void)
{
  if (g_test_subprocess ())
    {
      ShFirewallSpec spec;
      g_autoptr (GError) error = NULL;

      if (geteuid () == 0)
        {
          /* The namespace first, in case dropping privileges fails. */
          g_assert_cmpint (unshare (CLONE_NEWNET), ==, 0);
          g_assert_cmpint (setgroups (0, NULL), ==, 0);
          g_assert_cmpint (setresgid (65534, 65534, 65534), ==, 0);
          g_assert_cmpint (setresuid (65534, 65534, 65534), ==, 0);
        }
      spec_reference (&spec);
      g_assert_false (sh_firewall_apply ("unpriv", &spec, &error));
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
      g_assert_cmpstr (error->message, ==, "changing the firewall needs root (CAP_NET_ADMIN)");
      g_clear_error (&error);
      g_assert_cmpint (sh_firewall_sweep (&error), ==, -1);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_FAILED);
      spec_clear (&spec);
      return;
    }
  g_test_trap_subprocess (NULL, 0, G_TEST_SUBPROCESS_DEFAULT);
  g_test_trap_assert_passed ();
}

/* A process named @comm that runs until the pipe closes. */
static pid_t
spawn_named (const char *comm, int *release_fd)
{
  int ready[2], release[2];
  pid_t pid;
  char c;

  g_assert_cmpint (pipe (ready), ==, 0);
  g_assert_cmpint (pipe (release), ==, 0);
  pid = fork ();
  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    {
      /* Only its own pipes: the release ends of processes spawned before
       * must close when the test closes them. */
      for (int fd = 3; fd < 1024; fd++)
        if (fd != ready[1] && fd != release[0])
          close (fd);
      prctl (PR_SET_NAME, comm);
      if (write (ready[1], "x", 1) != 1)
        _exit (1);
      while (read (release[0], &c, 1) > 0)
        ;
      _exit (0);
    }
  close (ready[1]);
  close (release[0]);
  g_assert_cmpint (read (ready[0], &c, 1), ==, 1);
  close (ready[0]);
  *release_fd = release[1];
  return pid;
}

/* A process that looks like a running shuttle until the pipe closes. */
static pid_t
spawn_fake_shuttle (int *release_fd)
{
  return spawn_named ("shuttle-server", release_fd);
}

static pid_t
dead_pid (void)
{
  pid_t pid = fork ();

  g_assert_cmpint (pid, >=, 0);
  if (pid == 0)
    _exit (0);
  g_assert_cmpint (waitpid (pid, NULL, 0), ==, pid);
  return pid;
}

static void
test_sweep (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *script = NULL;
  g_autofree char *out = NULL;
  g_autofree char *tables = NULL;
  g_autofree char *live_name = NULL;
  g_autofree char *dead_name = NULL;
  g_autofree char *self_name = NULL;
  int release_fd;
  pid_t live, dead;

  if (!enter_private_netns ())
    return;

  live = spawn_fake_shuttle (&release_fd);
  dead = dead_pid ();
  g_assert_cmpint (kill (dead, 0), ==, -1);
  /* Owners recorded with their start time: one that runs under any name,
   * and one whose pid now runs another process (a shuttle, even). */
  int owner_fd, reused_fd;
  pid_t owner = spawn_named ("not-a-shuttle", &owner_fd);
  pid_t reused = spawn_fake_shuttle (&reused_fd);
  g_autofree char *owner_record = sh_firewall_owner_record ((guint64) owner);
  ShProcStat st;
  g_assert_nonnull (owner_record);
  g_autofree char *reused_stat = g_strdup_printf ("/proc/%d/stat", (int) reused);
  g_autofree char *reused_text = NULL;
  g_assert_true (g_file_get_contents (reused_stat, &reused_text, NULL, NULL));
  g_assert_true (sh_proc_stat_parse (reused_text, &st));
  g_autofree char *owner_table
      = g_strdup_printf ("table inet shuttle-%d { comment \"shuttle " PACKAGE_VERSION " %s\"; }\n",
                         (int) owner, owner_record);
  /* The process that had this pid before started earlier. */
  g_autofree char *reused_table = g_strdup_printf (
      "table inet shuttle-%d { comment \"shuttle pid=%d start=%" G_GUINT64_FORMAT "\"; }\n",
      (int) reused, (int) reused, st.start_time - 1);
  g_autofree char *owner_name = g_strdup_printf ("table inet shuttle-%d\n", (int) owner);
  g_autofree char *reused_name = g_strdup_printf ("table inet shuttle-%d\n", (int) reused);
  g_clear_pointer (&out, g_free);
  out = nft (owner_table);
  g_clear_pointer (&out, g_free);
  out = nft (reused_table);

  live_name = g_strdup_printf ("table inet shuttle-%d\n", (int) live);
  dead_name = g_strdup_printf ("table inet shuttle-%d\n", (int) dead);
  /* Tables without a start time (an older Shuttle's) are judged by the
   * name: this test program is alive but is not a shuttle, so its table
   * is stale, and the fake shuttle's stays. */
  self_name = g_strdup_printf ("table inet shuttle-%d\n", (int) getpid ());

  script = g_strdup_printf ("add table inet shuttle-%d\n"
                            "add table inet shuttle-%d\n"
                            "add table inet shuttle-%d\n"
                            "add table inet other\n"
                            "add table inet shuttle-named\n"
                            "add table inet shuttle-0%d\n"
                            "add table ip shuttle-%d\n",
                            (int) live, (int) dead, (int) getpid (), (int) dead, (int) dead);

  g_clear_pointer (&out, g_free);
  out = nft (script);

  g_assert_cmpint (sh_firewall_sweep (&error), ==, 3);
  g_assert_no_error (error);

  tables = nft ("list tables");
  g_assert_nonnull (strstr (tables, owner_name));
  g_assert_null (strstr (tables, reused_name));
  g_assert_nonnull (strstr (tables, live_name));
  g_assert_null (strstr (tables, dead_name));
  g_assert_null (strstr (tables, self_name));
  g_assert_nonnull (strstr (tables, "table inet other\n"));
  g_assert_nonnull (strstr (tables, "table inet shuttle-named\n"));
  g_assert_nonnull (strstr (tables, "table inet shuttle-0")); /* not a canonical pid */
  g_assert_nonnull (strstr (tables, "table ip shuttle-"));    /* not our family */
  g_clear_pointer (&tables, g_free);

  g_assert_cmpint (sh_firewall_sweep (&error), ==, 0);
  g_assert_no_error (error);

  /* Once the shuttle and the owner are gone, their tables go too. */
  close (release_fd);
  g_assert_cmpint (waitpid (live, NULL, 0), ==, live);
  close (owner_fd);
  g_assert_cmpint (waitpid (owner, NULL, 0), ==, owner);
  g_assert_cmpint (sh_firewall_sweep (&error), ==, 2);
  g_assert_no_error (error);
  tables = nft ("list tables");
  g_assert_null (strstr (tables, live_name));
  g_assert_null (strstr (tables, owner_name));
  g_assert_nonnull (strstr (tables, "table inet other\n"));
  close (reused_fd);
  g_assert_cmpint (waitpid (reused, NULL, 0), ==, reused);
}

static void
test_apply_records_owner (void)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *self = g_strdup_printf ("%d", (int) getpid ());
  g_autofree char *dead = NULL;
  g_autofree char *record = sh_firewall_owner_record ((guint64) getpid ());
  g_autofree char *comment = NULL;
  g_autofree char *listing = NULL;
  g_autofree char *cmd = NULL;
  ShFirewallSpec spec;

  if (!enter_private_netns ())
    return;
  spec_reference (&spec);

  /* A pid's table names its owner, and this process (not named shuttle)
   * keeps it through a sweep. */
  g_assert_true (sh_firewall_apply (self, &spec, &error));
  g_assert_no_error (error);
  cmd = g_strdup_printf ("list table inet shuttle-%s", self);
  listing = nft (cmd);
  comment = g_strdup_printf ("comment \"shuttle " PACKAGE_VERSION " %s\"", record);
  if (strstr (listing, comment) == NULL)
    g_error ("no %s in:\n%s", comment, listing);
  g_assert_cmpint (sh_firewall_sweep (&error), ==, 0);
  g_assert_no_error (error);
  g_assert_true (sh_firewall_remove (self, &error));

  /* Nobody to own it: refused. */
  dead = g_strdup_printf ("%d", (int) dead_pid ());
  g_assert_false (sh_firewall_apply (dead, &spec, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  spec_clear (&spec);
}

/* ---- real connections through the redirect ------------------------------ */

static void
set_lo_up (void)
{
  struct ifreq ifr = { 0 };
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (ifr.ifr_name, "lo", sizeof ifr.ifr_name);
  g_assert_cmpint (ioctl (fd, SIOCGIFFLAGS, &ifr), ==, 0);
  ifr.ifr_flags |= IFF_UP;
  g_assert_cmpint (ioctl (fd, SIOCSIFFLAGS, &ifr), ==, 0);
  close (fd);
}

/* Routes the test prefixes into lo: connect() needs a route before the nat
 * output hook gets to see the packet. */
static gboolean
ip_route (const char *const *argv)
{
  g_autoptr (GError) error = NULL;
  int status;

  if (!g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, NULL,
                     &status, &error))
    {
      g_test_message ("%s: %s", argv[0], error->message);
      return FALSE;
    }
  return g_spawn_check_wait_status (status, NULL);
}

static int
listen_on (int family, guint16 *port)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  int one = 1;
  int fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

  g_assert_cmpint (fd, >=, 0);
  if (family == AF_INET)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
      sin->sin_family = AF_INET;
      sin->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      sin->sin_port = htons (*port);
      len = sizeof *sin;
    }
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
      g_assert_cmpint (setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one), ==, 0);
      sin6->sin6_family = AF_INET6;
      sin6->sin6_addr = in6addr_loopback;
      sin6->sin6_port = htons (*port);
      len = sizeof *sin6;
    }
  g_assert_cmpint (bind (fd, (struct sockaddr *) &ss, len), ==, 0);
  g_assert_cmpint (listen (fd, 16), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &ss, &len), ==, 0);
  *port = ntohs (family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                   : ((struct sockaddr_in6 *) &ss)->sin6_port);
  return fd;
}

/* The errno of the last try_connect() that failed within its time; 0 when
 * it connected or was still trying. */
static int last_connect_error;

/* Starts a non-blocking connect and returns the socket; *@connected tells
 * whether it completed within @timeout_ms. */
static int
try_connect (const char *addr, guint16 port, guint32 mark, int timeout_ms, gboolean *connected)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  int family = strchr (addr, ':') != NULL ? AF_INET6 : AF_INET;
  int fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  struct pollfd pfd;
  int err = 0;
  socklen_t errlen = sizeof err;

  g_assert_cmpint (fd, >=, 0);
  if (mark != 0)
    g_assert_cmpint (setsockopt (fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark), ==, 0);
  if (family == AF_INET)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
      sin->sin_family = AF_INET;
      g_assert_cmpint (inet_pton (AF_INET, addr, &sin->sin_addr), ==, 1);
      sin->sin_port = htons (port);
      len = sizeof *sin;
    }
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
      sin6->sin6_family = AF_INET6;
      g_assert_cmpint (inet_pton (AF_INET6, addr, &sin6->sin6_addr), ==, 1);
      sin6->sin6_port = htons (port);
      len = sizeof *sin6;
    }

  *connected = FALSE;
  last_connect_error = 0;
  if (connect (fd, (struct sockaddr *) &ss, len) == 0)
    {
      *connected = TRUE;
      return fd;
    }
  if (errno != EINPROGRESS)
    {
      last_connect_error = errno;
      return fd;
    }
  pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
  if (poll (&pfd, 1, timeout_ms) == 1 && getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &errlen) == 0)
    {
      last_connect_error = err;
      *connected = err == 0;
    }
  return fd;
}

static int
accept_within (int listener, int timeout_ms)
{
  struct pollfd pfd = { .fd = listener, .events = POLLIN };

  if (poll (&pfd, 1, timeout_ms) != 1)
    return -1;
  return accept4 (listener, NULL, NULL, SOCK_CLOEXEC);
}

/* Connects to @addr:@port, expects the connection at @listener, and checks
 * that the kernel still knows where it was meant to go. */
static void
assert_redirected (int listener, const char *addr, guint16 port)
{
  gboolean connected;
  int client = try_connect (addr, port, 0, 2000, &connected);
  int server;
  struct sockaddr_storage orig = { 0 };
  socklen_t len = sizeof orig;
  char text[INET6_ADDRSTRLEN];

  g_assert_true (connected);
  server = accept_within (listener, 2000);
  g_assert_cmpint (server, >=, 0);

  if (strchr (addr, ':') == NULL)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) &orig;
      g_assert_cmpint (getsockopt (server, SOL_IP, TEST_SO_ORIGINAL_DST, sin, &len), ==, 0);
      g_assert_cmpint (sin->sin_family, ==, AF_INET);
      inet_ntop (AF_INET, &sin->sin_addr, text, sizeof text);
      g_assert_cmpuint (ntohs (sin->sin_port), ==, port);
    }
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &orig;
      g_assert_cmpint (getsockopt (server, SOL_IPV6, TEST_IP6T_SO_ORIGINAL_DST, sin6, &len), ==, 0);
      g_assert_cmpint (sin6->sin6_family, ==, AF_INET6);
      inet_ntop (AF_INET6, &sin6->sin6_addr, text, sizeof text);
      g_assert_cmpuint (ntohs (sin6->sin6_port), ==, port);
    }
  g_assert_cmpstr (text, ==, addr);
  close (server);
  close (client);
}

static void
assert_not_redirected (int listener, const char *addr, guint16 port, guint32 mark)
{
  gboolean connected;
  int client = try_connect (addr, port, mark, 300, &connected);
  int server;

  /* Nobody owns these addresses, so an unredirected SYN goes nowhere. */
  g_assert_false (connected);
  server = accept_within (listener, 100);
  g_assert_cmpint (server, ==, -1);
  close (client);
}

static void
test_redirect (void)
{
  static const char *const route4[] = { "ip", "route", "add", "10.55.0.0/16", "dev", "lo", NULL };
  static const char *const route6[]
      = { "ip", "-6", "route", "add", "fd55::/16", "dev", "lo", NULL };
  ShFirewallSpec spec;
  g_autoptr (GError) error = NULL;
  guint16 port = 0;
  int l4, l6;
  gboolean have_v6, ok;

  if (!enter_private_netns ())
    return;
  set_lo_up ();
  if (!ip_route (route4))
    {
      g_test_skip ("could not add a route with ip(8)");
      return;
    }
  have_v6 = g_file_test ("/proc/sys/net/ipv6", G_FILE_TEST_IS_DIR) && ip_route (route6);

  l4 = listen_on (AF_INET, &port);
  l6 = have_v6 ? listen_on (AF_INET6, &port) : -1;

  spec_init (&spec, port);
  add (spec.subnets, subnet ("10.55.0.0", 16, 0, 0));
  add (spec.subnets, subnet ("fd55::", 16, 0, 0));
  add (spec.excludes, subnet ("10.55.9.0", 24, 0, 0));
  add (spec.excludes, subnet ("10.55.2.0", 24, 22, 22));
  add (spec.excludes, subnet ("fd55:9::", 32, 0, 0));
  ok = sh_firewall_apply ("redirect", &spec, &error);
  g_assert_no_error (error);
  g_assert_true (ok);

  assert_redirected (l4, "10.55.1.2", 80);
  assert_redirected (l4, "10.55.2.3", 23);
  assert_not_redirected (l4, "10.55.9.9", 80, 0);
  assert_not_redirected (l4, "10.55.2.3", 22, 0);
  /* What the test-mode server sends out must not loop back to us. */
  assert_not_redirected (l4, "10.55.1.2", 80, SH_FIREWALL_BYPASS_MARK);

  if (have_v6)
    {
      assert_redirected (l6, "fd55::7", 443);
      assert_not_redirected (l6, "fd55:9::1", 443, 0);
    }
  else
    g_test_message ("no IPv6 in this namespace: IPv6 redirect not checked");

  /* After removal nothing is redirected any more. */
  ok = sh_firewall_remove ("redirect", &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  assert_not_redirected (l4, "10.55.1.2", 80, 0);

  close (l4);
  if (l6 >= 0)
    close (l6);
  spec_clear (&spec);
}

/* The block in the kernel (the routes go into a veth whose peer is down, so
 * packets vanish): IPv6 to a routed but silent prefix is refused at
 * once instead of timing out, while a redirected IPv6 prefix, an IPv6
 * exclude are untouched; removing the table lifts it. */
static void
test_block_ipv6 (void)
{
  static const char *const dummy[]
      = { "ip", "link", "add", "sink0", "type", "veth", "peer", "name", "sink1", NULL };
  static const char *const up[] = { "ip", "link", "set", "sink0", "up", NULL };
  static const char *const addr6[]
      = { "ip", "-6", "addr", "add", "fd66::2/128", "dev", "sink0", "nodad", NULL };
  static const char *const route6[]
      = { "ip", "-6", "route", "add", "fd66::/16", "dev", "sink0", NULL };
  static const char *const route6t[]
      = { "ip", "-6", "route", "add", "fd55::/16", "dev", "sink0", NULL };
  ShFirewallSpec spec;
  g_autoptr (GError) error = NULL;
  guint16 port = 0;
  gboolean connected, ok;
  gint64 t0;
  int l6, fd;

  if (!enter_private_netns ())
    return;
  set_lo_up ();
  if (!g_file_test ("/proc/sys/net/ipv6", G_FILE_TEST_IS_DIR) || !ip_route (dummy) || !ip_route (up)
      || !ip_route (addr6) || !ip_route (route6) || !ip_route (route6t))
    {
      g_test_skip ("no IPv6 or no veth link in this namespace");
      return;
    }
  l6 = listen_on (AF_INET6, &port);

  spec_init (&spec, port);
  add (spec.subnets, subnet ("0.0.0.0", 0, 0, 0));
  add (spec.subnets, subnet ("fd55::", 16, 0, 0));
  add (spec.excludes, subnet ("fd66:9::", 32, 0, 0));
  spec.block_ipv6 = TRUE;
  ok = sh_firewall_apply ("block", &spec, &error);
  g_assert_no_error (error);
  g_assert_true (ok);

  /* Refused at once: a reset, not a timeout. */
  t0 = g_get_monotonic_time ();
  fd = try_connect ("fd66::7", 80, 0, 2000, &connected);
  g_assert_false (connected);
  g_assert_cmpint (g_get_monotonic_time () - t0, <, G_USEC_PER_SEC);
  g_assert_cmpint (last_connect_error, ==, ECONNREFUSED);
  close (fd);
  /* Through the tunnel is fine. */
  assert_redirected (l6, "fd55::7", 443);
  /* An exclude goes out (and, the link being a sink, nowhere). */
  fd = try_connect ("fd66:9::1", 80, 0, 300, &connected);
  g_assert_false (connected);
  g_assert_cmpint (last_connect_error, ==, 0); /* still trying */
  close (fd);

  ok = sh_firewall_remove ("block", &error);
  g_assert_no_error (error);
  g_assert_true (ok);
  fd = try_connect ("fd66::7", 80, 0, 300, &connected);
  g_assert_false (connected);
  g_assert_cmpint (last_connect_error, ==, 0); /* no longer refused */
  close (fd);
  close (l6);
  spec_clear (&spec);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/firewall/render/reference", test_render_reference);
  g_test_add_func ("/firewall/render/order", test_render_order);
  g_test_add_func ("/firewall/render/dns", test_render_dns);
  g_test_add_func ("/firewall/render/ports", test_render_ports);
  g_test_add_func ("/firewall/render/addresses", test_render_addresses);
  g_test_add_func ("/firewall/render/empty", test_render_empty);
  g_test_add_func ("/firewall/render/bad-instance", test_render_bad_instance);
  g_test_add_func ("/firewall/render/bad-spec", test_render_bad_spec);
  g_test_add_func ("/firewall/render/block-ipv6", test_render_block_ipv6);
  g_test_add_func ("/firewall/render/scope", test_render_scope);
  g_test_add_func ("/firewall/render/dgram", test_render_dgram);
  g_test_add_func ("/firewall/render/syn", test_render_syn);
  g_test_add_func ("/firewall/kernel/unprivileged", test_apply_unprivileged);
  g_test_add_func ("/firewall/kernel/apply-remove", test_apply_remove);
  g_test_add_func ("/firewall/owner/stat-parse", test_owner_stat_parse);
  g_test_add_func ("/firewall/owner/matches", test_owner_matches);
  g_test_add_func ("/firewall/kernel/sweep", test_sweep);
  g_test_add_func ("/firewall/kernel/apply-records-owner", test_apply_records_owner);
  g_test_add_func ("/firewall/kernel/redirect", test_redirect);
  g_test_add_func ("/firewall/kernel/block-ipv6", test_block_ipv6);

  return g_test_run ();
}
