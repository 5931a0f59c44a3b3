/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dnsrelay.h — the server's side of DNS_QUERY (docs/protocol.md): each
 * query from a UDP socket of its own, connected to the resolver, answered
 * with exactly one DNS_REPLY: the first datagram, or nothing after 5 s or
 * an error. Never blocks the loop. */
#pragma once

#include "epoll-source.h"
#include "session.h"

G_BEGIN_DECLS

typedef struct _ShDnsRelay ShDnsRelay;

ShDnsRelay *sh_dns_relay_new (ShPoll *poll, ShSession *session);
/* The session's dns_query hook (data: the relay). */
void sh_dns_relay_query (ShSession *session, guint32 id, const ShOpen *resolver, const guint8 *msg,
                         gsize len, gpointer data);
/* Drops every query still waiting (no replies sent). */
void sh_dns_relay_free (ShDnsRelay *relay);

G_END_DECLS
