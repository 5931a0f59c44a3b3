/* SPDX-License-Identifier: GPL-2.0-or-later */
/* firewall.h — nftables redirect rules for one running instance.
 *
 * Each instance owns exactly one table "inet shuttle-<instance>"; every change
 * is one libnftables transaction, so a table is either fully there or absent.
 * This module is the only code that touches the firewall: the next step puts
 * it behind a polkit-authorized root helper (shuttle-firewall) unchanged. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Packets carrying this socket mark are never redirected: the local server
 * (test mode) marks its outgoing sockets so they are not captured again. */
#define SH_FIREWALL_BYPASS_MARK 0x5368u

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
} ShFirewallSpec;

/* The nft script (text) that sh_firewall_apply() runs for @instance: pure,
 * for tests and for -vv logging. @instance is [0-9a-z_]+, at most 32 chars. */
char *sh_firewall_render (const char *instance, const ShFirewallSpec *spec);

/* Replaces (or creates) the table of @instance atomically. */
gboolean sh_firewall_apply (const char *instance, const ShFirewallSpec *spec, GError **error);

/* Deletes the table of @instance; absent is not an error. */
gboolean sh_firewall_remove (const char *instance, GError **error);

/* ---- for the root helper (shuttle-firewall) ----
 * Its tables are "inet shuttle-<name>", <name> being 1 to
 * SH_FIREWALL_OWNED_MAX of [0-9a-z_-] starting with a letter (so never a
 * pid), and carry @comment (1 to 120 of [A-Za-z0-9 :._=-]) that records the
 * owner, so that a restarted helper can tell whose table it is. */
#define SH_FIREWALL_OWNED_MAX 64

/* The script of sh_firewall_apply_owned(), or NULL with @error set. */
char *sh_firewall_render_owned (const char *name, const char *comment, const ShFirewallSpec *spec,
                                GError **error);

gboolean sh_firewall_apply_owned (const char *name, const char *comment, const ShFirewallSpec *spec,
                                  GError **error);

/* Deletes table "inet shuttle-<name>"; absent is not an error. */
gboolean sh_firewall_remove_owned (const char *name, GError **error);

/* The helper-style tables whose <name> starts with @prefix: a new table
 * of name (without "shuttle-") -> comment ("" when none), or NULL with
 * @error set. */
GHashTable *sh_firewall_list_owned (const char *prefix, GError **error);

/* Deletes tables "shuttle-<pid>" whose process no longer runs (or is not a
 * shuttle). Returns the number removed, or -1 with @error set. */
int sh_firewall_sweep (GError **error);

/* TRUE when process @pid runs and is a shuttle (so what it owns stays). */
gboolean sh_firewall_pid_is_shuttle (guint64 pid);

G_END_DECLS
