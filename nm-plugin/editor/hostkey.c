/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hostkey.c — ssh-keyscan output and SHA256 fingerprints. */
#include "config.h"

#include "hostkey.h"

#include <string.h>

#define MAX_KEYS 16

void
sh_host_key_free (ShHostKey *k)
{
  if (k == NULL)
    return;
  g_free (k->type);
  g_free (k->key);
  g_free (k->fingerprint);
  g_free (k);
}

char *
sh_host_key_fingerprint (const char *key)
{
  const char *space = strchr (key, ' ');
  const char *b64 = space != NULL ? space + 1 : key;
  g_autofree guchar *blob = NULL;
  g_autoptr (GChecksum) sum = g_checksum_new (G_CHECKSUM_SHA256);
  guint8 digest[32];
  gsize len = 0, dlen = sizeof digest;
  g_autofree char *enc = NULL;
  char *pad;

  for (const char *p = b64; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("+/=", *p) == NULL)
      return NULL;
  blob = g_base64_decode (b64, &len);
  /* A key blob begins with its type as a length-prefixed string; anything
   * else is not a key, whatever the base64 says. */
  if (len < 5 || blob[0] != 0 || blob[1] != 0 || (gsize) ((blob[2] << 8) | blob[3]) + 4 > len)
    return NULL;
  if (space != NULL
      && ((gsize) ((blob[2] << 8) | blob[3]) != (gsize) (space - key)
          || memcmp (blob + 4, key, (gsize) (space - key)) != 0))
    return NULL;
  g_checksum_update (sum, blob, len);
  g_checksum_get_digest (sum, digest, &dlen);
  enc = g_base64_encode (digest, dlen);
  /* ssh prints the fingerprint without base64 padding. */
  if ((pad = strchr (enc, '=')) != NULL)
    *pad = '\0';
  return g_strconcat ("SHA256:", enc, NULL);
}

char *
sh_host_key_accept_secret (const char *key)
{
  g_autofree char *fp = sh_host_key_fingerprint (key);
  char *name;

  if (fp == NULL)
    return NULL;
  name = g_strconcat ("host-key-accept-", fp + strlen ("SHA256:"), NULL);
  for (char *c = name; *c != '\0'; c++)
    if (*c == '+')
      *c = '-';
    else if (*c == '/')
      *c = '_';
  return name;
}

GPtrArray *
sh_host_key_parse_keyscan (const char *text)
{
  GPtrArray *keys = g_ptr_array_new_with_free_func ((GDestroyNotify) sh_host_key_free);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);

  for (guint i = 0; lines[i] != NULL && keys->len < MAX_KEYS; i++)
    {
      g_auto (GStrv) f = NULL;
      g_autoptr (ShHostKey) k = NULL;
      gboolean dup = FALSE;

      g_strstrip (lines[i]);
      if (lines[i][0] == '\0' || lines[i][0] == '#')
        continue;
      f = g_strsplit_set (lines[i], " \t", -1);
      if (g_strv_length (f) != 3 || f[1][0] == '\0' || f[2][0] == '\0')
        continue;
      k = g_new0 (ShHostKey, 1);
      k->type = g_strdup (f[1]);
      k->key = g_strdup_printf ("%s %s", f[1], f[2]);
      k->fingerprint = sh_host_key_fingerprint (k->key);
      if (k->fingerprint == NULL)
        continue;
      for (guint j = 0; j < keys->len; j++)
        dup |= strcmp (((ShHostKey *) keys->pdata[j])->key, k->key) == 0;
      if (!dup)
        g_ptr_array_add (keys, g_steal_pointer (&k));
    }
  return keys;
}
