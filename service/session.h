/* SPDX-License-Identifier: GPL-2.0-or-later */
/* session.h — one end of the mux (docs/protocol.md): the session over the
 * ssh pipe, its channels, their sockets, credit and latency control.
 *
 * The same code runs on both sides; the role decides who opens channels
 * (client: accepted local sockets) and who connects (server). */
#pragma once

#include <glib.h>

#include "mux.h"
#include "epoll-source.h"

G_BEGIN_DECLS

/* Peer data held for local sockets that have not taken it yet, summed over
 * all channels of a session. Each channel's queue is bounded by the credit
 * it grants (docs/protocol.md), but the channels are many: 65 536 of them at
 * 2 MiB would let a peer, or local programs that open connections and never
 * read, make the engine hold 128 GiB. At this total the session stops
 * reading its input until the queues drain, so the peer is slowed by
 * back-pressure (its credit still holds; nothing is dropped). Big enough
 * that 32 full windows at the default 2 MiB fit before it bites. */
#define SH_SESSION_QUEUE_CAP (64 * 1024 * 1024)

typedef enum
{
  SH_ROLE_CLIENT,
  SH_ROLE_SERVER,
} ShRole;

typedef struct
{
  ShRole role;
  guint32 channel_window;     /* credit we grant per channel */
  guint32 max_channels;       /* channels we accept open at once */
  guint32 inflight_limit;     /* unacknowledged DATA bytes we allow; 0 = no limit */
  guint32 connect_timeout_ms; /* client: asks the server to give up after this */
  guint keepalive_s;          /* client: PING interval; dead after 3 intervals + 2 s of silence,
                               * checked every second; 0 = off */
  const char *name;           /* announced in HELLO */
  GBytes *bootstrap;          /* client: sent as is when the remote stage-1 loader asks
                               * for the agent (docs/protocol.md, "Bootstrap"); NULL: never */
  guint16 version_max;        /* highest protocol version offered: SH_MUX_VERSION, less
                               * for a client without lanes (2) or tests of an old
                               * peer (1) */
} ShSessionConfig;

typedef struct
{
  guint64 bytes_sent;     /* DATA payload written to the session */
  guint64 bytes_received; /* DATA payload read from the session */
  guint64 channels_total;
  guint channels_open;
  gint64 rtt_us;                /* last keepalive round trip, -1 before the first */
  guint64 queued;               /* peer data waiting for local sockets, all channels */
  guint64 queued_peak;          /* the most @queued ever was */
  guint64 dgrams_sent;          /* DGRAM frames written to the session */
  guint64 dgrams_received;      /* DGRAM frames read from it (for associations in use) */
  guint64 dgrams_dropped;       /* DGRAMs not sent: no room under the in-flight limit or in the
                                 * output, too big, or for an association not in use */
  guint64 dgrams_dropped_limit; /* ... of which: no room under the in-flight limit */
  guint64 dgrams_dropped_full;  /* ... the output held all it may for them */
  guint assocs_in_use;          /* association numbers in use (docs/protocol.md) */
} ShSessionStats;

typedef struct _ShSession ShSession;

/* The handshake completed; @peer is the other side's HELLO. */
typedef void (*ShSessionReadyFunc) (ShSession *session, const ShHello *peer, gpointer data);
/* The session ended: @error NULL when the peer closed the pipe cleanly;
 * G_IO_ERROR_TIMED_OUT when the keepalive found the server silent,
 * G_IO_ERROR_BROKEN_PIPE when the pipe failed, G_IO_ERROR_NOT_SUPPORTED for
 * another protocol version, G_IO_ERROR_INVALID_DATA for a protocol error. The
 * session must not be used afterwards except for sh_session_free(). */
typedef void (*ShSessionClosedFunc) (ShSession *session, const GError *error, gpointer data);

void sh_session_config_init (ShSessionConfig *config, ShRole role);

/* Takes ownership of @in_fd and @out_fd (made non-blocking). A server sends
 * HELLO at once, a client once the server's HELLO arrived. Events are
 * dispatched from @poll; its after-batch function must call
 * sh_session_flush(). */
ShSession *sh_session_new (const ShSessionConfig *config, ShPoll *poll, int in_fd, int out_fd,
                           ShSessionReadyFunc ready, ShSessionClosedFunc closed, gpointer data);
void sh_session_free (ShSession *session);

/* Client: relays the accepted socket @fd (ownership taken) to @dst through a
 * new channel. Before the handshake, or beyond the server's channel limit,
 * the socket is reset at once. */
void sh_session_open_channel (ShSession *session, int fd, const ShOpen *dst);

/* Client, for connections whose SYN waits for the far side's answer
 * (synqueue.h): the OPEN is sent before the local socket exists.
 * @func is called once with the outcome: 0 (open: the socket may come,
 * sh_session_bind_channel()) or an errno (ECONNREFUSED, EHOSTUNREACH,
 * ENETUNREACH, ETIMEDOUT, ...; the channel is gone). Returns the channel
 * number, or 0 when no channel can be opened now (no callback then).
 * A channel left unbound for 10 s after it opened is closed. */
typedef void (*ShSessionOpenedFunc) (ShSession *session, guint32 id, int err, gpointer data);
guint32 sh_session_open_early (ShSession *session, const ShOpen *dst, ShSessionOpenedFunc func,
                               gpointer data);

/* Gives the early channel @id its accepted socket @fd (ownership taken on
 * success). FALSE when that channel is no longer open: @fd stays the
 * caller's. */
gboolean sh_session_bind_channel (ShSession *session, guint32 id, int fd);

/* Closes the early channel @id if it has no socket yet; no callback. */
void sh_session_cancel_early (ShSession *session, guint32 id);

/* Writes queued output; call after each batch of events. */
void sh_session_flush (ShSession *session);

void sh_session_get_stats (ShSession *session, ShSessionStats *stats);

/* For tests: a cap other than SH_SESSION_QUEUE_CAP on the data queued for
 * local sockets across channels. Raised to SH_SESSION_QUEUE_CAP_MIN, room
 * for two whole frames, so that a session can always make progress. */
#define SH_SESSION_QUEUE_CAP_MIN (2 * SH_MUX_MAX_FRAME)
void sh_session_set_queue_cap (ShSession *session, gsize cap);

/* Names and routes (docs/protocol.md, "Names and routes"): frames outside
 * the channels. The session checks direction, ids and limits; a NULL
 * function ignores that frame (ROUTES_GET is then answered with no routes,
 * DNS_QUERY with no answer). */
typedef struct
{
  /* server role */
  void (*dns_query) (ShSession *session, guint32 id, const ShOpen *resolver, const guint8 *msg,
                     gsize len, gpointer data);
  void (*routes_get) (ShSession *session, gpointer data);
  void (*hosts_watch) (ShSession *session, const char *seeds, gsize len, gpointer data);
  /* client role */
  void (*dns_reply) (ShSession *session, guint32 id, const guint8 *msg, gsize len, gpointer data);
  void (*routes) (ShSession *session, const ShFrame *routes, gpointer data);
  void (*host) (ShSession *session, const ShHost *host, gpointer data);
  /* Datagrams (version 2), both roles; see "Datagrams" below. */
  void (*dgram) (ShSession *session, guint32 assoc, const ShDgram *dgram, gpointer data);
  void (*dgram_close) (ShSession *session, guint32 assoc, ShDgramCloseReason reason, int err,
                       gpointer data);
  /* Lanes (version 3); see "Lanes" below. Client: the server's offer. */
  void (*lanes) (ShSession *session, int family, guint count, guint16 port, const guint8 *token,
                 gpointer data);
  /* Both roles: the peer's BOND came; @n_lanes lanes (lane 0 included) now
   * carry the session both ways. */
  void (*bonded) (ShSession *session, guint n_lanes, gpointer data);
} ShSessionExtras;

void sh_session_set_extras (ShSession *session, const ShSessionExtras *extras, gpointer data);

/* Client: sends a query; its id goes to *@id. FALSE (nothing sent) while
 * SH_MUX_DNS_MAX_PENDING queries wait, or before the handshake. */
gboolean sh_session_send_dns_query (ShSession *session, const ShOpen *resolver, const guint8 *msg,
                                    gsize len, guint32 *id);
void sh_session_send_routes_get (ShSession *session);
/* @seeds: comma-separated names, or NULL. */
void sh_session_send_hosts_watch (ShSession *session, const char *seeds);
/* Server: the one answer to query @id (@len 0: no answer). */
void sh_session_send_dns_reply (ShSession *session, guint32 id, const guint8 *msg, gsize len);
void sh_session_send_routes (ShSession *session, const ShRoute *routes, guint n);
void sh_session_send_host (ShSession *session, const ShHost *host);

/* The protocol version agreed in the handshake; 0 before it. */
guint sh_session_get_version (ShSession *session);

/* Datagrams: UDP and ping (docs/protocol.md, version 2).
 *
 * The session keeps the association numbers: which are in use, with the
 * family and kind of their first DGRAM, and the DGRAM_CLOSE exchange (a
 * number is free again once both sides sent DGRAM_CLOSE). It checks every
 * received DGRAM and DGRAM_CLOSE against them and fails the session on a
 * protocol error; what reaches the callbacks is legal:
 *
 * - extras.dgram: a datagram for association @assoc, in use and not closed
 *   by us. Server: the first one creates the association (the server then
 *   opens its socket, or refuses with sh_session_dgram_close()). Client: a
 *   datagram the server received for it. @dgram points into the session's
 *   input; copy what you keep. A server session without this callback
 *   closes every association at once (reason 3).
 * - extras.dgram_close: the peer closed @assoc first. The session has
 *   already answered with its own DGRAM_CLOSE and freed the number: drop
 *   what you keep for it. Not called when the peer merely answers ours.
 *
 * Sending follows "Loss, not queues": a DGRAM's payload counts toward ACK
 * and the in-flight limit like DATA; when the in-flight limit or the
 * session's output has no room for it, it is dropped and counted in
 * stats.dgrams_dropped, never queued to wait. */

/* Client: reserves a free association number for datagrams of @family
 * (AF_INET, AF_INET6) and @kind. The server learns of it with its first
 * DGRAM. Returns 0 (none) before the handshake, in a version-1 session, or
 * when SH_SESSION_MAX_ASSOCS numbers are in use. */
#define SH_SESSION_MAX_ASSOCS (2 * SH_MUX_MAX_ASSOCS)
guint32 sh_session_dgram_open (ShSession *session, int family, ShDgramKind kind);

/* Either role: queues one DGRAM for @assoc, which must be in use (client:
 * from sh_session_dgram_open(); server: from extras.dgram) with the same
 * family and kind, and not closed by us. Returns FALSE when it was not
 * sent: dropped for lack of room or size (counted), or the association is
 * not open (not counted). */
gboolean sh_session_send_dgram (ShSession *session, guint32 assoc, const ShDgram *dgram);

/* Either role: ends @assoc: sends DGRAM_CLOSE unless we already did (a
 * client association whose first DGRAM was never sent is simply freed).
 * The number stays in use until the peer's DGRAM_CLOSE; DGRAMs for it are
 * ignored meanwhile. Nothing happens for a number not in use. */
void sh_session_dgram_close (ShSession *session, guint32 assoc, ShDgramCloseReason reason, int err);

/* Lanes (docs/protocol.md, version 3; bond.h): more ssh channels for one
 * session, each with a window of its own.
 *
 * Server: once the handshake is done, sh_session_offer_lanes() tells the
 * client where to connect (@family's loopback address, @port) and the
 * @token each lane must bring; FALSE when the session cannot use lanes (an
 * older client, in_fd == out_fd). The caller accepts the connections,
 * checks their hello (sh_lane_parse_hello) and answers it, then hands each
 * with sh_session_attach_lane() (FALSE: not wanted, the fd stays the
 * caller's). The client's BOND switches the session to the lanes it names;
 * attached lanes it does not name are closed.
 *
 * Client: extras.lanes reports the offer. Once the lanes it could open are
 * connected and answered, sh_session_bond() takes their sockets (@fds[i]
 * for each bit i of @mask, bit 0 being the session's own pipe) and sends
 * BOND; a @mask of 1 alone (no lane came up) sends nothing and the session
 * stays on its pipe. */
gboolean sh_session_offer_lanes (ShSession *session, int family, guint count, guint16 port,
                                 const guint8 *token);
gboolean sh_session_attach_lane (ShSession *session, guint index, int fd);
void sh_session_bond (ShSession *session, const int *fds, guint32 mask);
/* Lanes in use both ways: 1 before (or without) BOND. */
guint sh_session_n_lanes (ShSession *session);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShSession, sh_session_free)

G_END_DECLS
