/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "quote.h"

#include <string.h>

char *
sh_quote_len (const char *s, gsize len, gsize max_chars)
{
  GString *out = g_string_new (NULL);

  for (gsize n = 0; n < len; n++)
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

char *
sh_quote (const char *s, gsize max_chars)
{
  return sh_quote_len (s, strlen (s), max_chars);
}
