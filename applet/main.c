/* SPDX-License-Identifier: GPL-2.0-or-later */
/* shuttle-applet: the tray icon for Shuttle VPN connections. */
#include "config.h"

#include "applet.h"

#include <glib/gi18n-lib.h>
#include <locale.h>
#include <unistd.h>

int
main (int argc, char **argv)
{
  g_autoptr (ShApplet) app = NULL;
  const char *localedir = g_getenv ("SHUTTLE_LOCALEDIR");

  setlocale (LC_ALL, "");
  /* SHUTTLE_LOCALEDIR: catalogues from a build tree (tests). */
  bindtextdomain (GETTEXT_PACKAGE, localedir != NULL ? localedir : LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);

  /* The applet belongs to a desktop user: as root it would hold root's
   * session bus and clipboard, and start connections as root. */
  if (getuid () == 0)
    {
      g_printerr (_ ("shuttle-applet must not run as root: start it as the desktop user "
                     "(it starts at login from /etc/xdg/autostart).\n"));
      return 1;
    }
  app = sh_applet_new ();
  return g_application_run (G_APPLICATION (app), argc, argv);
}
