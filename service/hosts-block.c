/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hosts-block.c — marked blocks of lines in a hosts file. */
#include "config.h"

#include "hosts-block.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#define MARK "# shuttle-firewall "
#define NEWLINE_FLAG " +nl"
#define HOSTS_FILE_MAX (4 << 20)

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
  const char *found = NULL;
  const char *note = NULL;
  size_t note_len = 0;

  while (*line != '\0')
    {
      const char *nl = strchr (line, '\n');
      size_t len = nl != NULL ? (size_t) (nl - line) : strlen (line);
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

gboolean
sh_hosts_file_edit (const char *path, ShHostsEdit edit, gpointer data, GError **error)
{
  int fd = open (path, O_RDWR | O_CLOEXEC | O_NOCTTY);
  struct stat st;
  g_autofree char *content = NULL;
  g_autofree char *updated = NULL;
  size_t have = 0, len;
  gboolean ok = FALSE;

  if (fd < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot open %s: %s", path,
                   g_strerror (e));
      return FALSE;
    }
  /* Other writers that lock (our own concurrent calls, tools that flock)
   * wait; the lock goes with the descriptor. */
  if (flock (fd, LOCK_EX) < 0 || fstat (fd, &st) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot lock %s: %s", path,
                   g_strerror (e));
      goto out;
    }
  if (!S_ISREG (st.st_mode) || st.st_size > HOSTS_FILE_MAX)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED,
                   "%s is not a regular file of at most 4 MiB", path);
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

  updated = edit (content, data);
  len = strlen (updated);
  if (len == have && memcmp (updated, content, len) == 0)
    {
      ok = TRUE;
      goto out;
    }
  for (size_t done = 0; done < len;)
    {
      ssize_t n = pwrite (fd, updated + done, len - done, (off_t) done);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int e = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot write %s: %s", path,
                       g_strerror (e));
          goto out;
        }
      done += (size_t) n;
    }
  if (ftruncate (fd, (off_t) len) < 0 || fsync (fd) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "cannot write %s: %s", path,
                   g_strerror (e));
      goto out;
    }
  ok = TRUE;

out:
  close (fd);
  return ok;
}
