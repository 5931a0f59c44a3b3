/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-watch.h — starts shuttle-firewall again when it leaves the system bus
 * while its caller holds something there (the engine's fwclient.c, the NM
 * plugin's fwproxy).
 *
 * The helper keeps a caller's rules in the kernel and its hosts block, but
 * only a running helper notices when the caller goes: were it killed and
 * the caller died before its next call, nothing would ever remove them. So
 * a helper that leaves while the caller holds something is started again
 * (StartServiceByName) and at start adopts what the caller holds because
 * the caller still runs. The delay, growing while the helper keeps leaving
 * (sh_backoff_helper_restart_ms()), keeps a crashing helper from being
 * restarted in a tight loop. A start that fails before the helper owns
 * its name is tried again the same way, until a helper is there. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _ShFwWatch ShFwWatch;

/* Whether the caller holds anything at the helper now. */
typedef gboolean (*ShFwWatchHolds) (gpointer data);

/* Watches SH_FW_BUS_NAME on @bus. @holds is asked when the helper leaves
 * and again when its restart is due; @restarting (may be NULL) is called
 * just before it is started again. */
ShFwWatch *sh_fw_watch_new (GDBusConnection *bus, ShFwWatchHolds holds, GFunc restarting,
                            gpointer data);

void sh_fw_watch_free (ShFwWatch *watch);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShFwWatch, sh_fw_watch_free)

G_END_DECLS
