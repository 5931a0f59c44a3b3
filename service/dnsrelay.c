/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "dnsrelay.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "firewall.h"
#include "resolver.h"

/* The largest answer a DNS_REPLY carries (docs/protocol.md). */
#define DNS_MAX_REPLY 32768

typedef struct
{
  ShPollWatch watch;
  ShDnsRelay *relay;
  guint32 id;
  int fd;
  guint timer;
} Query;

struct _ShDnsRelay
{
  ShPoll *poll;
  ShSession *session;
  GHashTable *queries; /* id -> Query */
};

static void
query_free (gpointer data)
{
  Query *q = data;
  g_clear_handle_id (&q->timer, g_source_remove);
  if (q->fd >= 0)
    {
      sh_poll_remove (q->relay->poll, q->fd);
      close (q->fd);
    }
  g_free (q);
}

/* The one answer; the query is gone afterwards. */
static void
finish (ShDnsRelay *r, guint32 id, const guint8 *msg, gsize len)
{
  sh_session_send_dns_reply (r->session, id, msg, len);
  g_hash_table_remove (r->queries, GUINT_TO_POINTER (id));
}

static gboolean
on_timeout (gpointer data)
{
  Query *q = data;
  q->timer = 0;
  finish (q->relay, q->id, NULL, 0);
  return G_SOURCE_REMOVE;
}

static void
on_answer (ShPollWatch *w, guint32 events)
{
  Query *q = (Query *) w;
  guint8 buf[DNS_MAX_REPLY + 1];
  ssize_t n = recv (q->fd, buf, sizeof buf, MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  /* An error (ICMP port unreachable: ECONNREFUSED) or an answer too big to
   * carry: no answer. Only the connected resolver's datagrams get here. */
  if (n < 0 || n > DNS_MAX_REPLY)
    n = 0;
  finish (q->relay, q->id, buf, (gsize) n);
}

void
sh_dns_relay_query (ShSession *session, guint32 id, const ShOpen *resolver, const guint8 *msg,
                    gsize len, gpointer data)
{
  ShDnsRelay *r = data;
  ShOpen to = *resolver;
  if (to.family == AF_UNSPEC)
    sh_resolver_get (resolver->port, &to);

  struct sockaddr_storage ss = { 0 };
  socklen_t sslen;
  if (to.family == AF_INET)
    {
      struct sockaddr_in *a = (struct sockaddr_in *) &ss;
      a->sin_family = AF_INET;
      a->sin_port = htons (to.port);
      memcpy (&a->sin_addr, to.addr, 4);
      sslen = sizeof *a;
    }
  else
    {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
      a->sin6_family = AF_INET6;
      a->sin6_port = htons (to.port);
      memcpy (&a->sin6_addr, to.addr, 16);
      sslen = sizeof *a;
    }

  Query *q = g_new0 (Query, 1);
  q->watch.func = on_answer;
  q->relay = r;
  q->id = id;
  q->fd = socket (to.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_hash_table_replace (r->queries, GUINT_TO_POINTER (id), q);
  if (q->fd < 0)
    {
      finish (r, id, NULL, 0);
      return;
    }
  /* As for channels: in test mode the client's rules must not capture us. */
  guint32 mark = SH_FIREWALL_BYPASS_MARK;
  setsockopt (q->fd, SOL_SOCKET, SO_MARK, &mark, sizeof mark);
  /* connect(): the kernel then drops datagrams from anyone else, and an
   * ICMP error comes back as one. */
  if (connect (q->fd, (struct sockaddr *) &ss, sslen) < 0
      || send (q->fd, msg, len, MSG_DONTWAIT) < 0)
    {
      close (q->fd);
      q->fd = -1;
      finish (r, id, NULL, 0);
      return;
    }
  sh_poll_add (r->poll, q->fd, EPOLLIN, &q->watch);
  q->timer = g_timeout_add (SH_MUX_DNS_TIMEOUT_S * 1000, on_timeout, q);
}

ShDnsRelay *
sh_dns_relay_new (ShPoll *poll, ShSession *session)
{
  ShDnsRelay *r = g_new0 (ShDnsRelay, 1);
  r->poll = poll;
  r->session = session;
  r->queries = g_hash_table_new_full (NULL, NULL, NULL, query_free);
  return r;
}

void
sh_dns_relay_free (ShDnsRelay *r)
{
  if (r == NULL)
    return;
  g_hash_table_destroy (r->queries);
  g_free (r);
}
