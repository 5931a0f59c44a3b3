/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-nm-import.c — the import of sshuttle argument files
 * (nm-plugin/properties/import-export.c, sh_nm_import_parse(), pure) on
 * arbitrary text, judged by the vpn.data whitelist as the plugin does.
 *
 * Besides not crashing: a refusal is one line naming the line; every item of
 * an accepted file passes the whitelist; and when the items make a complete
 * profile, exporting it and importing that again gives the same engine
 * argv (import ∘ export is the identity on what import produces). */
#include "config.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>

#include "import-export.h"
#include "nm-shuttle-data.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
print_args (const char *what, char **args)
{
  fprintf (stderr, "%s:", what);
  for (char **a = args; a != NULL && *a != NULL; a++)
    fprintf (stderr, " [%s]", *a);
  fprintf (stderr, "\n");
}

static char **
engine_args (GHashTable *data)
{
  g_autoptr (ShNmProfile) p = sh_nm_profile_new (data, NULL);
  ShNmEngineContext ctx = { .known_hosts_file = "/run/fuzz/known_hosts" };

  return p != NULL ? sh_nm_profile_engine_args (p, &ctx) : NULL;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  GHashTableIter it;
  gpointer k, v;

  if (size > 256 * 1024)
    return 0;
  /* The plugin reads the file as text; a NUL ends it there too. */
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (GHashTable) table = sh_nm_import_parse (text, "fuzz", sh_nm_data_check_item, &error);
  if (table == NULL)
    {
      if (error == NULL || !g_str_has_prefix (error->message, "fuzz:")
          || strchr (error->message, '\n') != NULL)
        abort ();
      return 0;
    }
  if (error != NULL)
    abort ();
  g_hash_table_iter_init (&it, table);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (!sh_nm_data_check_item (k, v, NULL))
      abort ();

  g_auto (GStrv) args = engine_args (table);
  if (args == NULL)
    return 0; /* items fine, profile incomplete (no host, say) */

  g_autofree char *file = sh_nm_export_format (table, NULL);
  g_autoptr (GHashTable) back = sh_nm_import_parse (file, "export", sh_nm_data_check_item, &error);
  if (back == NULL)
    {
      fprintf (stderr, "re-import failed: %s\n---\n%s---\n", error->message, file);
      abort ();
    }
  g_auto (GStrv) args2 = engine_args (back);
  if (args2 == NULL || !g_strv_equal ((const char *const *) args, (const char *const *) args2))
    {
      fprintf (stderr, "export changes the profile:\n---\n%s---\n", file);
      print_args ("before", args);
      print_args ("after", args2);
      abort ();
    }
  return 0;
}
