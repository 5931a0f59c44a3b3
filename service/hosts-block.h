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

/* The lines of block @id in @content (a new array of strings), or NULL when
 * there is no such block. */
GPtrArray *sh_hosts_block_get (const char *content, const char *id);

/* @content without any of our complete blocks. Newly allocated. */
char *sh_hosts_block_remove_all (const char *content);

/* The host names that @content gives outside our blocks, lower-cased: a new
 * set. Comments are skipped; every word after a line's address is a name. */
GHashTable *sh_hosts_names_outside_blocks (const char *content);

/* The size an edit may grow the file to; above it only edits that shrink
 * (or keep) the size are done, so removals always work. */
#define SH_HOSTS_FILE_MAX (4 << 20)
/* What is read at all: bounds the memory root spends on a file. */
#define SH_HOSTS_FILE_READ_MAX (64 << 20)

/* An edit: the new text for @content, newly allocated, or NULL with @error
 * set to refuse (the file then stays as it is). */
typedef char *(*ShHostsEdit) (const char *content, gpointer data, GError **error);

/* Reads @path (a symbolic link is followed), applies @edit and writes the
 * result under an exclusive flock, when it differs. The new text replaces
 * the file atomically (a temporary file in the same directory, fsync,
 * rename; owner, mode and SELinux label kept) unless @path is a mount point:
 * /etc/hosts is often a file bind-mounted over (containers, `ip netns exec`),
 * where a rename over it fails with EBUSY, so there the file is rewritten in
 * place (from offset 0, then truncated). Refused: what is not a regular
 * file, files over SH_HOSTS_FILE_READ_MAX, text with a NUL byte, and a
 * result over SH_HOSTS_FILE_MAX that is larger than the file was. */
gboolean sh_hosts_file_edit (const char *path, ShHostsEdit edit, gpointer data, GError **error);

G_END_DECLS
