/* SPDX-License-Identifier: GPL-2.0-or-later */
/* shuttle — a transparent-proxy VPN over ssh. The whole program is in
 * libshuttle; this file only picks the mode. */
#include "config.h"

#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>

#include "askpass.h"
#include "attach.h"
#include "client.h"
#include "fwclient.h"
#include "log.h"
#include "options.h"
#include "server.h"

int
main (int argc, char **argv)
{
  ShOptions opts = { 0 };
  g_autoptr (GError) error = NULL;

  setlocale (LC_ALL, "");
  /* Our errors and the reasons the status interface publishes. */
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  /* A peer closing its socket must be an error on write, not our death. */
  signal (SIGPIPE, SIG_IGN);

  /* Invoked as shuttle-server (what `shuttle -r` runs remotely). */
  g_autofree char *base = g_path_get_basename (argv[0]);
  /* ssh runs us as its askpass program (askpass.h). */
  if (g_str_equal (base, "shuttle-askpass"))
    return sh_askpass_main (argc, argv);
  /* A root engine's watchdog, which removes its rules if it is killed. */
  if (g_str_equal (base, "shuttle-cleanup") && argc == 2)
    return sh_fw_watchdog_main (argv[1]);
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  for (int i = 0; i < argc; i++)
    {
      g_ptr_array_add (args, argv[i]);
      if (i == 0 && g_str_equal (base, "shuttle-server"))
        g_ptr_array_add (args, "--server");
    }
  g_ptr_array_add (args, NULL);

  if (!sh_options_parse (&opts, args->len - 1, (char **) args->pdata, &error))
    {
      fprintf (stderr, "shuttle: %s\n", error->message);
      return 2;
    }

  int status;
  if (opts.attach != NULL)
    status = sh_attach_main (&opts); /* no engine of our own */
  else if (opts.mode == SH_MODE_SERVER)
    {
      sh_log_init ("shuttle-server", opts.verbose, opts.syslog);
      status = sh_server_run (&opts);
    }
  else
    {
      g_autoptr (ShAskpass) askpass = NULL;

      sh_log_init ("shuttle", opts.verbose, opts.syslog);
      if (opts.secret_fd >= 0 && (askpass = sh_askpass_new (opts.secret_fd, &error)) == NULL)
        {
          sh_error ("%s", error->message);
          sh_options_clear (&opts);
          return 1;
        }
      status = sh_client_run (&opts);
    }
  sh_options_clear (&opts);
  return status;
}
