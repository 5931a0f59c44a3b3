/* SPDX-License-Identifier: GPL-2.0-or-later */
/* connections.h — the Shuttle VPN connections NetworkManager knows
 * (vpn.service-type org.freedesktop.NetworkManager.shuttle), each with the
 * state the applet shows, and the two things the applet does to them:
 * activate and deactivate. All through libnm, asynchronously. */
#pragma once

#include "engines.h"
#include "labels.h"

G_BEGIN_DECLS

/* One row; owned by ShConnections, valid until its next "changed". */
typedef struct
{
  char *uuid;
  char *id; /* the connection's name */
  ShConnState state;
  gint64 since;     /* CLOCK_REALTIME seconds it became connected, or 0 */
  char *failure;    /* why it failed or dropped, for SH_CONN_FAILED */
  gboolean dropped; /* SH_CONN_FAILED after it had been connected */
} ShConn;

#define SH_TYPE_CONNECTIONS (sh_connections_get_type ())
G_DECLARE_FINAL_TYPE (ShConnections, sh_connections, SH, CONNECTIONS, GObject)

/* Starts nm_client_new_async(). Signals:
 *   "changed" ()  the list or a state changed (the menu is rebuilt);
 *   "transition" (const ShConn *row, ShConnState old) a row's state changed,
 *     after the fact (notifications). */
ShConnections *sh_connections_new (ShEngines *engines);

/* The rows, sorted by name (the array is the model's). */
GPtrArray *sh_connections_rows (ShConnections *self);
const ShConn *sh_connections_find (ShConnections *self, const char *uuid);

/* FALSE until NetworkManager answered, and while it is not running. */
gboolean sh_connections_nm_running (ShConnections *self);

/* Asks NetworkManager to activate / deactivate the connection @uuid; the
 * result arrives as state changes (an error as SH_CONN_FAILED). */
void sh_connections_activate (ShConnections *self, const char *uuid);
void sh_connections_deactivate (ShConnections *self, const char *uuid);

G_END_DECLS
