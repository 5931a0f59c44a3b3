/* SPDX-License-Identifier: GPL-2.0-or-later */
/* replay.c — a main() for the fuzz harnesses without libFuzzer.
 *
 * Runs LLVMFuzzerTestOneInput() once per input: each file argument, and each
 * regular file directly inside each directory argument. That turns the
 * checked-in corpus (and any crash file found later) into a plain unit test
 * that runs with any compiler. A failing input abort()s inside the harness;
 * an unreadable path is reported on stderr, and a run that replayed nothing
 * fails. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <glib.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
/* Optional in a harness; weak, so it is NULL when the harness has none. */
int LLVMFuzzerInitialize (int *argc, char ***argv) __attribute__ ((weak));

static gboolean
run_file (const char *path, guint *count)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *data = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &data, &len, &error))
    {
      fprintf (stderr, "replay: %s\n", error->message);
      return FALSE;
    }
  LLVMFuzzerTestOneInput ((const uint8_t *) data, len);
  (*count)++;
  return TRUE;
}

static int
compare_names (const void *a, const void *b)
{
  return strcmp (*(char *const *) a, *(char *const *) b);
}

/* Sorted, so a crash reproduces in the same order every run. */
static gboolean
run_dir (const char *dir, guint *count)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GDir) d = g_dir_open (dir, 0, &error);
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  const char *name;
  guint i;

  if (d == NULL)
    {
      fprintf (stderr, "replay: %s\n", error->message);
      return FALSE;
    }
  while ((name = g_dir_read_name (d)) != NULL)
    {
      char *path = g_build_filename (dir, name, NULL);

      if (g_file_test (path, G_FILE_TEST_IS_REGULAR))
        g_ptr_array_add (paths, path);
      else
        g_free (path);
    }
  qsort (paths->pdata, paths->len, sizeof (gpointer), compare_names);
  for (i = 0; i < paths->len; i++)
    if (!run_file (g_ptr_array_index (paths, i), count))
      return FALSE;
  return TRUE;
}

int
main (int argc, char **argv)
{
  guint count = 0;
  gboolean ok = TRUE;
  int i;

  if (LLVMFuzzerInitialize != NULL)
    LLVMFuzzerInitialize (&argc, &argv);

  for (i = 1; i < argc; i++)
    {
      if (g_file_test (argv[i], G_FILE_TEST_IS_DIR))
        ok = run_dir (argv[i], &count) && ok;
      else
        ok = run_file (argv[i], &count) && ok;
    }
  printf ("replayed %u inputs%s\n", count, ok ? "" : " (some paths could not be read)");
  /* A replay of nothing proves nothing: a missing corpus is a failure. */
  return count > 0 ? 0 : 1;
}
