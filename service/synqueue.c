/* SPDX-License-Identifier: GPL-2.0-or-later */
/* synqueue.c — the engine's end of the SYN queue; see synqueue.h. */
#include "config.h"

#include "synqueue.h"

#include <errno.h>
#include <netinet/in.h> /* before the linux/ headers, which then skip their copy */
#include <gio/gio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "nfqsock.h"
#include "nfqueue.h"
#include "synrelay.h"

/* Queue numbers tried, from the first; another engine may hold one. */
#define QUEUE_FIRST 0x5368u
#define QUEUE_TRIES 64
/* Connections known at once (waiting, or open and not yet accepted). */
#define PENDING_MAX 8192

typedef struct
{
  guint8 family;
  guint8 pad[3];
  guint16 sport, dport;
  guint8 src[16], dst[16];
} Key;

typedef struct
{
  Key key;
  guint32 packet; /* the SYN's id while it waits; 0 once it has its verdict */
  guint32 channel;
  gint64 since;
} Pending;

struct _ShSynQueue
{
  ShPollWatch watch;
  ShPoll *poll;
  int fd;         /* the queue's netlink socket, or with @relay the helper's record socket */
  gboolean relay; /* the helper holds the queue (synrelay.h); -1 fd once it hung up */
  guint16 number;
  guint32 seq;
  ShSynQueueSessionFunc session_for;
  gpointer data;
  ShSession *session;  /* of the channels in the tables */
  GHashTable *by_key;  /* Key → Pending (owned) */
  GHashTable *by_chan; /* channel → Pending */
  guint sweep_id;
};

static guint
key_hash (gconstpointer p)
{
  const Key *k = p;
  guint h = k->sport * 31u + k->dport;
  for (int i = 0; i < 16; i++)
    h = h * 33u + k->src[i] + k->dst[i] * 7u;
  return h;
}

static gboolean
key_equal (gconstpointer a, gconstpointer b)
{
  return memcmp (a, b, sizeof (Key)) == 0;
}

static void
verdict (ShSynQueue *q, guint32 packet, ShSynOutcome outcome)
{
  gboolean sent;

  if (q->fd < 0)
    return; /* the helper hung up: its queue went with the packets */
  if (q->relay)
    {
      guint8 rec[SH_SYN_RELAY_VERDICT_LEN];
      sh_syn_relay_put_verdict (rec, packet, outcome);
      sent = send (q->fd, rec, sizeof rec, MSG_DONTWAIT | MSG_NOSIGNAL) == sizeof rec;
    }
  else
    sent = sh_nfq_socket_verdict (q->fd, q->number, packet, outcome, ++q->seq);
  /* Unsent, the packet stays queued until the socket closes, then the
   * kernel drops it and the program retries: nothing better to do. */
  if (!sent)
    sh_debug ("syn queue: verdict not sent: %s", g_strerror (errno));
}

static void
forget (ShSynQueue *q, Pending *p)
{
  if (p->channel != 0)
    g_hash_table_remove (q->by_chan, GUINT_TO_POINTER (p->channel));
  g_hash_table_remove (q->by_key, &p->key); /* frees p */
}

static void
on_opened (ShSession *session, guint32 id, int err, gpointer data)
{
  ShSynQueue *q = data;
  Pending *p = g_hash_table_lookup (q->by_chan, GUINT_TO_POINTER (id));

  if (p == NULL || p->packet == 0)
    return;
  guint32 packet = p->packet;
  p->packet = 0;
  if (err == 0)
    {
      /* Into the redirect; the accept takes the channel. */
      p->since = g_get_monotonic_time ();
      verdict (q, packet, SH_SYN_ACCEPT);
      return;
    }
  forget (q, p);
  /* Refused or unreachable: answered in the kernel as the far side did;
   * timed out: dropped, and the program's TCP retries as it would. */
  verdict (q, packet, sh_syn_outcome_from_errno (err));
}

static void
on_packet (ShSynQueue *q, const ShNfqPacket *pkt)
{
  Key key = { .family = pkt->family, .sport = pkt->sport, .dport = pkt->dport };
  memcpy (key.src, pkt->src, 16);
  memcpy (key.dst, pkt->dst, 16);

  if ((pkt->tcp_flags & 0x12) != 0x02)
    {
      verdict (q, pkt->id, SH_SYN_ACCEPT);
      return;
    }
  Pending *p = g_hash_table_lookup (q->by_key, &key);
  if (p != NULL)
    {
      /* A retransmission: the first SYN still waits (drop this one), or
       * was let through a moment ago (this one may follow it). */
      verdict (q, pkt->id, p->packet != 0 ? SH_SYN_DROP : SH_SYN_ACCEPT);
      return;
    }

  ShOpen dst = { .family = pkt->family, .port = pkt->dport };
  memcpy (dst.addr, pkt->dst, 16);
  ShSession *session = q->session_for (&dst, q->data);
  if (session != q->session)
    {
      sh_syn_queue_reset (q);
      q->session = session;
    }
  guint32 chan = 0;
  if (session != NULL && g_hash_table_size (q->by_key) < PENDING_MAX)
    chan = sh_session_open_early (session, &dst, on_opened, q);
  if (chan == 0)
    {
      verdict (q, pkt->id, SH_SYN_ACCEPT); /* as before the queue */
      return;
    }
  p = g_new0 (Pending, 1);
  p->key = key;
  p->packet = pkt->id;
  p->channel = chan;
  p->since = g_get_monotonic_time ();
  g_hash_table_insert (q->by_key, &p->key, p);
  g_hash_table_insert (q->by_chan, GUINT_TO_POINTER (chan), p);
}

/* The helper's records: one SYN each (synrelay.h). End of file: the
 * helper dropped the queue (our rules were removed, or it went away); the
 * chains went with it, and connections complete at the listener. */
static void
relay_readable (ShSynQueue *q)
{
  for (int round = 0; round < 256; round++)
    {
      guint8 rec[SH_SYN_RELAY_SYN_LEN + 1];
      ShNfqPacket pkt;
      ssize_t n = recv (q->fd, rec, sizeof rec, MSG_DONTWAIT);

      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
      if (n <= 0)
        {
          sh_debug ("syn queue: the firewall helper closed the relay");
          sh_syn_queue_reset (q);
          sh_poll_remove (q->poll, q->fd);
          close (q->fd);
          q->fd = -1;
          return;
        }
      if (sh_syn_relay_parse_syn (rec, n, &pkt))
        on_packet (q, &pkt);
    }
}

static void
on_readable (ShPollWatch *w, guint32 events)
{
  ShSynQueue *q = (ShSynQueue *) w;
  guint8 buf[16384];

  if (q->relay)
    {
      relay_readable (q);
      return;
    }

  /* Bounded, so a flood of SYNs cannot starve the data plane. */
  for (int round = 0; round < 64; round++)
    {
      ssize_t n = recv (q->fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0)
        {
          if (errno == ENOBUFS)
            continue; /* the kernel dropped messages (their SYNs were let through) */
          return;
        }
      for (gsize off = 0; off < (gsize) n;)
        {
          ShNfqPacket pkt;
          gboolean is_packet;
          int err;
          int step = sh_nfq_parse (buf + off, n - off, &pkt, &is_packet, &err);

          if (step <= 0)
            break;
          off += step;
          if (is_packet)
            on_packet (q, &pkt);
          else if (pkt.id != 0)
            verdict (q, pkt.id, SH_SYN_ACCEPT); /* not one we can read */
        }
    }
}

/* Entries whose accept never came (the program gave up in between). The
 * session closes their channels itself (EARLY_BIND_MS). */
static gboolean
sweep (gpointer data)
{
  ShSynQueue *q = data;
  gint64 old = g_get_monotonic_time () - 30 * G_USEC_PER_SEC;
  GHashTableIter it;
  Pending *p;

  g_hash_table_iter_init (&it, q->by_key);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &p))
    if (p->packet == 0 && p->since < old)
      {
        if (p->channel != 0)
          g_hash_table_remove (q->by_chan, GUINT_TO_POINTER (p->channel));
        g_hash_table_iter_remove (&it);
      }
  return G_SOURCE_CONTINUE;
}

static ShSynQueue *
queue_new (ShPoll *poll, int fd, gboolean relay, guint16 number, ShSynQueueSessionFunc session_for,
           gpointer data)
{
  ShSynQueue *q = g_new0 (ShSynQueue, 1);
  q->watch.func = on_readable;
  q->poll = poll;
  q->fd = fd;
  q->relay = relay;
  q->number = number;
  q->seq = 1000;
  q->session_for = session_for;
  q->data = data;
  q->by_key = g_hash_table_new_full (key_hash, key_equal, NULL, g_free);
  q->by_chan = g_hash_table_new (g_direct_hash, g_direct_equal);
  q->sweep_id = g_timeout_add_seconds (10, sweep, q);
  sh_poll_add (poll, fd, EPOLLIN, &q->watch);
  return q;
}

ShSynQueue *
sh_syn_queue_new (ShPoll *poll, ShSynQueueSessionFunc session_for, gpointer data, GError **error)
{
  guint16 number = 0;
  int fd = sh_nfq_socket_open (QUEUE_FIRST, QUEUE_TRIES, &number, error);

  if (fd < 0)
    return NULL;
  return queue_new (poll, fd, FALSE, number, session_for, data);
}

ShSynQueue *
sh_syn_queue_new_relay (ShPoll *poll, int fd, ShSynQueueSessionFunc session_for, gpointer data)
{
  return queue_new (poll, fd, TRUE, 0, session_for, data);
}

gboolean
sh_syn_queue_is_open (const ShSynQueue *q)
{
  return q->fd >= 0;
}

void
sh_syn_queue_free (ShSynQueue *q)
{
  if (q == NULL)
    return;
  /* Closing the socket unbinds the queue (the helper's, when it relays);
   * with "bypass" SYNs pass again. */
  if (q->fd >= 0)
    {
      sh_poll_remove (q->poll, q->fd);
      close (q->fd);
    }
  g_clear_handle_id (&q->sweep_id, g_source_remove);
  g_hash_table_destroy (q->by_chan);
  g_hash_table_destroy (q->by_key);
  g_free (q);
}

guint16
sh_syn_queue_number (const ShSynQueue *q)
{
  return q->number;
}

guint32
sh_syn_queue_take (ShSynQueue *q, const ShOpen *src, const ShOpen *dst)
{
  Key key = { .family = src->family, .sport = src->port, .dport = dst->port };
  memcpy (key.src, src->addr, 16);
  memcpy (key.dst, dst->addr, 16);
  Pending *p = g_hash_table_lookup (q->by_key, &key);

  if (p == NULL || p->packet != 0)
    return 0;
  guint32 chan = p->channel;
  forget (q, p);
  return chan;
}

void
sh_syn_queue_reset (ShSynQueue *q)
{
  GHashTableIter it;
  Pending *p;

  g_hash_table_iter_init (&it, q->by_key);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &p))
    if (p->packet != 0)
      verdict (q, p->packet, SH_SYN_ACCEPT);
  g_hash_table_remove_all (q->by_chan);
  g_hash_table_remove_all (q->by_key);
  q->session = NULL;
}
