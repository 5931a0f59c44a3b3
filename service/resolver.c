/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "resolver.h"

#include <arpa/inet.h>
#include <string.h>
#include <sys/socket.h>

void
sh_resolver_parse_all (const char *text, guint16 port, GArray *out)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      /* "nameserver", blanks, the address, maybe more words. */
      const char *p = g_strstrip (*l);
      if (!g_str_has_prefix (p, "nameserver") || (p[10] != ' ' && p[10] != '\t'))
        continue;
      p += 10;
      while (*p == ' ' || *p == '\t')
        p++;
      g_autofree char *a = g_strndup (p, strcspn (p, " \t#;"));
      /* resolv.conf allows nothing but a literal here; skip "fe80::1%eth0". */
      ShOpen ns = { .port = port };
      if (inet_pton (AF_INET, a, ns.addr) == 1)
        ns.family = AF_INET;
      else if (inet_pton (AF_INET6, a, ns.addr) == 1)
        ns.family = AF_INET6;
      else
        continue;
      g_array_append_val (out, ns);
    }
}

gboolean
sh_resolver_parse (const char *text, ShOpen *out)
{
  g_autoptr (GArray) all = g_array_new (FALSE, TRUE, sizeof (ShOpen));
  sh_resolver_parse_all (text, 0, all);
  if (all->len == 0)
    return FALSE;
  *out = g_array_index (all, ShOpen, 0);
  return TRUE;
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
