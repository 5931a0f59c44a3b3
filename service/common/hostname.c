/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "hostname.h"

gboolean
sh_hostname_is_valid (const char *name, gsize len)
{
  gsize label = 0;

  if (len == 0 || len > SH_HOSTNAME_MAX)
    return FALSE;
  for (gsize i = 0; i <= len; i++)
    {
      char c = i < len ? name[i] : '.';

      if (c == '.')
        {
          if (label == 0 || label > 63 || name[i - 1] == '-')
            return FALSE;
          label = 0;
          continue;
        }
      if (!(g_ascii_isalnum (c) || c == '-' || c == '_'))
        return FALSE;
      if (label == 0 && c == '-')
        return FALSE;
      label++;
    }
  return TRUE;
}
