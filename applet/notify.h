/* SPDX-License-Identifier: GPL-2.0-or-later */
/* notify.h — the applet's desktop notifications (GNotification): a
 * connection came up, dropped, or failed (with the reason and a button to
 * reconnect or disconnect), an address was copied, there is no tray. */
#pragma once

#include "connections.h"

G_BEGIN_DECLS

/* After @row moved from @old to its state: a notification when that is
 * news to the user (connected, dropped, failed), none otherwise. Buttons
 * use the application's "connect" / "disconnect" actions. */
void sh_notify_transition (GApplication *app, const ShConn *row, ShConnState old);

void sh_notify_copied (GApplication *app, const char *name, const char *address);

/* Said once: no tray host, so the status window stands in for the icon. */
void sh_notify_no_tray (GApplication *app);

G_END_DECLS
