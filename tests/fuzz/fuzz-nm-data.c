/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-nm-data.c — the vpn.data whitelist (nm-plugin/shared/) on arbitrary
 * profiles, and the export of what it accepts.
 *
 * Input: lines "key=value" (the first '=' splits; a later line with the same
 * key wins), as a profile's vpn.data reaches the plugin from anyone who may
 * edit connections. Besides not crashing: a refusal is one line; a profile
 * the whitelist accepts makes a ShNmProfile and an engine argv of plain
 * strings, and its export (import-export.c) imports back to a profile with
 * the same engine argv, so an accepted profile is never lost on its way
 * through an argument file. */
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
  g_autoptr (GError) error = NULL;
  g_autoptr (ShNmProfile) p = sh_nm_profile_new (data, &error);
  ShNmEngineContext ctx = {
    .known_hosts_file = "/run/fuzz/known_hosts",
    .have_secret = TRUE,
    .dns_stub = "10.255.255.53",
    .persistent = TRUE,
  };

  if (p == NULL)
    return NULL;
  char **args = sh_nm_profile_engine_args (p, &ctx);
  if (args == NULL || args[0] == NULL)
    abort ();
  return args;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GHashTable) table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GError) error = NULL;

  if (size > 64 * 1024)
    return 0;
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (char **l = lines; *l != NULL; l++)
    {
      char *eq = strchr (*l, '=');
      if (eq == NULL)
        continue;
      g_hash_table_replace (table, g_strndup (*l, (gsize) (eq - *l)), g_strdup (eq + 1));
    }

  if (!sh_nm_data_check_all (table, &error))
    {
      if (error == NULL || error->domain != SH_NM_DATA_ERROR || strchr (error->message, '\n'))
        abort ();
      return 0;
    }
  if (error != NULL)
    abort ();

  g_auto (GStrv) args = engine_args (table);
  if (args == NULL)
    abort (); /* check_all accepted what profile_new refused */

  g_autofree char *file = sh_nm_export_format (table, "fuzz\nname");
  g_autoptr (GHashTable) back = sh_nm_import_parse (file, "export", sh_nm_data_check_item, &error);
  if (back == NULL)
    {
      fprintf (stderr, "export of an accepted profile does not import: %s\n---\n%s---\n",
               error->message, file);
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
