/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "quote.h"

char *
sh_quote (const char *s, gsize max_chars)
{
  GString *out = g_string_new (NULL);

  for (gsize n = 0; s[n] != '\0'; n++)
    {
      guchar c = (guchar) s[n];

      if (n == max_chars)
        {
          g_string_append (out, "...");
          break;
        }
      if (c >= 0x20 && c < 0x7f)
        g_string_append_c (out, (char) c);
      else
        g_string_append_printf (out, "\\x%02x", c);
    }
  return g_string_free (out, FALSE);
}
