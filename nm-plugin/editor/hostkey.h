/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hostkey.h — host keys as ssh-keyscan prints them, and their SHA256
 * fingerprints as ssh shows them (pure: strings in, structs out). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *type;        /* "ssh-ed25519" */
  char *key;         /* "TYPE BASE64", the form vpn.data's host-key takes */
  char *fingerprint; /* "SHA256:..." (unpadded base64, as ssh -l prints) */
} ShHostKey;

void sh_host_key_free (ShHostKey *k);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShHostKey, sh_host_key_free)

/* The fingerprint of "TYPE BASE64" (or just BASE64); NULL when the base64
 * does not decode to a key blob of that type. */
char *sh_host_key_fingerprint (const char *key);

/* The name of the secret that answers "trust @key?" ("TYPE BASE64"):
 * "host-key-accept-" and the key's SHA256 in URL-safe base64. Bound to the
 * key, so that an answer (stored by an agent, say) never accepts another
 * one. NULL when @key is not a key. */
char *sh_host_key_accept_secret (const char *key);

/* Parses ssh-keyscan's stdout ("HOST TYPE BASE64" lines, '#' comments).
 * Returns a GPtrArray of ShHostKey (possibly empty); malformed lines are
 * skipped, duplicates dropped, at most 16 keys kept. */
GPtrArray *sh_host_key_parse_keyscan (const char *text);

G_END_DECLS
