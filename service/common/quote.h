/* SPDX-License-Identifier: GPL-2.0-or-later */
/* quote.h — user or peer text made safe for a one-line message. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* A newly allocated copy of @s for an error message or log line: printable
 * ASCII kept, every other byte written as \xNN, cut with "..." after
 * @max_chars input bytes. Never contains a newline or a control character. */
char *sh_quote (const char *s, gsize max_chars);

/* The same for @len bytes that need not be NUL-terminated (peer data);
 * a NUL byte is written as \x00. */
char *sh_quote_len (const char *s, gsize len, gsize max_chars);

G_END_DECLS
