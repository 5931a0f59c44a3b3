/* SPDX-License-Identifier: GPL-2.0-or-later */
/* launch.c — `shuttle run`'s command (launch.h). */
#include "config.h"

#include "launch.h"

#include <arpa/inet.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "preload-wire.h"
#include "subnet.h"

/* The program header table of a 32- or 64-bit ELF file of either byte
 * order: is there a PT_INTERP? */
ShExecKind
sh_launch_exec_kind (const guint8 *buf, gsize len)
{
  gboolean is64, le;
  guint64 phoff;
  guint phentsize, phnum;

  if (len >= 2 && buf[0] == '#' && buf[1] == '!')
    return SH_EXEC_SCRIPT;
  if (len < EI_NIDENT || memcmp (buf, ELFMAG, SELFMAG) != 0)
    return SH_EXEC_UNKNOWN;
  is64 = buf[EI_CLASS] == ELFCLASS64;
  le = buf[EI_DATA] == ELFDATA2LSB;
  if ((!is64 && buf[EI_CLASS] != ELFCLASS32) || (!le && buf[EI_DATA] != ELFDATA2MSB))
    return SH_EXEC_UNKNOWN;
#define U16(p) (le ? (guint) (p)[0] | (guint) (p)[1] << 8 : (guint) (p)[0] << 8 | (guint) (p)[1])
#define U32(p)                                                                                     \
  (le ? (guint32) U16 (p) | (guint32) U16 ((p) + 2) << 16 : (guint32) U16 (p) << 16 | U16 ((p) + 2))
  if (is64)
    {
      if (len < sizeof (Elf64_Ehdr))
        return SH_EXEC_UNKNOWN;
      phoff = le ? (guint64) U32 (buf + 32) | (guint64) U32 (buf + 36) << 32
                 : (guint64) U32 (buf + 32) << 32 | U32 (buf + 36);
      phentsize = U16 (buf + 54);
      phnum = U16 (buf + 56);
    }
  else
    {
      if (len < sizeof (Elf32_Ehdr))
        return SH_EXEC_UNKNOWN;
      phoff = U32 (buf + 28);
      phentsize = U16 (buf + 42);
      phnum = U16 (buf + 44);
    }
  if (phentsize < 4 || phoff > len)
    return SH_EXEC_UNKNOWN;
  for (guint i = 0; i < phnum; i++)
    {
      guint64 at = phoff + (guint64) i * phentsize;

      if (at + 4 > len)
        return SH_EXEC_UNKNOWN;
      if (U32 (buf + at) == PT_INTERP)
        return SH_EXEC_DYNAMIC;
    }
#undef U32
#undef U16
  return SH_EXEC_STATIC;
}

char *
sh_launch_nets_env (const GArray *subnets)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; subnets != NULL && i < subnets->len && i < SH_PRELOAD_MAX_NETS; i++)
    {
      const ShSubnet *n = &g_array_index (subnets, ShSubnet, i);
      char addr[INET6_ADDRSTRLEN];

      inet_ntop (n->family, n->addr, addr, sizeof addr);
      g_string_append_printf (s, "%s%s/%u", s->len ? "," : "", addr, n->prefix);
      if (n->port_lo != 0)
        g_string_append_printf (s, "/%u-%u", n->port_lo, n->port_hi);
    }
  return g_string_free (s, FALSE);
}

ShExecKind
sh_launch_inspect (const char *cmd, char **path_out)
{
  g_autofree char *path = g_find_program_in_path (cmd);
  guint8 buf[4096];
  gssize n;
  FILE *f;

  *path_out = NULL;
  if (path == NULL)
    return SH_EXEC_UNKNOWN;
  f = fopen (path, "rbe");
  if (f == NULL)
    return SH_EXEC_UNKNOWN;
  n = (gssize) fread (buf, 1, sizeof buf, f);
  fclose (f);
  *path_out = g_steal_pointer (&path);
  return sh_launch_exec_kind (buf, n > 0 ? (gsize) n : 0);
}

const char *
sh_launch_library (void)
{
  const char *env = g_getenv ("SHUTTLE_PRELOAD_LIBRARY");

  return env != NULL && env[0] == '/' ? env : SH_PRELOAD_LIBRARY;
}

/* The engine ignores SIGPIPE; the command must not inherit that. */
static void
child_setup (gpointer data)
{
  signal (SIGPIPE, SIG_DFL);
}

GSubprocess *
sh_launch_spawn (char **argv, const char *socket_path, const GArray *subnets,
                 const GArray *excludes, gboolean dns, GError **error)
{
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_INHERIT);
  g_autofree char *nets = sh_launch_nets_env (subnets);
  g_autofree char *excl = sh_launch_nets_env (excludes);
  const char *old = g_getenv ("LD_PRELOAD");
  g_autofree char *preload = old && *old ? g_strconcat (sh_launch_library (), ":", old, NULL)
                                         : g_strdup (sh_launch_library ());

  g_subprocess_launcher_set_child_setup (l, child_setup, NULL, NULL);
  g_subprocess_launcher_setenv (l, "LD_PRELOAD", preload, TRUE);
  g_subprocess_launcher_setenv (l, SH_PRELOAD_ENV_SOCKET, socket_path, TRUE);
  g_subprocess_launcher_setenv (l, SH_PRELOAD_ENV_NETS, nets, TRUE);
  g_subprocess_launcher_setenv (l, SH_PRELOAD_ENV_EXCLUDE, excl, TRUE);
  if (dns)
    g_subprocess_launcher_setenv (l, SH_PRELOAD_ENV_DNS, "1", TRUE);
  else
    g_subprocess_launcher_unsetenv (l, SH_PRELOAD_ENV_DNS);
  return g_subprocess_launcher_spawnv (l, (const char *const *) argv, error);
}

/* In the forked child, before exec: into the cgroup (async-signal-safe
 * calls only). A child that cannot enter it must not run outside it. */
static void
scoped_child_setup (gpointer data)
{
  const char *procs = data;
  int fd = open (procs, O_WRONLY | O_CLOEXEC);

  signal (SIGPIPE, SIG_DFL);
  if (fd < 0 || write (fd, "0", 1) != 1)
    _exit (126);
  close (fd);
}

GSubprocess *
sh_launch_spawn_scoped (char **argv, const char *procs, GError **error)
{
  g_autoptr (GSubprocessLauncher) l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_INHERIT);

  g_subprocess_launcher_set_child_setup (l, scoped_child_setup, (gpointer) procs, NULL);
  return g_subprocess_launcher_spawnv (l, (const char *const *) argv, error);
}
