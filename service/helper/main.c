/* SPDX-License-Identifier: GPL-2.0-or-later */
/* shuttle-firewall — the polkit-authorized root helper that installs
 * Shuttle's nftables tables and /etc/hosts blocks for unprivileged engines.
 * Started by D-Bus activation; see docs/architecture.md. */
#include "config.h"

#include <gio/gio.h>
#include <glib-unix.h>
#include <locale.h>
#include <stdlib.h>
#include <unistd.h>

#include "fw-daemon.h"
#include "fw-polkit.h"

typedef struct
{
  GMainLoop *loop;
  int status;
} Main;

static gboolean
on_quit (gpointer data)
{
  Main *m = data;

  g_main_loop_quit (m->loop);
  return G_SOURCE_CONTINUE;
}

static void
on_name_lost (GDBusConnection *bus, const char *name, gpointer data)
{
  Main *m = data;

  g_message ("cannot own (or lost) the name %s", name);
  m->status = 1;
  g_main_loop_quit (m->loop);
}

int
main (int argc, char **argv)
{
  /* --hosts-file, --idle-timeout and --polkit-timeout exist for the tests, which start the
   * helper through a service file of their own; on a real system the
   * service file (root's) decides them, never a caller. */
  g_autofree char *hosts_file = NULL;
  int idle_timeout = 30;
  int polkit_timeout = SH_FW_POLKIT_TIMEOUT;
  gboolean sweep_hosts = FALSE;
  GOptionEntry entries[] = {
    { "sweep-hosts", 0, 0, G_OPTION_ARG_NONE, &sweep_hosts,
      "Remove every Shuttle block from the hosts file and exit (at boot only)", NULL },
    { "hosts-file", 0, 0, G_OPTION_ARG_FILENAME, &hosts_file,
      "The hosts file to edit (default /etc/hosts)", "PATH" },
    { "idle-timeout", 0, 0, G_OPTION_ARG_INT, &idle_timeout,
      "Exit after SECONDS with no rules held (default 30, 0: never)", "SECONDS" },
    { "polkit-timeout", 0, 0, G_OPTION_ARG_INT, &polkit_timeout,
      "Wait at most SECONDS for an authorization (default 120)", "SECONDS" },
    { NULL },
  };
  g_autoptr (GOptionContext) context = g_option_context_new (NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) bus = NULL;
  g_autoptr (ShFwDaemon) daemon = NULL;
  Main m = { .status = 0 };
  guint owner_id;
  const char *starter;

  setlocale (LC_ALL, "");
  g_option_context_set_summary (context, "The polkit-authorized firewall helper of Shuttle.");
  g_option_context_add_main_entries (context, entries, NULL);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("shuttle-firewall: %s\n", error->message);
      return 2;
    }
  if (idle_timeout < 0)
    {
      g_printerr ("shuttle-firewall: --idle-timeout must not be negative\n");
      return 2;
    }
  if (polkit_timeout < 1 || polkit_timeout > 3600)
    {
      g_printerr ("shuttle-firewall: --polkit-timeout must be 1 to 3600\n");
      return 2;
    }
  if (geteuid () != 0)
    {
      g_printerr ("shuttle-firewall: must run as root (it is started by D-Bus activation)\n");
      return 1;
    }

  if (sweep_hosts)
    {
      const char *path = hosts_file != NULL ? hosts_file : "/etc/hosts";
      guint removed = 0;

      if (!sh_fw_sweep_hosts_at_boot (path, &removed, &error))
        {
          g_printerr ("shuttle-firewall: %s\n", error->message);
          return 1;
        }
      g_message ("swept %u stale hosts block(s) from %s", removed, path);
      return 0;
    }

  /* Activated: answer on the bus that started us. */
  starter = g_getenv ("DBUS_STARTER_ADDRESS");
  bus = g_bus_get_sync (starter != NULL ? G_BUS_TYPE_STARTER : G_BUS_TYPE_SYSTEM, NULL, &error);
  if (bus == NULL)
    {
      g_printerr ("shuttle-firewall: cannot connect to the system bus: %s\n", error->message);
      return 1;
    }

  m.loop = g_main_loop_new (NULL, FALSE);
  ShFwDaemonConfig config = {
    .hosts_path = hosts_file != NULL ? hosts_file : "/etc/hosts",
    .idle_seconds = (guint) idle_timeout,
    .polkit_timeout = (guint) polkit_timeout,
    .on_idle = on_quit,
    .on_idle_data = &m,
  };
  daemon = sh_fw_daemon_new (bus, &config, &error);
  if (daemon == NULL)
    {
      g_printerr ("shuttle-firewall: %s\n", error->message);
      g_main_loop_unref (m.loop);
      return 1;
    }
  owner_id = g_bus_own_name_on_connection (bus, SH_FW_BUS_NAME, G_BUS_NAME_OWNER_FLAGS_NONE, NULL,
                                           on_name_lost, &m, NULL);
  g_unix_signal_add (SIGTERM, on_quit, &m);
  g_unix_signal_add (SIGINT, on_quit, &m);

  g_message ("started (version %s), hosts file %s", PACKAGE_VERSION, config.hosts_path);
  g_main_loop_run (m.loop);

  /* Release the name first: a call that arrives now starts a new helper
   * instead of reaching one that is going away. */
  g_bus_unown_name (owner_id);
  g_dbus_connection_flush_sync (bus, NULL, NULL);
  g_main_loop_unref (m.loop);
  return m.status;
}
