/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-request.h — validation of the helper's D-Bus arguments (pure: no I/O).
 *
 * Everything a caller sends is checked here against a whitelist before the
 * helper asks polkit or touches anything: labels, address families, address
 * lengths, prefixes, port ranges, host names, and every count. What comes out
 * is structured data the helper renders itself; caller text never reaches
 * nftables or /etc/hosts unchecked. ApplyTunnel's arguments are decoded by
 * the Firewall1 codec, sh_fw_parse_tunnel() (fw-wire.h); the rest is here. */
#pragma once

#include <gio/gio.h>

#include "firewall.h"
#include "fw-wire.h"

G_BEGIN_DECLS

#define SH_FW_HOSTS_MAX 4096
#define SH_FW_HOSTNAME_MAX 253
/* What one uid may hold in /etc/hosts, over all its callers and labels:
 * without a cap, a few blocks of long names would fill the file. */
#define SH_FW_HOSTS_BLOCKS_PER_UID 16
#define SH_FW_HOSTS_ENTRIES_PER_UID SH_FW_HOSTS_MAX

/* The owner part of table names and hosts block ids for unique bus name
 * @unique_name (":1.42" -> "c1_42"), or NULL when the name is not of the
 * ":<digits>.<digits>" form the bus daemons hand out. */
char *sh_fw_owner_token (const char *unique_name);

/* Parses SetHosts' parameters, signature (sa(ss)). *@lines receives one
 * "<canonical address> <name>" string per entry. */
gboolean sh_fw_parse_hosts (GVariant *params, char **label, GPtrArray **lines, GError **error);

/* Which SetHosts entries may go into the shared hosts file (pure). An
 * entry, a line of sh_fw_parse_hosts(), is kept when
 *  - its name is not in @taken (the names the hosts file gives outside our
 *    blocks, lower-cased: "localhost", the admin's own entries), and
 *  - its address lies in @subnets (ShSubnet, ports ignored: the subnets of
 *    the caller's tunnels), or @held (may be NULL) has the same line: what
 *    the caller's block holds already passed this check when it was
 *    written, also for a block adopted after a restart of the helper, whose
 *    tunnel's subnets this helper never saw.
 * Returns the kept lines, a new array. Each dropped entry is appended to
 * @dropped as "<line>: <reason>". */
GPtrArray *sh_fw_filter_hosts (const GPtrArray *lines, const GArray *subnets, GHashTable *taken,
                               const GPtrArray *held, GPtrArray *dropped);

/* Parses the (s) of RemoveTunnel and RemoveHosts. */
gboolean sh_fw_parse_label (GVariant *params, char **label, GError **error);

/* Parses OpenDatagramTunnel's (sa{sv}): the label and the options, of which
 * only "on-behalf-of-uid" (u) is known there (SH_FW_UID_NONE when absent). */
gboolean sh_fw_parse_dgram (GVariant *params, char **label, guint32 *on_behalf_of, GError **error);

/* Parses OpenSynQueue's (sa{sv}): the label and the options
 * "on-behalf-of-uid" (u) and "fail-closed" (b, FALSE when absent). */
gboolean sh_fw_parse_synq (GVariant *params, char **label, guint32 *on_behalf_of,
                           gboolean *fail_closed, GError **error);

G_END_DECLS
