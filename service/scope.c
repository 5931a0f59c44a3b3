/* SPDX-License-Identifier: GPL-2.0-or-later */
/* scope.c — the command's cgroup for `shuttle run --scope` (scope.h). */
#include "config.h"

#include "scope.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fw-wire.h"

#define NFT_CGROUP_ROOT "/sys/fs/cgroup"

struct _ShScope
{
  char *dir;      /* the cgroup's directory */
  char *procs;    /* its cgroup.procs */
  char *nft_path; /* relative to NFT_CGROUP_ROOT */
  guint level;
};

char *
sh_scope_find_mount (const char *mounts)
{
  g_auto (GStrv) lines = g_strsplit (mounts, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      g_auto (GStrv) f = g_strsplit (lines[i], " ", 4);

      if (g_strv_length (f) >= 3 && g_str_equal (f[2], "cgroup2") && f[1][0] == '/')
        return g_strdup (f[1]);
    }
  return NULL;
}

char *
sh_scope_own_path (const char *text)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    if (g_str_has_prefix (lines[i], "0::/"))
      return g_strdup (lines[i] + 3);
  return NULL;
}

guint
sh_scope_level (const char *path)
{
  g_auto (GStrv) parts = g_strsplit (path, "/", -1);
  guint n = 0;

  for (guint i = 0; parts[i] != NULL; i++)
    n += parts[i][0] != '\0';
  return n;
}

ShScope *
sh_scope_new (GError **error)
{
  g_autofree char *mounts = NULL, *own_text = NULL, *mnt = NULL, *own = NULL;
  g_autoptr (ShScope) s = g_new0 (ShScope, 1);
  g_autofree char *name = g_strdup_printf ("shuttle-run-%d", (int) getpid ());
  g_autofree char *path = NULL;

  if (!g_file_get_contents ("/proc/self/mounts", &mounts, NULL, error)
      || !g_file_get_contents ("/proc/self/cgroup", &own_text, NULL, error))
    return NULL;
  mnt = sh_scope_find_mount (mounts);
  own = sh_scope_own_path (own_text);
  if (mnt == NULL || own == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "--scope needs the cgroup v2 hierarchy mounted (under %s), and this "
                   "process in it",
                   NFT_CGROUP_ROOT);
      return NULL;
    }
  if (!g_str_equal (mnt, NFT_CGROUP_ROOT) && !g_str_has_prefix (mnt, NFT_CGROUP_ROOT "/"))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "--scope: the cgroup v2 hierarchy is mounted on %s, but nftables looks "
                   "for cgroups under %s",
                   mnt, NFT_CGROUP_ROOT);
      return NULL;
    }
  path = g_build_filename (own, name, NULL);
  g_autofree char *dir = g_build_filename (mnt, path, NULL);
  s->procs = g_build_filename (dir, "cgroup.procs", NULL);
  s->nft_path = g_strdup (dir + strlen (NFT_CGROUP_ROOT "/"));
  s->level = sh_scope_level (path);
  if (!sh_fw_cgroup_path_is_valid (s->nft_path) || s->level > SH_FW_CGROUP_LEVEL_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                   "--scope: the cgroup %s has a name nftables cannot be given", dir);
      return NULL;
    }
  if (mkdir (dir, 0755) < 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "--scope: cannot create the cgroup %s: %s (run shuttle in a cgroup of "
                   "your own, e.g. under systemd-run --user --scope -p Delegate=yes)",
                   dir, g_strerror (err));
      return NULL;
    }
  s->dir = g_steal_pointer (&dir);
  return g_steal_pointer (&s);
}

const char *
sh_scope_nft_path (ShScope *s)
{
  return s->nft_path;
}

guint
sh_scope_nft_level (ShScope *s)
{
  return s->level;
}

const char *
sh_scope_procs (ShScope *s)
{
  return s->procs;
}

void
sh_scope_free (ShScope *s)
{
  if (s == NULL)
    return;
  if (s->dir != NULL)
    {
      g_autofree char *kill_path = g_build_filename (s->dir, "cgroup.kill", NULL);

      /* What the command left running leaves with it: outside the scope it
       * would no longer be tunnelled. Then the directory can go (rmdir
       * waits for nothing: retry while the killed die). */
      int fd = open (kill_path, O_WRONLY | O_CLOEXEC);

      if (fd >= 0)
        {
          if (write (fd, "1", 1) < 0)
            {
              /* before Linux 5.14: what is left stays, and so does the directory */
            }
          close (fd);
        }
      for (int i = 0; i < 50 && rmdir (s->dir) < 0 && errno == EBUSY; i++)
        g_usleep (20000);
    }
  g_free (s->dir);
  g_free (s->procs);
  g_free (s->nft_path);
  g_free (s);
}
