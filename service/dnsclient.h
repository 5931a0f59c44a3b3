/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dnsclient.h — the client's side of --dns over UDP.
 *
 * The firewall sends UDP port 53 to the captured nameservers to our UDP
 * sockets (127.0.0.1 and ::1, the port number of the TCP listener). Each
 * query goes through the session as a DNS_QUERY; its DNS_REPLY is sent back
 * to the application from the socket the query came in on, so conntrack
 * gives it the nameserver's address again. A query the tunnel cannot carry
 * (too many waiting, no session) and an empty reply (the remote resolver
 * did not answer) are answered with SERVFAIL at once: the application's
 * resolver moves on instead of waiting out its timeout. */
#pragma once

#include <glib.h>

#include "epoll-source.h"
#include "session.h"

G_BEGIN_DECLS

typedef struct _ShDnsClient ShDnsClient;

/* Binds UDP on 127.0.0.1:@port and, with @v6, on [::1]:@port. Queries are
 * asked of @resolver (AF_UNSPEC: the server's own). Nothing is read until
 * sh_dns_client_start(). Fails with EADDRINUSE when @port is taken for UDP. */
ShDnsClient *sh_dns_client_new (ShPoll *poll, guint16 port, gboolean v6, const ShOpen *resolver,
                                GError **error);

/* Starts relaying through @session (not owned; it must outlive the relaying
 * or be replaced with NULL). */
void sh_dns_client_start (ShDnsClient *dns, ShSession *session);

/* --transport=ssh: no session; each query goes to @send, which returns
 * FALSE when it cannot carry it (then SERVFAIL at once) and answers later
 * with sh_dns_client_reply() under the same @id. */
typedef gboolean (*ShDnsSendFunc) (const guint8 *query, gsize len, guint32 id, gpointer data);
void sh_dns_client_start_with (ShDnsClient *dns, ShDnsSendFunc send, gpointer data);

/* The session ended: every query still waiting is answered SERVFAIL now,
 * and so is every new one until sh_dns_client_start() names a session. */
void sh_dns_client_detach (ShDnsClient *dns);

/* The session's DNS_REPLY for query @id (@len 0: no answer). */
void sh_dns_client_reply (ShDnsClient *dns, guint32 id, const guint8 *msg, gsize len);

void sh_dns_client_free (ShDnsClient *dns);

/* Pure: the SERVFAIL answer to @query (its id, opcode, RD bit and question
 * section), written to @out (at least @len bytes). Returns its length, 0
 * when @query is not a DNS query. */
gsize sh_dns_servfail (const guint8 *query, gsize len, guint8 *out);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShDnsClient, sh_dns_client_free)

G_END_DECLS
