/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dgramrelay.h — the server's side of DGRAM (docs/protocol.md, version 2):
 * one unconnected UDP socket per UDP association, one unprivileged ICMP
 * socket per echo association, every datagram they receive sent back as a
 * DGRAM. Bounded: at most @max associations (more get DGRAM_CLOSE 1), each
 * closed after @idle_ms without a datagram either way. Never blocks the
 * loop: a datagram that cannot be sent at once is lost, as on a network.
 *
 * Few system calls per datagram: the datagrams the session delivers are
 * gathered and sent with sendmmsg() by sh_dgram_relay_flush(), which the
 * server calls at the end of every batch of events (a run of equal
 * datagrams to one destination as one UDP GSO group); a socket's datagrams
 * are read with recvmmsg(). */
#pragma once

#include "epoll-source.h"
#include "session.h"

G_BEGIN_DECLS

typedef struct _ShDgramRelay ShDgramRelay;

ShDgramRelay *sh_dgram_relay_new (ShPoll *poll, ShSession *session, guint idle_ms, guint max);
/* The session's dgram and dgram_close hooks (data: the relay). */
void sh_dgram_relay_dgram (ShSession *session, guint32 assoc, const ShDgram *dgram, gpointer data);
void sh_dgram_relay_closed (ShSession *session, guint32 assoc, ShDgramCloseReason reason, int err,
                            gpointer data);
/* Sends the datagrams gathered since the last call. */
void sh_dgram_relay_flush (ShDgramRelay *relay);
/* Datagrams sent so far, how many of them in UDP GSO groups, and how many
 * were lost at sending. */
void sh_dgram_relay_get_stats (ShDgramRelay *relay, guint64 *sent, guint64 *grouped,
                               guint64 *failed);
/* Closes every socket (sends nothing). */
void sh_dgram_relay_free (ShDgramRelay *relay);

G_END_DECLS
