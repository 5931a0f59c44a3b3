/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "bond.h"
#include "firewall.h"
#include "latency.h"
#include "log.h"
#include "quote.h"
#include "resolver.h"

/* One DATA frame per channel per round: small enough that a bulk channel
 * delays an interactive one by little, big enough to keep syscalls rare. */
#define CHUNK 32768
/* Data is added to the session output only while less than FILL_LOW is
 * queued, up to FILL_HIGH: control frames never wait behind much. */
#define FILL_LOW (32 * 1024)
#define FILL_HIGH (128 * 1024)
#define INBUF_CAP (256 * 1024)
/* A peer that sends requests (PING, OPEN, DNS) but does not read our
 * answers would make our output grow without end: past OUT_PAUSE queued we
 * stop reading from it until the queue is back under FILL_HIGH. Honest
 * traffic never gets near (data stops at FILL_HIGH, control frames are
 * bounded by the credit in flight); one read adds at most about INBUF_CAP. */
#define OUT_PAUSE (1024 * 1024)
#define WBUF_INITIAL (FILL_HIGH + 2 * SH_MUX_MAX_FRAME)
#define PIPE_SIZE (1024 * 1024)
/* A read of at least this much marks a channel as streaming: its next DATA
 * payload moves by splice() (socket -> our pipe -> the ssh pipe) instead of
 * read() + write(). That skips two copies and the page allocation of each
 * pipe write (perf: a third of the engine's time in a bulk upload), at the
 * price of one more syscall per frame, which only pays for big frames.
 * (The other way, ssh pipe -> socket, splice() measured no better than the
 * read() of many frames at once, so input stays as it is.) */
#define SPLICE_MIN (16 * 1024)
/* How far past the adaptive in-flight limit small channels may go (see
 * ring_add): a few interactive frames or new connections' first requests,
 * not enough to undo the limit's purpose. */
#define PRIORITY_RESERVE (64 * 1024)
/* A datagram with at most this much data, and every echo, may use the same
 * reserve: a ping, a DNS query, a voice frame or a game update is not lost
 * to a bulk UDP or TCP flow that keeps the limit full. */
#define DGRAM_SMALL 512
#define SPLICE_PIPE_SIZE (256 * 1024)
/* ACK after this much DATA: every ACK is one more ssh packet each way, which
 * costs short connections dearly. Senders keep their in-flight limit at
 * least SH_MUX_MIN_INFLIGHT, so the unacknowledged rest never stalls them. */
#define ACK_EVERY SH_MUX_ACK_EVERY
/* ...and, below that, at most this long after the first unacknowledged
 * byte was read. On a 10 Mbit/s link 32 KiB take 26 ms to arrive: a
 * sender's round-trip samples were that late with nothing queued, so it
 * shrank its limit to the floor, and the floor (128 KiB, there for the
 * 32 KiB granularity) alone was 105 ms of queue in front of every other
 * channel. With prompt ACKs a version-2 sender may go down to
 * SH_MUX_MIN_INFLIGHT_V2. Costs at most 1000 ACKs a second. */
#define ACK_DELAY_MS 1
/* The client gives the server twice its connect timeout plus this to answer
 * an OPEN: room for a loaded link, but no endless hang. */
#define OPEN_GRACE_MS 2000
/* An early-opened channel waits this long for its socket (sh_session_bind_channel). */
#define EARLY_BIND_MS 10000

/* ------------------------------------------------------------------ buffers */

/* A byte queue: consume from the front, append at the back. */
typedef struct
{
  guint8 *data;
  gsize start, len, cap;
} ShBuf;

static void
buf_clear (ShBuf *b)
{
  g_clear_pointer (&b->data, g_free);
  b->start = b->len = b->cap = 0;
}

/* Room for @need bytes at the tail; returns where to write them. */
static guint8 *
buf_reserve (ShBuf *b, gsize need)
{
  if (b->start + b->len + need > b->cap && b->start > 0)
    {
      memmove (b->data, b->data + b->start, b->len);
      b->start = 0;
    }
  if (b->len + need > b->cap)
    {
      gsize cap = MAX (b->cap * 2, b->len + need);
      cap = MAX (cap, 4096);
      b->data = g_realloc (b->data, cap);
      b->cap = cap;
    }
  return b->data + b->start + b->len;
}

static void
buf_append (ShBuf *b, const void *p, gsize n)
{
  memcpy (buf_reserve (b, n), p, n);
  b->len += n;
}

static void
buf_consume (ShBuf *b, gsize n)
{
  b->start += n;
  b->len -= n;
  if (b->len == 0)
    b->start = 0;
}

/* ----------------------------------------------------------------- channels */

typedef enum
{
  CH_OPENING,    /* client: OPEN sent, waiting for OPEN_RESULT */
  CH_CONNECTING, /* server: connect() in progress */
  CH_OPEN,
} ChannelState;

typedef struct
{
  ShPollWatch watch; /* first: events for the socket */
  ShSession *session;
  guint32 id;
  int fd; /* -1 once closed */
  ChannelState state;
  guint rd_ready : 1;   /* socket may have bytes (edge seen, no EAGAIN since) */
  guint wr_ready : 1;   /* socket may take bytes */
  guint rd_hup : 1;     /* the peer's FIN (or an error) is pending behind the data */
  guint in_ring : 1;    /* queued for a turn to send */
  guint ring_hi : 1;    /* ... in ring_hi, the small channels' queue */
  guint eof_sent : 1;   /* our socket hit EOF, EOF frame queued */
  guint eof_recv : 1;   /* peer sent EOF */
  guint shut_wr : 1;    /* shutdown(SHUT_WR) done */
  guint close_sent : 1; /* CLOSE queued (or a failed OPEN_RESULT sent) */
  guint close_recv : 1;
  guint in_table : 1;
  guint in_connecting : 1;
  guint in_draining : 1;
  guint dead : 1;
  guint bulk : 1;      /* the last read was big: splice the next one */
  guint starved : 1;   /* DATA arrived with the peer's credit nearly spent */
  guint early : 1;     /* client: OPEN sent before its socket was accepted (none while fd < 0) */
  guint32 window;      /* the window we grant now: the initial one, grown */
  guint32 send_credit; /* DATA bytes we may still send */
  guint32 recv_credit; /* DATA bytes the peer may still send */
  guint32 consumed;    /* bytes written to the socket, not yet returned as WINDOW */
  gint64 deadline;     /* server: connect deadline (monotonic µs) */
  ShBuf out;           /* peer data waiting for the socket */
  GList ring_link;
  GList aux_link; /* connecting queue (server) or draining list */
  ShOpen dst;
} Channel;

/* A datagram association (version 2): only what the protocol needs; the
 * sockets belong to the server or the engine. */
typedef struct
{
  int family;
  guint8 kind;
  gboolean announced;  /* client: its first DGRAM was sent (the server knows it) */
  gboolean close_sent; /* our DGRAM_CLOSE is queued; waiting for the peer's */
} Assoc;

typedef enum
{
  S_HANDSHAKE,
  S_READY,
  S_CLOSED,
} SessionState;

struct _ShSession
{
  ShSessionConfig config;
  char *name;
  ShPoll *poll;
  ShPollWatch in_watch;
  ShPollWatch out_watch;
  int in_fd, out_fd;
  gboolean out_armed;
  gboolean in_paused; /* our output is too big: the peer must read first */
  gboolean in_full;   /* the channels' queues are full: local sockets must read first */
  gboolean in_off;    /* in_fd is out of the poll set (either reason) */
  gsize queue_cap;    /* SH_SESSION_QUEUE_CAP, or a test's */
  SessionState state;

  ShHello peer;
  guint32 peer_window;
  guint32 peer_max_channels;

  ShBuf wbuf;
  /* Zero-copy output: at most one DATA payload waits in sp, to be spliced
   * into out_fd right after the first sp_after bytes of wbuf (which end
   * with its header). Frames queued meanwhile follow it. */
  int sp[2];       /* -1 until the first splice */
  gboolean sp_off; /* out_fd or the sockets refuse splice() */
  gsize sp_len, sp_after;
  guint8 *inbuf;
  gsize inlen;
  gsize junk_skipped;
  gboolean bootstrap_sent;

  GHashTable *channels; /* id → Channel */
  guint32 next_id;
  GQueue ring;       /* channels with data to send and credit */
  GQueue ring_hi;    /* the same, whose last read was small: served first */
  GQueue connecting; /* in deadline order: server in connect(), client awaiting OPEN_RESULT */
  GQueue draining;   /* both CLOSEs exchanged, still writing out */
  GSList *graveyard; /* freed after the current batch */

  guint64 inflight; /* DATA bytes sent, not yet acknowledged */
  guint64 sent_total, acked_total;
  ShLatencyControl lc; /* lc.ceiling == 0: not set up yet */
  guint64 rx_unacked;
  gint64 rx_unacked_since; /* when the first byte not yet ACKed was read */
  guint ack_timer_id;      /* a prompt ACK of the remainder, see ACK_DELAY_MS */
  gint64 last_rx;
  guint64 ping_token; /* monotonic time of the unanswered PING, 0: none */
  gint64 last_ping;   /* monotonic time the last PING was queued */
  guint keepalive_id;
  guint connect_timer_id;

  ShSessionStats stats;
  gint64 drops_said_at;      /* -vv: when the datagram drops were last logged */
  ShSessionStats drops_said; /* ... and the counts then */
  ShSessionExtras extras;
  gpointer extras_data;
  GHashTable *dns_pending; /* query ids awaiting DNS_REPLY (both roles) */
  guint32 next_dns_id;
  gboolean hosts_watched;
  guint16 version;    /* agreed in the handshake */
  GHashTable *assocs; /* association number → Assoc (version 2) */
  guint32 next_assoc;
  ShSessionOpenedFunc opened_cb; /* early opens (sh_session_open_early) */
  gpointer opened_data;
  ShSessionReadyFunc ready_cb;
  ShSessionClosedFunc closed_cb;
  gpointer cb_data;

  /* Lanes (bond.h, version 3). */
  ShBond *bond;                   /* from our BOND (client) or the peer's (server) on */
  gboolean tx_bonded;             /* our BOND is queued: all output after it is segments */
  gboolean rx_bonded;             /* the peer's BOND came: all input after it is segments */
  guint32 bond_mask;              /* the lanes in use */
  guint lanes_offered;            /* server: lanes LANES offered (1 ... ), 0: none */
  int lane_fds[SH_MUX_MAX_LANES]; /* server: lanes attached before BOND; -1 */
  guint bond_idle_id;             /* input waits in the bond while reading was off */
};

static void bond_input (gpointer data);
static gboolean bond_idle (gpointer data);
static void session_fail (ShSession *s, ShErrorCode code, const char *fmt, ...)
    G_GNUC_PRINTF (3, 4);
static void channel_flush_out (Channel *ch);
static void channel_check_done (Channel *ch);

static void
set_nonblock (int fd)
{
  int fl = fcntl (fd, F_GETFL);
  if (fl >= 0)
    fcntl (fd, F_SETFL, fl | O_NONBLOCK);
}

static char *
addr_to_string (const ShOpen *o)
{
  if (o->family == AF_UNSPEC)
    return g_strdup_printf ("the server's resolver, port %u", o->port);
  char ip[INET6_ADDRSTRLEN];
  inet_ntop (o->family, o->addr, ip, sizeof ip);
  return g_strdup_printf (o->family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip, o->port);
}

/* Peer-supplied text for a log line: one printable line, bounded. */
static char *
sanitize (const char *p, gsize n)
{
  return sh_quote_len (p, n, SH_MUX_MAX_ERROR_MSG);
}

/* ------------------------------------------------- the channels' queues */

/* Every byte in a channel's queue (ch->out) is counted in stats.queued, so
 * that the session can keep the sum under queue_cap at O(1) per read. */
static void
chq_append (Channel *ch, const void *p, gsize n)
{
  ShSessionStats *st = &ch->session->stats;
  buf_append (&ch->out, p, n);
  st->queued += n;
  if (st->queued > st->queued_peak)
    st->queued_peak = st->queued;
}

static void
chq_consume (Channel *ch, gsize n)
{
  buf_consume (&ch->out, n);
  ch->session->stats.queued -= n;
}

static void
chq_clear (Channel *ch)
{
  ch->session->stats.queued -= ch->out.len;
  buf_clear (&ch->out);
}

/* How much the session may read before the queues could pass queue_cap:
 * every byte read, and the partial frame already in inbuf, may end up in
 * a channel's queue. */
static gsize
in_room (ShSession *s)
{
  guint64 held = s->stats.queued + s->inlen;
  return held < s->queue_cap ? s->queue_cap - held : 0;
}

/* Reading resumes only once a read of this size fits: no trickle of small
 * reads at the cap. At most half the cap, so that a small cap still leaves
 * room beside a partial frame (SH_SESSION_QUEUE_CAP_MIN). */
static gsize
in_headroom (ShSession *s)
{
  return MIN (INBUF_CAP, s->queue_cap / 2);
}

/* in_fd is polled unless our output waits for the peer (in_paused) or the
 * channels' queues wait for local sockets (in_full). */
static void
in_update (ShSession *s)
{
  gboolean off = s->in_paused || s->in_full;
  if (off == s->in_off || s->state == S_CLOSED)
    return;
  s->in_off = off;
  if (s->rx_bonded)
    sh_bond_set_reading (s->bond, !off);
  else
    sh_poll_modify (s->poll, s->in_fd, off ? 0 : EPOLLIN, &s->in_watch);
}

/* ----------------------------------------------------------- frame output */

/* Bytes queued for out_fd, spliced payload included. */
static gsize
out_queued (ShSession *s)
{
  return s->wbuf.len + s->sp_len + (s->tx_bonded ? sh_bond_pending (s->bond) : 0);
}

/* Whether a payload may go by splice now; creates the pipe on first use. */
static gboolean
splice_ready (ShSession *s)
{
  if (s->sp_off || s->sp_len > 0)
    return FALSE;
  if (s->sp[0] < 0)
    {
      if (pipe2 (s->sp, O_NONBLOCK | O_CLOEXEC) < 0)
        {
          /* Out of fds now; try again with a later frame. */
          s->sp[0] = s->sp[1] = -1;
          return FALSE;
        }
      /* Room for a whole CHUNK even when the socket's pages are small. */
      fcntl (s->sp[1], F_SETPIPE_SZ, SPLICE_PIPE_SIZE);
    }
  return TRUE;
}

/* Moves a pending spliced payload back into wbuf, where it belongs in the
 * stream: for writers that bypass sh_session_flush(). */
static void
splice_unqueue (ShSession *s)
{
  if (s->sp_len == 0)
    return;
  gsize tail = s->wbuf.len - s->sp_after, n = s->sp_len;
  guint8 *p = buf_reserve (&s->wbuf, n);
  guint8 *at = p - tail;
  memmove (at + n, at, tail);
  gsize got = 0;
  while (got < n)
    {
      ssize_t r = read (s->sp[0], at + got, n - got);
      if (r < 0 && errno == EINTR)
        continue;
      if (r <= 0)
        break; /* cannot happen: the bytes are in our own pipe */
      got += r;
    }
  s->wbuf.len += n;
  s->sp_len = s->sp_after = 0;
}

static void
queue_bytes (ShSession *s, const guint8 *frame, gsize len)
{
  if (s->state == S_CLOSED)
    return;
  buf_append (&s->wbuf, frame, len);
}

static void
queue_close (ShSession *s, Channel *ch, gboolean reset)
{
  guint8 f[SH_MUX_HDR_LEN + 1];
  queue_bytes (s, f, sh_frame_put_close (f, ch->id, reset));
  ch->close_sent = TRUE;
}

/* Returns what the socket took as credit. A channel whose sender ran out
 * of credit while its socket keeps up with everything that arrives is
 * limited by the window, not by its reader: the window doubles, up to
 * SH_MUX_MAX_WINDOW. A window must cover the path's bandwidth × round trip,
 * which the initial 2 MiB does not beyond ~160 Mbit/s at 80 ms; a fixed
 * 16 MiB would let every slow reader make us hold 16 MiB. Growing only
 * while the socket keeps up is what keeps a slow reader's queue small. */
static void
queue_window (ShSession *s, Channel *ch)
{
  guint32 grow = 0;
  if (ch->starved && ch->out.len == 0 && ch->window < SH_MUX_MAX_WINDOW)
    grow = MIN (ch->window, SH_MUX_MAX_WINDOW - ch->window);
  ch->starved = FALSE;
  ch->window += grow;
  guint8 f[SH_MUX_HDR_LEN + 4];
  queue_bytes (s, f, sh_frame_put_u32 (f, SH_FRAME_WINDOW, ch->id, ch->consumed + grow));
  ch->recv_credit += ch->consumed + grow;
  ch->consumed = 0;
}

/* ---------------------------------------------------------- channel life */

/* A channel whose last read filled less than a bulk frame (an interactive
 * one, or a new connection's first bytes) waits in ring_hi, served before
 * the bulk channels and allowed past the in-flight limit by
 * PRIORITY_RESERVE: its frame need not wait for the bulk bytes ahead of it
 * to be acknowledged, only for those already in the pipe. */
static void
ring_add (Channel *ch)
{
  ShSession *s = ch->session;
  if (ch->in_ring || !ch->rd_ready || ch->send_credit == 0 || ch->eof_sent || ch->close_sent
      || ch->fd < 0 || ch->state == CH_CONNECTING)
    return;
  ch->ring_hi = !ch->bulk;
  g_queue_push_tail_link (ch->ring_hi ? &s->ring_hi : &s->ring, &ch->ring_link);
  ch->in_ring = TRUE;
}

static void
ring_remove (Channel *ch)
{
  if (!ch->in_ring)
    return;
  g_queue_unlink (ch->ring_hi ? &ch->session->ring_hi : &ch->session->ring, &ch->ring_link);
  ch->in_ring = FALSE;
}

static void
channel_close_fd (Channel *ch, gboolean reset)
{
  if (ch->fd < 0)
    return;
  sh_poll_remove (ch->session->poll, ch->fd);
  if (reset)
    {
      /* An abortive close sends RST: the local application sees the error
       * (refused, reset) at once instead of a clean end of stream. */
      struct linger lg = { .l_onoff = 1, .l_linger = 0 };
      setsockopt (ch->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
  close (ch->fd);
  ch->fd = -1;
  ring_remove (ch);
  chq_clear (ch);
}

static void
channel_free_later (Channel *ch)
{
  ShSession *s = ch->session;
  if (ch->dead)
    return;
  channel_close_fd (ch, FALSE);
  ring_remove (ch);
  if (ch->in_connecting)
    g_queue_unlink (&s->connecting, &ch->aux_link);
  ch->in_connecting = FALSE;
  if (ch->in_draining)
    g_queue_unlink (&s->draining, &ch->aux_link);
  ch->in_draining = FALSE;
  if (ch->in_table)
    {
      g_hash_table_remove (s->channels, GUINT_TO_POINTER (ch->id));
      s->stats.channels_open--;
    }
  ch->in_table = FALSE;
  ch->dead = TRUE;
  /* Events for this socket may still be pending in the current epoll batch:
   * keep the memory until the batch is over. */
  s->graveyard = g_slist_prepend (s->graveyard, ch);
}

/* Both sides have sent CLOSE: the number is free. Data still queued for the
 * socket is written out first (a normal close after EOF). */
static void
channel_closed_both (Channel *ch)
{
  ShSession *s = ch->session;
  if (ch->fd >= 0 && ch->out.len > 0)
    {
      if (ch->in_table)
        {
          g_hash_table_remove (s->channels, GUINT_TO_POINTER (ch->id));
          s->stats.channels_open--;
          ch->in_table = FALSE;
        }
      ring_remove (ch);
      g_queue_push_tail_link (&s->draining, &ch->aux_link);
      ch->in_draining = TRUE;
      return;
    }
  channel_free_later (ch);
}

/* Our side ends the channel (socket error, reset, or done). */
static void
channel_abort (Channel *ch, gboolean reset)
{
  ShSession *s = ch->session;
  if (!ch->close_sent)
    queue_close (s, ch, reset);
  channel_close_fd (ch, reset);
  if (ch->close_recv)
    channel_free_later (ch);
}

static Channel *channel_new (ShSession *s, guint32 id, int fd, ChannelState state);

static void channel_event (ShPollWatch *w, guint32 events);

static Channel *
channel_new (ShSession *s, guint32 id, int fd, ChannelState state)
{
  Channel *ch = g_new0 (Channel, 1);
  ch->watch.func = channel_event;
  ch->session = s;
  ch->id = id;
  ch->fd = fd;
  ch->state = state;
  ch->send_credit = s->peer_window;
  ch->window = s->config.channel_window;
  ch->recv_credit = ch->window;
  ch->ring_link.data = ch;
  ch->aux_link.data = ch;
  g_hash_table_insert (s->channels, GUINT_TO_POINTER (id), ch);
  ch->in_table = TRUE;
  s->stats.channels_open++;
  s->stats.channels_total++;
  return ch;
}

static void
tune_socket (int fd)
{
  int one = 1;
  /* We relay whatever arrives at once; Nagle would only add delay here. */
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

/* Server: the connect() finished (or failed). */
static void
channel_connected (Channel *ch, int err)
{
  ShSession *s = ch->session;
  guint8 f[SH_MUX_HDR_LEN + 4 + SH_MUX_MAX_REASON];

  if (ch->in_connecting)
    g_queue_unlink (&s->connecting, &ch->aux_link);
  ch->in_connecting = FALSE;

  if (err != 0)
    {
      ShOpenStatus st = sh_open_status_from_errno (err);
      if (sh_log_enabled (SH_LOG_INFO))
        {
          g_autofree char *a = addr_to_string (&ch->dst);
          sh_info ("channel %u: %s: %s", ch->id, a, g_strerror (err));
        }
      queue_bytes (s, f, sh_frame_put_open_result (f, ch->id, st, err, g_strerror (err)));
      /* A failed OPEN_RESULT counts as our CLOSE; wait for the client's. */
      ch->close_sent = TRUE;
      channel_close_fd (ch, FALSE);
      if (ch->close_recv)
        channel_free_later (ch);
      return;
    }

  ch->state = CH_OPEN;
  ch->wr_ready = TRUE;
  ch->rd_ready = TRUE;
  queue_bytes (s, f, sh_frame_put_open_result (f, ch->id, SH_OPEN_OK, 0, NULL));
  channel_flush_out (ch);
  if (ch->fd >= 0)
    ring_add (ch);
}

static void
server_connect (ShSession *s, guint32 id, const ShOpen *requested)
{
  g_autofree char *astr = NULL;
  guint8 f[SH_MUX_HDR_LEN + 4 + SH_MUX_MAX_REASON];

  /* Family 0: the server's own resolver (TCP DNS of the client's --dns). */
  ShOpen resolver;
  const ShOpen *dst = requested;
  if (requested->family == AF_UNSPEC)
    {
      sh_resolver_get (requested->port, &resolver);
      dst = &resolver;
    }

  if (sh_log_enabled (SH_LOG_INFO))
    {
      astr = addr_to_string (dst);
      sh_info ("channel %u: connecting to %s", id, astr);
    }

  int fd = socket (dst->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int err = errno;
      queue_bytes (
          s, f,
          sh_frame_put_open_result (f, id, sh_open_status_from_errno (err), err, g_strerror (err)));
      /* Remember the number until the client's CLOSE arrives. */
      Channel *ch = channel_new (s, id, -1, CH_CONNECTING);
      ch->close_sent = TRUE;
      return;
    }
  /* In test mode (no -r) the server runs beside the client's redirect rules;
   * the mark keeps its own connections from being captured again. Without
   * CAP_NET_ADMIN this fails, which is fine: then there are no rules here. */
  guint32 mark = SH_FIREWALL_BYPASS_MARK;
  setsockopt (fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
  tune_socket (fd);

  Channel *ch = channel_new (s, id, fd, CH_CONNECTING);
  ch->dst = *dst;

  union
  {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
  } sa = { 0 };
  socklen_t salen;
  if (dst->family == AF_INET)
    {
      sa.v4.sin_family = AF_INET;
      sa.v4.sin_port = htons (dst->port);
      memcpy (&sa.v4.sin_addr, dst->addr, 4);
      salen = sizeof sa.v4;
    }
  else
    {
      sa.v6.sin6_family = AF_INET6;
      sa.v6.sin6_port = htons (dst->port);
      memcpy (&sa.v6.sin6_addr, dst->addr, 16);
      salen = sizeof sa.v6;
    }

  if (connect (fd, (struct sockaddr *) &sa, salen) == 0)
    {
      sh_poll_add (s->poll, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &ch->watch);
      channel_connected (ch, 0);
      return;
    }
  if (errno != EINPROGRESS)
    {
      channel_connected (ch, errno);
      return;
    }
  sh_poll_add (s->poll, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &ch->watch);
  ch->deadline = g_get_monotonic_time () + (gint64) s->peer.connect_timeout_ms * 1000;
  g_queue_push_tail_link (&s->connecting, &ch->aux_link);
  ch->in_connecting = TRUE;
}

/* Writes queued peer data to the socket; returns credit as it goes. */
static void
channel_flush_out (Channel *ch)
{
  ShSession *s = ch->session;

  while (ch->out.len > 0 && ch->wr_ready && ch->fd >= 0)
    {
      ssize_t n = write (ch->fd, ch->out.data + ch->out.start, ch->out.len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            {
              ch->wr_ready = FALSE;
              break;
            }
          channel_abort (ch, TRUE);
          return;
        }
      chq_consume (ch, n);
      ch->consumed += n;
    }
  if (ch->fd < 0)
    return;
  if (ch->consumed >= ch->window / 4
      || (ch->out.len == 0 && ch->consumed > 0 && ch->recv_credit < ch->window / 2))
    {
      if (!ch->close_sent && !ch->eof_recv)
        queue_window (s, ch);
    }
  if (ch->out.len == 0)
    {
      chq_clear (ch);
      if (ch->in_draining)
        {
          /* Draining after both CLOSEs: all delivered. */
          channel_free_later (ch);
          return;
        }
      if (ch->eof_recv && !ch->shut_wr)
        {
          shutdown (ch->fd, SHUT_WR);
          ch->shut_wr = TRUE;
        }
      channel_check_done (ch);
    }
}

/* Closes a channel normally once both directions have ended. */
static void
channel_check_done (Channel *ch)
{
  if (ch->close_sent || ch->fd < 0)
    return;
  if (ch->eof_sent && ch->eof_recv && ch->out.len == 0)
    {
      queue_close (ch->session, ch, FALSE);
      channel_close_fd (ch, FALSE);
      if (ch->close_recv)
        channel_free_later (ch);
    }
}

static void
channel_event (ShPollWatch *w, guint32 events)
{
  Channel *ch = (Channel *) w;
  if (ch->dead || ch->fd < 0)
    return;

  if (ch->state == CH_CONNECTING)
    {
      if (!(events & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
        return;
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt (ch->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
      channel_connected (ch, err);
      return;
    }

  if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    ch->rd_hup = TRUE;
  if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))
    {
      ch->rd_ready = TRUE;
      ring_add (ch);
    }
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
    {
      ch->wr_ready = TRUE;
      if (ch->out.len > 0)
        channel_flush_out (ch);
    }
}

/* ------------------------------------------------------------ data output */

/* The in-flight limit now: G_MAXUINT64 for none. */
static guint64
inflight_limit (ShSession *s)
{
  if (!s->config.inflight_limit)
    return G_MAXUINT64;
  /* The ceiling is known once HELLO is through. */
  if (s->lc.ceiling == 0)
    sh_lc_init (&s->lc, s->version >= 2 ? SH_MUX_MIN_INFLIGHT_V2 : SH_MUX_MIN_INFLIGHT,
                s->config.inflight_limit);
  return s->lc.limit;
}

/* Gives each ready channel one turn, the small ones first: read up to CHUNK
 * from its socket straight into the session output as one DATA frame. */
static void
fill_data (ShSession *s)
{
  guint64 limit = inflight_limit (s);
  /* Small channels' bytes may pass the adaptive limit a little, never the
   * ceiling the peer set. */
  guint64 limit_hi
      = limit == G_MAXUINT64 ? limit : MIN (limit + PRIORITY_RESERVE, MAX (s->lc.ceiling, limit));

  while (out_queued (s) < FILL_HIGH && (s->ring_hi.head || s->ring.head))
    {
      gboolean hi = s->ring_hi.head != NULL;
      guint64 cap = hi ? limit_hi : limit;
      if (s->inflight >= cap)
        {
          if (!hi)
            sh_lc_capped (&s->lc);
          break;
        }
      Channel *ch = g_queue_peek_head (hi ? &s->ring_hi : &s->ring);
      ring_remove (ch);

      /* The in-flight limit is a bound the peer relies on, not a threshold:
       * the last frame before it is cut short instead of overshooting. */
      gsize want = MIN (MIN (CHUNK, ch->send_credit), cap - s->inflight);
      gboolean spliced = ch->bulk && want >= SPLICE_MIN && splice_ready (s);
      guint8 *p = buf_reserve (&s->wbuf, SH_MUX_HDR_LEN + (spliced ? 0 : want));
      ssize_t n;
      if (spliced)
        {
          n = splice (ch->fd, NULL, s->sp[1], NULL, want, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
          if (n < 0 && errno == EINVAL)
            {
              /* Not expected for TCP; read() always works. */
              s->sp_off = TRUE;
              ch->rd_ready = TRUE;
              ring_add (ch);
              continue;
            }
        }
      else
        n = read (ch->fd, p + SH_MUX_HDR_LEN, want);
      if (n > 0)
        {
          sh_frame_put_header (p, SH_FRAME_DATA, ch->id, n);
          if (spliced)
            {
              s->wbuf.len += SH_MUX_HDR_LEN;
              s->sp_len = n;
              s->sp_after = s->wbuf.len;
            }
          else
            s->wbuf.len += SH_MUX_HDR_LEN + n;
          /* A read that took all it was allowed is bulk too: the limit,
           * not the socket, made it short. */
          ch->bulk = (gsize) n >= SPLICE_MIN || (gsize) n == want;
          ch->send_credit -= n;
          s->inflight += n;
          s->sent_total += n;
          s->stats.bytes_sent += n;
          if (limit != G_MAXUINT64)
            sh_lc_sent (&s->lc, s->sent_total, s->acked_total, g_get_monotonic_time ());
          /* A short read means the socket is drained, saving a read() that
           * would only say EAGAIN; but a pending FIN gives no new edge. A
           * short splice may also mean that our pipe ran out of slots. */
          if ((gsize) n < want && !ch->rd_hup && !spliced)
            ch->rd_ready = FALSE;
          ring_add (ch);
          if (spliced)
            break; /* one payload at a time in sp */
        }
      else if (n == 0)
        {
          guint8 f[SH_MUX_HDR_LEN];
          queue_bytes (s, f, sh_frame_put_header (f, SH_FRAME_EOF, ch->id, 0));
          ch->eof_sent = TRUE;
          ch->rd_ready = FALSE;
          channel_check_done (ch);
        }
      else if (errno == EAGAIN || errno == EINTR)
        {
          ch->rd_ready = errno == EINTR;
          ring_add (ch);
        }
      else
        {
          sh_info ("channel %u: %s", ch->id, g_strerror (errno));
          channel_abort (ch, TRUE);
        }
    }
}

static void
set_out_armed (ShSession *s, gboolean armed)
{
  if (s->out_armed == armed || s->tx_bonded) /* the bond polls its lanes itself */
    return;
  s->out_armed = armed;
  sh_poll_modify (s->poll, s->out_fd, armed ? EPOLLOUT : 0, &s->out_watch);
}

void
sh_session_flush (ShSession *s)
{
  while (s->state != S_CLOSED)
    {
      if (s->state == S_READY && out_queued (s) < FILL_LOW)
        fill_data (s);
      /* The spliced payload goes out once the bytes before it have. */
      gboolean payload = s->sp_len > 0 && s->sp_after == 0;
      gsize len = payload ? s->sp_len : s->sp_len > 0 ? s->sp_after : s->wbuf.len;
      if (len == 0)
        break;
      if (s->tx_bonded)
        {
          /* No splice after BOND: segments are cut from wbuf. */
          gssize n = sh_bond_write (s->bond, s->wbuf.data + s->wbuf.start, len);
          if (n < 0)
            {
              session_fail (s, 0, "writing to a lane of the ssh session: %s", g_strerror (errno));
              break;
            }
          buf_consume (&s->wbuf, n);
          if ((gsize) n < len)
            break; /* no lane has room */
          continue;
        }
      ssize_t n = payload ? splice (s->sp[0], NULL, s->out_fd, NULL, len,
                                    SPLICE_F_MOVE | SPLICE_F_NONBLOCK)
                          : write (s->out_fd, s->wbuf.data + s->wbuf.start, len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            break;
          if (payload && errno == EINVAL)
            {
              /* out_fd takes no splice (neither pipe nor socket): copy. */
              s->sp_off = TRUE;
              splice_unqueue (s);
              continue;
            }
          session_fail (s, 0, "writing to the ssh session: %s", g_strerror (errno));
          break;
        }
      if (payload)
        s->sp_len -= n;
      else
        {
          buf_consume (&s->wbuf, n);
          if (s->sp_len > 0)
            s->sp_after -= n;
        }
      if ((gsize) n < len)
        break; /* the pipe is full */
    }
  if (s->state != S_CLOSED)
    set_out_armed (s, out_queued (s) > 0);
  if (s->in_paused && out_queued (s) < FILL_HIGH)
    s->in_paused = FALSE;
  if (s->in_full && in_room (s) >= in_headroom (s))
    s->in_full = FALSE;
  in_update (s);
  /* Reading resumed: what the bond already holds brings no lane event. */
  if (s->rx_bonded && !s->in_off && s->bond_idle_id == 0 && s->state != S_CLOSED
      && sh_bond_has_input (s->bond))
    s->bond_idle_id = g_idle_add (bond_idle, s);

  while (s->graveyard)
    {
      Channel *ch = s->graveyard->data;
      s->graveyard = g_slist_delete_link (s->graveyard, s->graveyard);
      chq_clear (ch);
      g_free (ch);
    }
}

/* ------------------------------------------------------------ frame input */

static void
session_end (ShSession *s, GError *error)
{
  if (s->state == S_CLOSED)
    {
      g_clear_error (&error);
      return;
    }
  s->state = S_CLOSED;
  sh_poll_remove (s->poll, s->in_fd);
  sh_poll_remove (s->poll, s->out_fd);
  g_clear_handle_id (&s->keepalive_id, g_source_remove);
  g_clear_handle_id (&s->ack_timer_id, g_source_remove);
  g_clear_handle_id (&s->connect_timer_id, g_source_remove);
  g_clear_handle_id (&s->bond_idle_id, g_source_remove);
  if (s->closed_cb)
    s->closed_cb (s, error, s->cb_data);
  g_clear_error (&error);
}

static void
session_fail (ShSession *s, ShErrorCode code, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  g_autofree char *msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);

  if (s->state == S_CLOSED)
    return;
  if (code != 0 && !s->tx_bonded)
    {
      /* Tell the peer why, best effort: the pipe may be full or gone. (Not
       * after BOND: a frame out of its segments' order would not be read.) */
      guint8 f[SH_MUX_HDR_LEN + 2 + SH_MUX_MAX_ERROR_MSG];
      gsize n = sh_frame_put_error (f, code, msg);
      splice_unqueue (s);
      buf_append (&s->wbuf, f, n);
      if (write (s->out_fd, s->wbuf.data + s->wbuf.start, s->wbuf.len) < 0)
        {
          /* nothing more to do */
        }
    }
  /* A version mismatch is its own error: the client may try another server. */
  int kind = code == SH_ERR_VERSION ? G_IO_ERROR_NOT_SUPPORTED
             : code                 ? G_IO_ERROR_INVALID_DATA
                                    : G_IO_ERROR_BROKEN_PIPE;
  session_end (s, g_error_new (G_IO_ERROR, kind, "%s", msg));
}

static Channel *
lookup (ShSession *s, const ShFrame *f)
{
  Channel *ch = g_hash_table_lookup (s->channels, GUINT_TO_POINTER (f->channel));
  if (!ch)
    session_fail (s, SH_ERR_CHANNEL, "%s for unknown channel %u", sh_frame_type_to_string (f->type),
                  f->channel);
  return ch;
}

static void
send_hello (ShSession *s)
{
  const ShSessionConfig *c = &s->config;
  ShHello h = {
    .version_min = 1,
    .version_max = c->version_max,
    .channel_window = c->channel_window,
    .max_channels = c->max_channels,
    .connect_timeout_ms = c->role == SH_ROLE_CLIENT ? c->connect_timeout_ms : 0,
    .inflight_limit = c->role == SH_ROLE_CLIENT ? c->inflight_limit : 0,
  };
  g_strlcpy (h.name, s->name, sizeof h.name);
  guint8 f[SH_MUX_MAX_FRAME];
  queue_bytes (s, f, sh_frame_put_hello (f, &h));
}

static void
handle_hello (ShSession *s, const ShHello *h)
{
  guint16 lo = MAX (h->version_min, 1), hi = MIN (h->version_max, s->config.version_max);
  if (lo > hi)
    {
      session_fail (s, SH_ERR_VERSION,
                    "protocol version mismatch: we speak 1 to %u, the peer (%s) speaks %u to %u",
                    s->config.version_max, h->name, h->version_min, h->version_max);
      return;
    }
  s->version = hi;
  s->peer = *h;
  if (s->config.role == SH_ROLE_SERVER)
    {
      /* The client decides the latency policy for both directions. */
      if (s->peer.connect_timeout_ms == 0)
        s->peer.connect_timeout_ms = 10000;
      s->config.inflight_limit = h->inflight_limit;
    }
  s->peer_window = h->channel_window;
  s->peer_max_channels = h->max_channels;
  if (s->config.role == SH_ROLE_CLIENT)
    send_hello (s);
  s->state = S_READY;
  if (s->ready_cb)
    s->ready_cb (s, h, s->cb_data);
}

static void
send_ack (ShSession *s)
{
  guint8 f[SH_MUX_HDR_LEN + 4];
  queue_bytes (s, f, sh_frame_put_u32 (f, SH_FRAME_ACK, 0, (guint32) s->rx_unacked));
  s->rx_unacked = 0;
  s->rx_unacked_since = 0;
  g_clear_handle_id (&s->ack_timer_id, g_source_remove);
}

static gboolean
ack_tick (gpointer data)
{
  ShSession *s = data;
  s->ack_timer_id = 0;
  if (s->state == S_READY && s->rx_unacked > 0)
    {
      send_ack (s);
      sh_session_flush (s);
    }
  return G_SOURCE_REMOVE;
}

/* Consecutive DATA frames for one channel, delivered with one writev(). */
#define BATCH_MAX 32

typedef struct
{
  Channel *ch;
  int n;
  struct iovec iov[BATCH_MAX];
} DataBatch;

static void
batch_flush (ShSession *s, DataBatch *b)
{
  Channel *ch = b->ch;
  if (!ch)
    return;
  int i = 0;
  if (ch->out.len == 0 && ch->wr_ready && ch->state == CH_OPEN && ch->fd >= 0)
    {
      ssize_t n = writev (ch->fd, b->iov, b->n);
      if (n < 0 && errno != EAGAIN && errno != EINTR)
        {
          b->ch = NULL;
          b->n = 0;
          channel_abort (ch, TRUE);
          return;
        }
      /* After a short write, wr_ready stays set: channel_flush_out() below
       * writes on until EAGAIN, the one state after which an EPOLLOUT edge
       * is certain for every kind of socket. */
      if (n < 0)
        n = 0;
      ch->consumed += n;
      /* Skip what the socket took; the rest waits in the channel's queue. */
      for (; i < b->n && (gsize) n >= b->iov[i].iov_len; i++)
        n -= b->iov[i].iov_len;
      if (i < b->n)
        {
          b->iov[i].iov_base = (guint8 *) b->iov[i].iov_base + n;
          b->iov[i].iov_len -= n;
        }
    }
  /* Bounded: at most the credit we granted, and all channels together
   * by queue_cap (on_in() reads no more than fits). */
  for (; i < b->n; i++)
    chq_append (ch, b->iov[i].iov_base, b->iov[i].iov_len);
  b->ch = NULL;
  b->n = 0;
  if (ch->state == CH_OPEN)
    channel_flush_out (ch);
}

/* Checks a DATA frame against the channel's state and credit. Returns the
 * channel to deliver to, or NULL when the data is dropped (channel closing)
 * or the session failed. */
static Channel *
data_accept (ShSession *s, const ShFrame *f)
{
  Channel *ch = lookup (s, f);
  if (!ch)
    return NULL;
  s->rx_unacked += f->len;
  s->stats.bytes_received += f->len;
  if (ch->close_sent)
    return NULL; /* in flight before our CLOSE: dropped */
  if (ch->eof_recv)
    {
      session_fail (s, SH_ERR_MALFORMED, "DATA after EOF on channel %u", ch->id);
      return NULL;
    }
  if (f->len > ch->recv_credit)
    {
      session_fail (s, SH_ERR_FLOW, "channel %u: %u bytes sent with %u credit", ch->id, f->len,
                    ch->recv_credit);
      return NULL;
    }
  ch->recv_credit -= f->len;
  /* What is neither written out nor returned is in flight or unused at
   * the peer: under an eighth of the window, the peer is about to wait. */
  if (ch->recv_credit < ch->window / 8)
    ch->starved = TRUE;
  return ch;
}

/* One handler per frame type (frame_handlers below). The decoder checked
 * the header and the fields; these check them against the session. */

static void
recv_hello_again (ShSession *s, const ShFrame *f)
{
  session_fail (s, SH_ERR_MALFORMED, "HELLO sent twice");
}

static void
recv_open (ShSession *s, const ShFrame *f)
{
  if (s->config.role != SH_ROLE_SERVER)
    {
      session_fail (s, SH_ERR_MALFORMED, "the server may not open channels");
      return;
    }
  if (g_hash_table_contains (s->channels, GUINT_TO_POINTER (f->channel)))
    {
      session_fail (s, SH_ERR_CHANNEL, "OPEN for channel %u, which is in use", f->channel);
      return;
    }
  if (s->stats.channels_open >= s->config.max_channels)
    {
      session_fail (s, SH_ERR_LIMIT, "more than %u channels open", s->config.max_channels);
      return;
    }
  server_connect (s, f->channel, &f->u.open);
}

/* What the far side's connect() said, by the status (the errno numbers of
 * the server's system need not be ours). */
static int
early_errno (ShOpenStatus status)
{
  switch (status)
    {
    case SH_OPEN_NET_UNREACHABLE:
      return ENETUNREACH;
    case SH_OPEN_HOST_UNREACHABLE:
      return EHOSTUNREACH;
    case SH_OPEN_TIMED_OUT:
      return ETIMEDOUT;
    case SH_OPEN_REFUSED:
      return ECONNREFUSED;
    default:
      return ECONNRESET;
    }
}

static void
recv_open_result (ShSession *s, const ShFrame *f)
{
  Channel *ch;
  if (s->config.role != SH_ROLE_CLIENT)
    {
      session_fail (s, SH_ERR_MALFORMED, "unexpected OPEN_RESULT");
      return;
    }
  if (!(ch = lookup (s, f)))
    return;
  if (ch->state != CH_OPENING)
    {
      session_fail (s, SH_ERR_CHANNEL, "second OPEN_RESULT for channel %u", ch->id);
      return;
    }
  if (f->u.result.status == SH_OPEN_OK)
    {
      ch->state = CH_OPEN;
      if (ch->in_connecting)
        g_queue_unlink (&s->connecting, &ch->aux_link);
      ch->in_connecting = FALSE;
      if (ch->early && ch->fd < 0)
        {
          /* Its socket is accepted within moments of the SYN's verdict;
           * one that never comes (the program gave up) must not hold the
           * channel for ever. */
          ch->deadline = g_get_monotonic_time () + EARLY_BIND_MS * 1000;
          g_queue_push_tail_link (&s->connecting, &ch->aux_link);
          ch->in_connecting = TRUE;
          s->opened_cb (s, ch->id, 0, s->opened_data);
          return;
        }
      if (ch->out.len > 0)
        channel_flush_out (ch);
      return;
    }
  if (sh_log_enabled (SH_LOG_INFO))
    {
      g_autofree char *a = addr_to_string (&ch->dst);
      g_autofree char *r = sanitize (f->u.result.reason, f->u.result.reason_len);
      sh_info ("channel %u: %s: %s (%s)", ch->id, a, sh_open_status_to_string (f->u.result.status),
               r);
    }
  /* Counts as the server's CLOSE. Reset the local connection at once. */
  ch->close_recv = TRUE;
  if (ch->early && ch->fd < 0)
    {
      guint32 id = ch->id;
      channel_abort (ch, TRUE);
      s->opened_cb (s, id, early_errno (f->u.result.status), s->opened_data);
      return;
    }
  channel_abort (ch, TRUE);
}

static void
recv_data (ShSession *s, const ShFrame *f)
{
  g_assert_not_reached (); /* on_in() batches DATA itself */
}

static void
recv_window (ShSession *s, const ShFrame *f)
{
  Channel *ch = lookup (s, f);
  if (!ch || ch->close_sent)
    return;
  if ((guint64) ch->send_credit + f->u.window > SH_MUX_MAX_WINDOW)
    {
      session_fail (s, SH_ERR_FLOW, "channel %u: credit above the limit", ch->id);
      return;
    }
  ch->send_credit += f->u.window;
  ring_add (ch);
}

static void
recv_eof (ShSession *s, const ShFrame *f)
{
  Channel *ch = lookup (s, f);
  if (!ch || ch->close_sent)
    return;
  if (ch->eof_recv)
    {
      session_fail (s, SH_ERR_MALFORMED, "EOF twice on channel %u", ch->id);
      return;
    }
  ch->eof_recv = TRUE;
  if (ch->state == CH_OPEN)
    channel_flush_out (ch);
}

static void
recv_close (ShSession *s, const ShFrame *f)
{
  Channel *ch = lookup (s, f);
  if (!ch)
    return;
  if (ch->close_recv)
    {
      session_fail (s, SH_ERR_MALFORMED, "CLOSE twice on channel %u", ch->id);
      return;
    }
  ch->close_recv = TRUE;
  if (ch->close_sent)
    {
      channel_closed_both (ch);
      return;
    }
  queue_close (s, ch, f->u.close_reason == 1);
  if (f->u.close_reason == 1 || ch->state != CH_OPEN)
    {
      channel_close_fd (ch, TRUE);
      channel_free_later (ch);
    }
  else
    channel_closed_both (ch);
}

static void
recv_ping (ShSession *s, const ShFrame *f)
{
  guint8 out[SH_MUX_HDR_LEN + 8];
  queue_bytes (s, out, sh_frame_put_u64 (out, SH_FRAME_PONG, f->u.token));
}

static void
recv_pong (ShSession *s, const ShFrame *f)
{
  /* Only an answer to our own last PING means anything; the token is
   * the peer's to corrupt, so never compute with another one. */
  if (s->ping_token != 0 && f->u.token == s->ping_token)
    {
      s->stats.rtt_us = g_get_monotonic_time () - (gint64) s->ping_token;
      s->ping_token = 0;
      sh_debug ("keepalive: round trip %.2f ms", s->stats.rtt_us / 1000.0);
    }
}

static void
recv_ack (ShSession *s, const ShFrame *f)
{
  if (f->u.ack > s->inflight)
    {
      session_fail (s, SH_ERR_FLOW, "ACK for %u bytes, only %" G_GUINT64_FORMAT " in flight",
                    f->u.ack, s->inflight);
      return;
    }
  s->inflight -= f->u.ack;
  s->acked_total += f->u.ack;
  if (s->lc.mark != 0 && s->acked_total >= s->lc.mark
      && sh_lc_acked (&s->lc, s->acked_total, g_get_monotonic_time ())
      && sh_log_enabled (SH_LOG_DEBUG))
    sh_debug (
        "latency control: round trip %.2f ms (base %.2f ms): in-flight limit %" G_GUINT64_FORMAT
        " KiB",
        s->lc.last_rtt / 1000.0, s->lc.base / 1000.0, s->lc.limit / 1024);
}

static void
recv_error (ShSession *s, const ShFrame *f)
{
  g_autofree char *m = sanitize (f->u.error.msg, f->u.error.msg_len);
  session_end (s, g_error_new (G_IO_ERROR, G_IO_ERROR_FAILED, "the peer reported: %s", m));
}

/* Names and routes: each frame type goes one way only. Returns whether @f
 * may come to a session in @role. */
static gboolean
one_way (ShSession *s, const ShFrame *f, ShRole role)
{
  if (s->config.role == role)
    return TRUE;
  session_fail (s, SH_ERR_MALFORMED, "%s sent the wrong way", sh_frame_type_to_string (f->type));
  return FALSE;
}

static void
recv_dns_query (ShSession *s, const ShFrame *f)
{
  gpointer key = GUINT_TO_POINTER (f->channel);
  if (!one_way (s, f, SH_ROLE_SERVER))
    return;
  if (g_hash_table_contains (s->dns_pending, key)
      || g_hash_table_size (s->dns_pending) >= SH_MUX_DNS_MAX_PENDING)
    {
      session_fail (s, SH_ERR_LIMIT, "DNS query %u: already waiting, or more than %d waiting",
                    f->channel, SH_MUX_DNS_MAX_PENDING);
      return;
    }
  g_hash_table_add (s->dns_pending, key);
  if (s->extras.dns_query)
    s->extras.dns_query (s, f->channel, &f->u.dns.resolver, f->u.dns.msg, f->u.dns.msg_len,
                         s->extras_data);
  else
    sh_session_send_dns_reply (s, f->channel, NULL, 0);
}

static void
recv_dns_reply (ShSession *s, const ShFrame *f)
{
  if (!one_way (s, f, SH_ROLE_CLIENT))
    return;
  if (!g_hash_table_remove (s->dns_pending, GUINT_TO_POINTER (f->channel)))
    {
      session_fail (s, SH_ERR_CHANNEL, "DNS_REPLY for query %u, which is not waiting", f->channel);
      return;
    }
  if (s->extras.dns_reply)
    s->extras.dns_reply (s, f->channel, f->payload, f->len, s->extras_data);
}

static void
recv_routes_get (ShSession *s, const ShFrame *f)
{
  if (!one_way (s, f, SH_ROLE_SERVER))
    return;
  if (s->extras.routes_get)
    s->extras.routes_get (s, s->extras_data);
  else
    sh_session_send_routes (s, NULL, 0);
}

static void
recv_routes (ShSession *s, const ShFrame *f)
{
  if (one_way (s, f, SH_ROLE_CLIENT) && s->extras.routes)
    s->extras.routes (s, f, s->extras_data);
}

static void
recv_hosts_watch (ShSession *s, const ShFrame *f)
{
  if (!one_way (s, f, SH_ROLE_SERVER))
    return;
  if (s->hosts_watched)
    {
      session_fail (s, SH_ERR_MALFORMED, "HOSTS_WATCH sent twice");
      return;
    }
  s->hosts_watched = TRUE;
  if (s->extras.hosts_watch)
    s->extras.hosts_watch (s, (const char *) f->payload, f->len, s->extras_data);
}

static void
recv_host (ShSession *s, const ShFrame *f)
{
  if (one_way (s, f, SH_ROLE_CLIENT) && s->extras.host)
    s->extras.host (s, &f->u.host, s->extras_data);
}

/* ------------------------------------------------------------ datagrams */

/* Frames that exist only from protocol version @since on (DGRAM and
 * DGRAM_CLOSE: 2; LANES and BOND: 3). */
static gboolean
version_has (ShSession *s, const ShFrame *f, guint since)
{
  if (s->version >= since)
    return TRUE;
  session_fail (s, SH_ERR_MALFORMED, "%s in a version-%u session",
                sh_frame_type_to_string (f->type), s->version);
  return FALSE;
}

static void
assoc_remove (ShSession *s, guint32 id)
{
  if (g_hash_table_remove (s->assocs, GUINT_TO_POINTER (id)))
    s->stats.assocs_in_use--;
}

static Assoc *
assoc_add (ShSession *s, guint32 id, int family, guint8 kind)
{
  Assoc *a = g_new0 (Assoc, 1);
  a->family = family;
  a->kind = kind;
  g_hash_table_insert (s->assocs, GUINT_TO_POINTER (id), a);
  s->stats.assocs_in_use++;
  return a;
}

static void
recv_dgram (ShSession *s, const ShFrame *f)
{
  const ShDgram *d = &f->u.dgram;
  if (!version_has (s, f, SH_MUX_VERSION_DGRAM))
    return;
  /* Counted for ACK whatever becomes of it: the sender counts it in flight. */
  s->rx_unacked += f->len;
  Assoc *a = g_hash_table_lookup (s->assocs, GUINT_TO_POINTER (f->channel));
  if (a == NULL && s->config.role == SH_ROLE_CLIENT)
    {
      session_fail (s, SH_ERR_CHANNEL, "DGRAM for association %u, which is not in use", f->channel);
      return;
    }
  if (a == NULL)
    {
      /* Numbers the server closed but the client has not answered count
       * too: a client that never answers cannot make the table grow. */
      if (g_hash_table_size (s->assocs) >= SH_SESSION_MAX_ASSOCS)
        {
          session_fail (s, SH_ERR_LIMIT, "more than %d associations in use", SH_SESSION_MAX_ASSOCS);
          return;
        }
      a = assoc_add (s, f->channel, d->family, d->kind);
      a->announced = TRUE;
    }
  else if (a->close_sent)
    return; /* in flight before our DGRAM_CLOSE */
  else if (!a->announced)
    {
      session_fail (s, SH_ERR_CHANNEL, "DGRAM for association %u, which the server never saw",
                    f->channel);
      return;
    }
  else if (a->family != d->family || a->kind != d->kind)
    {
      session_fail (s, SH_ERR_MALFORMED, "DGRAM of another family or kind on association %u",
                    f->channel);
      return;
    }
  s->stats.dgrams_received++;
  if (s->extras.dgram)
    s->extras.dgram (s, f->channel, d, s->extras_data);
  else if (s->config.role == SH_ROLE_SERVER)
    sh_session_dgram_close (s, f->channel, SH_DGRAM_CLOSE_FAILED, EOPNOTSUPP);
}

static void
recv_dgram_close (ShSession *s, const ShFrame *f)
{
  if (!version_has (s, f, SH_MUX_VERSION_DGRAM))
    return;
  Assoc *a = g_hash_table_lookup (s->assocs, GUINT_TO_POINTER (f->channel));
  if (a == NULL || !a->announced)
    {
      session_fail (s, SH_ERR_CHANNEL, "DGRAM_CLOSE for association %u, which is not in use",
                    f->channel);
      return;
    }
  gboolean answer = !a->close_sent;
  assoc_remove (s, f->channel);
  if (!answer)
    return; /* the answer to ours: the number is free */
  guint8 out[SH_MUX_HDR_LEN + 4];
  queue_bytes (s, out, sh_frame_put_dgram_close (out, f->channel, SH_DGRAM_CLOSE_DONE, 0));
  if (s->extras.dgram_close)
    s->extras.dgram_close (s, f->channel, f->u.dgram_close.reason, f->u.dgram_close.err,
                           s->extras_data);
}

guint
sh_session_get_version (ShSession *s)
{
  return s->state == S_HANDSHAKE ? 0 : s->version;
}

guint32
sh_session_dgram_open (ShSession *s, int family, ShDgramKind kind)
{
  g_return_val_if_fail (s->config.role == SH_ROLE_CLIENT, 0);
  g_return_val_if_fail (family == AF_INET || family == AF_INET6, 0);
  if (s->state != S_READY || s->version < SH_MUX_VERSION_DGRAM
      || g_hash_table_size (s->assocs) >= SH_SESSION_MAX_ASSOCS)
    return 0;
  while (s->next_assoc == 0 || g_hash_table_contains (s->assocs, GUINT_TO_POINTER (s->next_assoc)))
    s->next_assoc++;
  guint32 id = s->next_assoc++;
  assoc_add (s, id, family, kind);
  return id;
}

/* -vv: the datagrams dropped since the last report, at most once a second
 * (at the next drop after it: a burst of loss is reported when it recurs or
 * at the end of the session). */
static void
log_drops (ShSession *s)
{
  gint64 now;
  const ShSessionStats *a = &s->drops_said, *b = &s->stats;

  if (!sh_log_enabled (SH_LOG_DEBUG)
      || (now = g_get_monotonic_time ()) - s->drops_said_at < G_USEC_PER_SEC)
    return;
  sh_debug ("datagrams not sent: %" G_GUINT64_FORMAT " of %" G_GUINT64_FORMAT " (%" G_GUINT64_FORMAT
            " at the in-flight limit %" G_GUINT64_FORMAT " KiB, %" G_GUINT64_FORMAT
            " with the output full)",
            b->dgrams_dropped - a->dgrams_dropped,
            b->dgrams_dropped - a->dgrams_dropped + b->dgrams_sent - a->dgrams_sent,
            b->dgrams_dropped_limit - a->dgrams_dropped_limit, s->lc.limit / 1024,
            b->dgrams_dropped_full - a->dgrams_dropped_full);
  s->drops_said = *b;
  s->drops_said_at = now;
}

gboolean
sh_session_send_dgram (ShSession *s, guint32 id, const ShDgram *d)
{
  if (s->state != S_READY || s->version < SH_MUX_VERSION_DGRAM)
    return FALSE;
  Assoc *a = g_hash_table_lookup (s->assocs, GUINT_TO_POINTER (id));
  if (a == NULL || a->close_sent)
    return FALSE;
  g_return_val_if_fail (a->family == d->family && a->kind == d->kind, FALSE);
  gsize plen = SH_MUX_DGRAM_FIXED + (d->family == AF_INET6 ? 16 : 4) + d->data_len;
  /* Loss, not queues: no waiting behind the in-flight limit, nor behind
   * more output than DATA itself may fill. The limit counts for datagrams
   * at no less than the version-1 floor: the adaptive limit can be 8 KiB
   * on a quiet path, and a burst of datagrams (iperf3 -u sends a few at
   * each tick) would be lost to it, 2.7% at 20 Mbit/s in the lab. Small
   * ones and echoes may pass it by PRIORITY_RESERVE, as small channels do
   * (never the ceiling the peer set): under a flood that keeps the limit
   * full, a ping was lost instead of waiting a target behind the flood.
   * While a channel has data waiting for room, the other datagrams get
   * neither the floor nor more output than FILL_LOW (below which
   * fill_data() runs): a UDP flood held 128 KiB in flight and the output
   * above FILL_LOW, the channels' adaptive limit had shrunk under it, and
   * a TCP echo beside a flood at 50 Mbit/s took 5.8 s instead of 20 ms.
   * Small ones keep the floor then (without it 6 of 60 pings beside that
   * echo were lost). */
  gboolean small = d->kind == SH_DGRAM_ECHO || d->data_len <= DGRAM_SMALL;
  gboolean yield = !small && (s->ring_hi.head != NULL || s->ring.head != NULL);
  guint64 limit = yield ? inflight_limit (s) : MAX (inflight_limit (s), SH_MUX_MIN_INFLIGHT);
  gsize fill = yield ? FILL_LOW : FILL_HIGH;
  if (small)
    {
      fill += PRIORITY_RESERVE;
      if (limit != G_MAXUINT64)
        limit = MIN (limit + PRIORITY_RESERVE, MAX (s->lc.ceiling, limit));
    }
  if (d->data_len > SH_MUX_MAX_DGRAM_DATA || s->inflight + plen > limit || out_queued (s) >= fill)
    {
      if (s->inflight + plen > limit)
        {
          if (!small)
            sh_lc_capped (&s->lc);
          s->stats.dgrams_dropped_limit++;
        }
      else if (out_queued (s) >= fill)
        s->stats.dgrams_dropped_full++;
      s->stats.dgrams_dropped++;
      log_drops (s);
      return FALSE;
    }
  guint8 *p = buf_reserve (&s->wbuf, SH_MUX_HDR_LEN + plen);
  s->wbuf.len += sh_frame_put_dgram (p, id, d);
  a->announced = TRUE;
  s->inflight += plen;
  s->sent_total += plen;
  s->stats.dgrams_sent++;
  if (limit != G_MAXUINT64)
    sh_lc_sent (&s->lc, s->sent_total, s->acked_total, g_get_monotonic_time ());
  return TRUE;
}

void
sh_session_dgram_close (ShSession *s, guint32 id, ShDgramCloseReason reason, int err)
{
  Assoc *a = g_hash_table_lookup (s->assocs, GUINT_TO_POINTER (id));
  if (a == NULL || a->close_sent)
    return;
  if (!a->announced)
    {
      assoc_remove (s, id);
      return;
    }
  a->close_sent = TRUE;
  guint8 out[SH_MUX_HDR_LEN + 4];
  queue_bytes (s, out, sh_frame_put_dgram_close (out, id, reason, err));
}

/* ------------------------------------------------------------------ lanes */

/* Our BOND goes out as the last frame before segments: the bond takes the
 * bytes queued up to it and writes them on lane 0 ahead of any segment. */
static void
bond_switch_tx (ShSession *s, const int *fds)
{
  splice_unqueue (s);
  s->sp_off = TRUE;
  guint8 f[SH_MUX_HDR_LEN + 4];
  queue_bytes (s, f, sh_frame_put_bond (f, s->bond_mask));
  /* out_fd is the bond's lane 0 from now on: out of our poll first, or
   * the bond's registration of it would fail. */
  sh_poll_remove (s->poll, s->out_fd);
  s->out_armed = FALSE;
  s->bond = sh_bond_new (s->poll, s->in_fd, s->out_fd, fds, s->bond_mask, bond_input, s);
  sh_bond_push_plain0 (s->bond, s->wbuf.data + s->wbuf.start, s->wbuf.len);
  buf_consume (&s->wbuf, s->wbuf.len);
  s->tx_bonded = TRUE;
}

/* After the peer's BOND, which ended at @from in inbuf. */
static void
bond_switch_rx (ShSession *s, gsize from)
{
  sh_poll_remove (s->poll, s->in_fd);
  sh_bond_push_lane0 (s->bond, s->inbuf + from, s->inlen - from);
  sh_bond_set_reading (s->bond, !s->in_off);
  if (s->extras.bonded)
    s->extras.bonded (s, sh_bond_n_lanes (s->bond), s->extras_data);
}

static void
recv_lanes (ShSession *s, const ShFrame *f)
{
  if (!version_has (s, f, SH_MUX_VERSION_LANES) || !one_way (s, f, SH_ROLE_CLIENT))
    return;
  if (s->bond_mask != 0 || s->lanes_offered)
    {
      session_fail (s, SH_ERR_MALFORMED, "a second LANES");
      return;
    }
  s->lanes_offered = f->u.lanes.count;
  if (s->extras.lanes)
    s->extras.lanes (s, f->u.lanes.family, f->u.lanes.count, f->u.lanes.port, f->u.lanes.token,
                     s->extras_data);
}

static void
recv_bond (ShSession *s, const ShFrame *f)
{
  if (!version_has (s, f, SH_MUX_VERSION_LANES))
    return;
  guint32 mask = f->u.bond_mask;
  if (s->rx_bonded)
    {
      session_fail (s, SH_ERR_MALFORMED, "a second BOND");
      return;
    }
  if (s->config.role == SH_ROLE_CLIENT)
    {
      /* The server answers ours with the same lanes. */
      if (!s->tx_bonded || mask != s->bond_mask)
        {
          session_fail (s, SH_ERR_MALFORMED, "BOND 0x%x does not answer ours (0x%x)", mask,
                        s->bond_mask);
          return;
        }
      s->rx_bonded = TRUE;
      return;
    }
  for (guint i = 1; i < SH_MUX_MAX_LANES; i++)
    if ((mask & (1u << i)) && s->lane_fds[i] < 0)
      {
        session_fail (s, SH_ERR_MALFORMED, "BOND names lane %u, which is not connected", i);
        return;
      }
  int fds[SH_MUX_MAX_LANES];
  for (guint i = 0; i < SH_MUX_MAX_LANES; i++)
    {
      fds[i] = -1;
      if (i > 0 && (mask & (1u << i)))
        fds[i] = s->lane_fds[i];
      else if (s->lane_fds[i] >= 0)
        close (s->lane_fds[i]); /* connected, but the client does not use it */
      s->lane_fds[i] = -1;
    }
  s->bond_mask = mask;
  bond_switch_tx (s, fds);
  s->rx_bonded = TRUE;
}

static void (*const frame_handlers[]) (ShSession *s, const ShFrame *f) = {
  [SH_FRAME_HELLO] = recv_hello_again,
  [SH_FRAME_OPEN] = recv_open,
  [SH_FRAME_OPEN_RESULT] = recv_open_result,
  [SH_FRAME_DATA] = recv_data,
  [SH_FRAME_WINDOW] = recv_window,
  [SH_FRAME_EOF] = recv_eof,
  [SH_FRAME_CLOSE] = recv_close,
  [SH_FRAME_PING] = recv_ping,
  [SH_FRAME_PONG] = recv_pong,
  [SH_FRAME_ACK] = recv_ack,
  [SH_FRAME_ERROR] = recv_error,
  [SH_FRAME_DNS_QUERY] = recv_dns_query,
  [SH_FRAME_DNS_REPLY] = recv_dns_reply,
  [SH_FRAME_ROUTES_GET] = recv_routes_get,
  [SH_FRAME_ROUTES] = recv_routes,
  [SH_FRAME_HOSTS_WATCH] = recv_hosts_watch,
  [SH_FRAME_HOST] = recv_host,
  [SH_FRAME_DGRAM] = recv_dgram,
  [SH_FRAME_DGRAM_CLOSE] = recv_dgram_close,
  [SH_FRAME_LANES] = recv_lanes,
  [SH_FRAME_BOND] = recv_bond,
};

static void
handle_frame (ShSession *s, const ShFrame *f)
{
  if (s->state == S_HANDSHAKE)
    {
      if (f->type != SH_FRAME_HELLO)
        session_fail (s, SH_ERR_MALFORMED, "expected HELLO, got %s",
                      sh_frame_type_to_string (f->type));
      else
        handle_hello (s, &f->u.hello);
      return;
    }
  if ((guint) f->type < G_N_ELEMENTS (frame_handlers) && frame_handlers[f->type])
    frame_handlers[f->type](s, f);
  else /* the decoder knows no other type */
    session_fail (s, SH_ERR_INTERNAL, "unhandled frame type 0x%02x", f->type);
}

void
sh_session_set_extras (ShSession *s, const ShSessionExtras *extras, gpointer data)
{
  s->extras = *extras;
  s->extras_data = data;
}

gboolean
sh_session_send_dns_query (ShSession *s, const ShOpen *resolver, const guint8 *msg, gsize len,
                           guint32 *id)
{
  if (s->state != S_READY || g_hash_table_size (s->dns_pending) >= SH_MUX_DNS_MAX_PENDING
      || len < SH_MUX_DNS_MIN || len > SH_MUX_DNS_MAX_QUERY)
    return FALSE;
  while (s->next_dns_id == 0
         || g_hash_table_contains (s->dns_pending, GUINT_TO_POINTER (s->next_dns_id)))
    s->next_dns_id++;
  *id = s->next_dns_id++;
  g_hash_table_add (s->dns_pending, GUINT_TO_POINTER (*id));
  guint8 f[SH_MUX_HDR_LEN + 4 + 16 + SH_MUX_DNS_MAX_QUERY];
  queue_bytes (s, f, sh_frame_put_dns_query (f, *id, resolver, msg, len));
  return TRUE;
}

void
sh_session_send_dns_reply (ShSession *s, guint32 id, const guint8 *msg, gsize len)
{
  /* A query of a session that has ended since, or answered twice: drop. */
  if (!g_hash_table_remove (s->dns_pending, GUINT_TO_POINTER (id)))
    return;
  if (len > SH_MUX_MAX_DATA)
    len = 0; /* too big to carry: "no answer" */
  guint8 *f = g_malloc (SH_MUX_HDR_LEN + len);
  queue_bytes (s, f, sh_frame_put_dns_reply (f, id, msg, len));
  g_free (f);
}

void
sh_session_send_routes_get (ShSession *s)
{
  guint8 f[SH_MUX_HDR_LEN];
  queue_bytes (s, f, sh_frame_put_header (f, SH_FRAME_ROUTES_GET, 0, 0));
}

void
sh_session_send_routes (ShSession *s, const ShRoute *routes, guint n)
{
  guint8 *f = g_malloc (SH_MUX_MAX_FRAME);
  queue_bytes (s, f, sh_frame_put_routes (f, routes, n, NULL));
  g_free (f);
}

void
sh_session_send_hosts_watch (ShSession *s, const char *seeds)
{
  guint8 f[SH_MUX_HDR_LEN + SH_MUX_MAX_SEEDS];
  queue_bytes (s, f, sh_frame_put_hosts_watch (f, seeds, seeds ? strlen (seeds) : 0));
}

void
sh_session_send_host (ShSession *s, const ShHost *host)
{
  guint8 f[SH_MUX_HDR_LEN + 2 + 16 + SH_MUX_MAX_HOSTNAME];
  queue_bytes (s, f, sh_frame_put_host (f, host));
}

static void bond_switch_rx (ShSession *s, gsize from);

/* Reads once from the session's input (its pipe, or after the peer's BOND
 * the bond's in-order stream) and handles the frames. TRUE when it read
 * something. */
static gboolean
session_input (ShSession *s)
{
  if (s->state == S_CLOSED)
    return FALSE;
  /* sh_session_flush() resumes once the peer has read our answers, or
   * local sockets have taken enough of the data queued for them. The peer
   * then waits in its pipe: back-pressure, within the protocol. */
  if (out_queued (s) > OUT_PAUSE)
    s->in_paused = TRUE;
  gsize room = in_room (s);
  if (room < in_headroom (s))
    s->in_full = TRUE;
  if (s->in_paused || s->in_full)
    {
      in_update (s);
      return FALSE;
    }

  gsize want = MIN (room, INBUF_CAP - s->inlen);
  ssize_t n = s->rx_bonded ? sh_bond_read (s->bond, s->inbuf + s->inlen, want)
                           : read (s->in_fd, s->inbuf + s->inlen, want);
  if (n < 0)
    {
      if (errno == EAGAIN || errno == EINTR)
        return FALSE;
      if (s->rx_bonded && errno == EBADMSG)
        session_fail (s, SH_ERR_MALFORMED, "malformed or missing segment on a lane");
      else
        session_fail (s, 0, "reading from the ssh session: %s", g_strerror (errno));
      return FALSE;
    }
  if (n == 0)
    {
      if (s->state == S_HANDSHAKE)
        session_end (s, g_error_new (G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                                     "the connection closed before the server answered"));
      else
        session_end (s, NULL);
      return FALSE;
    }
  s->inlen += n;
  s->last_rx = g_get_monotonic_time ();

  gsize pos = 0;
  DataBatch batch = { 0 };
  if (s->state == S_HANDSHAKE && s->config.role == SH_ROLE_CLIENT)
    {
      /* The stage-1 loader asks for the agent once; what it runs answers
       * with HELLO like any server. */
      gssize load = s->config.bootstrap && !s->bootstrap_sent
                        ? sh_frame_find_load_request (s->inbuf, s->inlen)
                        : -1;
      if (load >= 0)
        {
          if (load > 0)
            {
              g_autofree char *junk = sanitize ((const char *) s->inbuf, MIN (load, 200));
              sh_error ("warning: the server printed before starting: %s", junk);
              s->junk_skipped += load;
            }
          gsize used = load + SH_MUX_MAGIC_LEN;
          memmove (s->inbuf, s->inbuf + used, s->inlen - used);
          s->inlen -= used;
          gsize agent_len;
          const guint8 *agent = g_bytes_get_data (s->config.bootstrap, &agent_len);
          sh_debug ("the server asked for the agent: sending %zu bytes", agent_len);
          queue_bytes (s, agent, agent_len);
          s->bootstrap_sent = TRUE;
        }

      /* Login scripts may print before the server starts: skip, but show it. */
      gssize at = sh_frame_find_hello (s->inbuf, s->inlen);
      gsize skip = at >= 0 ? (gsize) at
                           : (s->inlen > SH_MUX_HDR_LEN + SH_MUX_MAGIC_LEN
                                  ? s->inlen - (SH_MUX_HDR_LEN + SH_MUX_MAGIC_LEN)
                                  : 0);
      if (skip > 0)
        {
          g_autofree char *junk = sanitize ((const char *) s->inbuf, MIN (skip, 200));
          sh_error ("warning: the server printed before starting: %s", junk);
          s->junk_skipped += skip;
          memmove (s->inbuf, s->inbuf + skip, s->inlen - skip);
          s->inlen -= skip;
          if (s->junk_skipped > SH_MUX_MAX_JUNK)
            {
              session_fail (s, SH_ERR_MALFORMED,
                            "no Shuttle server answered (got %zu bytes of other output)",
                            s->junk_skipped);
              return FALSE;
            }
        }
    }

  while (s->state != S_CLOSED)
    {
      ShFrame f;
      gssize r = sh_frame_decode (s->inbuf + pos, s->inlen - pos, &f);
      if (r == 0)
        break;
      if (r < 0)
        {
          session_fail (s, SH_ERR_MALFORMED, "malformed frame from the peer (type 0x%02x)",
                        s->inbuf[pos]);
          return FALSE;
        }
      if (f.type == SH_FRAME_DATA && s->state == S_READY)
        {
          Channel *ch = data_accept (s, &f);
          if (ch && (ch != batch.ch || batch.n == BATCH_MAX))
            batch_flush (s, &batch);
          if (ch)
            {
              batch.ch = ch;
              batch.iov[batch.n++] = (struct iovec){ (void *) f.payload, f.len };
            }
        }
      else
        {
          /* Other frames may act on a channel: deliver its data first. */
          batch_flush (s, &batch);
          gboolean was_bonded = s->rx_bonded;
          handle_frame (s, &f);
          if (s->rx_bonded && !was_bonded)
            {
              /* The peer's BOND: what follows it is lane 0's segments. */
              bond_switch_rx (s, pos + r);
              pos = s->inlen;
              break;
            }
        }
      pos += r;
    }
  if (s->state != S_CLOSED)
    batch_flush (s, &batch);
  if (s->state == S_CLOSED)
    return TRUE;
  memmove (s->inbuf, s->inbuf + pos, s->inlen - pos);
  s->inlen -= pos;

  gint64 now = g_get_monotonic_time ();
  if (s->rx_unacked > 0 && s->rx_unacked_since == 0)
    s->rx_unacked_since = now;
  /* A steady stream gets its ACKs here, within half the delay; the timer
   * is for the last bytes before a pause. */
  if (s->rx_unacked >= ACK_EVERY
      || (s->rx_unacked > 0 && now - s->rx_unacked_since >= ACK_DELAY_MS * 500))
    send_ack (s);
  else if (s->rx_unacked > 0 && s->ack_timer_id == 0)
    s->ack_timer_id = g_timeout_add (ACK_DELAY_MS, ack_tick, s);
  return TRUE;
}

static void
on_in (ShPollWatch *w, guint32 events)
{
  session_input (G_STRUCT_MEMBER_P (w, -G_STRUCT_OFFSET (ShSession, in_watch)));
}

/* The bond read a lane: take all that is in order now. */
static void
bond_input (gpointer data)
{
  ShSession *s = data;
  while (s->state != S_CLOSED && session_input (s))
    ;
}

static gboolean
bond_idle (gpointer data)
{
  ShSession *s = data;
  s->bond_idle_id = 0;
  bond_input (s);
  return G_SOURCE_REMOVE;
}

static void
on_out (ShPollWatch *w, guint32 events)
{
  /* Nothing to do here: the after-batch flush writes. */
}

/* ----------------------------------------------------------------- timers */

static gboolean
keepalive_tick (gpointer data)
{
  ShSession *s = data;
  gint64 now = g_get_monotonic_time ();
  /* Three PINGs unanswered, and 2 s of grace for the last PONG, is death.
   * Checked every second, not every interval: a dead path is then noticed
   * 11 to 12 s after the last byte that came, so within 12 s of the cut
   * even when data arrived just before it (checked once per 3 s interval,
   * that was up to 14 s, and over 15 on a busy machine). */
  guint silence_s = s->config.keepalive_s * 3 + 2;
  /* Not reading because local sockets are slow is our silence, not the
   * server's: it is timed again from when we read again. */
  if (s->in_full)
    s->last_rx = now;
  if (now - s->last_rx > (gint64) silence_s * G_USEC_PER_SEC)
    {
      s->keepalive_id = 0;
      if (s->bond)
        {
          g_autofree char *lanes = sh_bond_describe (s->bond);
          sh_info ("lanes at the end: %s", lanes);
        }
      /* Its own kind: the pipe did not break, so the client need not wait
       * for ssh to explain (it will not: its path is as dead as ours). */
      session_end (s, g_error_new (G_IO_ERROR, G_IO_ERROR_TIMED_OUT,
                                   "the server stopped answering (nothing received for %u s)",
                                   silence_s));
      return G_SOURCE_REMOVE;
    }
  /* Before the handshake the pipe may lead to ssh still logging in, then
   * to the stage-1 loader reading the agent, or to a server that wants our
   * HELLO first: a PING there would be read as the start of something else.
   * The silence limit above holds all the same. */
  if (s->state != S_READY || now - s->last_ping < (gint64) s->config.keepalive_s * G_USEC_PER_SEC)
    return G_SOURCE_CONTINUE;
  guint8 f[SH_MUX_HDR_LEN + 8];
  s->last_ping = now;
  s->ping_token = (guint64) now;
  queue_bytes (s, f, sh_frame_put_u64 (f, SH_FRAME_PING, s->ping_token));
  sh_session_flush (s);
  return G_SOURCE_CONTINUE;
}

static gboolean
connect_tick (gpointer data)
{
  ShSession *s = data;
  gint64 now = g_get_monotonic_time ();
  Channel *ch;
  while ((ch = g_queue_peek_head (&s->connecting)) && ch->deadline <= now)
    {
      if (s->config.role == SH_ROLE_SERVER)
        {
          channel_connected (ch, ETIMEDOUT);
          continue;
        }
      /* The server owes an OPEN_RESULT long past its own connect timeout:
       * do not let the application hang on a wedged or hostile server. */
      g_queue_unlink (&s->connecting, &ch->aux_link);
      ch->in_connecting = FALSE;
      if (ch->early && ch->fd < 0)
        {
          guint32 id = ch->id;
          gboolean opening = ch->state == CH_OPENING;
          sh_info ("channel %u: %s", id,
                   opening ? "no answer from the server, giving up"
                           : "its connection was never accepted");
          channel_abort (ch, TRUE);
          if (opening)
            s->opened_cb (s, id, ETIMEDOUT, s->opened_data);
          continue;
        }
      sh_info ("channel %u: no answer from the server, giving up", ch->id);
      channel_abort (ch, TRUE);
    }
  sh_session_flush (s);
  return G_SOURCE_CONTINUE;
}

/* ------------------------------------------------------------------ public */

void
sh_session_config_init (ShSessionConfig *c, ShRole role)
{
  memset (c, 0, sizeof *c);
  c->role = role;
  c->channel_window = 2 * 1024 * 1024;
  c->max_channels = 65536;
  c->inflight_limit = 16 * 1024 * 1024; /* a ceiling: latency.h */
  c->connect_timeout_ms = 10000;
  c->keepalive_s = role == SH_ROLE_CLIENT ? 3 : 0;
  c->name = role == SH_ROLE_CLIENT ? "shuttle " PACKAGE_VERSION : "shuttle-server " PACKAGE_VERSION;
  c->version_max = SH_MUX_VERSION;
}

ShSession *
sh_session_new (const ShSessionConfig *config, ShPoll *poll, int in_fd, int out_fd,
                ShSessionReadyFunc ready, ShSessionClosedFunc closed, gpointer data)
{
  ShSession *s = g_new0 (ShSession, 1);
  s->config = *config;
  if (s->config.inflight_limit > 0 && s->config.inflight_limit < SH_MUX_MIN_INFLIGHT)
    s->config.inflight_limit = SH_MUX_MIN_INFLIGHT;
  if (s->config.version_max == 0 || s->config.version_max > SH_MUX_VERSION)
    s->config.version_max = SH_MUX_VERSION;
  s->name = g_strdup (config->name);
  s->config.name = s->name;
  if (config->bootstrap)
    g_bytes_ref (config->bootstrap);
  s->poll = poll;
  s->in_fd = in_fd;
  s->out_fd = out_fd;
  s->ready_cb = ready;
  s->closed_cb = closed;
  s->cb_data = data;
  s->inbuf = g_malloc (INBUF_CAP);
  s->channels = g_hash_table_new (g_direct_hash, g_direct_equal);
  s->dns_pending = g_hash_table_new (g_direct_hash, g_direct_equal);
  s->assocs = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
  s->next_assoc = 1;
  s->next_dns_id = 1;
  s->next_id = 1;
  s->stats.rtt_us = -1;
  s->queue_cap = SH_SESSION_QUEUE_CAP;
  s->last_rx = g_get_monotonic_time ();
  buf_reserve (&s->wbuf, WBUF_INITIAL);
  s->sp[0] = s->sp[1] = -1;
  for (guint i = 0; i < SH_MUX_MAX_LANES; i++)
    s->lane_fds[i] = -1;

  set_nonblock (in_fd);
  set_nonblock (out_fd);
  /* Bigger pipes mean fewer syscalls; the in-flight limit, not the pipe,
   * bounds the queue that latency depends on. */
  fcntl (in_fd, F_SETPIPE_SZ, PIPE_SIZE);
  fcntl (out_fd, F_SETPIPE_SZ, PIPE_SIZE);

  s->in_watch.func = on_in;
  s->out_watch.func = on_out;
  sh_poll_add (poll, in_fd, EPOLLIN, &s->in_watch);
  sh_poll_add (poll, out_fd, 0, &s->out_watch);

  /* The client answers the server's HELLO: until then the pipe may lead to
   * a stage-1 loader that reads the agent, not frames. */
  if (config->role == SH_ROLE_SERVER)
    send_hello (s);

  /* One wakeup a second; a PING only every keepalive_s. */
  s->last_ping = s->last_rx;
  if (config->keepalive_s > 0)
    s->keepalive_id = g_timeout_add (1000, keepalive_tick, s);
  /* Server: connect() deadlines. Client: OPEN_RESULT deadlines. */
  s->connect_timer_id
      = g_timeout_add (config->role == SH_ROLE_SERVER ? 100 : 1000, connect_tick, s);
  return s;
}

void
sh_session_free (ShSession *s)
{
  if (!s)
    return;
  if (s->state != S_CLOSED)
    {
      s->closed_cb = NULL;
      session_end (s, NULL);
    }
  if (s->stats.dgrams_sent || s->stats.dgrams_received || s->stats.dgrams_dropped)
    sh_debug ("datagrams: %" G_GUINT64_FORMAT " sent, %" G_GUINT64_FORMAT
              " received, %" G_GUINT64_FORMAT " not sent (%" G_GUINT64_FORMAT
              " at the in-flight limit, %" G_GUINT64_FORMAT " with the output full)",
              s->stats.dgrams_sent, s->stats.dgrams_received, s->stats.dgrams_dropped,
              s->stats.dgrams_dropped_limit, s->stats.dgrams_dropped_full);
  GHashTableIter it;
  gpointer v;
  g_hash_table_iter_init (&it, s->channels);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Channel *ch = v;
      channel_close_fd (ch, TRUE);
      chq_clear (ch);
      if (!ch->dead)
        g_free (ch);
    }
  for (GList *l = s->draining.head; l; l = l->next)
    {
      Channel *ch = l->data;
      channel_close_fd (ch, FALSE);
      g_free (ch);
    }
  for (GSList *l = s->graveyard; l; l = l->next)
    g_free (l->data);
  g_slist_free (s->graveyard);
  g_hash_table_destroy (s->channels);
  g_clear_handle_id (&s->bond_idle_id, g_source_remove);
  sh_bond_free (s->bond);
  for (guint i = 0; i < SH_MUX_MAX_LANES; i++)
    if (s->lane_fds[i] >= 0)
      close (s->lane_fds[i]);
  close (s->in_fd);
  if (s->out_fd != s->in_fd)
    close (s->out_fd);
  buf_clear (&s->wbuf);
  if (s->sp[0] >= 0)
    {
      close (s->sp[0]);
      close (s->sp[1]);
    }
  g_free (s->inbuf);
  g_free (s->name);
  g_hash_table_unref (s->dns_pending);
  g_hash_table_unref (s->assocs);
  if (s->config.bootstrap)
    g_bytes_unref (s->config.bootstrap);
  g_free (s);
}

/* A new channel number, or 0 when we may not open one now (before the
 * handshake, or at either side's channel limit). */
static guint32
new_channel_id (ShSession *s)
{
  /* Our own limit too: the server's HELLO may allow a million. */
  if (s->state != S_READY || s->stats.channels_open >= s->peer_max_channels
      || s->stats.channels_open >= s->config.max_channels)
    return 0;
  guint32 id;
  do
    {
      id = s->next_id++;
      if (s->next_id == 0)
        s->next_id = 1;
    }
  while (id == 0 || g_hash_table_contains (s->channels, GUINT_TO_POINTER (id)));
  return id;
}

static Channel *
send_open (ShSession *s, guint32 id, int fd, const ShOpen *dst)
{
  Channel *ch = channel_new (s, id, fd, CH_OPENING);
  ch->dst = *dst;
  ch->wr_ready = TRUE;
  ch->deadline
      = g_get_monotonic_time () + ((gint64) s->config.connect_timeout_ms + OPEN_GRACE_MS) * 1000;
  g_queue_push_tail_link (&s->connecting, &ch->aux_link);
  ch->in_connecting = TRUE;

  guint8 f[SH_MUX_HDR_LEN + 20];
  queue_bytes (s, f, sh_frame_put_open (f, id, dst));
  if (sh_log_enabled (SH_LOG_INFO))
    {
      g_autofree char *a = addr_to_string (dst);
      sh_info ("channel %u: %s", id, a);
    }
  return ch;
}

/* The socket's part of a channel: events, and a first read. */
static void
attach_fd (Channel *ch, int fd)
{
  set_nonblock (fd);
  tune_socket (fd);
  ch->fd = fd;
  sh_poll_add (ch->session->poll, fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, &ch->watch);
  /* Clients usually send at once (a request, a TLS hello): try to read now,
   * so the first data leaves in the same write, and ssh packet, as OPEN. */
  ch->rd_ready = TRUE;
  ring_add (ch);
}

void
sh_session_open_channel (ShSession *s, int fd, const ShOpen *dst)
{
  guint32 id = new_channel_id (s);

  if (id == 0)
    {
      struct linger lg = { .l_onoff = 1, .l_linger = 0 };
      setsockopt (fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
      close (fd);
      return;
    }
  attach_fd (send_open (s, id, -1, dst), fd);
}

guint32
sh_session_open_early (ShSession *s, const ShOpen *dst, ShSessionOpenedFunc func, gpointer data)
{
  guint32 id = new_channel_id (s);

  if (id == 0)
    return 0;
  s->opened_cb = func;
  s->opened_data = data;
  send_open (s, id, -1, dst)->early = TRUE;
  return id;
}

gboolean
sh_session_bind_channel (ShSession *s, guint32 id, int fd)
{
  Channel *ch = g_hash_table_lookup (s->channels, GUINT_TO_POINTER (id));

  if (ch == NULL || !ch->early || ch->fd >= 0 || ch->close_sent || ch->close_recv
      || ch->state != CH_OPEN)
    return FALSE;
  if (ch->in_connecting)
    g_queue_unlink (&s->connecting, &ch->aux_link);
  ch->in_connecting = FALSE;
  attach_fd (ch, fd);
  /* What the server sent meanwhile (a banner), and its EOF. */
  if (ch->out.len > 0 || ch->eof_recv)
    channel_flush_out (ch);
  return TRUE;
}

void
sh_session_cancel_early (ShSession *s, guint32 id)
{
  Channel *ch = g_hash_table_lookup (s->channels, GUINT_TO_POINTER (id));

  if (ch == NULL || !ch->early || ch->fd >= 0)
    return;
  channel_abort (ch, TRUE);
}

void
sh_session_get_stats (ShSession *s, ShSessionStats *stats)
{
  *stats = s->stats;
}

void
sh_session_set_queue_cap (ShSession *s, gsize cap)
{
  s->queue_cap = MAX (cap, SH_SESSION_QUEUE_CAP_MIN);
}

gboolean
sh_session_offer_lanes (ShSession *s, int family, guint count, guint16 port, const guint8 *token)
{
  if (s->config.role != SH_ROLE_SERVER || s->state != S_READY || s->version < SH_MUX_VERSION_LANES
      || s->lanes_offered || count == 0 || count >= SH_MUX_MAX_LANES || s->in_fd == s->out_fd)
    return FALSE;
  s->lanes_offered = count;
  guint8 f[SH_MUX_HDR_LEN + 4 + SH_MUX_LANE_TOKEN_LEN];
  queue_bytes (s, f, sh_frame_put_lanes (f, family, count, port, token));
  return TRUE;
}

gboolean
sh_session_attach_lane (ShSession *s, guint index, int fd)
{
  if (s->config.role != SH_ROLE_SERVER || s->state != S_READY || s->rx_bonded || index == 0
      || index > s->lanes_offered || s->lane_fds[index] >= 0)
    return FALSE;
  s->lane_fds[index] = fd;
  return TRUE;
}

void
sh_session_bond (ShSession *s, const int *fds, guint32 mask)
{
  g_return_if_fail (s->config.role == SH_ROLE_CLIENT && !s->tx_bonded);
  if (s->state != S_READY || (mask & ~1u) == 0 || s->in_fd == s->out_fd)
    {
      for (guint i = 1; i < SH_MUX_MAX_LANES; i++)
        if ((mask & (1u << i)) && fds[i] >= 0)
          close (fds[i]);
      return;
    }
  s->bond_mask = mask | 1u;
  /* The bond's reading stays off until the server's BOND: lane 0 is still
   * frames. */
  bond_switch_tx (s, fds);
}

guint
sh_session_n_lanes (ShSession *s)
{
  return s->rx_bonded && s->tx_bonded ? sh_bond_n_lanes (s->bond) : 1;
}
