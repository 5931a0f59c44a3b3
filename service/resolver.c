/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "resolver.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

gboolean
sh_resolver_parse (const char *text, ShOpen *out)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      g_auto (GStrv) w = g_strsplit_set (g_strstrip (*l), " \t", -1);
      if (g_strv_length (w) < 2 || strcmp (w[0], "nameserver") != 0)
        continue;
      const char *a = w[1];
      /* resolv.conf allows nothing but a literal here; skip "fe80::1%eth0". */
      memset (out, 0, sizeof *out);
      if (inet_pton (AF_INET, a, out->addr) == 1)
        out->family = AF_INET;
      else if (inet_pton (AF_INET6, a, out->addr) == 1)
        out->family = AF_INET6;
      else
        continue;
      return TRUE;
    }
  return FALSE;
}

void
sh_resolver_get (guint16 port, ShOpen *out)
{
  g_autofree char *text = NULL;
  if (!g_file_get_contents ("/etc/resolv.conf", &text, NULL, NULL)
      || !sh_resolver_parse (text, out))
    {
      memset (out, 0, sizeof *out);
      out->family = AF_INET;
      out->addr[0] = 127;
      out->addr[3] = 1;
    }
  out->port = port;
}
