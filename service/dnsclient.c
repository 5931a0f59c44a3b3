/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "dnsclient.h"

#include <errno.h>
#include <gio/gio.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define DNS_HEADER 12

typedef struct
{
  ShPollWatch watch;
  ShDnsClient *dns;
  int fd;
} UdpSocket;

/* A query waiting for its DNS_REPLY: where to answer, and the query itself
 * for a SERVFAIL. */
typedef struct
{
  int fd;
  struct sockaddr_storage from;
  socklen_t from_len;
  gsize len;
  guint8 msg[];
} Pending;

struct _ShDnsClient
{
  ShPoll *poll;
  ShSession *session;
  ShOpen resolver;
  UdpSocket socks[2];
  int n_socks;
  gboolean started;
  GHashTable *pending; /* query id -> Pending */
  ShDnsSendFunc send;  /* instead of the session (sh_dns_client_start_with) */
  gpointer send_data;
  guint32 next_id;
};

gsize
sh_dns_servfail (const guint8 *q, gsize len, guint8 *out)
{
  if (len < DNS_HEADER || (q[2] & 0x80) != 0)
    return 0; /* too short for a header, or already a response */

  /* Keep the question section (QDCOUNT questions) so the application's
   * resolver matches the answer to its query; drop everything after it. */
  guint qdcount = (guint) q[4] << 8 | q[5];
  gsize p = DNS_HEADER;
  for (guint i = 0; i < qdcount; i++)
    {
      while (p < len && q[p] != 0)
        {
          if ((q[p] & 0xc0) != 0)
            return 0; /* no compression in a query's question */
          p += 1 + q[p];
        }
      p += 1 + 4; /* the root label, QTYPE, QCLASS */
      if (p > len)
        return 0;
    }
  memcpy (out, q, p);
  out[2] = (guint8) (0x80 | (q[2] & 0x79)); /* QR, the opcode, RD; not AA, not TC */
  out[3] = 0x80 | 2;                        /* RA, RCODE 2 = SERVFAIL */
  memset (out + 6, 0, 6);                   /* no answer, authority, additional */
  return p;
}

static void
answer (int fd, const struct sockaddr_storage *to, socklen_t to_len, const guint8 *msg, gsize len)
{
  /* UDP: a full socket buffer drops the answer, as the network would. */
  if (sendto (fd, msg, len, MSG_DONTWAIT, (const struct sockaddr *) to, to_len) < 0)
    sh_debug ("DNS: cannot answer a query: %s", g_strerror (errno));
}

static void
answer_servfail (int fd, const struct sockaddr_storage *to, socklen_t to_len, const guint8 *q,
                 gsize len)
{
  g_autofree guint8 *out = g_malloc (len);
  gsize n = sh_dns_servfail (q, len, out);
  if (n > 0)
    answer (fd, to, to_len, out, n);
}

static void
on_query (ShPollWatch *w, guint32 events)
{
  UdpSocket *u = (UdpSocket *) w;
  ShDnsClient *dns = u->dns;
  guint8 buf[SH_MUX_DNS_MAX_QUERY + 1];

  /* Bounded per wakeup so a flood of queries cannot starve the channels. */
  for (int i = 0; i < 64; i++)
    {
      struct sockaddr_storage from;
      socklen_t from_len = sizeof from;
      ssize_t n
          = recvfrom (u->fd, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *) &from, &from_len);
      if (n < 0)
        return;
      if (n < SH_MUX_DNS_MIN || n > SH_MUX_DNS_MAX_QUERY || (buf[2] & 0x80) != 0)
        continue; /* not a query we can carry: dropped, as a resolver would */

      guint32 id = 0;
      gboolean sent;
      if (dns->send)
        {
          id = ++dns->next_id;
          sent = !g_hash_table_contains (dns->pending, GUINT_TO_POINTER (id))
                 && dns->send (buf, (gsize) n, id, dns->send_data);
        }
      else
        sent = dns->session != NULL
               && sh_session_send_dns_query (dns->session, &dns->resolver, buf, (gsize) n, &id);
      if (!sent)
        {
          sh_debug ("DNS: cannot send a query through the tunnel now: SERVFAIL");
          answer_servfail (u->fd, &from, from_len, buf, (gsize) n);
          continue;
        }
      Pending *p = g_malloc (sizeof (Pending) + (gsize) n);
      p->fd = u->fd;
      p->from = from;
      p->from_len = from_len;
      p->len = (gsize) n;
      memcpy (p->msg, buf, (gsize) n);
      g_hash_table_replace (dns->pending, GUINT_TO_POINTER (id), p);
    }
}

void
sh_dns_client_reply (ShDnsClient *dns, guint32 id, const guint8 *msg, gsize len)
{
  Pending *p = g_hash_table_lookup (dns->pending, GUINT_TO_POINTER (id));
  if (p == NULL)
    return;
  /* An answer must carry the query's id: anything else the application
   * would drop anyway, after waiting for its own timeout. */
  if (len >= DNS_HEADER && msg[0] == p->msg[0] && msg[1] == p->msg[1])
    answer (p->fd, &p->from, p->from_len, msg, len);
  else
    {
      if (len > 0)
        sh_debug ("DNS: the remote answer does not match its query: SERVFAIL");
      answer_servfail (p->fd, &p->from, p->from_len, p->msg, p->len);
    }
  g_hash_table_remove (dns->pending, GUINT_TO_POINTER (id));
}

static int
bind_udp (int family, guint16 port, int *err)
{
  int fd = socket (family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      *err = errno;
      return -1;
    }
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  if (family == AF_INET)
    {
      struct sockaddr_in *a = (struct sockaddr_in *) &ss;
      a->sin_family = AF_INET;
      a->sin_port = htons (port);
      a->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      len = sizeof *a;
    }
  else
    {
      int one = 1;
      setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
      a->sin6_family = AF_INET6;
      a->sin6_port = htons (port);
      a->sin6_addr = in6addr_loopback;
      len = sizeof *a;
    }
  if (bind (fd, (struct sockaddr *) &ss, len) < 0)
    {
      *err = errno;
      close (fd);
      return -1;
    }
  return fd;
}

ShDnsClient *
sh_dns_client_new (ShPoll *poll, guint16 port, gboolean v6, const ShOpen *resolver, GError **error)
{
  g_autoptr (ShDnsClient) dns = g_new0 (ShDnsClient, 1);
  dns->poll = poll;
  dns->resolver = *resolver;
  dns->pending = g_hash_table_new_full (NULL, NULL, NULL, g_free);

  for (int i = 0; i < (v6 ? 2 : 1); i++)
    {
      int err = 0;
      int fd = bind_udp (i == 0 ? AF_INET : AF_INET6, port, &err);
      if (fd < 0)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                       "cannot listen for DNS on %s:%u (UDP): %s", i == 0 ? "127.0.0.1" : "[::1]",
                       port, g_strerror (err));
          return NULL;
        }
      UdpSocket *u = &dns->socks[dns->n_socks++];
      u->watch.func = on_query;
      u->dns = dns;
      u->fd = fd;
    }
  return g_steal_pointer (&dns);
}

void
sh_dns_client_start (ShDnsClient *dns, ShSession *session)
{
  dns->session = session;
  if (dns->started || session == NULL)
    return;
  for (int i = 0; i < dns->n_socks; i++)
    sh_poll_add (dns->poll, dns->socks[i].fd, EPOLLIN, &dns->socks[i].watch);
  dns->started = TRUE;
}

void
sh_dns_client_start_with (ShDnsClient *dns, ShDnsSendFunc send, gpointer data)
{
  dns->send = send;
  dns->send_data = data;
  if (dns->started)
    return;
  for (int i = 0; i < dns->n_socks; i++)
    sh_poll_add (dns->poll, dns->socks[i].fd, EPOLLIN, &dns->socks[i].watch);
  dns->started = TRUE;
}

void
sh_dns_client_detach (ShDnsClient *dns)
{
  GHashTableIter it;
  gpointer v;

  dns->session = NULL;
  dns->send = NULL;
  g_hash_table_iter_init (&it, dns->pending);
  while (g_hash_table_iter_next (&it, NULL, &v))
    {
      Pending *p = v;
      answer_servfail (p->fd, &p->from, p->from_len, p->msg, p->len);
      g_hash_table_iter_remove (&it);
    }
}

void
sh_dns_client_free (ShDnsClient *dns)
{
  if (dns == NULL)
    return;
  for (int i = 0; i < dns->n_socks; i++)
    {
      if (dns->started)
        sh_poll_remove (dns->poll, dns->socks[i].fd);
      close (dns->socks[i].fd);
    }
  g_hash_table_destroy (dns->pending);
  g_free (dns);
}
