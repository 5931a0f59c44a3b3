/* SPDX-License-Identifier: GPL-2.0-or-later */
/* keyfile-check.h — does an ssh private key file need a passphrase? */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* TRUE when the private key in @text (its whole content) is encrypted:
 * OpenSSH's format with a cipher other than "none", or PEM with an
 * ENCRYPTED header. FALSE for an unencrypted key. */
gboolean sh_key_text_is_encrypted (const char *text);

/* Reads @path (as the calling user) and applies sh_key_text_is_encrypted().
 * A file we cannot read or recognise counts as needing a passphrase: asking
 * once too often is better than failing a login that needed one. */
gboolean sh_key_file_needs_passphrase (const char *path);

G_END_DECLS
