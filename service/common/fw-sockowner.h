/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-sockowner.h — whose socket receives what the helper redirects.
 *
 * Shuttle's tables redirect only in the output hook, so a redirected
 * connection arrives at 127.0.0.1:<port> (IPv4) or [::1]:<port> (IPv6), DNS
 * over UDP too. The sockets that can receive it are those bound to that
 * port on a loopback address (127.0.0.1, ::1, ::ffff:127.0.0.1) or on a
 * wildcard address (0.0.0.0, ::); a socket bound to any other address never
 * sees redirected traffic. A port is "a loopback listener of uid U" when at
 * least one such socket exists (TCP: listening; UDP: bound, unconnected)
 * and every such socket belongs to U.
 *
 * The sockets are listed with NETLINK_SOCK_DIAG (inet_diag), which reports
 * each socket's owner uid; no /proc text is parsed. The listing is of the
 * network namespace the calling process runs in, which is where the helper
 * puts its tables. */
#pragma once

#include <gio/gio.h>
#include <sys/socket.h>

G_BEGIN_DECLS

/* One socket bound to the port asked about. */
typedef struct
{
  int family;      /* AF_INET or AF_INET6 */
  guint8 addr[16]; /* local address, network order (4 bytes used for AF_INET) */
  guint32 uid;     /* the socket's owner */
} ShFwSock;

/* Pure. TRUE when @socks (ShFwSock, all bound to @port with @protocol,
 * IPPROTO_TCP or IPPROTO_UDP) make @port a loopback listener of @uid.
 * Otherwise FALSE with SH_FW_ERROR_NOT_AUTHORIZED and the message
 * "TCP port N is not a loopback listener of uid U" followed by why (nobody
 * listens there / uid V listens there too). */
gboolean sh_fw_port_decide (const GArray *socks, int protocol, guint16 port, guint32 uid,
                            GError **error);

/* The TCP listening (or UDP bound, unconnected) sockets on local port
 * @port, both address families, as a new GArray of ShFwSock; or NULL with
 * SH_FW_ERROR_FAILED when the kernel cannot be asked. */
GArray *sh_fw_port_list (int protocol, guint16 port, GError **error);

/* The owner uid of the TCP socket that connected from @peer to @local
 * (both as the accepting side's getpeername() and getsockname() report
 * them, AF_INET or AF_INET6), in the calling process's network namespace:
 * the engine's SOCKS endpoint asks who is on the other end of a loopback
 * connection, which SO_PEERCRED cannot tell for TCP. FALSE with
 * SH_FW_ERROR_FAILED when the kernel does not know that socket. */
gboolean sh_fw_conn_owner (const struct sockaddr *peer, const struct sockaddr *local, guint32 *uid,
                           GError **error);

/* sh_fw_port_list() then sh_fw_port_decide(). */
gboolean sh_fw_port_check (int protocol, guint16 port, guint32 uid, GError **error);

G_END_DECLS
