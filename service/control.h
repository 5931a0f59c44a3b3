/* SPDX-License-Identifier: GPL-2.0-or-later */
/* control.h — the engine's control connection (--control-fd): a
 * peer-to-peer D-Bus connection to the process that started us
 * (nm-shuttle-service). On it the engine exports io.github.shuttlevpn.Engine1
 * (data/io.github.shuttlevpn.Engine1.xml: state, failure, Disconnect) and
 * calls io.github.shuttlevpn.Firewall1 on the peer, which stands in for
 * shuttle-firewall (fwclient.h). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  SH_CONTROL_CONNECTING,
  SH_CONTROL_CONNECTED,
  SH_CONTROL_RECONNECTING,
  SH_CONTROL_FAILED,
} ShControlState;

typedef struct _ShControl ShControl;

/* Takes ownership of @fd (a connected stream socket), authenticates as the
 * client side and exports the Engine1 object. @on_stop runs (once) when the
 * peer calls Disconnect or the connection closes: the engine must end. */
ShControl *sh_control_new (int fd, GSourceFunc on_stop, gpointer data, GError **error);

/* The connection, for fwclient's peer backend (borrowed). */
GDBusConnection *sh_control_get_connection (ShControl *control);

/* Publishes a state; @failure (may be NULL) matters with SH_CONTROL_FAILED. */
void sh_control_set_state (ShControl *control, ShControlState state, const char *failure);

/* Sends what is queued (the last state) before the process exits. */
void sh_control_free (ShControl *control);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShControl, sh_control_free)

G_END_DECLS
