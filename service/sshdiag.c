/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sshdiag.c — reads OpenSSH's host-key and login-refused messages (their
 * wording in sshconnect.c and sshconnect2.c). */
#include "config.h"

#include "sshdiag.h"

#include <string.h>

#include "quote.h"

void
sh_ssh_diag_feed (ShSshDiag *d, const char *line)
{
  const char *p;

  if (d->want_fp)
    {
      d->want_fp = FALSE;
      if (g_str_has_prefix (line, "SHA256:"))
        {
          gsize n = strcspn (line, ". \t");
          g_free (d->fingerprint);
          d->fingerprint = sh_quote_len (line, n, 80);
          return;
        }
    }
  if (strstr (line, "REMOTE HOST IDENTIFICATION HAS CHANGED") != NULL)
    d->key_changed = TRUE;
  else if (strstr (line, "sent by the remote host is") != NULL)
    d->want_fp = TRUE;
  else if (g_str_has_prefix (line, "Host key verification failed"))
    d->verify_failed = TRUE;
  else if ((p = strstr (line, "Permission denied (")) != NULL)
    {
      /* "user@host: Permission denied (publickey,password)." */
      p += strlen ("Permission denied (");
      g_free (d->refused);
      d->refused = sh_quote_len (p, strcspn (p, ")"), 64);
    }
  else if (g_str_has_prefix (line, "No ") && (p = strstr (line, " host key is known for")) != NULL)
    {
      g_free (d->unknown_type);
      d->unknown_type = sh_quote_len (line + 3, p - line - 3, 32);
    }
}

char *
sh_ssh_diag_explain (const ShSshDiag *d)
{
  if (d->key_changed && d->fingerprint != NULL)
    return g_strdup_printf ("host key verification failed: the ssh server's key %s does not "
                            "match the pinned or known key",
                            d->fingerprint);
  if (d->key_changed)
    return g_strdup ("host key verification failed: the ssh server's key does not match the "
                     "pinned or known key");
  if (d->unknown_type != NULL)
    return g_strdup_printf ("host key verification failed: no %s key of the ssh server is known "
                            "(pin it in the profile's host-key, or add it to known_hosts)",
                            d->unknown_type);
  if (d->verify_failed)
    return g_strdup ("host key verification failed (the ssh server's key is not known)");
  if (d->refused != NULL)
    return g_strdup_printf ("authentication failed: the ssh server refused the login (it "
                            "accepts %s); check the key, its passphrase or the password",
                            d->refused);
  return NULL;
}

void
sh_ssh_diag_clear (ShSshDiag *d)
{
  g_clear_pointer (&d->fingerprint, g_free);
  g_clear_pointer (&d->unknown_type, g_free);
  g_clear_pointer (&d->refused, g_free);
  memset (d, 0, sizeof *d);
}
