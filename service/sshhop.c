/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sshhop.c — parse `ssh -G` output and ProxyJump values (see sshhop.h). */
#include "sshhop.h"

#include <string.h>

void
sh_ssh_hop_clear (ShSshHop *hop)
{
  g_clear_pointer (&hop->hostname, g_free);
  g_clear_pointer (&hop->jump, g_free);
  hop->port = 0;
  hop->via_command = FALSE;
}

static guint
parse_port (const char *s)
{
  if (!*s || strlen (s) > 5)
    return 0;
  for (const char *p = s; *p; p++)
    if (!g_ascii_isdigit (*p))
      return 0;
  guint64 v = g_ascii_strtoull (s, NULL, 10);
  return v >= 1 && v <= 65535 ? (guint) v : 0;
}

void
sh_ssh_hop_parse (const char *ssh_g, ShSshHop *hop)
{
  sh_ssh_hop_clear (hop);
  if (!ssh_g)
    return;
  g_auto (GStrv) lines = g_strsplit (ssh_g, "\n", -1);
  for (char **l = lines; *l; l++)
    {
      /* ssh -G prints "keyword value"; values never hold a newline. */
      const char *sp = strchr (*l, ' ');
      if (!sp || !sp[1])
        continue;
      g_autofree char *key = g_strndup (*l, sp - *l);
      const char *val = sp + 1;
      if (g_str_equal (key, "hostname"))
        {
          g_free (hop->hostname);
          hop->hostname = g_strdup (val);
        }
      else if (g_str_equal (key, "port"))
        hop->port = parse_port (val);
      else if (g_str_equal (key, "proxyjump") && !g_str_equal (val, "none"))
        {
          g_free (hop->jump);
          hop->jump = g_strdup (val);
        }
      else if (g_str_equal (key, "proxycommand") && !g_str_equal (val, "none"))
        hop->via_command = TRUE;
    }
}

gboolean
sh_ssh_jump_first (const char *jump, char **user, char **host, guint *port)
{
  *user = *host = NULL;
  *port = 0;
  if (!jump)
    return FALSE;
  const char *comma = strchr (jump, ',');
  g_autofree char *first = comma ? g_strndup (jump, comma - jump) : g_strdup (jump);
  char *s = first;
  if (g_str_has_prefix (s, "ssh://"))
    s += strlen ("ssh://");
  /* The user ends at the last '@' (a user name may not hold one, but be
   * lenient the way ssh is). */
  char *at = strrchr (s, '@');
  g_autofree char *u = NULL;
  if (at)
    {
      u = g_strndup (s, at - s);
      s = at + 1;
    }
  g_autofree char *h = NULL;
  const char *port_str = NULL;
  if (*s == '[')
    {
      char *close = strchr (s, ']');
      if (!close || close == s + 1)
        return FALSE;
      h = g_strndup (s + 1, close - s - 1);
      if (close[1] == ':')
        port_str = close + 2;
      else if (close[1])
        return FALSE;
    }
  else
    {
      char *colon = strchr (s, ':');
      if (colon && strchr (colon + 1, ':'))
        colon = NULL; /* a bare IPv6 address: no port */
      h = colon ? g_strndup (s, colon - s) : g_strdup (s);
      if (colon)
        port_str = colon + 1;
    }
  /* A host never starts with '-': it becomes an argument of ssh. */
  if (!*h || *h == '-' || (u && !*u))
    return FALSE;
  for (const char *p = h; *p; p++)
    if (!g_ascii_isalnum (*p) && !strchr (".-_:%", *p))
      return FALSE;
  if (port_str && !(*port = parse_port (port_str)))
    return FALSE;
  *user = g_steal_pointer (&u);
  *host = g_steal_pointer (&h);
  return TRUE;
}
