/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sshlink.h — --transport=ssh: connections carried by ssh's own
 * forwarding, through an ssh control master that client.c started.
 *
 * Each forwarded connection is one control connection to the master's
 * socket: our hello and a MUX_C_NEW_STDIO_FWD request (sshmux.h), then the
 * accepted socket itself, passed twice (as ssh's stdin and stdout) with
 * SCM_RIGHTS. ssh relays its bytes through a direct-tcpip channel; the
 * engine copies nothing. The control connection stays open for the life of
 * the forward (closing it would end the forward); the master closes it when
 * the channel ends.
 *
 * Start-up: the master creates its socket once it has logged in. The link
 * tries it every 50 ms and, once it is there, holds it open (O_PATH) and
 * connects through /proc/self/fd from then on: the caller may remove the
 * socket and its directory as soon as @ready is called. It checks the
 * master with MUX_C_ALIVE_CHECK, then probes forwarding once (a forward to
 * 127.0.0.1 port 9 on the server, whatever its outcome) so that a server
 * that forbids forwarding shows in ssh's messages before the first real
 * connection. Then @ready is called.
 * After that the control connection is checked every
 * SH_SSH_LINK_ALIVE_S seconds; no answer by the next check, or its end, is
 * reported by @lost. */
#pragma once

#include <glib.h>

#include "epoll-source.h"

G_BEGIN_DECLS

#define SH_SSH_LINK_ALIVE_S 10

typedef struct _ShSshLink ShSshLink;

typedef void (*ShSshLinkReadyFunc) (ShSshLink *link, gpointer data);
/* @why: one line. The link is still valid; the caller frees it. */
typedef void (*ShSshLinkLostFunc) (ShSshLink *link, const char *why, gpointer data);

/* @ctl_path: the master's socket (it need not exist yet). At most
 * @max_forwards forwards are open at once; more are reset. */
ShSshLink *sh_ssh_link_new (ShPoll *poll, const char *ctl_path, guint max_forwards,
                            ShSshLinkReadyFunc ready, ShSshLinkLostFunc lost, gpointer data);

/* Ends every forward (the master drops their channels) and frees @link;
 * NULL is fine. */
void sh_ssh_link_free (ShSshLink *link);

/* Takes @fd, an accepted connection: forwards it to @host:@port. On any
 * failure (no master, the limit, ssh's channel open failure) @fd is reset,
 * only it. */
void sh_ssh_link_forward (ShSshLink *link, int fd, const char *host, guint16 port);

/* --dns: the answer to query @id, or @len 0 when none came (the forward
 * failed, the resolver closed, SH_SSH_LINK_DNS_TIMEOUT_S passed). */
typedef void (*ShSshLinkDnsFunc) (guint32 id, const guint8 *msg, gsize len, gpointer data);

#define SH_SSH_LINK_DNS_TIMEOUT_S 5

/* Asks @host:@port (a resolver) @query as DNS over TCP (RFC 7766: a 16-bit
 * length, then the message) through a forward of its own: one end of a
 * socket pair goes to ssh, we speak on the other. @reply is called once,
 * later, never from inside this call; not after sh_ssh_link_free(). FALSE
 * when it cannot even start (no socket, not ready). */
gboolean sh_ssh_link_dns_query (ShSshLink *link, const char *host, guint16 port,
                                const guint8 *query, gsize len, guint32 id, ShSshLinkDnsFunc reply,
                                gpointer data);

/* Forwards open or being opened now. */
guint sh_ssh_link_n_forwards (ShSshLink *link);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShSshLink, sh_ssh_link_free)

G_END_DECLS
