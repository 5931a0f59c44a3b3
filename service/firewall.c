/* SPDX-License-Identifier: GPL-2.0-or-later */
/* firewall.c — nftables redirect rules for one running instance.
 *
 * The rules are rendered as nft script text from the structured spec and run
 * through libnftables in one buffer, so each call is one kernel transaction.
 * Never the nft binary: no PATH lookup, no shell, and the same code works
 * unchanged inside the root helper. */
#include "config.h"

#include "firewall.h"

#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>

#include "nftmsg.h"
#include "scope.h"
#include "subnet.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h> /* before the linux/ headers, which then skip their copy */
#include <gio/gio.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <linux/netfilter/nf_tables_compat.h>
#include <linux/netfilter/nfnetlink.h>
#include <linux/netfilter/xt_NFQUEUE.h>
#include <linux/netlink.h>
#include <unistd.h>
#include <glib/gi18n-lib.h>
#include <nftables/libnftables.h>
#include <string.h>
#include <sys/socket.h>

#define SH_FIREWALL_INSTANCE_MAX 32
#define SH_FIREWALL_TABLE_PREFIX "shuttle-"
#define SH_FIREWALL_COMMENT_MAX 120

typedef struct nft_ctx ShNftCtx;
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShNftCtx, nft_ctx_free)

/* The instance becomes part of an nft identifier and of the script text, so
 * it is restricted to characters that need no quoting anywhere. The helper's
 * names are longer and use '-' between owner and label; they never start
 * with a digit, so the pid sweep cannot mistake them for its own. */
static gboolean
name_is_valid (const char *instance, size_t max, gboolean owned)
{
  size_t len;

  if (instance == NULL)
    return FALSE;
  len = strlen (instance);
  if (len == 0 || len > max)
    return FALSE;
  if (owned && !(instance[0] >= 'a' && instance[0] <= 'z'))
    return FALSE;
  for (size_t i = 0; i < len; i++)
    {
      char c = instance[i];
      if (!(g_ascii_isdigit (c) || (c >= 'a' && c <= 'z') || c == '_' || (owned && c == '-')))
        return FALSE;
    }
  return TRUE;
}

static gboolean
instance_is_valid (const char *instance)
{
  return name_is_valid (instance, SH_FIREWALL_INSTANCE_MAX, FALSE);
}

/* The comment is written between double quotes in the script: no quote, no
 * backslash, nothing that is not plain printable ASCII. */
static gboolean
comment_is_valid (const char *comment)
{
  size_t len = strlen (comment);

  if (len == 0 || len > SH_FIREWALL_COMMENT_MAX)
    return FALSE;
  for (size_t i = 0; i < len; i++)
    {
      char c = comment[i];
      if (!(g_ascii_isalnum (c) || strchr (" :._=-", c) != NULL))
        return FALSE;
    }
  return TRUE;
}

static void
set_bad_instance (GError **error, const char *instance)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               /* Translators: %s is the rejected name, %d its maximum length. */
               _ ("Invalid firewall instance name “%s” (expected 1 to %d of 0-9, a-z, _)"),
               instance != NULL ? instance : "", SH_FIREWALL_INSTANCE_MAX);
}

static gboolean
subnet_is_valid (const ShSubnet *s)
{
  if (s->family == AF_INET)
    {
      if (s->prefix > 32)
        return FALSE;
    }
  else if (s->family == AF_INET6)
    {
      if (s->prefix > 128)
        return FALSE;
    }
  else
    return FALSE;

  /* 0/0 is "all ports"; any other pair must be an ordered range. */
  return s->port_lo <= s->port_hi;
}

/* Appends the match part of a rule for @s: address, then the port. The
 * returned flag tells whether a transport match was emitted, since nft only
 * accepts "redirect to :port" after one. */
static guint
array_len (const GArray *a)
{
  return a != NULL ? a->len : 0;
}

/* A device name written between quotes: what the kernel named it from
 * "shuttle%d". */
static gboolean
ifname_is_valid (const char *name)
{
  gsize len = strnlen (name, 16);

  if (len == 0 || len > 15)
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_islower (name[i]) && !g_ascii_isdigit (name[i]))
      return FALSE;
  return TRUE;
}

static gboolean
append_match_proto (GString *out, const ShSubnet *s, const char *proto)
{
  gboolean v4 = s->family == AF_INET;
  guint max = v4 ? 32 : 128;

  if (s->prefix == 0)
    {
      /* Same packets as "ip daddr 0.0.0.0/0", without a useless address
       * load and compare, and it reads as what it means. */
      g_string_append (out, v4 ? "meta nfproto ipv4" : "meta nfproto ipv6");
    }
  else
    {
      guint8 addr[16] = { 0 };
      char text[INET6_ADDRSTRLEN];
      guint full = s->prefix / 8;
      guint rest = s->prefix % 8;

      /* Clear host bits here too (the spec may not come from
       * sh_subnet_parse()), so the script shows what nft will install. */
      memcpy (addr, s->addr, full);
      if (rest != 0)
        addr[full] = s->addr[full] & (guint8) (0xff << (8 - rest));
      inet_ntop (s->family, addr, text, sizeof text);

      g_string_append_printf (out, "%s daddr %s", v4 ? "ip" : "ip6", text);
      if (s->prefix != max)
        g_string_append_printf (out, "/%u", s->prefix);
    }

  if (s->port_lo == 0 && s->port_hi == 0)
    return FALSE;
  if (s->port_lo == s->port_hi)
    g_string_append_printf (out, " %s dport %u", proto, s->port_lo);
  else
    g_string_append_printf (out, " %s dport %u-%u", proto, s->port_lo, s->port_hi);
  return TRUE;
}

static gboolean
append_match (GString *out, const ShSubnet *s)
{
  return append_match_proto (out, s, "tcp");
}

/* The datagram chains: a route-type output chain (mangle priority, before
 * the nat redirects) that marks UDP and ICMP echo requests to the subnets,
 * so that the helper's "ip rule fwmark" sends them into the engine's tun
 * device. The same order as the redirects: the bypass mark, the captured
 * DNS (which the redirect owns, so it is left unmarked), loopback, the
 * excludes, then the subnets. A subnet or exclude with a port range applies
 * to UDP on those ports and not to echo, which has no port. A route chain
 * makes the kernel route the packet again once its mark changed. */
static void
render_dgram (GString *out, const ShFirewallSpec *spec)
{
  guint i;

  g_string_append_printf (out,
                          "  chain dgram {\n"
                          "    type route hook output priority mangle; policy accept;\n"
                          "    meta mark 0x%x return\n",
                          SH_FIREWALL_BYPASS_MARK);
  for (i = 0; i < array_len (spec->dns_servers); i++)
    {
      const ShSubnet *ns = &g_array_index (spec->dns_servers, ShSubnet, i);
      char text[INET6_ADDRSTRLEN];

      inet_ntop (ns->family, ns->addr, text, sizeof text);
      g_string_append_printf (out, "    %s daddr %s udp dport 53 return\n",
                              ns->family == AF_INET ? "ip" : "ip6", text);
    }
  g_string_append (out, "    ip daddr 127.0.0.0/8 return\n"
                        "    ip6 daddr ::1 return\n"
                        "    meta l4proto udp goto dgram_dst\n"
                        "    icmp type echo-request goto dgram_dst\n"
                        "    icmpv6 type echo-request goto dgram_dst\n"
                        "  }\n"
                        "  chain dgram_dst {\n");
  for (i = 0; i < array_len (spec->excludes); i++)
    {
      g_string_append (out, "    ");
      append_match_proto (out, &g_array_index (spec->excludes, ShSubnet, i), "udp");
      g_string_append (out, " return\n");
    }
  for (i = 0; i < array_len (spec->subnets); i++)
    {
      g_string_append (out, "    ");
      append_match_proto (out, &g_array_index (spec->subnets, ShSubnet, i), "udp");
      g_string_append_printf (out, " meta mark set 0x%x\n", spec->dgram_mark);
    }
  g_string_append (out, "  }\n");
  /* The replies the engine writes into the device: with the mark, the
   * reverse-path check (the device has src_valid_mark) finds their source
   * behind the device itself, strict or loose, address or not. */
  g_string_append_printf (out,
                          "  chain dgram_in {\n"
                          "    type filter hook prerouting priority mangle; policy accept;\n"
                          "    iifname \"%s\" meta mark set 0x%x\n"
                          "  }\n",
                          spec->dgram_ifname, spec->dgram_mark);
}

/* The IPv6 leak block: a filter chain after the redirects (nat output runs
 * at -100), so a redirected connection shows up here with ::1 as its
 * destination. Everything accepted first is what must keep working: the
 * tunnel itself, local traffic, the link (neighbour discovery, link-local,
 * link-scope multicast), replies to connections others opened to us, and the
 * excludes (the ssh server reached over IPv6 is one). The rest is refused
 * loudly (a reset, an admin-prohibited error) so applications fall back to
 * IPv4 at once instead of waiting for a timeout. "oif" would not do for the
 * tunnel: the output device a hook sees is the one chosen before the
 * redirect. */
static void
render_ipv6_block (GString *out, const ShFirewallSpec *spec)
{
  g_string_append_printf (out,
                          "  chain block_ipv6 {\n"
                          "    type filter hook output priority 0; policy accept;\n"
                          "    meta nfproto != ipv6 accept\n"
                          "    ip6 daddr ::1 accept\n"
                          "    oif \"lo\" accept\n"
                          "    meta mark 0x%x accept\n"
                          "    ip6 daddr { fe80::/10, ff01::/16, ff02::/16 } accept\n"
                          "    icmpv6 type { nd-router-solicit, nd-neighbor-solicit, "
                          "nd-neighbor-advert } accept\n"
                          "    ct direction reply accept\n",
                          SH_FIREWALL_BYPASS_MARK);
  /* Datagrams marked for the tunnel's device go into the tunnel too. */
  if (spec->dgram_mark != 0)
    g_string_append_printf (out, "    meta mark 0x%x accept\n", spec->dgram_mark);
  for (guint i = 0; i < array_len (spec->excludes); i++)
    {
      const ShSubnet *s = &g_array_index (spec->excludes, ShSubnet, i);

      if (s->family != AF_INET6)
        continue;
      g_string_append (out, "    ");
      append_match (out, s);
      g_string_append (out, " accept\n");
    }
  g_string_append (out, "    meta l4proto tcp reject with tcp reset\n"
                        "    reject with icmpv6 type admin-prohibited\n"
                        "  }\n");
}

/* shuttle run --scope: only the sockets of one cgroup (made by processes
 * in it or below) are redirected, so every redirect carries the match; a
 * packet without a socket never matches it and is never redirected.
 * --exclude-scope: that cgroup's sockets leave the chain first, by the
 * "return" line written here. Returns the match to put before each subnet
 * rule ("socket cgroupv2 level N \"path\" "), or NULL: none (no scope, or
 * an excluded one). The nat and the syn chain both use it, so that only
 * SYNs the nat chain will redirect wait in the queue. */
static char *
render_scope (GString *out, const ShFirewallSpec *spec)
{
  if (spec->cgroup == NULL)
    return NULL;
  char *match
      = g_strdup_printf ("socket cgroupv2 level %u \"%s\" ", spec->cgroup_level, spec->cgroup);
  if (!spec->cgroup_exclude)
    return match;
  g_string_append_printf (out, "    %sreturn\n", match);
  g_free (match);
  return NULL;
}

/* The syn queue (issue 25): the first SYN of a connection that the nat
 * chain will redirect waits in a netfilter queue until the server has
 * tried the real destination. It runs before the nat chain (-150 < -100)
 * and matches the same packets (the DNS rules aside: the engine answers
 * DNS itself). A SYN the engine sends back with a failure mark is answered
 * here, in the kernel. Chain "q" holds the queue rule itself, added by
 * add_queue_rule(): this kernel may lack nft's own "queue" expression, so
 * it is the xtables NFQUEUE target, which nft's language cannot write. An
 * empty "q" returns: the SYN passes, today's behaviour. */
static void
render_syn_chain (GString *out, const ShFirewallSpec *spec)
{
  g_string_append_printf (out,
                          "  chain syn {\n"
                          "    type filter hook output priority -150; policy accept;\n"
                          "    meta mark 0x%x meta l4proto tcp reject with tcp reset\n"
                          "    meta mark 0x%x reject with icmpx host-unreachable\n"
                          "    meta mark 0x%x reject with icmpx no-route\n"
                          "    meta mark 0x%x return\n"
                          "    meta l4proto != tcp return\n"
                          "    tcp flags & (syn | ack) != syn return\n"
                          "    ct state != new return\n"
                          "    ip daddr 127.0.0.0/8 return\n"
                          "    ip6 daddr ::1 return\n",
                          SH_FIREWALL_REFUSED_MARK, SH_FIREWALL_HOST_UNREACH_MARK,
                          SH_FIREWALL_NET_UNREACH_MARK, SH_FIREWALL_BYPASS_MARK);
  /* The nat chain's scope, so that only SYNs it will redirect wait. */
  g_autofree char *scope = render_scope (out, spec);
  for (guint i = 0; i < array_len (spec->excludes); i++)
    {
      g_string_append (out, "    ");
      append_match (out, &g_array_index (spec->excludes, ShSubnet, i));
      g_string_append (out, " return\n");
    }
  for (guint i = 0; i < array_len (spec->subnets); i++)
    {
      g_string_append_printf (out, "    %s", scope != NULL ? scope : "");
      append_match (out, &g_array_index (spec->subnets, ShSubnet, i));
      g_string_append (out, " jump q\n");
    }
  g_string_append (out, "  }\n"
                        "  chain q {\n"
                        "  }\n");
}

/* Checked by the callers: @instance is a valid name, @comment NULL or valid. */
static char *
render (const char *instance, const char *comment, const ShFirewallSpec *spec, GError **error)
{
  g_autoptr (GString) out = NULL;
  g_autofree char *scope = NULL;
  guint i;

  if (spec == NULL || spec->port == 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _ ("Invalid firewall spec: no listener port"));
      return NULL;
    }
  for (i = 0; i < array_len (spec->subnets); i++)
    if (!subnet_is_valid (&g_array_index (spec->subnets, ShSubnet, i)))
      goto bad_subnet;
  for (i = 0; i < array_len (spec->excludes); i++)
    if (!subnet_is_valid (&g_array_index (spec->excludes, ShSubnet, i)))
      goto bad_subnet;
  for (i = 0; i < array_len (spec->dns_servers); i++)
    {
      const ShSubnet *ns = &g_array_index (spec->dns_servers, ShSubnet, i);
      if (!subnet_is_valid (ns) || ns->prefix != (ns->family == AF_INET ? 32 : 128))
        goto bad_subnet;
    }

  if (spec->cgroup != NULL
      && (!sh_fw_cgroup_path_is_valid (spec->cgroup) || spec->cgroup_level == 0
          || spec->cgroup_level > SH_FW_CGROUP_LEVEL_MAX))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _ ("Invalid firewall spec: bad cgroup"));
      return NULL;
    }

  out = g_string_new (NULL);

  /* "add" makes the "delete" valid when the table does not exist yet; all
   * three commands are one transaction, so the old table stays in place if
   * the new one is refused. */
  g_string_append_printf (out,
                          "add table inet " SH_FIREWALL_TABLE_PREFIX "%s\n"
                          "delete table inet " SH_FIREWALL_TABLE_PREFIX "%s\n"
                          "table inet " SH_FIREWALL_TABLE_PREFIX "%s {\n"
                          "  comment \"%s\"\n"
                          "  chain output {\n"
                          "    type nat hook output priority -100; policy accept;\n"
                          "    meta mark 0x%x return\n",
                          instance, instance, instance,
                          comment != NULL ? comment : "shuttle " PACKAGE_VERSION,
                          SH_FIREWALL_BYPASS_MARK);

  scope = render_scope (out, spec);
  const char *only = scope != NULL ? scope : "";

  /* DNS before the excludes and the loopback rule: the nameserver may be
   * the ssh server itself or a local stub (127.0.0.53), and a query to it
   * must still be answered through the tunnel. The engine's UDP socket
   * listens on the same port number as its TCP listener. */
  for (i = 0; i < array_len (spec->dns_servers); i++)
    {
      const ShSubnet *ns = &g_array_index (spec->dns_servers, ShSubnet, i);
      char text[INET6_ADDRSTRLEN];
      const char *ip = ns->family == AF_INET ? "ip" : "ip6";

      inet_ntop (ns->family, ns->addr, text, sizeof text);
      g_string_append_printf (out, "    %s%s daddr %s udp dport 53 redirect to :%u\n", only, ip,
                              text, spec->port);
      g_string_append_printf (out, "    %s%s daddr %s tcp dport 53 redirect to :%u\n", only, ip,
                              text, spec->port);
    }

  g_string_append (out, "    meta l4proto != tcp return\n"
                        "    ip daddr 127.0.0.0/8 return\n"
                        "    ip6 daddr ::1 return\n");

  /* Excludes first: the first matching rule wins, and an exclude (the ssh
   * server above all) must win over any subnet that contains it. */
  for (i = 0; i < array_len (spec->excludes); i++)
    {
      g_string_append (out, "    ");
      append_match (out, &g_array_index (spec->excludes, ShSubnet, i));
      g_string_append (out, " return\n");
    }

  for (i = 0; i < array_len (spec->subnets); i++)
    {
      g_string_append_printf (out, "    %s", only);
      if (!append_match (out, &g_array_index (spec->subnets, ShSubnet, i)))
        g_string_append (out, " meta l4proto tcp");
      g_string_append_printf (out, " redirect to :%u\n", spec->port);
    }

  g_string_append (out, "  }\n");
  if (spec->dgram_mark != 0 && ifname_is_valid (spec->dgram_ifname))
    render_dgram (out, spec);
  else if (spec->dgram_mark != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _ ("Invalid firewall spec: bad datagram device"));
      return NULL;
    }
  if (spec->syn_queue != 0)
    render_syn_chain (out, spec);
  if (spec->block_ipv6)
    render_ipv6_block (out, spec);
  g_string_append (out, "}\n");
  return g_string_free (g_steal_pointer (&out), FALSE);

bad_subnet:
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       _ ("Invalid firewall spec: bad subnet"));
  return NULL;
}

char *
sh_firewall_render (const char *instance, const ShFirewallSpec *spec)
{
  if (!instance_is_valid (instance))
    return NULL;
  return render (instance, NULL, spec, NULL);
}

/* libnftables reports errors as "[<where>: ]Error: message", each followed by
 * an input line and a caret line. The first message is the one that matters;
 * the input line is left out because for a multi-line buffer nft 1.0.6 prints
 * the wrong one. */
static char *
summarize_error (const char *buffer)
{
  g_auto (GStrv) lines = NULL;

  if (buffer == NULL)
    return g_strdup (_ ("unknown error"));

  lines = g_strsplit (buffer, "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *p = strstr (lines[i], "Error: ");
      if (p != NULL)
        return g_strstrip (g_strdup (p + strlen ("Error: ")));
    }
  for (guint i = 0; lines[i] != NULL; i++)
    if (*g_strstrip (lines[i]) != '\0')
      return g_strdup (lines[i]);
  return g_strdup (_ ("unknown error"));
}

/* Runs @script as one transaction. On success, *@output (if given) receives
 * whatever the commands listed. */
static gboolean
run_nft (const char *script, char **output, GError **error)
{
  g_autoptr (ShNftCtx) ctx = nft_ctx_new (NFT_CTX_DEFAULT);
  const char *errors;

  if (ctx == NULL)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           _ ("Could not initialize libnftables"));
      return FALSE;
    }
  /* Buffered so that nothing is printed to the caller's stdout or stderr:
   * this module does not log. */
  if (nft_ctx_buffer_output (ctx) != 0 || nft_ctx_buffer_error (ctx) != 0)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                           _ ("Could not set up libnftables buffers"));
      return FALSE;
    }

  if (nft_run_cmd_from_buffer (ctx, script) != 0)
    {
      g_autofree char *summary = NULL;

      errors = nft_ctx_get_error_buffer (ctx);
      if (errors != NULL
          && (strstr (errors, "Operation not permitted") != NULL
              || strstr (errors, "Permission denied") != NULL))
        {
          g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                               _ ("changing the firewall needs root (CAP_NET_ADMIN)"));
          return FALSE;
        }
      summary = summarize_error (errors);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("nftables: %s"), summary);
      return FALSE;
    }

  if (output != NULL)
    *output = g_strdup (nft_ctx_get_output_buffer (ctx));
  return TRUE;
}

/* ---- the queue rule, in nf_tables' netlink messages ----
 * One rule in chain "q" of table inet shuttle-<suffix>: the xtables target
 * NFQUEUE (revision 3) through nft_compat, as iptables-nft writes it. */

/* Sends @msg on a new nf_tables netlink socket and reads one answer into
 * @reply: its length, or -1 with errno. */
static gssize
nl_request (const GByteArray *msg, guint8 *reply, gsize cap)
{
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  struct timeval tv = { .tv_sec = 2 };
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  gssize n = -1;
  int saved;

  if (fd < 0)
    return -1;
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) == 0
      && send (fd, msg->data, msg->len, 0) == (gssize) msg->len)
    n = recv (fd, reply, cap, 0);
  saved = errno;
  close (fd);
  errno = saved;
  return n;
}

static gboolean
add_queue_rule (const char *suffix, guint16 queue, gboolean bypass, GError **error)
{
  g_autofree char *table = g_strconcat (SH_FIREWALL_TABLE_PREFIX, suffix, NULL);
  g_autoptr (GByteArray) target = g_byte_array_new ();
  g_autoptr (GByteArray) expr = g_byte_array_new ();
  g_autoptr (GByteArray) list = g_byte_array_new ();
  g_autoptr (GByteArray) rule = g_byte_array_new ();
  g_autoptr (GByteArray) empty = g_byte_array_new ();
  g_autoptr (GByteArray) batch = g_byte_array_new ();
  /* struct xt_NFQ_info_v3, padded to XT_ALIGN: queuenum, queues_total, flags. */
  guint16 info[4] = { queue, 1, bypass ? NFQ_FLAG_BYPASS : 0, 0 };
  guint32 rev = htonl (3);
  guint8 reply[512];
  gssize n;
  int err;

  sh_nft_put_attr (target, NFTA_TARGET_NAME, "NFQUEUE", sizeof "NFQUEUE");
  sh_nft_put_attr (target, NFTA_TARGET_REV, &rev, 4);
  sh_nft_put_attr (target, NFTA_TARGET_INFO, info, sizeof info);
  sh_nft_put_attr (expr, NFTA_EXPR_NAME, "target", sizeof "target");
  sh_nft_put_attr (expr, NFTA_EXPR_DATA | NLA_F_NESTED, target->data, target->len);
  sh_nft_put_attr (list, NFTA_LIST_ELEM | NLA_F_NESTED, expr->data, expr->len);
  sh_nft_put_attr (rule, NFTA_RULE_TABLE, table, strlen (table) + 1);
  sh_nft_put_attr (rule, NFTA_RULE_CHAIN, "q", 2);
  sh_nft_put_attr (rule, NFTA_RULE_EXPRESSIONS | NLA_F_NESTED, list->data, list->len);

  sh_nft_put_msg (batch, NFNL_MSG_BATCH_BEGIN, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, 1, empty);
  sh_nft_put_msg (batch, (NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_NEWRULE,
                  NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, NFPROTO_INET, 0, 2, rule);
  sh_nft_put_msg (batch, NFNL_MSG_BATCH_END, 0, AF_UNSPEC, NFNL_SUBSYS_NFTABLES, 3, empty);

  n = nl_request (batch, reply, sizeof reply);
  if (n >= (gssize) (NLMSG_HDRLEN + 4))
    {
      struct nlmsghdr nh;
      gint32 e;

      memcpy (&nh, reply, sizeof nh);
      memcpy (&e, reply + NLMSG_HDRLEN, 4);
      err = nh.nlmsg_type == NLMSG_ERROR ? -e : EIO;
    }
  else
    err = n < 0 && errno != 0 ? errno : EIO;
  if (err != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   /* Translators: %s is the system's error message. */
                   _ ("nftables: cannot add the SYN queue rule: %s"), g_strerror (err));
      return FALSE;
    }
  return TRUE;
}

static gboolean parse_pid (const char *text, guint64 *pid);

gboolean
sh_firewall_apply (const char *instance, const ShFirewallSpec *spec, GError **error)
{
  g_autofree char *script = NULL;
  g_autofree char *comment = NULL;
  guint64 pid;

  if (!instance_is_valid (instance))
    {
      set_bad_instance (error, instance);
      return FALSE;
    }
  /* The sweep judges a pid's table by the owner recorded here. */
  if (parse_pid (instance, &pid))
    {
      g_autofree char *owner = sh_firewall_owner_record (pid);
      if (owner == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                       /* Translators: %s is a process id. */
                       _ ("No process %s runs to own its firewall table"), instance);
          return FALSE;
        }
      comment = g_strdup_printf ("shuttle " PACKAGE_VERSION " %s", owner);
    }
  script = render (instance, comment, spec, error);
  if (script == NULL)
    return FALSE;
  if (!run_nft (script, NULL, error))
    return FALSE;
  /* A second transaction: until it is in, chain "q" is empty and SYNs pass
   * as they did before the queue. A kernel without nft_compat or the
   * NFQUEUE target leaves it so: connections then complete at the listener,
   * as before, which is no reason to refuse the tunnel. */
  if (spec->syn_queue != 0)
    add_queue_rule (instance, spec->syn_queue, !spec->syn_fail_closed, NULL);
  return TRUE;
}

static gboolean
check_owned (const char *name, const char *comment, GError **error)
{
  if (!name_is_valid (name, SH_FIREWALL_OWNED_MAX, TRUE))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   _ ("Invalid firewall table name “%s”"), name != NULL ? name : "");
      return FALSE;
    }
  if (comment != NULL && !comment_is_valid (comment))
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                           _ ("Invalid firewall table comment"));
      return FALSE;
    }
  return TRUE;
}

char *
sh_firewall_render_owned (const char *name, const char *comment, const ShFirewallSpec *spec,
                          GError **error)
{
  if (!check_owned (name, comment, error))
    return NULL;
  return render (name, comment, spec, error);
}

gboolean
sh_firewall_apply_owned (const char *name, const char *comment, const ShFirewallSpec *spec,
                         GError **error)
{
  g_autofree char *script = sh_firewall_render_owned (name, comment, spec, error);

  if (script == NULL || !run_nft (script, NULL, error))
    return FALSE;
  /* As in sh_firewall_apply(): without the rule SYNs pass, not fatal. */
  if (spec->syn_queue != 0)
    add_queue_rule (name, spec->syn_queue, !spec->syn_fail_closed, NULL);
  return TRUE;
}

gboolean
sh_firewall_drop_syn_owned (const char *name, GError **error)
{
  if (!check_owned (name, NULL, error))
    return FALSE;
  /* "add" first, as in remove_table(): absent chains are no error; "syn"
   * jumps to "q", so it goes first, in the same transaction. */
  g_autofree char *script
      = g_strdup_printf ("add chain inet " SH_FIREWALL_TABLE_PREFIX "%s syn\n"
                         "add chain inet " SH_FIREWALL_TABLE_PREFIX "%s q\n"
                         "delete chain inet " SH_FIREWALL_TABLE_PREFIX "%s syn\n"
                         "delete chain inet " SH_FIREWALL_TABLE_PREFIX "%s q\n",
                         name, name, name, name);
  return run_nft (script, NULL, error);
}

/* Deletes table "inet shuttle-<suffix>". The preceding "add" makes this a
 * no-op for an absent table without parsing error text (nft 1.0.6 has no
 * "destroy"), and a concurrent sweep removing it first is harmless. */
static gboolean
remove_table (const char *suffix, GError **error)
{
  g_autofree char *script = g_strdup_printf ("add table inet " SH_FIREWALL_TABLE_PREFIX "%s\n"
                                             "delete table inet " SH_FIREWALL_TABLE_PREFIX "%s\n",
                                             suffix, suffix);

  return run_nft (script, NULL, error);
}

gboolean
sh_firewall_remove (const char *instance, GError **error)
{
  if (!instance_is_valid (instance))
    {
      set_bad_instance (error, instance);
      return FALSE;
    }
  return remove_table (instance, error);
}

gboolean
sh_firewall_remove_owned (const char *name, GError **error)
{
  if (!check_owned (name, NULL, error))
    return FALSE;
  return remove_table (name, error);
}

/* The comment of one table, "" when it has none. Asked in netlink
 * (nftmsg.h says why not with nft's listing). */
static char *
table_comment (const char *suffix, GError **error)
{
  g_autofree char *table = g_strconcat (SH_FIREWALL_TABLE_PREFIX, suffix, NULL);
  g_autoptr (GByteArray) msg = g_byte_array_new ();
  guint8 reply[8192];
  char *comment = NULL;
  gssize n;
  int err;

  sh_nft_put_get_table (msg, NFPROTO_INET, table, 1);
  n = nl_request (msg, reply, sizeof reply);
  err = n < 0 ? errno : sh_nft_parse_table_comment (reply, n, &comment);
  if (err != 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   /* Translators: the first %s is a firewall table's name, the second the
                      system's error message. */
                   _ ("nftables: cannot read table inet %s: %s"), table, g_strerror (err));
      return NULL;
    }
  return comment;
}

GHashTable *
sh_firewall_list_owned (const char *prefix, GError **error)
{
  g_autoptr (GHashTable) tables = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *listing = NULL;
  g_auto (GStrv) lines = NULL;

  if (!run_nft ("list tables inet", &listing, error))
    return NULL;
  lines = g_strsplit (listing != NULL ? listing : "", "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = g_strstrip (lines[i]);
      const char *suffix;
      char *comment;

      if (!g_str_has_prefix (line, "table inet " SH_FIREWALL_TABLE_PREFIX))
        continue;
      suffix = line + strlen ("table inet " SH_FIREWALL_TABLE_PREFIX);
      if (!g_str_has_prefix (suffix, prefix)
          || !name_is_valid (suffix, SH_FIREWALL_OWNED_MAX, TRUE))
        continue;
      comment = table_comment (suffix, error);
      if (comment == NULL)
        return NULL;
      g_hash_table_insert (tables, g_strdup (suffix), comment);
    }
  return g_steal_pointer (&tables);
}

/* Only canonical decimal pids (no sign, no leading zero) name tables we may
 * have created; anything else is left to whoever made it. */
static gboolean
parse_pid (const char *text, guint64 *pid)
{
  if (text[0] == '\0' || text[0] == '0' || strlen (text) > 10)
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    if (!g_ascii_isdigit (*p))
      return FALSE;
  return g_ascii_string_to_unsigned (text, 10, 1, G_MAXINT32, pid, NULL);
}

gboolean
sh_proc_stat_parse (const char *text, ShProcStat *out)
{
  /* "pid (comm) state ppid ...": only the last ')' can end comm. */
  const char *open = strchr (text, '(');
  const char *close = strrchr (text, ')');
  const char *p;

  if (open == NULL || close == NULL || close < open || close[1] != ' ')
    return FALSE;
  p = close + 2;
  if (*p == '\0' || *p == ' ' || p[1] != ' ')
    return FALSE;
  out->comm = open + 1;
  out->comm_len = (gsize) (close - open - 1);
  out->state = *p;
  /* Fields 4 to 21 are numbers; the 19th space after the state starts 22. */
  for (int field = 3; field < 22; field++)
    {
      p = strchr (p, ' ');
      if (p == NULL)
        return FALSE;
      p++;
    }
  if (!g_ascii_isdigit (*p))
    return FALSE;
  gsize len = strspn (p, "0123456789");
  if (p[len] != ' ' && p[len] != '\n' && p[len] != '\0')
    return FALSE;
  g_autofree char *digits = g_strndup (p, len);
  return g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64, &out->start_time, NULL);
}

static char *
read_proc_stat (guint64 pid)
{
  g_autofree char *path = g_strdup_printf ("/proc/%" G_GUINT64_FORMAT "/stat", pid);
  char *stat = NULL;

  if (!g_file_get_contents (path, &stat, NULL, NULL))
    return NULL;
  return stat;
}

char *
sh_firewall_owner_record (guint64 pid)
{
  g_autofree char *stat = read_proc_stat (pid);
  ShProcStat st;

  if (stat == NULL || !sh_proc_stat_parse (stat, &st))
    return NULL;
  return g_strdup_printf ("pid=%" G_GUINT64_FORMAT " start=%" G_GUINT64_FORMAT, pid, st.start_time);
}

/* The "start=<ticks>" word of a record, FALSE when it has none. */
static gboolean
record_start (const char *record, guint64 *start)
{
  for (const char *p = record; p != NULL && *p != '\0'; p = strchr (p, ' '))
    {
      while (*p == ' ')
        p++;
      if (!g_str_has_prefix (p, "start="))
        continue;
      p += strlen ("start=");
      gsize len = strspn (p, "0123456789");
      if (len == 0 || (p[len] != ' ' && p[len] != '\0'))
        return FALSE;
      g_autofree char *digits = g_strndup (p, len);
      return g_ascii_string_to_unsigned (digits, 10, 0, G_MAXUINT64, start, NULL);
    }
  return FALSE;
}

gboolean
sh_firewall_owner_matches (const char *stat, const char *record)
{
  ShProcStat st;
  guint64 start;

  if (stat == NULL || !sh_proc_stat_parse (stat, &st))
    return FALSE;
  if (st.state == 'Z' || st.state == 'X')
    return FALSE;
  if (record_start (record, &start))
    return st.start_time == start; /* another start: the pid was reused */
  /* An older Shuttle's record: judged by the name, as it was then. */
  return st.comm_len >= strlen ("shuttle") && memcmp (st.comm, "shuttle", strlen ("shuttle")) == 0;
}

gboolean
sh_firewall_owner_alive (guint64 pid, const char *record)
{
  g_autofree char *stat = read_proc_stat (pid);

  return sh_firewall_owner_matches (stat, record);
}

int
sh_firewall_sweep (GError **error)
{
  g_autofree char *listing = NULL;
  g_auto (GStrv) lines = NULL;
  int removed = 0;

  if (!run_nft ("list tables inet", &listing, error))
    return -1;

  lines = g_strsplit (listing != NULL ? listing : "", "\n", -1);
  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *line = g_strstrip (lines[i]);
      const char *suffix;
      guint64 pid;

      if (!g_str_has_prefix (line, "table inet " SH_FIREWALL_TABLE_PREFIX))
        continue;
      suffix = line + strlen ("table inet " SH_FIREWALL_TABLE_PREFIX);
      if (!parse_pid (suffix, &pid))
        continue;
      /* Gone since the listing (its engine removed it) is no error. */
      g_autofree char *comment = table_comment (suffix, NULL);
      if (comment == NULL || sh_firewall_owner_alive (pid, comment))
        continue;
      if (!remove_table (suffix, error))
        return -1;
      removed++;
    }
  return removed;
}

gboolean
sh_firewall_check_cgroup (const char *path, guint level, guint32 uid, GError **error)
{
  g_autofree char *dir = NULL, *mounts = NULL, *mnt = NULL;
  struct statfs fs;
  struct stat st;

  if (!sh_fw_cgroup_path_is_valid (path))
    return sh_fw_invalid (error, "invalid cgroup path");
  dir = g_build_filename ("/sys/fs/cgroup", path, NULL);
  if (lstat (dir, &st) < 0 || !S_ISDIR (st.st_mode) || statfs (dir, &fs) < 0
      || fs.f_type != CGROUP2_SUPER_MAGIC)
    return sh_fw_invalid (error, "%s is not a cgroup v2", dir);
  if (uid != 0 && st.st_uid != uid)
    {
      g_set_error (error, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED,
                   "the cgroup %s belongs to uid %u, not to uid %u", dir, (guint) st.st_uid,
                   (guint) uid);
      return FALSE;
    }
  /* The depth below the mount the path is on. */
  if (g_file_get_contents ("/proc/self/mounts", &mounts, NULL, NULL))
    mnt = sh_scope_find_mount (mounts);
  if (mnt == NULL || !g_str_has_prefix (dir, mnt) || (dir[strlen (mnt)] != '/')
      || sh_scope_level (dir + strlen (mnt)) != level)
    return sh_fw_invalid (error, "%s is not at level %u of the cgroup v2 hierarchy", dir, level);
  return TRUE;
}
