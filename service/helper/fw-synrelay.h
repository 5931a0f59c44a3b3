/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-synrelay.h — shuttle-firewall's end of one engine's SYN queue
 * (OpenSynQueue; the records are synrelay.h's).
 *
 * The helper binds a netfilter queue and relays: each first SYN queued
 * there goes to the engine as a SYN record over a SOCK_SEQPACKET pair; a
 * VERDICT record coming back is taken only when it is well formed and names
 * a packet this relay passed and still holds, and then the helper gives the
 * kernel the verdict itself (nfnetlink wants CAP_NET_ADMIN of the sender of
 * each verdict, which the engine lacks). Anything else from the engine is
 * counted and ignored. A packet that is not a first SYN, one beyond
 * @max_pending, or one the engine's socket cannot take now is accepted at
 * once: today's behaviour. Root code: it reads nothing of a packet but the
 * IP and TCP header fields nfqueue.c parses. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _ShFwSynRelay ShFwSynRelay;

/* Called once when the engine's end hung up (closed, or its process died);
 * the callee frees the relay. */
typedef void (*ShFwSynRelayClosed) (ShFwSynRelay *relay, gpointer data);

/* Binds a free queue (its number: sh_fw_syn_relay_number()) and makes the
 * pair; *@engine_fd receives the engine's end, for the caller to pass on
 * and close. @fail_closed: on free, SYNs still waiting are dropped instead
 * of let through. NULL with @error set. */
ShFwSynRelay *sh_fw_syn_relay_new (guint max_pending, gboolean fail_closed,
                                   ShFwSynRelayClosed on_closed, gpointer data, int *engine_fd,
                                   GError **error);

guint16 sh_fw_syn_relay_number (const ShFwSynRelay *relay);

/* Records from the engine refused so far (malformed, or an id not held). */
guint64 sh_fw_syn_relay_refused (const ShFwSynRelay *relay);

/* SYNs passed to the engine so far. */
guint64 sh_fw_syn_relay_passed (const ShFwSynRelay *relay);

/* Unbinds the queue (SYNs still waiting pass, or are dropped with
 * @fail_closed) and closes the helper's end. */
void sh_fw_syn_relay_free (ShFwSynRelay *relay);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShFwSynRelay, sh_fw_syn_relay_free)

G_END_DECLS
