/* SPDX-License-Identifier: GPL-2.0-or-later */
/* keyfile-check.c — recognising encrypted ssh private keys. */
#include "config.h"

#include "keyfile-check.h"

#include <string.h>

#define OPENSSH_BEGIN "-----BEGIN OPENSSH PRIVATE KEY-----"
#define OPENSSH_END "-----END OPENSSH PRIVATE KEY-----"
#define OPENSSH_MAGIC "openssh-key-v1"
#define KEY_MAX_BYTES (64 * 1024)

/* OpenSSH's container: "openssh-key-v1\0", then the cipher name as a
 * 32-bit big-endian length and bytes (PROTOCOL.key). */
static gboolean
openssh_is_encrypted (const char *text)
{
  const char *begin = strstr (text, OPENSSH_BEGIN);
  const char *end;
  g_autofree char *b64 = NULL;
  g_autofree guchar *blob = NULL;
  gsize len = 0, off = sizeof OPENSSH_MAGIC, n;

  begin += strlen (OPENSSH_BEGIN);
  end = strstr (begin, OPENSSH_END);
  if (end == NULL)
    return TRUE;
  b64 = g_strndup (begin, (gsize) (end - begin));
  blob = g_base64_decode (g_strstrip (b64), &len);
  if (len < off + 4 || memcmp (blob, OPENSSH_MAGIC, sizeof OPENSSH_MAGIC) != 0)
    return TRUE;
  n = ((gsize) blob[off] << 24) | ((gsize) blob[off + 1] << 16) | ((gsize) blob[off + 2] << 8)
      | blob[off + 3];
  if (n > len - off - 4)
    return TRUE;
  return !(n == 4 && memcmp (blob + off + 4, "none", 4) == 0);
}

gboolean
sh_key_text_is_encrypted (const char *text)
{
  if (strstr (text, OPENSSH_BEGIN) != NULL)
    return openssh_is_encrypted (text);
  if (strstr (text, "-----BEGIN ENCRYPTED PRIVATE KEY-----") != NULL
      || strstr (text, "Proc-Type: 4,ENCRYPTED") != NULL)
    return TRUE;
  if (strstr (text, "PRIVATE KEY-----") != NULL)
    return FALSE;
  return TRUE;
}

gboolean
sh_key_file_needs_passphrase (const char *path)
{
  g_autofree char *text = NULL;
  gsize len = 0;
  gboolean encrypted;

  if (path == NULL || !g_file_get_contents (path, &text, &len, NULL) || len > KEY_MAX_BYTES
      || memchr (text, '\0', len) != NULL)
    return TRUE;
  encrypted = sh_key_text_is_encrypted (text);
  explicit_bzero (text, len);
  return encrypted;
}
