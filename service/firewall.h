/* SPDX-License-Identifier: GPL-2.0-or-later */
/* firewall.h — nftables redirect rules for one running instance.
 *
 * Each instance owns exactly one table "inet shuttle-<instance>"; every change
 * is one libnftables transaction, so a table is either fully there or absent.
 * This module is the only code that touches the firewall. Root runs it in
 * shuttle-firewall, the polkit-authorized helper (service/helper/), or in
 * process in a root engine that has no system bus (fwclient.h). */
#pragma once

#include <glib.h>

#include "fw-wire.h"

G_BEGIN_DECLS

/* Packets carrying this socket mark are never redirected: the local server
 * (test mode) marks its outgoing sockets so they are not captured again. */
#define SH_FIREWALL_BYPASS_MARK 0x5368u

/* A SYN held in the syn queue comes back from the engine (NF_REPEAT) with
 * one of these marks when the far side's connect failed: the table's "syn"
 * chain then answers it in the kernel as the far side did (a reset, an ICMP
 * unreachable), so the program's connect() fails with that errno. */
#define SH_FIREWALL_REFUSED_MARK 0x5369u
#define SH_FIREWALL_HOST_UNREACH_MARK 0x536au
#define SH_FIREWALL_NET_UNREACH_MARK 0x536bu

/* ShFirewallSpec, what one instance redirects, is in fw-wire.h: the
 * helper receives it over D-Bus too. */

/* The nft script (text) that sh_firewall_apply() runs for @instance: pure,
 * for tests and for -vv logging. @instance is [0-9a-z_]+, at most 32 chars. */
char *sh_firewall_render (const char *instance, const ShFirewallSpec *spec);

/* Replaces (or creates) the table of @instance atomically. When @instance
 * is a pid (the engine's own, on the in-process path) the process must run:
 * the table's comment records it as its owner (sh_firewall_owner_record()),
 * which the script of sh_firewall_render() leaves out. */
gboolean sh_firewall_apply (const char *instance, const ShFirewallSpec *spec, GError **error);

/* Deletes the table of @instance; absent is not an error. */
gboolean sh_firewall_remove (const char *instance, GError **error);

/* Whether cgroup @path (relative to /sys/fs/cgroup, as in ShFirewallSpec)
 * may be named in rules for @uid: a directory on the cgroup v2 file system,
 * at depth @level below its mount, owned by @uid (0: any). The helper asks
 * this before it applies a scope, so that nobody can steer another user's
 * programs into or out of a tunnel. SH_FW_ERROR_NOT_AUTHORIZED when the
 * cgroup is not @uid's, SH_FW_ERROR_INVALID_ARGS otherwise. */
gboolean sh_firewall_check_cgroup (const char *path, guint level, guint32 uid, GError **error);

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

/* Deletes the SYN queue's chains ("syn", "q") of table "inet
 * shuttle-<name>", leaving the rest; absent chains are not an error. A
 * restarted helper does this to the tables it adopts: their queue died with
 * the helper before it. */
gboolean sh_firewall_drop_syn_owned (const char *name, GError **error);

/* Deletes table "inet shuttle-<name>"; absent is not an error. */
gboolean sh_firewall_remove_owned (const char *name, GError **error);

/* The helper-style tables whose <name> starts with @prefix: a new table
 * of name (without "shuttle-") -> comment ("" when none), or NULL with
 * @error set. */
GHashTable *sh_firewall_list_owned (const char *prefix, GError **error);

/* Deletes tables "shuttle-<pid>" whose owner no longer runs
 * (sh_firewall_owner_alive() on the table's comment). Returns the number
 * removed, or -1 with @error set. */
int sh_firewall_sweep (GError **error);

/* ---- owners of "shuttle-<pid>" tables and "p<pid>" hosts blocks ----
 * A root engine without the helper names what it holds after its pid, and
 * records its owner as "pid=<pid> start=<ticks>" in the table's comment
 * (sh_firewall_apply()) or the hosts block's note: the process's start time
 * (field 22 of /proc/PID/stat, clock ticks after boot) tells the owner from
 * a later process that got the same pid. */

typedef struct
{
  const char *comm; /* field 2, inside the parentheses; not NUL-terminated */
  gsize comm_len;
  char state;         /* field 3: R, S, D, Z, X, ... */
  guint64 start_time; /* field 22 */
} ShProcStat;

/* Pure: parses the text of /proc/PID/stat into @out (pointing into @text).
 * comm may hold anything a process sets, spaces and ')' included, so the
 * fields after it are counted from the last ')'. FALSE when @text does not
 * have that shape. */
gboolean sh_proc_stat_parse (const char *text, ShProcStat *out);

/* "pid=<pid> start=<ticks>" for the running process @pid, or NULL when
 * there is none. */
char *sh_firewall_owner_record (guint64 pid);

/* Pure: whether the process whose /proc/PID/stat text is @stat (NULL: no
 * process has that pid) is the owner @record (a comment or note holding
 * "start=<ticks>") describes: it runs (not a zombie: a killed engine's
 * watchdog sweeps before the engine is reaped) and started at that time.
 * A record without a start time was written by an older Shuttle; for it,
 * a process named "shuttle..." counts as the owner, as it did then, so
 * that an upgrade does not remove the rules of an engine still running
 * (its tunnelled traffic would then leave outside the tunnel). */
gboolean sh_firewall_owner_matches (const char *stat, const char *record);

/* sh_firewall_owner_matches() on /proc/@pid/stat. */
gboolean sh_firewall_owner_alive (guint64 pid, const char *record);

G_END_DECLS
