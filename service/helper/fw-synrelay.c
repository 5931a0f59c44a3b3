/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-synrelay.c — the helper's end of an engine's SYN queue; see
 * fw-synrelay.h. */
#include "config.h"

#include "fw-synrelay.h"

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <sys/socket.h>
#include <unistd.h>

#include "nfqsock.h"
#include "nfqueue.h"
#include "synrelay.h"

/* Queue numbers the helper tries: apart from the root engine's (0x5368..),
 * so that both kinds can run on one host. */
#define QUEUE_FIRST 0x5400u
#define QUEUE_TRIES 1024

struct _ShFwSynRelay
{
  int nfq;    /* the bound queue */
  int engine; /* our end of the pair */
  guint16 number;
  guint32 seq;
  guint max_pending;
  gboolean fail_closed;
  GHashTable *pending; /* packet ids passed to the engine and not yet answered */
  guint nfq_source, engine_source;
  ShFwSynRelayClosed on_closed;
  gpointer data;
  guint64 passed, refused;
};

static void
pass_or_accept (ShFwSynRelay *r, const ShNfqPacket *pkt)
{
  guint8 rec[SH_SYN_RELAY_SYN_LEN];

  /* Only a first SYN waits; anything else (a packet we cannot read, a
   * stray that the chain let in) goes on as it would without the queue. */
  if (pkt->family == 0 || (pkt->tcp_flags & 0x12) != 0x02
      || g_hash_table_size (r->pending) >= r->max_pending
      || g_hash_table_contains (r->pending, GUINT_TO_POINTER (pkt->id)))
    {
      sh_nfq_socket_verdict (r->nfq, r->number, pkt->id, SH_SYN_ACCEPT, ++r->seq);
      return;
    }
  sh_syn_relay_put_syn (rec, pkt);
  /* An engine that does not read does not hold the machine's SYNs. */
  if (send (r->engine, rec, sizeof rec, MSG_DONTWAIT | MSG_NOSIGNAL) != sizeof rec)
    {
      sh_nfq_socket_verdict (r->nfq, r->number, pkt->id, SH_SYN_ACCEPT, ++r->seq);
      return;
    }
  g_hash_table_add (r->pending, GUINT_TO_POINTER (pkt->id));
  r->passed++;
}

static gboolean
on_nfq (int fd, GIOCondition cond, gpointer data)
{
  ShFwSynRelay *r = data;
  guint8 buf[16384];

  /* Bounded, so that one busy engine cannot starve the others. */
  for (int round = 0; round < 64; round++)
    {
      ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n < 0)
        {
          if (errno == ENOBUFS)
            continue; /* the kernel dropped messages (their SYNs were let through) */
          break;
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
          if (is_packet || pkt.id != 0)
            pass_or_accept (r, &pkt);
        }
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_engine (int fd, GIOCondition cond, gpointer data)
{
  ShFwSynRelay *r = data;

  for (int round = 0; round < 256; round++)
    {
      /* One byte more than a record: a longer message shows as longer. */
      guint8 rec[SH_SYN_RELAY_VERDICT_LEN + 1];
      guint32 id;
      ShSynOutcome outcome;
      ssize_t n = recv (fd, rec, sizeof rec, MSG_DONTWAIT | MSG_TRUNC);

      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return G_SOURCE_CONTINUE;
      if (n <= 0)
        {
          r->engine_source = 0;
          r->on_closed (r, r->data); /* frees r */
          return G_SOURCE_REMOVE;
        }
      if (!sh_syn_relay_parse_verdict (rec, (gsize) n, &id, &outcome)
          || !g_hash_table_remove (r->pending, GUINT_TO_POINTER (id)))
        {
          r->refused++;
          continue;
        }
      sh_nfq_socket_verdict (r->nfq, r->number, id, outcome, ++r->seq);
    }
  return G_SOURCE_CONTINUE;
}

ShFwSynRelay *
sh_fw_syn_relay_new (guint max_pending, gboolean fail_closed, ShFwSynRelayClosed on_closed,
                     gpointer data, int *engine_fd, GError **error)
{
  int pair[2];
  guint16 number = 0;
  int nfq = sh_nfq_socket_open (QUEUE_FIRST, QUEUE_TRIES, &number, error);

  if (nfq < 0)
    return NULL;
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) < 0)
    {
      int e = errno;
      close (nfq);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "socketpair: %s", g_strerror (e));
      return NULL;
    }
  /* Room for a burst of SYNs and of verdicts. */
  int size = 1024 * 1024;
  setsockopt (pair[0], SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size);
  setsockopt (pair[0], SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);

  ShFwSynRelay *r = g_new0 (ShFwSynRelay, 1);
  r->nfq = nfq;
  r->engine = pair[0];
  r->number = number;
  r->seq = 1000;
  r->max_pending = max_pending;
  r->fail_closed = fail_closed;
  r->pending = g_hash_table_new (g_direct_hash, g_direct_equal);
  r->on_closed = on_closed;
  r->data = data;
  r->nfq_source = g_unix_fd_add (nfq, G_IO_IN, on_nfq, r);
  r->engine_source = g_unix_fd_add (r->engine, G_IO_IN | G_IO_HUP | G_IO_ERR, on_engine, r);
  *engine_fd = pair[1];
  return r;
}

guint16
sh_fw_syn_relay_number (const ShFwSynRelay *r)
{
  return r->number;
}

guint64
sh_fw_syn_relay_refused (const ShFwSynRelay *r)
{
  return r->refused;
}

guint64
sh_fw_syn_relay_passed (const ShFwSynRelay *r)
{
  return r->passed;
}

void
sh_fw_syn_relay_free (ShFwSynRelay *r)
{
  GHashTableIter it;
  gpointer id;

  if (r == NULL)
    return;
  g_clear_handle_id (&r->nfq_source, g_source_remove);
  g_clear_handle_id (&r->engine_source, g_source_remove);
  /* Closing the queue would drop what waits; without --fail-closed it
   * passes instead, as with no queue at all. */
  g_hash_table_iter_init (&it, r->pending);
  while (!r->fail_closed && g_hash_table_iter_next (&it, &id, NULL))
    sh_nfq_socket_verdict (r->nfq, r->number, GPOINTER_TO_UINT (id), SH_SYN_ACCEPT, ++r->seq);
  close (r->nfq);
  close (r->engine);
  g_hash_table_unref (r->pending);
  g_free (r);
}
