/* SPDX-License-Identifier: GPL-2.0-or-later */
/* launch.h — `shuttle run`: what the command is started with, and whether
 * the preload library can reach it. The judgements are pure. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  SH_EXEC_DYNAMIC, /* an ELF program with an interpreter (ld.so): the preload reaches it */
  SH_EXEC_STATIC,  /* an ELF program without PT_INTERP: the loader never runs */
  SH_EXEC_SCRIPT,  /* "#!": its interpreter decides */
  SH_EXEC_UNKNOWN, /* not ELF, or cut short */
} ShExecKind;

/* Pure: the kind of the program whose first @len bytes are @buf (at least
 * the ELF header and program header table, e.g. the first 4 KiB). */
ShExecKind sh_launch_exec_kind (const guint8 *buf, gsize len);

/* Pure: @subnets (ShSubnet) as SH_PRELOAD_ENV_NETS says (preload-wire.h). */
char *sh_launch_nets_env (const GArray *subnets);

/* The command @argv[0] looked up in PATH, read and judged. @path_out: the
 * file found (NULL when none). */
ShExecKind sh_launch_inspect (const char *cmd, char **path_out);

/* The path of the preload library: $SHUTTLE_PRELOAD_LIBRARY (for a build
 * tree) or the installed one. */
const char *sh_launch_library (void);

/* Starts @argv with the preload library, the engine's door @socket_path and
 * the tunnelled @subnets less @excludes in its environment, and with @dns
 * the word that its getaddrinfo() asks the door; stdin, stdout and stderr
 * are ours. */
GSubprocess *sh_launch_spawn (char **argv, const char *socket_path, const GArray *subnets,
                              const GArray *excludes, gboolean dns, GError **error);

/* Starts @argv in the cgroup whose cgroup.procs is @procs (run --scope),
 * without the preload library: the firewall rules match the cgroup. The
 * child exits 126 when it cannot enter the cgroup. */
GSubprocess *sh_launch_spawn_scoped (char **argv, const char *procs, GError **error);

G_END_DECLS
