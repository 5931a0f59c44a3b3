/* SPDX-License-Identifier: GPL-2.0-or-later */
/* netwatch.h — is there a network to reach the ssh server over, and a
 * wake-up when that may have changed (--reconnect waits on it instead of
 * spawning ssh into a dead network). */
#pragma once

#include <glib.h>
#include <sys/socket.h>

G_BEGIN_DECLS

/* Whether the kernel has a route to one of @addrs (@n of them, with their
 * ports): a UDP socket connect()ed to each, which looks the route up and
 * sends nothing. FALSE only when every address fails with ENETUNREACH,
 * EHOSTUNREACH or ENETDOWN; that errno goes to *@err. No addresses (we
 * cannot tell) counts as routable. */
gboolean sh_net_routable (const struct sockaddr_storage *addrs, guint n, int *err);

typedef struct _ShNetWatch ShNetWatch;

/* Calls @changed from the main loop after links, addresses or routes
 * changed (rtnetlink), and every @poll_s seconds besides, in case an event
 * was lost or rtnetlink cannot be opened (then the poll is all there is).
 * @changed returns nothing; the watch runs until freed. */
ShNetWatch *sh_net_watch_new (guint poll_s, GFunc changed, gpointer data);

void sh_net_watch_free (ShNetWatch *watch);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShNetWatch, sh_net_watch_free)

G_END_DECLS
