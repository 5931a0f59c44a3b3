/* SPDX-License-Identifier: GPL-2.0-or-later */
/* runcmd.c — the argv of a program started in a tunnel (runcmd.h). */
#include "config.h"

#include "runcmd.h"

#include <glib/gi18n-lib.h>

const char *
sh_runcmd_shuttle (void)
{
  const char *e = g_getenv ("SHUTTLE_BIN");

  return e != NULL && e[0] == '/' ? e : SHUTTLE_BINDIR "/shuttle";
}

char **
sh_runcmd_argv (const char *shuttle, const char *engine, const char *cmdline, GError **error)
{
  g_auto (GStrv) words = NULL;
  g_autoptr (GStrvBuilder) b = NULL;
  g_autoptr (GError) local = NULL;

  if (!g_shell_parse_argv (cmdline, NULL, &words, &local))
    {
      if (g_error_matches (local, G_SHELL_ERROR, G_SHELL_ERROR_EMPTY_STRING))
        g_set_error_literal (error, G_SHELL_ERROR, G_SHELL_ERROR_EMPTY_STRING,
                             _ ("Type the command to run."));
      else
        /* TRANSLATORS: %s: GLib's reason, e.g. "Text ended before matching quote was found" */
        g_set_error (error, G_SHELL_ERROR, G_SHELL_ERROR_BAD_QUOTING,
                     _ ("The command cannot be read: %s"), local->message);
      return NULL;
    }
  b = g_strv_builder_new ();
  g_strv_builder_add_many (b, shuttle, "run", "--attach", engine, "--", NULL);
  g_strv_builder_addv (b, (const char **) words);
  return g_strv_builder_end (b);
}
