/* SPDX-License-Identifier: GPL-2.0-or-later */
/* synqueue.h — connect() that completes only when the far side's does
 * (issue 25).
 *
 * The firewall's "syn" chain (firewall.c) holds the first SYN of each
 * tunnelled connection in a netfilter queue. For each, this module sends
 * the server an OPEN ahead of the accept (sh_session_open_early()) and gives
 * the verdict when it answers: accepted, the SYN goes on into the redirect
 * and the listener's accept takes the open channel (sh_syn_queue_take());
 * refused or unreachable, the SYN comes back with a mark that makes the
 * kernel answer it as the far side did; timed out, it is dropped and the
 * program's own TCP retries. A retransmission of a SYN still waiting is
 * dropped: it opens nothing. The queue rule has "bypass": while no socket
 * is bound (the engine is gone) or the queue is full, SYNs pass as before. */
#pragma once

#include <glib.h>

#include "epoll-source.h"
#include "mux.h"
#include "session.h"

G_BEGIN_DECLS

typedef struct _ShSynQueue ShSynQueue;

/* The session to open @dst on, or NULL to let the SYN pass as it did before
 * the queue (no session yet, or a destination the engine answers itself). */
typedef ShSession *(*ShSynQueueSessionFunc) (const ShOpen *dst, gpointer data);

/* In process: binds a free queue number (needs CAP_NET_ADMIN). NULL with
 * @error set. */
ShSynQueue *sh_syn_queue_new (ShPoll *poll, ShSynQueueSessionFunc session_for, gpointer data,
                              GError **error);
/* The same, through shuttle-firewall (an engine without CAP_NET_ADMIN):
 * @fd is the engine's end of the helper's relay (OpenSynQueue, synrelay.h),
 * owned from now on. SYNs come as records, verdicts go back as records.
 * When the helper closes its end (the rules were removed) the queue stops:
 * sh_syn_queue_is_open() turns FALSE. */
ShSynQueue *sh_syn_queue_new_relay (ShPoll *poll, int fd, ShSynQueueSessionFunc session_for,
                                    gpointer data);
void sh_syn_queue_free (ShSynQueue *queue);

/* FALSE once the helper closed a relay. */
gboolean sh_syn_queue_is_open (const ShSynQueue *queue);

guint16 sh_syn_queue_number (const ShSynQueue *queue);

/* The early channel opened for the connection from @src to @dst (the
 * accepted socket's peer and original destination), or 0 when there is
 * none; the entry is forgotten. */
guint32 sh_syn_queue_take (ShSynQueue *queue, const ShOpen *src, const ShOpen *dst);

/* The session is gone: SYNs still waiting pass (the listener refuses them
 * as it refuses every connection without a session), channels are
 * forgotten. */
void sh_syn_queue_reset (ShSynQueue *queue);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShSynQueue, sh_syn_queue_free)

G_END_DECLS
