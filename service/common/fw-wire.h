/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-wire.h — the Firewall1 wire codec (pure: no I/O): ApplyTunnel's
 * arguments to and from ShFirewallSpec, for the engine that sends them
 * (fwclient.c), the NM plugin that checks and forwards them
 * (nm-shuttle-fwproxy.c) and the helper that executes them (fw-request.c).
 *
 * The decoder checks everything a caller sends against a whitelist:
 * labels, address families, address lengths, prefixes, port ranges, option
 * names and types, and every count. What it accepts the encoder writes
 * back the same, so that what one side sends the other reads unchanged. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define SH_FW_LABEL_MAX 32
#define SH_FW_SUBNETS_MAX 1024
#define SH_FW_DNS_MAX 16

/* ApplyTunnel(label, port, subnets, excludes, dns, options) */
#define SH_FW_TUNNEL_SIGNATURE "(sqa(yayyqq)a(yayyqq)a(yay)a{sv})"

typedef struct
{
  guint16 port;        /* the engine's listener port on 127.0.0.1 and ::1 */
  GArray *subnets;     /* ShSubnet to redirect */
  GArray *excludes;    /* ShSubnet never redirected (the ssh server is one of them) */
  GArray *dns_servers; /* ShSubnet (full-width prefix; ports ignored): DNS, UDP and TCP port
                        * 53, to these goes to @port too, excludes notwithstanding; NULL:
                        * none */
  gboolean block_ipv6; /* the IPv6 leak block: IPv6 leaving this host is refused unless
                        * it is redirected to @port, goes to an IPv6 exclude (the ssh
                        * server), is link-local, loopback or a reply */
  /* shuttle run --scope / --exclude-scope: only (or all but) the sockets of
   * one cgroup v2 are redirected. @cgroup: its path as nft resolves it,
   * relative to /sys/fs/cgroup ([A-Za-z0-9._@:-] components; NULL: no
   * scope); @cgroup_level: its depth in the cgroup v2 hierarchy (1 to
   * SH_FW_CGROUP_LEVEL_MAX); the helper checks both and that the caller owns
   * the cgroup. */
  char *cgroup;
  guint cgroup_level;
  gboolean cgroup_exclude;
  guint32 dgram_mark;       /* not on the wire: set by the helper for a tunnel that holds a
                             * datagram device (OpenDatagramTunnel). Non-zero: UDP and ICMP echo
                             * requests to @subnets (same excludes, port ranges and DNS
                             * precedence as TCP) get this mark, which policy routing sends into
                             * the device */
  char dgram_ifname[16];    /* not on the wire: that device's name ("shuttle0"), whose
                             * incoming packets get the mark too, so that the reverse-path
                             * check (src_valid_mark) finds the route back through it */
  guint16 syn_queue;        /* not 0: the first SYN of each redirected connection waits in this
                             * netfilter queue for the engine's verdict (firewall.h); not on the
                             * wire */
  gboolean syn_fail_closed; /* with @syn_queue: no reader drops the SYN instead of letting it
                             * pass */
} ShFirewallSpec;

#define SH_FW_CGROUP_PATH_MAX 512
#define SH_FW_CGROUP_LEVEL_MAX 64

/* Pure: @path is a cgroup path as ShFirewallSpec wants it: 1 to
 * SH_FW_CGROUP_PATH_MAX bytes, components of [A-Za-z0-9._@:-] separated by
 * single '/', none "." or "..", no '/' first or last. */
gboolean sh_fw_cgroup_path_is_valid (const char *path);

void sh_fw_spec_clear (ShFirewallSpec *spec);

/* @dst becomes a copy of @src that sh_fw_spec_clear() may free on its own:
 * the arrays shared (a reference each), the cgroup path duplicated. */
void sh_fw_spec_copy (ShFirewallSpec *dst, const ShFirewallSpec *src);

/* The errors of Firewall1, registered as D-Bus error names
 * io.github.shuttlevpn.Firewall1.Error.<Name> (SH_FW_ERROR_PREFIX). */
typedef enum
{
  SH_FW_ERROR_INVALID_ARGS,   /* InvalidArgs */
  SH_FW_ERROR_NOT_AUTHORIZED, /* NotAuthorized */
  SH_FW_ERROR_NOT_FOUND,      /* NotFound */
  SH_FW_ERROR_FAILED,         /* Failed */
} ShFwError;

#define SH_FW_ERROR (sh_fw_error_quark ())
GQuark sh_fw_error_quark (void);

/* Sets SH_FW_ERROR_INVALID_ARGS with the formatted message; returns FALSE. */
gboolean sh_fw_invalid (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* [a-z0-9_]{1,32} */
gboolean sh_fw_label_is_valid (const char *label);
/* The same, with SH_FW_ERROR_INVALID_ARGS when it is not. */
gboolean sh_fw_check_label (const char *label, GError **error);

/* No "on-behalf-of-uid" option: the request is for the caller's own uid. */
#define SH_FW_UID_NONE G_MAXUINT32

/* ApplyTunnel's parameters (SH_FW_TUNNEL_SIGNATURE) for @label and @spec.
 * Options are written only when on (a helper that predates one still takes
 * requests that do not use it): "block-ipv6" (b) from spec->block_ipv6,
 * "on-behalf-of-uid" (u) unless @on_behalf_of is SH_FW_UID_NONE. A new
 * floating variant. */
GVariant *sh_fw_encode_tunnel (const char *label, const ShFirewallSpec *spec, guint32 on_behalf_of);

/* The options alone, as in sh_fw_encode_tunnel(): also "cgroup" (s),
 * "cgroup-level" (u) and "cgroup-exclude" (b) when @spec has a cgroup, and
 * "fail-closed" (b, OpenSynQueue's only) when spec->syn_fail_closed. */
/* @spec: its block_ipv6, cgroup and syn_fail_closed fields only; never NULL
 * (a zeroed spec for none). */
GVariant *sh_fw_encode_options (const ShFirewallSpec *spec, guint32 on_behalf_of)
    __attribute__ ((nonnull (1)));

/* Decodes ApplyTunnel's parameters ("fail-closed" is refused there). The options known:
 * "block-ipv6" (b), into spec->block_ipv6, "cgroup" (s, sh_fw_cgroup_path_is_valid()),
 * "cgroup-level" (u) and "cgroup-exclude" (b), all three or none, and "on-behalf-of-uid" (u), into
 * *@on_behalf_of (SH_FW_UID_NONE when absent; the value is not judged here: only a root caller may
 * use it, which the helper checks once it knows the caller). On success *@label is newly allocated
 * and @spec's port and arrays are set (free them with sh_fw_spec_clear()). On failure returns FALSE
 * with SH_FW_ERROR_INVALID_ARGS and leaves the outputs unset. */
gboolean sh_fw_parse_tunnel (GVariant *params, char **label, ShFirewallSpec *spec,
                             guint32 *on_behalf_of, GError **error);

/* The parts of sh_fw_parse_tunnel(), with its checks and errors: a subnet
 * list a(yayyqq) (@what names an element in messages: "subnet",
 * "exclude"), a DNS server list a(yay), and the options a{sv}. */
gboolean sh_fw_parse_subnets (GVariant *list, const char *what, GArray **out, GError **error);
gboolean sh_fw_parse_dns_servers (GVariant *list, GArray **out, GError **error);
/* sh_fw_parse_options() takes "fail-closed" (b) too, into spec->syn_fail_closed. */
gboolean sh_fw_parse_options (GVariant *options, ShFirewallSpec *spec, guint32 *on_behalf_of,
                              GError **error);

G_END_DECLS
