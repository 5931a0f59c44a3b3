/* SPDX-License-Identifier: GPL-2.0-or-later */
/* synqueue.c — the engine's end of the SYN queue; see synqueue.h. */
#include "config.h"

#include "synqueue.h"

#include <errno.h>
#include <netinet/in.h> /* before the linux/ headers, which then skip their copy */
#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <linux/netfilter.h>
#include <linux/netlink.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "firewall.h"
#include "log.h"
#include "nfqueue.h"

/* Queue numbers tried, from the first; another engine may hold one. */
#define QUEUE_FIRST 0x5368u
#define QUEUE_TRIES 64
/* SYNs waiting at once; beyond, the kernel lets them pass (fail-open). */
#define QUEUE_MAXLEN 4096
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
  int fd;
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
verdict (ShSynQueue *q, guint32 packet, guint32 v, guint32 mark)
{
  guint8 msg[SH_NFQ_MSG_MAX];
  gsize len = sh_nfq_put_verdict (msg, q->number, packet, v, mark, ++q->seq);

  /* On failure the packet stays queued until the socket closes, then the
   * kernel drops it and the program retries: nothing better to do. */
  if (send (q->fd, msg, len, MSG_DONTWAIT) < 0)
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
      verdict (q, packet, NF_ACCEPT, 0);
      return;
    }
  forget (q, p);
  switch (err)
    {
    case ETIMEDOUT:
      /* Silence, as a direct SYN would meet: the program retries. */
      verdict (q, packet, NF_DROP, 0);
      break;
    case EHOSTUNREACH:
      verdict (q, packet, NF_REPEAT, SH_FIREWALL_HOST_UNREACH_MARK);
      break;
    case ENETUNREACH:
      verdict (q, packet, NF_REPEAT, SH_FIREWALL_NET_UNREACH_MARK);
      break;
    default:
      verdict (q, packet, NF_REPEAT, SH_FIREWALL_REFUSED_MARK);
      break;
    }
}

static void
on_packet (ShSynQueue *q, const ShNfqPacket *pkt)
{
  Key key = { .family = pkt->family, .sport = pkt->sport, .dport = pkt->dport };
  memcpy (key.src, pkt->src, 16);
  memcpy (key.dst, pkt->dst, 16);

  if ((pkt->tcp_flags & 0x12) != 0x02)
    {
      verdict (q, pkt->id, NF_ACCEPT, 0);
      return;
    }
  Pending *p = g_hash_table_lookup (q->by_key, &key);
  if (p != NULL)
    {
      /* A retransmission: the first SYN still waits (drop this one), or
       * was let through a moment ago (this one may follow it). */
      verdict (q, pkt->id, p->packet != 0 ? NF_DROP : NF_ACCEPT, 0);
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
      verdict (q, pkt->id, NF_ACCEPT, 0); /* as before the queue */
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

static void
on_readable (ShPollWatch *w, guint32 events)
{
  ShSynQueue *q = (ShSynQueue *) w;
  guint8 buf[16384];

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
            verdict (q, pkt.id, NF_ACCEPT, 0); /* not one we can read */
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

/* Sends @msg and waits (briefly) for its acknowledgement. */
static int
request (int fd, const guint8 *msg, gsize len)
{
  guint8 reply[256];

  if (send (fd, msg, len, 0) != (ssize_t) len)
    return errno;
  for (;;)
    {
      ssize_t n = recv (fd, reply, sizeof reply, 0);
      if (n < 0)
        return errno;
      for (gsize off = 0; off < (gsize) n;)
        {
          ShNfqPacket pkt;
          gboolean is_packet;
          int err;
          int step = sh_nfq_parse (reply + off, n - off, &pkt, &is_packet, &err);
          if (step <= 0)
            return EIO;
          if (((const struct nlmsghdr *) (reply + off))->nlmsg_type == NLMSG_ERROR)
            return err;
          off += step;
        }
    }
}

ShSynQueue *
sh_syn_queue_new (ShPoll *poll, ShSynQueueSessionFunc session_for, gpointer data, GError **error)
{
  struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
  struct timeval tv = { .tv_sec = 2 };
  int fd = socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_NETFILTER);
  int err = 0, one = 1, rcvbuf = 4 * 1024 * 1024;
  guint16 number = 0;

  if (fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    err = errno;
  else
    {
      setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
      setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);
      setsockopt (fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);
      err = EBUSY;
      for (guint i = 0; i < QUEUE_TRIES && err == EBUSY; i++)
        {
          guint8 msg[SH_NFQ_MSG_MAX];
          number = QUEUE_FIRST + i;
          err = request (fd, msg, sh_nfq_put_bind (msg, number, QUEUE_MAXLEN, i + 1));
        }
    }
  if (err != 0)
    {
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   /* Translators: %s is the system's error message. */
                   _ ("cannot bind a netfilter queue for SYNs: %s"), g_strerror (err));
      return NULL;
    }

  ShSynQueue *q = g_new0 (ShSynQueue, 1);
  q->watch.func = on_readable;
  q->poll = poll;
  q->fd = fd;
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

void
sh_syn_queue_free (ShSynQueue *q)
{
  if (q == NULL)
    return;
  /* Closing the socket unbinds the queue; with "bypass" SYNs pass again. */
  sh_poll_remove (q->poll, q->fd);
  close (q->fd);
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
      verdict (q, p->packet, NF_ACCEPT, 0);
  g_hash_table_remove_all (q->by_chan);
  g_hash_table_remove_all (q->by_key);
  q->session = NULL;
}
