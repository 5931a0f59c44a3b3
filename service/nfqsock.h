/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nfqsock.h — a bound netfilter queue socket, for whoever holds
 * CAP_NET_ADMIN: the root engine (synqueue.c) and shuttle-firewall's SYN
 * relay (helper/fw-synrelay.c). The messages are nfqueue.c's. */
#pragma once

#include <glib.h>

#include "synrelay.h"

G_BEGIN_DECLS

/* SYNs waiting at once in one queue; beyond, the kernel lets them pass
 * (fail-open). */
#define SH_NFQ_QUEUE_MAXLEN 4096

/* A netlink socket bound to the first free queue number of @tries from
 * @first (another engine may hold one), SH_NFQ_QUEUE_MAXLEN packets, with a
 * 4 MiB receive buffer. Returns the socket, its number in *@number, or -1
 * with @error set ("cannot bind a netfilter queue for SYNs: ..."). */
int sh_nfq_socket_open (guint16 first, guint tries, guint16 *number, GError **error);

/* Gives packet @id of @queue the verdict for @outcome (synrelay.h), without
 * blocking. On failure the packet stays queued until the socket closes,
 * then the kernel drops it and the program retries: nothing better to do.
 * FALSE then. */
gboolean sh_nfq_socket_verdict (int fd, guint16 queue, guint32 id, ShSynOutcome outcome,
                                guint32 seq);

G_END_DECLS
