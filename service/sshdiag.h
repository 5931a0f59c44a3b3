/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sshdiag.h — what ssh's messages say about a failed login, made one line
 * (pure: lines in, a sentence out). Today: host-key verification, with the
 * fingerprint the server offered, so a profile's log names it, and a refused
 * login (wrong key, passphrase or password), which NetworkManager reports as
 * a login failure rather than a network one. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  gboolean key_changed;   /* "REMOTE HOST IDENTIFICATION HAS CHANGED" */
  gboolean verify_failed; /* "Host key verification failed." */
  gboolean want_fp;       /* the next line is the fingerprint */
  char *fingerprint;      /* "SHA256:..." */
  char *unknown_type;     /* "No ED25519 host key is known for ..." */
  char *refused;          /* "Permission denied (publickey,password)": the methods */
} ShSshDiag;

/* Feeds one line of ssh's stderr (without the newline). */
void sh_ssh_diag_feed (ShSshDiag *diag, const char *line);

/* The sentence for the failure, or NULL when the lines said nothing we
 * know. Newly allocated. */
char *sh_ssh_diag_explain (const ShSshDiag *diag);

void sh_ssh_diag_clear (ShSshDiag *diag);

G_END_DECLS
