/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hosts-block.c — marked blocks of lines in a hosts file. */
#include "config.h"

#include "hosts-block.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define MARK "# shuttle-firewall "
#define NEWLINE_FLAG " +nl"

typedef struct
{
  size_t start; /* offset of the begin line (of the added newline with +nl) */
  size_t end;   /* offset just past the end line's newline (or the text) */
  gboolean added_nl;
  char *note;
} Block;

static void
block_clear (Block *b)
{
  g_clear_pointer (&b->note, g_free);
}

/* Finds block @id in @content. */
static gboolean
find_block (const char *content, const char *id, Block *out)
{
  g_autofree char *begin = g_strdup_printf (MARK "%s begin", id);
  g_autofree char *end = g_strdup_printf (MARK "%s end", id);
  size_t begin_len = strlen (begin);
  const char *line = content;
  /* memchr() up to a known end, not strchr(): a scan per line must not
   * look at the whole rest of a file of megabytes (sanitizers' strict
   * string checks do exactly that, making it quadratic). */
  const char *stop = content + strlen (content);
  const char *found = NULL;
  const char *note = NULL;
  size_t note_len = 0;

  while (line < stop)
    {
      const char *nl = memchr (line, '\n', (size_t) (stop - line));
      size_t len = nl != NULL ? (size_t) (nl - line) : (size_t) (stop - line);
      const char *next = nl != NULL ? nl + 1 : line + len;

      /* The begin line nearest before the end line counts: an earlier one
       * without its own end (a hand edit, a half-removed block) is text that
       * is not ours, and must not take what follows it into our block. */
      if (len >= begin_len && memcmp (line, begin, begin_len) == 0
          && (len == begin_len || line[begin_len] == ' '))
        {
          found = line;
          note = len > begin_len ? line + begin_len + 1 : line + len;
          note_len = len > begin_len ? len - begin_len - 1 : 0;
        }
      else if (found != NULL && len == strlen (end) && memcmp (line, end, len) == 0)
        {
          out->start = (size_t) (found - content);
          out->end = (size_t) (next - content);
          if (note_len >= strlen (NEWLINE_FLAG)
              && memcmp (note + note_len - strlen (NEWLINE_FLAG), NEWLINE_FLAG,
                         strlen (NEWLINE_FLAG))
                     == 0)
            {
              note_len -= strlen (NEWLINE_FLAG);
              if (out->start > 0 && content[out->start - 1] == '\n')
                {
                  out->start--;
                  out->added_nl = TRUE;
                }
            }
          out->note = g_strndup (note, note_len);
          return TRUE;
        }
      line = next;
    }
  return FALSE;
}

static void
append_block (GString *out, const char *id, const char *note, gboolean added_nl,
              const GPtrArray *lines)
{
  if (added_nl)
    g_string_append_c (out, '\n');
  g_string_append_printf (out, MARK "%s begin%s%s%s\n", id, note[0] != '\0' ? " " : "", note,
                          added_nl ? NEWLINE_FLAG : "");
  for (guint i = 0; i < lines->len; i++)
    g_string_append_printf (out, "%s\n", (const char *) g_ptr_array_index (lines, i));
  g_string_append_printf (out, MARK "%s end\n", id);
}

char *
sh_hosts_block_set (const char *content, const char *id, const char *note, const GPtrArray *lines)
{
  Block b = { 0 };
  GString *out = g_string_new (NULL);

  if (find_block (content, id, &b))
    {
      /* In place: keep the position, and the newline the block brought
       * (then b.start is that newline). */
      gboolean added_nl = b.added_nl;

      g_string_append_len (out, content, (gssize) b.start);
      append_block (out, id, note, added_nl, lines);
      g_string_append (out, content + b.end);
      block_clear (&b);
    }
  else
    {
      size_t len = strlen (content);
      gboolean added_nl = len > 0 && content[len - 1] != '\n';

      g_string_append (out, content);
      append_block (out, id, note, added_nl, lines);
    }
  return g_string_free (out, FALSE);
}

/* TRUE when @line (up to a newline) is one of our begin lines. */
static gboolean
is_begin_line (const char *line)
{
  const char *nl = strchr (line, '\n');
  g_autofree char *text = nl != NULL ? g_strndup (line, (gsize) (nl - line)) : g_strdup (line);
  const char *sp;

  if (!g_str_has_prefix (text, MARK))
    return FALSE;
  sp = strchr (text + strlen (MARK), ' ');
  return sp != NULL && (g_str_has_prefix (sp, " begin ") || strcmp (sp, " begin") == 0);
}

char *
sh_hosts_block_remove (const char *content, const char *id)
{
  Block b = { 0 };
  GString *out;
  const char *rest;

  if (!find_block (content, id, &b))
    return g_strdup (content);
  out = g_string_new_len (content, (gssize) b.start);
  rest = content + b.end;
  if (b.added_nl && *rest != '\0')
    {
      /* Something follows that relied on the newline this block brought:
       * it stays, and when the next block is ours it takes over the flag,
       * so the file still comes back byte for byte when that one goes. */
      g_string_append_c (out, '\n');
      const char *nl = strchr (rest, '\n');

      if (nl != NULL && is_begin_line (rest))
        {
          g_string_append_len (out, rest, (gssize) (nl - rest));
          if (!g_str_has_suffix (out->str, NEWLINE_FLAG))
            g_string_append (out, NEWLINE_FLAG);
          rest = nl;
        }
    }
  g_string_append (out, rest);
  block_clear (&b);
  return g_string_free (out, FALSE);
}

GHashTable *
sh_hosts_block_list (const char *content)
{
  GHashTable *blocks = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_auto (GStrv) lines = g_strsplit (content, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      const char *rest, *sp;
      g_autofree char *id = NULL;
      Block b = { 0 };

      if (!g_str_has_prefix (lines[i], MARK))
        continue;
      rest = lines[i] + strlen (MARK);
      sp = strchr (rest, ' ');
      if (sp == NULL || !(g_str_has_prefix (sp, " begin ") || strcmp (sp, " begin") == 0))
        continue;
      id = g_strndup (rest, (gsize) (sp - rest));
      /* Only complete blocks count: a begin line without its end is left
       * alone, as it may be somebody's hand edit. */
      if (find_block (content, id, &b))
        g_hash_table_insert (blocks, g_steal_pointer (&id), g_steal_pointer (&b.note));
    }
  return blocks;
}

GPtrArray *
sh_hosts_block_get (const char *content, const char *id)
{
  Block b = { 0 };
  GPtrArray *lines;
  const char *p, *stop;

  if (!find_block (content, id, &b))
    return NULL;
  lines = g_ptr_array_new_with_free_func (g_free);
  /* Past the begin line; the end line is the last line of the block. */
  p = strchr (content + b.start + (b.added_nl ? 1 : 0), '\n') + 1;
  stop = content + b.end;
  while (p < stop)
    {
      const char *nl = memchr (p, '\n', (size_t) (stop - p));
      const char *next = nl != NULL ? nl + 1 : stop;

      if (next < stop) /* not the end line */
        g_ptr_array_add (lines, g_strndup (p, (gsize) (nl - p)));
      p = next;
    }
  block_clear (&b);
  return lines;
}

char *
sh_hosts_block_remove_all (const char *content)
{
  g_autoptr (GHashTable) blocks = sh_hosts_block_list (content);
  char *text = g_strdup (content);
  GHashTableIter it;
  const char *id;

  g_hash_table_iter_init (&it, blocks);
  while (g_hash_table_iter_next (&it, (gpointer *) &id, NULL))
    {
      char *next = sh_hosts_block_remove (text, id);

      g_free (text);
      text = next;
    }
  return text;
}

GHashTable *
sh_hosts_names_outside_blocks (const char *content)
{
  GHashTable *names = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autofree char *rest = sh_hosts_block_remove_all (content);
  g_auto (GStrv) lines = g_strsplit (rest, "\n", -1);

  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *hash = strchr (lines[i], '#');
      g_auto (GStrv) words = NULL;
      gboolean address = TRUE;

      if (hash != NULL)
        *hash = '\0';
      words = g_strsplit_set (lines[i], " \t\r", -1);
      for (guint j = 0; words[j] != NULL; j++)
        {
          if (words[j][0] == '\0')
            continue;
          if (!address)
            g_hash_table_add (names, g_ascii_strdown (words[j], -1));
          address = FALSE;
        }
    }
  return names;
}

static gboolean
set_errno_error (GError **error, int e, const char *what, const char *path)
{
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot %s %s: %s", what, path,
               g_strerror (e));
  return FALSE;
}

static gboolean
write_all (int fd, const char *text, size_t len, const char *path, GError **error)
{
  for (size_t done = 0; done < len;)
    {
      ssize_t n = pwrite (fd, text + done, len - done, (off_t) done);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return set_errno_error (error, errno, "write", path);
      done += (size_t) n;
    }
  return TRUE;
}

/* Whether @path is the root of a mount: a file bind-mounted over another. */
static gboolean
is_mount_point (const char *path)
{
  struct statx stx;
  struct stat file, dir;
  g_autofree char *parent = g_path_get_dirname (path);

  if (statx (AT_FDCWD, path, 0, STATX_BASIC_STATS, &stx) == 0
      && (stx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) != 0)
    return (stx.stx_attributes & STATX_ATTR_MOUNT_ROOT) != 0;
  /* Before Linux 5.8: a mount from another file system at least shows. */
  return stat (path, &file) == 0 && stat (parent, &dir) == 0 && file.st_dev != dir.st_dev;
}

/* Rewrites the file behind @fd in place. Only for a mount point: a reader
 * may then see a half-written file, which is why it is not the default. */
static gboolean
write_in_place (int fd, const char *path, const char *text, size_t len, GError **error)
{
  if (!write_all (fd, text, len, path, error))
    return FALSE;
  if (ftruncate (fd, (off_t) len) < 0 || fsync (fd) < 0)
    return set_errno_error (error, errno, "write", path);
  return TRUE;
}

/* Replaces @path by a new file with @text, with the owner, mode and SELinux
 * label of @st / @fd: readers see the old file or the new one, never a
 * part, and a crash leaves one or the other. Sets *@busy (and fails) when
 * @path turns out to be a mount point after all. */
static gboolean
write_atomically (int fd, const struct stat *st, const char *path, const char *text, size_t len,
                  gboolean *busy, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *tmp = g_strdup_printf ("%s/.%s.shuttle-XXXXXX", dir, base);
  int tfd = g_mkstemp_full (tmp, O_RDWR | O_CLOEXEC, 0600);
  char label[256];
  ssize_t label_len;
  int dfd;

  if (tfd < 0)
    return set_errno_error (error, errno, "create a file next to", path);
  label_len = fgetxattr (fd, "security.selinux", label, sizeof label);
  if (!write_all (tfd, text, len, tmp, error))
    goto fail;
  if (fchown (tfd, st->st_uid, st->st_gid) < 0 || fchmod (tfd, st->st_mode & 07777) < 0)
    {
      set_errno_error (error, errno, "set the owner and mode of", tmp);
      goto fail;
    }
  /* Best effort: where SELinux is off the label cannot be set. */
  if (label_len > 0)
    (void) fsetxattr (tfd, "security.selinux", label, (size_t) label_len, 0);
  if (fsync (tfd) < 0)
    {
      set_errno_error (error, errno, "write", tmp);
      goto fail;
    }
  close (tfd);
  tfd = -1;
  if (rename (tmp, path) < 0)
    {
      int e = errno;

      *busy = e == EBUSY;
      set_errno_error (error, e, "replace", path);
      goto fail;
    }
  /* The rename itself is durable once the directory is. */
  dfd = open (dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0)
    {
      (void) fsync (dfd);
      close (dfd);
    }
  return TRUE;

fail:
  if (tfd >= 0)
    close (tfd);
  unlink (tmp);
  return FALSE;
}

/* Opens and locks @path, and makes sure the lock is on the file that @path
 * names now: a writer that renamed a new file over it while we waited for
 * the lock leaves us holding the old one. */
static int
open_locked (const char *path, struct stat *st, GError **error)
{
  for (int attempt = 0; attempt < 16; attempt++)
    {
      int fd = open (path, O_RDWR | O_CLOEXEC | O_NOCTTY);
      struct stat now;

      if (fd < 0)
        {
          set_errno_error (error, errno, "open", path);
          return -1;
        }
      /* Other writers that lock (our own concurrent calls, tools that
       * flock) wait; the lock goes with the descriptor. */
      if (flock (fd, LOCK_EX) < 0 || fstat (fd, st) < 0)
        {
          set_errno_error (error, errno, "lock", path);
          close (fd);
          return -1;
        }
      if (stat (path, &now) == 0 && now.st_dev == st->st_dev && now.st_ino == st->st_ino)
        return fd;
      close (fd);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_BUSY, "%s keeps being replaced", path);
  return -1;
}

gboolean
sh_hosts_file_edit (const char *path, ShHostsEdit edit, gpointer data, GError **error)
{
  g_autofree char *real = realpath (path, NULL);
  struct stat st;
  g_autofree char *content = NULL;
  g_autofree char *updated = NULL;
  size_t have = 0, len;
  gboolean ok = FALSE, busy = FALSE;
  int fd;

  if (real == NULL)
    return set_errno_error (error, errno, "open", path);
  fd = open_locked (real, &st, error);
  if (fd < 0)
    return FALSE;
  if (!S_ISREG (st.st_mode) || st.st_size > SH_HOSTS_FILE_READ_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "%s is not a regular file of at most %d MiB", path,
                   SH_HOSTS_FILE_READ_MAX >> 20);
      goto out;
    }
  content = g_malloc ((gsize) st.st_size + 1);
  while (have < (size_t) st.st_size)
    {
      ssize_t n = pread (fd, content + have, (size_t) st.st_size - have, (off_t) have);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      have += (size_t) n;
    }
  content[have] = '\0';
  if (memchr (content, '\0', have) != NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s contains a NUL byte", path);
      goto out;
    }

  updated = edit (content, data, error);
  if (updated == NULL)
    goto out;
  len = strlen (updated);
  if (len == have && memcmp (updated, content, len) == 0)
    {
      ok = TRUE;
      goto out;
    }
  /* The size of the result counts, not of the file before: a file that
   * grew too big (by hand, by other users' blocks) can always shrink. */
  if (len > SH_HOSTS_FILE_MAX && len > have)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NO_SPACE,
                   "%s would grow to %" G_GSIZE_FORMAT " bytes (more than %d MiB)", path, len,
                   SH_HOSTS_FILE_MAX >> 20);
      goto out;
    }
  if (is_mount_point (real))
    ok = write_in_place (fd, path, updated, len, error);
  else
    {
      ok = write_atomically (fd, &st, real, updated, len, &busy, error);
      if (!ok && busy)
        {
          /* A mount point that statx could not tell (an old kernel, the
           * same file system bind-mounted): in place after all. */
          g_clear_error (error);
          ok = write_in_place (fd, path, updated, len, error);
        }
    }

out:
  close (fd);
  return ok;
}
