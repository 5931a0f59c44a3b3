/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vpn-details.c — parsing the auth-dialog protocol's input. Same grammar as
 * libnm's nm_vpn_service_plugin_read_vpn_details(), but over a buffer (so a
 * test or fuzzer can drive it) and with errors that say what was wrong. */
#include "config.h"

#include "vpn-details.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#define DATA_KEY "DATA_KEY="
#define DATA_VAL "DATA_VAL="
#define SECRET_KEY "SECRET_KEY="
#define SECRET_VAL "SECRET_VAL="

void
sh_secret_free (char *secret)
{
  if (secret == NULL)
    return;
  explicit_bzero (secret, strlen (secret));
  g_free (secret);
}

gboolean
sh_vpn_details_complete (const char *buf, gsize len)
{
  const char *p = buf;
  const char *end = buf + len;

  while (p < end)
    {
      const char *nl = memchr (p, '\n', (gsize) (end - p));

      if (nl == NULL)
        return FALSE;
      if (nl - p == 4 && memcmp (p, "DONE", 4) == 0)
        return TRUE;
      p = nl + 1;
    }
  return FALSE;
}

static void
string_free_secret (GString *s)
{
  explicit_bzero (s->str, s->allocated_len);
  g_string_free (s, TRUE);
}

gboolean
sh_vpn_details_parse (const char *buf, gsize len, GHashTable **out_data, GHashTable **out_secrets,
                      GError **error)
{
  g_autoptr (GHashTable) data = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GHashTable) secrets
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) sh_secret_free);
  GString *key = NULL, *val = NULL, *cur = NULL;
  GHashTable *target = NULL;
  const char *p = buf;
  const char *end;
  guint lineno = 0;
  gboolean any = FALSE, ok = TRUE;

  /* A NUL ends the input, as in libnm. */
  end = memchr (buf, '\0', len);
  if (end == NULL)
    end = buf + len;

  while (ok)
    {
      const char *nl = p < end ? memchr (p, '\n', (gsize) (end - p)) : NULL;
      const char *lend = nl != NULL ? nl : end;
      g_autofree char *line = NULL;
      gboolean last = nl == NULL;

      lineno++;
      if ((gsize) (lend - p) > SH_VPN_DETAILS_MAX_LINE)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                       _ ("input line %u is longer than %d bytes"), lineno,
                       SH_VPN_DETAILS_MAX_LINE);
          ok = FALSE;
          break;
        }
      line = g_strndup (p, (gsize) (lend - p));
      p = nl != NULL ? nl + 1 : end;

      if (cur != NULL && line[0] == '=')
        {
          g_string_append_c (cur, '\n');
          g_string_append (cur, line + 1);
          explicit_bzero (line, strlen (line));
          if (last)
            break;
          continue;
        }
      /* Any other line completes the item read so far. */
      if (key != NULL && val != NULL)
        {
          if (target == secrets)
            {
              g_hash_table_replace (secrets, g_string_free (key, FALSE), g_strdup (val->str));
              string_free_secret (val);
            }
          else
            g_hash_table_replace (data, g_string_free (key, FALSE), g_string_free (val, FALSE));
          key = val = cur = NULL;
          any = TRUE;
        }
      if (strcmp (line, "DONE") == 0)
        break;
      if (g_str_has_prefix (line, DATA_KEY) || g_str_has_prefix (line, SECRET_KEY))
        {
          gboolean is_data = g_str_has_prefix (line, DATA_KEY);

          if (key != NULL)
            g_string_free (key, TRUE);
          key = g_string_new (line + strlen (is_data ? DATA_KEY : SECRET_KEY));
          cur = key;
          target = is_data ? data : secrets;
        }
      else if (g_str_has_prefix (line, DATA_VAL) || g_str_has_prefix (line, SECRET_VAL))
        {
          gboolean is_data = g_str_has_prefix (line, DATA_VAL);

          if (key == NULL || val != NULL || target != (is_data ? data : secrets))
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                           _ ("input line %u: a value without its key"), lineno);
              ok = FALSE;
            }
          else
            {
              val = g_string_new (line + strlen (is_data ? DATA_VAL : SECRET_VAL));
              cur = val;
            }
        }
      else
        cur = NULL; /* blank or unknown lines end continuation */
      explicit_bzero (line, strlen (line));
      if (last)
        break;
    }

  /* Input that ends right after a value, without DONE or a blank line. */
  if (ok && key != NULL && val != NULL)
    {
      if (target == secrets)
        g_hash_table_replace (secrets, g_string_free (key, FALSE), g_strdup (val->str));
      else
        g_hash_table_replace (data, g_string_free (key, FALSE), g_strdup (val->str));
      key = NULL;
      any = TRUE;
    }
  if (key != NULL)
    g_string_free (key, TRUE);
  if (val != NULL)
    string_free_secret (val);
  if (!ok)
    return FALSE;
  if (!any)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s",
                   _ ("no connection data on input"));
      return FALSE;
    }
  *out_data = g_steal_pointer (&data);
  *out_secrets = g_steal_pointer (&secrets);
  return TRUE;
}
