/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-daemon.h — the io.github.shuttlevpn.Firewall1 object of shuttle-firewall.
 *
 * Holds who owns what: every table and hosts block belongs to the unique bus
 * name that created it and goes away when that name leaves the bus. Requests
 * are handled as validate -> polkit -> act; ApplyTunnel checks just before
 * acting that its port is a loopback listener of the requesting uid
 * (fw-sockowner.h). */
#pragma once

#include <gio/gio.h>

#include "shuttle-dbus.h"

G_BEGIN_DECLS

typedef struct _ShFwDaemon ShFwDaemon;

typedef struct
{
  const char *hosts_path; /* the hosts file to edit: /etc/hosts */
  guint idle_seconds;     /* exit after this long with nothing held; 0: never */
  guint polkit_timeout;   /* seconds to wait for polkit; 0: SH_FW_POLKIT_TIMEOUT */
  GSourceFunc on_idle;    /* called once when it is time to exit */
  gpointer on_idle_data;
} ShFwDaemonConfig;

/* Sweeps what owners that are gone left behind (adopting what live owners
 * still hold), then exports the object on @bus. Does not own the bus name:
 * the caller does, after this returns, so no call arrives before the sweep. */
ShFwDaemon *sh_fw_daemon_new (GDBusConnection *bus, const ShFwDaemonConfig *config, GError **error);

/* Unexports. Tables and blocks stay: their owners may still run, and the
 * next helper adopts them (or sweeps them when their owners are gone). */
void sh_fw_daemon_free (ShFwDaemon *daemon);

/* Removes every block of ours from @hosts_path, *@removed counting them.
 * Only for boot (the systemd unit shuttle-hosts-sweep.service), before any
 * engine or helper runs: blocks left by a crash or a power cut belong to
 * nobody then, and without the bus no owner could be asked about. */
gboolean sh_fw_sweep_hosts_at_boot (const char *hosts_path, guint *removed, GError **error);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShFwDaemon, sh_fw_daemon_free)

G_END_DECLS
