/* SPDX-License-Identifier: GPL-2.0-or-later */
/* socks.h — the engine's local SOCKS5 endpoint (--socks).
 *
 * A program configured for a SOCKS5 proxy reaches the tunnel here, without
 * any firewall rule: each CONNECT becomes a channel of the session, as a
 * redirected connection does. A request by name is resolved on the far
 * side: an A (then AAAA) query through the session's DNS_QUERY to the
 * server's resolver (or --to-ns). Only sockets of the engine's own uid may
 * use the endpoint: the connecting socket's owner is looked up with
 * sock_diag (fw-sockowner.h), since SO_PEERCRED does not work for TCP.
 *
 * The success reply is sent when the channel is opened, before the server
 * has connected: a destination that refuses shows as a reset after it. */
#pragma once

#include <glib.h>

#include "epoll-source.h"
#include "session.h"

G_BEGIN_DECLS

typedef struct _ShSocks ShSocks;

/* Listens on @addr (an IPv4 or IPv6 literal; NULL: 127.0.0.1) at @port.
 * Names are asked of @resolver (AF_UNSPEC: the server's own). Nothing is
 * accepted until sh_socks_set_session() names a session. */
ShSocks *sh_socks_new (ShPoll *poll, const char *addr, guint16 port, const ShOpen *resolver,
                       GError **error);

/* `shuttle run`'s door for the preload library (preload/preload-wire.h):
 * a Unix socket at @path (in a directory only we can enter), whose
 * connections start with a ShPreloadHeader naming the destination and are
 * then relayed as they are; only our uid's (SO_PEERCRED) are taken. With
 * @resolver (run --dns; NULL: refused) a connection may instead ask for a
 * name, answered from the far side's resolver as for SOCKS5. The socket
 * file is removed by sh_socks_free(). */
ShSocks *sh_socks_new_unix (ShPoll *poll, const char *path, const ShOpen *resolver, GError **error);

/* The session that carries the connections (not owned), or NULL while the
 * tunnel is down: then requests are answered "general failure". */
void sh_socks_set_session (ShSocks *socks, ShSession *session);

/* The session's DNS_REPLY: TRUE when query @id was one of ours. */
gboolean sh_socks_dns_reply (ShSocks *socks, guint32 id, const guint8 *msg, gsize len);

guint16 sh_socks_port (ShSocks *socks);

void sh_socks_free (ShSocks *socks);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShSocks, sh_socks_free)

G_END_DECLS
