/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "sshcipher.h"

#include <string.h>

static gboolean
has_word (const char *list, const char *word)
{
  g_auto (GStrv) words = g_strsplit_set (list, " \t", -1);
  for (char **w = words; *w; w++)
    if (strcmp (*w, word) == 0)
      return TRUE;
  return FALSE;
}

gboolean
sh_cpu_has_aes (const char *cpuinfo)
{
  if (!cpuinfo)
    return FALSE;
  g_auto (GStrv) lines = g_strsplit (cpuinfo, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      const char *colon = strchr (*l, ':');
      if (!colon)
        continue;
      if ((g_str_has_prefix (*l, "flags") || g_str_has_prefix (*l, "Features"))
          && has_word (colon + 1, "aes"))
        return TRUE;
    }
  return FALSE;
}

char *
sh_ssh_fast_ciphers (const char *ssh_g, gboolean cpu_has_aes)
{
  if (!ssh_g || !cpu_has_aes)
    return NULL;
  g_auto (GStrv) lines = g_strsplit (ssh_g, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      if (!g_str_has_prefix (*l, "ciphers "))
        continue;
      /* Anything but the compiled-in default is somebody's choice. */
      if (strcmp (g_strstrip (*l + strlen ("ciphers ")), SH_SSH_DEFAULT_CIPHERS) != 0)
        return NULL;
      return g_strdup ("aes128-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,"
                       "aes192-ctr,aes256-ctr,aes256-gcm@openssh.com");
    }
  return NULL;
}
