/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "dgramrelay.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "firewall.h"
#include "log.h"
#include "pktcodec.h"

/* Datagrams read per association and wakeup (one recvmmsg): a flood on
 * one socket must not starve the others (epoll reports it again). */
#define READS_PER_WAKEUP 16
/* Datagrams, and their bytes, gathered for sendmmsg() before a flush. */
#define OUT_MAX 64
#define OUT_BYTES (256 * 1024)
/* UDP GSO (UDP_SEGMENT, Linux 4.18): a run of datagrams of one size to one
 * destination goes down the stack as one super-datagram, cut at the device
 * (or by the NIC), instead of one trip through UDP, IP and netfilter each:
 * the server's sends were its largest cost per datagram. The kernel takes
 * at most 64 segments and 64 KiB of UDP payload per call, and refuses a
 * group (EINVAL) whose segments do not fit the route's MTU: then that size
 * and larger ones are not grouped again in this session (gso_seg_max). A
 * device without it (EIO) turns grouping off. A kernel older than 4.18
 * would not refuse: it ignores a control message of a level it does not
 * know and sends the group as one datagram. So the socket option is asked
 * for first (gso_supported()), which such a kernel does refuse. Bounds:
 * SH_PKT_GSO_SEGS_MAX, SH_PKT_GSO_BYTES_MAX. */
/* Each association socket's receive and send buffer. */
#define SOCKET_BUF (1024 * 1024)
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

typedef union
{
  struct sockaddr sa;
  struct sockaddr_in v4;
  struct sockaddr_in6 v6;
} SockAddr;

/* A datagram waiting for sh_dgram_relay_flush(): its bytes are at @off in
 * the relay's out_buf. */
typedef struct
{
  int fd;
  guint32 id;
  gboolean udp; /* not an echo: may be grouped */
  SockAddr to;
  socklen_t to_len;
  gsize off, len;
} OutDgram;

#define IN_BUF (ICMP_HDR + 65536)

struct _ShDgramRelay
{
  ShPoll *poll;
  ShSession *session;
  GHashTable *assocs; /* id → Assoc */
  GQueue lru;
  gint64 idle_us;
  guint max;
  guint timer;
  guint8 *in_buf; /* READS_PER_WAKEUP × IN_BUF, made with the first association */
  OutDgram out[OUT_MAX];
  guint n_out;
  guint8 out_buf[OUT_BYTES];
  gsize out_used;
  guint64 sent, send_failed; /* datagrams sent to the network, and lost at sendmmsg() */
  guint64 sent_grouped;      /* ... of them in UDP GSO groups */
  gsize gso_seg_max;         /* larger datagrams are not grouped (0: none are) */
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
  struct mmsghdr msgs[READS_PER_WAKEUP];
  struct iovec iov[READS_PER_WAKEUP];
  struct sockaddr_storage from[READS_PER_WAKEUP];

  for (int i = 0; i < READS_PER_WAKEUP; i++)
    {
      iov[i] = (struct iovec){ r->in_buf + (gsize) i * IN_BUF, IN_BUF };
      msgs[i].msg_hdr = (struct msghdr){
        .msg_name = &from[i], .msg_namelen = sizeof from[i], .msg_iov = &iov[i], .msg_iovlen = 1
      };
    }
  int got = recvmmsg (a->fd, msgs, READS_PER_WAKEUP, MSG_DONTWAIT, NULL);
  if (got <= 0)
    return; /* EAGAIN, or an error queued by ICMP: nothing to relay */
  touch (a);
  for (int i = 0; i < got; i++)
    {
      const struct sockaddr_storage *ss = &from[i];
      guint8 *buf = iov[i].iov_base;
      gsize n = msgs[i].msg_len;
      ShDgram d = { .family = a->family, .kind = a->kind, .data = buf };
      if (ss->ss_family == AF_INET && a->family == AF_INET)
        {
          const struct sockaddr_in *sin = (const struct sockaddr_in *) ss;
          memcpy (d.addr, &sin->sin_addr, 4);
          d.port = ntohs (sin->sin_port);
        }
      else if (ss->ss_family == AF_INET6 && a->family == AF_INET6)
        {
          const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *) ss;
          memcpy (d.addr, &sin6->sin6_addr, 16);
          d.port = ntohs (sin6->sin6_port);
        }
      else
        continue;
      if (msgs[i].msg_hdr.msg_flags & MSG_TRUNC)
        n = G_MAXUINT16; /* too big to carry: the session drops it */
      if (a->kind == SH_DGRAM_ECHO)
        {
          /* A ping socket delivers the ICMP message without the IP header;
           * the kernel matched the identifier. Only replies go back. */
          guint8 reply = a->family == AF_INET ? ICMP_ECHO_REPLY : ICMP6_ECHO_REPLY;
          if (n < ICMP_HDR || buf[0] != reply)
            continue;
          d.port = (guint16) ((buf[6] << 8) | buf[7]);
          d.data = buf + ICMP_HDR;
          n -= ICMP_HDR;
        }
      d.data_len = (guint16) MIN (n, G_MAXUINT16);
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
  sh_dgram_relay_flush (r); /* nothing queued for a socket about to close */
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
  /* Room for a burst while the server waits for the CPU (the kernel caps
   * it at net.core.rmem_max / wmem_max): the default 208 KiB is 0.8 ms at
   * 2 Gbit/s. */
  int room = SOCKET_BUF;
  setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
  setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &room, sizeof room);
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
  if (r->in_buf == NULL)
    r->in_buf = g_malloc ((gsize) READS_PER_WAKEUP * IN_BUF);
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

  gsize len = d->data_len + (d->kind == SH_DGRAM_ECHO ? ICMP_HDR : 0);
  if (r->n_out == OUT_MAX || r->out_used + len > OUT_BYTES)
    sh_dgram_relay_flush (r);
  OutDgram *o = &r->out[r->n_out++];
  guint8 *p = r->out_buf + r->out_used;
  o->fd = a->fd;
  o->id = id;
  o->udp = d->kind == SH_DGRAM_UDP;
  o->off = r->out_used;
  o->len = len;
  r->out_used += len;
  memset (&o->to, 0, sizeof o->to);
  if (d->family == AF_INET)
    {
      o->to.v4.sin_family = AF_INET;
      o->to.v4.sin_port = d->kind == SH_DGRAM_UDP ? htons (d->port) : 0;
      memcpy (&o->to.v4.sin_addr, d->addr, 4);
      o->to_len = sizeof o->to.v4;
    }
  else
    {
      o->to.v6.sin6_family = AF_INET6;
      o->to.v6.sin6_port = d->kind == SH_DGRAM_UDP ? htons (d->port) : 0;
      memcpy (&o->to.v6.sin6_addr, d->addr, 16);
      o->to_len = sizeof o->to.v6;
    }
  if (d->kind == SH_DGRAM_ECHO)
    {
      /* The kernel fills in the identifier and the checksum. */
      p[0] = d->family == AF_INET ? ICMP_ECHO_REQUEST : ICMP6_ECHO_REQUEST;
      p[1] = 0;
      memset (p + 2, 0, 4);
      p[6] = d->port >> 8;
      p[7] = d->port & 0xff;
      p += ICMP_HDR;
    }
  memcpy (p, d->data, d->data_len);
}

/* How many datagrams from @k on may go as one UDP GSO group: same socket,
 * same destination, same size (the last may be shorter), within the
 * kernel's limits. 1 when they may not. */
static guint
gso_run (const ShDgramRelay *r, guint k)
{
  const OutDgram *first = &r->out[k];
  gsize total = first->len;
  guint n = 1;

  if (!first->udp || first->len == 0 || first->len > r->gso_seg_max)
    return 1;
  while (k + n < r->n_out && n < SH_PKT_GSO_SEGS_MAX)
    {
      const OutDgram *o = &r->out[k + n];
      if (o->fd != first->fd || o->to_len != first->to_len
          || memcmp (&o->to, &first->to, first->to_len) != 0 || o->len == 0 || o->len > first->len
          || total + o->len > SH_PKT_GSO_BYTES_MAX)
        break;
      total += o->len;
      n++;
      if (o->len < first->len)
        break; /* a shorter one ends the group */
    }
  return n;
}

typedef struct
{
  guint first, count; /* datagrams out[first ...] */
  union
  {
    char buf[CMSG_SPACE (sizeof (guint16))];
    struct cmsghdr align;
  } cmsg;
} SendUnit;

void
sh_dgram_relay_flush (ShDgramRelay *r)
{
  struct mmsghdr msgs[OUT_MAX];
  struct iovec iov[OUT_MAX];
  SendUnit units[OUT_MAX];
  guint k = 0;

  /* One sendmmsg() per run of datagrams for the same socket, in order;
   * each of its messages one datagram or one GSO group. */
  while (k < r->n_out)
    {
      int fd = r->out[k].fd;
      guint n = 0;
      while (k < r->n_out && r->out[k].fd == fd)
        {
          const OutDgram *o = &r->out[k];
          SendUnit *u = &units[n];
          u->first = k;
          u->count = gso_run (r, k);
          /* The group's bytes follow each other in out_buf. */
          const OutDgram *last = &r->out[k + u->count - 1];
          iov[n] = (struct iovec){ r->out_buf + o->off, last->off + last->len - o->off };
          msgs[n].msg_hdr = (struct msghdr){ .msg_name = (void *) &o->to,
                                             .msg_namelen = o->to_len,
                                             .msg_iov = &iov[n],
                                             .msg_iovlen = 1 };
          if (u->count > 1)
            {
              struct cmsghdr *c = (struct cmsghdr *) u->cmsg.buf;
              guint16 seg = (guint16) o->len;
              memset (u->cmsg.buf, 0, sizeof u->cmsg.buf); /* and its padding */
              c->cmsg_level = SOL_UDP;
              c->cmsg_type = UDP_SEGMENT;
              c->cmsg_len = CMSG_LEN (sizeof seg);
              memcpy (CMSG_DATA (c), &seg, sizeof seg);
              msgs[n].msg_hdr.msg_control = u->cmsg.buf;
              msgs[n].msg_hdr.msg_controllen = sizeof u->cmsg.buf;
            }
          k += u->count;
          n++;
        }
      guint i = 0;
      while (i < n)
        {
          int sent = sendmmsg (fd, msgs + i, n - i, MSG_DONTWAIT | MSG_NOSIGNAL);
          if (sent > 0)
            {
              for (int j = 0; j < sent; j++, i++)
                {
                  r->sent += units[i].count;
                  if (units[i].count > 1)
                    r->sent_grouped += units[i].count;
                }
              continue;
            }
          int err = sent < 0 ? errno : EAGAIN;
          if (err == EINTR)
            continue;
          if (units[i].count > 1 && (err == EINVAL || err == EIO || err == ENOPROTOOPT))
            {
              /* A segment larger than the route's MTU (EINVAL), or no GSO
               * here at all (an old kernel, a device without checksum
               * offload): the rest of the run again, that group's
               * datagrams one by one. */
              gsize seg = r->out[units[i].first].len;
              r->gso_seg_max = err == EINVAL ? seg - 1 : 0;
              sh_debug ("UDP GSO refused for %zu-byte datagrams (%s)", seg, g_strerror (err));
              k = units[i].first;
              break;
            }
          /* Full socket buffer: the rest of the run is lost too, like on a
           * network. Unreachable, too big: this one is; the sender's program
           * retransmits if it cares. */
          sh_debug ("association %u: %s", r->out[units[i].first].id, g_strerror (err));
          guint next = err == EAGAIN ? n : i + 1;
          for (; i < next; i++)
            r->send_failed += units[i].count;
        }
    }
  r->n_out = 0;
  r->out_used = 0;
}

void
sh_dgram_relay_get_stats (ShDgramRelay *r, guint64 *sent, guint64 *grouped, guint64 *failed)
{
  *sent = r->sent;
  *grouped = r->sent_grouped;
  *failed = r->send_failed;
}

void
sh_dgram_relay_closed (ShSession *session, guint32 id, ShDgramCloseReason reason, int err,
                       gpointer data)
{
  ShDgramRelay *r = data;
  sh_dgram_relay_flush (r); /* nothing queued for a socket about to close */
  g_hash_table_remove (r->assocs, GUINT_TO_POINTER (id));
}

/* Whether this kernel knows UDP_SEGMENT (see UDP GSO above). */
static gboolean
gso_supported (void)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int off = 0;
  gboolean ok;

  if (fd < 0)
    fd = socket (AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return FALSE;
  ok = setsockopt (fd, SOL_UDP, UDP_SEGMENT, &off, sizeof off) == 0;
  close (fd);
  return ok;
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
  r->gso_seg_max = gso_supported () ? G_MAXUINT16 : 0;
  if (r->gso_seg_max == 0)
    sh_debug ("no UDP GSO in this kernel: datagrams go one by one");
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
  if (r->sent || r->send_failed)
    sh_debug ("datagrams to the network: %" G_GUINT64_FORMAT " sent (%" G_GUINT64_FORMAT
              " in UDP GSO groups), %" G_GUINT64_FORMAT " lost at sendmmsg()",
              r->sent, r->sent_grouped, r->send_failed);
  g_hash_table_destroy (r->assocs);
  g_free (r->in_buf);
  g_free (r);
}
