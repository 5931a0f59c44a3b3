/* SPDX-License-Identifier: GPL-2.0-or-later */
/* import-export.h — sshuttle argument files <-> vpn.data (pure: strings in,
 * strings out, no I/O, no libnm).
 *
 * The file format is the one `shuttle @FILE` reads: one argument per line, an
 * option and its value may share a line ("-r alice@gw:2222"). Keys the CLI
 * has no option for travel as comment lines the CLI ignores:
 * "#nm-shuttle KEY=VALUE". nm-shuttle(8) documents the format for users.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* Parses argument-file @text into vpn.data items: a new GHashTable, key and
 * value owned by it. Only the file's syntax is checked here (known options,
 * values present, "-e" being "ssh -i KEY"); the values themselves are checked
 * by @check_item, called for each item as it is read, so that its error can
 * name the line (a list key is checked one element at a time). @check_item
 * may be NULL.
 * On error returns NULL and sets @error (G_IO_ERROR_INVALID_DATA) to one line
 * "SOURCE:LINE: what is wrong" (or "line LINE: ..." when @source is NULL). */
typedef gboolean (*ShNmCheckItem) (const char *key, const char *value, GError **error);
GHashTable *sh_nm_import_parse (const char *text, const char *source, ShNmCheckItem check_item,
                                GError **error);

/* Formats vpn.data @data (key -> value, assumed valid) as an argument file
 * that sh_nm_import_parse() maps back to the same items and `shuttle @FILE`
 * runs. @name (may be NULL) goes into the header comment. Returns a newly
 * allocated string. */
char *sh_nm_export_format (GHashTable *data, const char *name);

G_END_DECLS
