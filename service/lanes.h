/* SPDX-License-Identifier: GPL-2.0-or-later */
/* lanes.h — setting up lanes (docs/protocol.md, "Lanes"; bond.h carries
 * them): the server's loopback listener, and the client's side that opens
 * each lane through the ssh master and waits for the server's answer. */
#pragma once

#include <glib.h>

#include "epoll-source.h"
#include "session.h"
#include "sshlink.h"

G_BEGIN_DECLS

/* OpenSSH's window of every channel, fixed (CHAN_TCP_WINDOW_DEFAULT and
 * CHAN_SES_WINDOW_DEFAULT): what one lane carries per round trip. */
#define SH_LANES_SSH_WINDOW (2 * 1024 * 1024)

/* The server gives up on lanes this long after its offer: the listener
 * closes, and a client that has not sent BOND by then stays on one lane. */
#define SH_LANES_LISTEN_S 15
/* The client waits this long for its lanes to be answered. */
#define SH_LANES_OPEN_S 5

typedef struct _ShLaneServer ShLaneServer;

/* Server: listens on a loopback port and offers @count lanes to @session
 * (LANES). NULL when nothing was offered (an older client, no loopback
 * address). Accepted connections that bring the token are attached to the
 * session; others are closed. */
ShLaneServer *sh_lane_server_new (ShPoll *poll, ShSession *session, guint count);
/* Stops listening; attached lanes are the session's. NULL is fine. */
void sh_lane_server_free (ShLaneServer *ls);

typedef struct _ShLaneOpener ShLaneOpener;

/* @fds[i], for each bit i of @mask but bit 0 (always set), is lane i's
 * socket, answered by the server, now the callee's. */
typedef void (*ShLanesDoneFunc) (const int *fds, guint32 mask, gpointer data);

/* Client: opens @count lanes to the server's loopback @family address and
 * @port, through @link (the ssh master) or, with @link NULL, directly (the
 * server runs on this machine: test mode). @done is called once, never from
 * inside this call, when every lane was answered, failed, or
 * SH_LANES_OPEN_S passed. */
ShLaneOpener *sh_lane_opener_new (ShPoll *poll, ShSshLink *link, int family, guint16 port,
                                  const guint8 *token, guint count, ShLanesDoneFunc done,
                                  gpointer data);
void sh_lane_opener_free (ShLaneOpener *o);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShLaneServer, sh_lane_server_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShLaneOpener, sh_lane_opener_free)

G_END_DECLS
