/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "dgramrelay.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "firewall.h"
#include "log.h"

/* Datagrams read per association and wakeup: a flood on one socket
 * must not starve the others (epoll reports it again). */
#define READS_PER_WAKEUP 16
#define ICMP_HDR 8
#define ICMP_ECHO_REQUEST 8
#define ICMP_ECHO_REPLY 0
#define ICMP6_ECHO_REQUEST 128
#define ICMP6_ECHO_REPLY 129

typedef struct
{
  ShPollWatch watch; /* first: events for fd */
  ShDgramRelay *relay;
  guint32 id;
  int fd;
  int family;
  guint8 kind;
  gint64 last; /* monotonic µs of the last datagram either way */
  GList lru;   /* in relay->lru, least recently used first */
} Assoc;

struct _ShDgramRelay
{
  ShPoll *poll;
  ShSession *session;
  GHashTable *assocs; /* id → Assoc */
  GQueue lru;
  gint64 idle_us;
  guint max;
  guint timer;
  guint8 buf[ICMP_HDR + 65536];
};

static void
assoc_free (gpointer data)
{
  Assoc *a = data;
  sh_poll_remove (a->relay->poll, a->fd);
  close (a->fd);
  g_queue_unlink (&a->relay->lru, &a->lru);
  g_free (a);
}

static void
touch (Assoc *a)
{
  a->last = g_get_monotonic_time ();
  g_queue_unlink (&a->relay->lru, &a->lru);
  g_queue_push_tail_link (&a->relay->lru, &a->lru);
}

static void
on_readable (ShPollWatch *w, guint32 events)
{
  Assoc *a = (Assoc *) w;
  ShDgramRelay *r = a->relay;
  for (int i = 0; i < READS_PER_WAKEUP; i++)
    {
      struct sockaddr_storage ss;
      socklen_t sslen = sizeof ss;
      ssize_t n = recvfrom (a->fd, r->buf, sizeof r->buf, MSG_DONTWAIT | MSG_TRUNC,
                            (struct sockaddr *) &ss, &sslen);
      if (n < 0)
        return; /* EAGAIN, or an error queued by ICMP: nothing to relay */
      ShDgram d = { .family = a->family, .kind = a->kind, .data = r->buf };
      if (ss.ss_family == AF_INET && a->family == AF_INET)
        {
          const struct sockaddr_in *sin = (const struct sockaddr_in *) &ss;
          memcpy (d.addr, &sin->sin_addr, 4);
          d.port = ntohs (sin->sin_port);
        }
      else if (ss.ss_family == AF_INET6 && a->family == AF_INET6)
        {
          const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) &ss;
          memcpy (d.addr, &sin6->sin6_addr, 16);
          d.port = ntohs (sin6->sin6_port);
        }
      else
        continue;
      if ((gsize) n > sizeof r->buf)
        n = G_MAXUINT16; /* truncated: too big to carry, the session drops it */
      if (a->kind == SH_DGRAM_ECHO)
        {
          /* A ping socket delivers the ICMP message without the IP header;
           * the kernel matched the identifier. Only replies go back. */
          guint8 reply = a->family == AF_INET ? ICMP_ECHO_REPLY : ICMP6_ECHO_REPLY;
          if (n < ICMP_HDR || r->buf[0] != reply)
            continue;
          d.port = (guint16) ((r->buf[6] << 8) | r->buf[7]);
          d.data = r->buf + ICMP_HDR;
          n -= ICMP_HDR;
        }
      d.data_len = (guint16) MIN (n, G_MAXUINT16);
      touch (a);
      sh_session_send_dgram (r->session, a->id, &d);
    }
}

static gboolean
on_tick (gpointer data)
{
  ShDgramRelay *r = data;
  gint64 now = g_get_monotonic_time ();
  Assoc *a;
  gboolean closed = FALSE;
  while ((a = g_queue_peek_head (&r->lru)) && now - a->last >= r->idle_us)
    {
      sh_debug ("association %u: idle, closed", a->id);
      sh_session_dgram_close (r->session, a->id, SH_DGRAM_CLOSE_DONE, 0);
      g_hash_table_remove (r->assocs, GUINT_TO_POINTER (a->id));
      closed = TRUE;
    }
  if (closed)
    sh_session_flush (r->session);
  return G_SOURCE_CONTINUE;
}

/* A new association's socket, or -errno. */
static int
open_socket (int family, guint8 kind)
{
  int proto = kind == SH_DGRAM_UDP ? 0 : family == AF_INET ? IPPROTO_ICMP : IPPROTO_ICMPV6;
  int fd = socket (family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0)
    return -errno;
  /* As for channels: in test mode the client's rules must not capture us. */
  guint32 mark = SH_FIREWALL_BYPASS_MARK;
  setsockopt (fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
  return fd;
}

static Assoc *
assoc_new (ShDgramRelay *r, guint32 id, const ShDgram *d)
{
  if (g_hash_table_size (r->assocs) >= r->max)
    {
      sh_session_dgram_close (r->session, id, SH_DGRAM_CLOSE_LIMIT, 0);
      return NULL;
    }
  int fd = open_socket (d->family, d->kind);
  if (fd < 0)
    {
      int err = -fd;
      /* ping_group_range leaves the user out (EACCES), or no ICMP sockets. */
      gboolean no_echo = d->kind == SH_DGRAM_ECHO
                         && (err == EACCES || err == EPERM || err == EPROTONOSUPPORT
                             || err == EAFNOSUPPORT || err == ESOCKTNOSUPPORT);
      sh_info ("association %u: %s socket: %s", id, d->kind == SH_DGRAM_ECHO ? "ICMP" : "UDP",
               g_strerror (err));
      sh_session_dgram_close (r->session, id,
                              no_echo ? SH_DGRAM_CLOSE_NO_ECHO : SH_DGRAM_CLOSE_FAILED, err);
      return NULL;
    }
  Assoc *a = g_new0 (Assoc, 1);
  a->watch.func = on_readable;
  a->relay = r;
  a->id = id;
  a->fd = fd;
  a->family = d->family;
  a->kind = d->kind;
  a->lru.data = a;
  g_queue_push_tail_link (&r->lru, &a->lru);
  g_hash_table_insert (r->assocs, GUINT_TO_POINTER (id), a);
  sh_poll_add (r->poll, fd, EPOLLIN, &a->watch);
  return a;
}

void
sh_dgram_relay_dgram (ShSession *session, guint32 id, const ShDgram *d, gpointer data)
{
  ShDgramRelay *r = data;
  Assoc *a = g_hash_table_lookup (r->assocs, GUINT_TO_POINTER (id));
  if (a == NULL && (a = assoc_new (r, id, d)) == NULL)
    return;
  touch (a);

  struct sockaddr_storage ss = { 0 };
  socklen_t sslen;
  if (d->family == AF_INET)
    {
      struct sockaddr_in *sin = (struct sockaddr_in *) &ss;
      sin->sin_family = AF_INET;
      sin->sin_port = d->kind == SH_DGRAM_UDP ? htons (d->port) : 0;
      memcpy (&sin->sin_addr, d->addr, 4);
      sslen = sizeof *sin;
    }
  else
    {
      struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *) &ss;
      sin6->sin6_family = AF_INET6;
      sin6->sin6_port = d->kind == SH_DGRAM_UDP ? htons (d->port) : 0;
      memcpy (&sin6->sin6_addr, d->addr, 16);
      sslen = sizeof *sin6;
    }

  const void *msg = d->data;
  gsize len = d->data_len;
  if (d->kind == SH_DGRAM_ECHO)
    {
      /* The kernel fills in the identifier and the checksum. */
      guint8 *p = r->buf;
      p[0] = d->family == AF_INET ? ICMP_ECHO_REQUEST : ICMP6_ECHO_REQUEST;
      p[1] = 0;
      memset (p + 2, 0, 4);
      p[6] = d->port >> 8;
      p[7] = d->port & 0xff;
      memcpy (p + ICMP_HDR, d->data, d->data_len);
      msg = p;
      len += ICMP_HDR;
    }
  /* Full socket buffer, unreachable network, too big: lost, like on a
   * network; the sender's program retransmits if it cares. */
  if (sendto (a->fd, msg, len, MSG_DONTWAIT | MSG_NOSIGNAL, (struct sockaddr *) &ss, sslen) < 0)
    sh_debug ("association %u: %s", id, g_strerror (errno));
}

void
sh_dgram_relay_closed (ShSession *session, guint32 id, ShDgramCloseReason reason, int err,
                       gpointer data)
{
  ShDgramRelay *r = data;
  g_hash_table_remove (r->assocs, GUINT_TO_POINTER (id));
}

ShDgramRelay *
sh_dgram_relay_new (ShPoll *poll, ShSession *session, guint idle_ms, guint max)
{
  ShDgramRelay *r = g_new0 (ShDgramRelay, 1);
  r->poll = poll;
  r->session = session;
  r->assocs = g_hash_table_new_full (NULL, NULL, NULL, assoc_free);
  r->idle_us = (gint64) MAX (idle_ms, 1) * 1000;
  r->max = max;
  /* Idle associations are closed within a quarter of the timeout (at
   * most a second) of its end. */
  r->timer = g_timeout_add (CLAMP (idle_ms / 4, 10, 1000), on_tick, r);
  return r;
}

void
sh_dgram_relay_free (ShDgramRelay *r)
{
  if (r == NULL)
    return;
  g_clear_handle_id (&r->timer, g_source_remove);
  g_hash_table_destroy (r->assocs);
  g_free (r);
}
