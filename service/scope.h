/* SPDX-License-Identifier: GPL-2.0-or-later */
/* scope.h — `shuttle run --scope`: the command's own cgroup (v2), which
 * the firewall rules match with `socket cgroupv2` (fw-wire.h), so exactly
 * that program tree is tunnelled, static programs included.
 *
 * The cgroup is a child, "shuttle-run-<pid>", of the cgroup the engine runs
 * in: creating it needs that cgroup to be the user's (root, a systemd user
 * unit or scope with Delegate=yes, or a subtree the administrator
 * delegated). No controller is enabled, so the engine may stay where it is.
 * nft resolves the path under /sys/fs/cgroup, so the cgroup v2 hierarchy
 * must be mounted there or below (the unified mount of a hybrid layout). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _ShScope ShScope;

/* Pure: the mount point of the first "cgroup2" file system in @mounts
 * (the text of /proc/self/mounts), or NULL. */
char *sh_scope_find_mount (const char *mounts);

/* Pure: the cgroup v2 path ("0::/a/b" line: "/a/b") in @text (the text of
 * /proc/self/cgroup), or NULL. */
char *sh_scope_own_path (const char *text);

/* Pure: the depth of cgroup @path ("/a/b": 2; "/": 0). */
guint sh_scope_level (const char *path);

/* Creates the command's cgroup, or NULL with @error saying why and what to
 * do instead. */
ShScope *sh_scope_new (GError **error);

/* The cgroup as ShFirewallSpec wants it: relative to /sys/fs/cgroup, and
 * its depth in the hierarchy. */
const char *sh_scope_nft_path (ShScope *scope);
guint sh_scope_nft_level (ShScope *scope);

/* Its cgroup.procs: a process writes "0" there to enter it. */
const char *sh_scope_procs (ShScope *scope);

/* Kills what still runs in the cgroup (cgroup.kill) and removes it. */
void sh_scope_free (ShScope *scope);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShScope, sh_scope_free)

G_END_DECLS
