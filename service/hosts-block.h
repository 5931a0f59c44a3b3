/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hosts-block.h — marked blocks of lines in a hosts file.
 *
 * A block is
 *   # shuttle-firewall <id> begin <note>
 *   <lines>
 *   # shuttle-firewall <id> end
 * with <id> of [a-z0-9_-] and <note> of [A-Za-z0-9 :._=+-] (the helper keeps
 * the owner there). Blocks are appended at the end and removed byte for
 * byte: when the file did not end with a newline, the block brings its own
 * and its begin line says so (" +nl"), so removing the last block restores
 * the original file exactly. Text that is not ours is never changed.
 *
 * The editing functions are pure (text in, new text out). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* @content with the block @id set to @lines (replaced where it is, else
 * appended). @lines must not be empty. Newly allocated. */
char *sh_hosts_block_set (const char *content, const char *id, const char *note,
                          const GPtrArray *lines);

/* @content without block @id (unchanged when there is none). Newly allocated. */
char *sh_hosts_block_remove (const char *content, const char *id);

/* The blocks of @content: a new table of id -> note (without " +nl"). */
GHashTable *sh_hosts_block_list (const char *content);

typedef char *(*ShHostsEdit) (const char *content, gpointer data);

/* Reads @path, applies @edit, and writes the result back IN PLACE (write
 * from offset 0, then truncate) under an exclusive flock: /etc/hosts is often
 * a bind mount (containers, `ip netns exec`) where a rename over it fails.
 * Files over 4 MiB or that are not regular files are refused. */
gboolean sh_hosts_file_edit (const char *path, ShHostsEdit edit, gpointer data, GError **error);

G_END_DECLS
