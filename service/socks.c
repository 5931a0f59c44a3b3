/* SPDX-License-Identifier: GPL-2.0-or-later */
/* socks.c — the engine's SOCKS5 endpoint (socks.h). */
#include "config.h"

#include "socks.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "dnsname.h"
#include "fw-sockowner.h"
#include "hostname.h"
#include "log.h"
#include "preload-wire.h"
#include "socks5.h"

/* A client that does not finish its handshake in this time is dropped, and
 * no more than this many handshakes wait at once. */
#define SH_SOCKS_HANDSHAKE_S 10
#define SH_SOCKS_MAX_PENDING 256

typedef enum
{
  STATE_GREETING,
  STATE_REQUEST,
  STATE_RESOLVING,
  STATE_PRELOAD, /* a Unix connection from the preload library: its request */
} State;

typedef struct
{
  ShPollWatch watch;
  ShSocks *socks;
  int fd;
  State state;
  guint8 buf[SH_SOCKS5_MAX_REQUEST];
  gsize len;
  ShSocks5Request req;
  guint32 dns_id;
  guint16 qtype;
  int name_family; /* a preload name request (--dns): 0, 4 or 6; -1: none */
  guint timer;
} Pending;

struct _ShSocks
{
  ShPollWatch watch;
  ShPoll *poll;
  ShSession *session;
  int fd;
  gboolean accepting;
  char *unix_path; /* the preload door: unlinked at the end */
  gboolean dns;    /* the door answers name requests (run --dns) */
  ShOpen resolver;
  GHashTable *pending; /* Pending (owned) */
  GHashTable *queries; /* DNS id -> Pending */
  guint16 next_query;
};

static void
pending_free (Pending *p)
{
  ShSocks *s = p->socks;

  g_clear_handle_id (&p->timer, g_source_remove);
  if (p->state == STATE_RESOLVING)
    g_hash_table_remove (s->queries, GUINT_TO_POINTER (p->dns_id));
  if (p->fd >= 0)
    {
      sh_poll_remove (s->poll, p->fd);
      close (p->fd);
    }
  g_free (p);
}

/* Answers a preload name request and ends it. */
static void
answer_name (Pending *p, ShPreloadStatus status, int family, const guint8 *addr)
{
  ShPreloadAnswer a = { .status = (guint8) status };

  memcpy (a.magic, SH_PRELOAD_ANSWER_MAGIC, 4);
  if (status == SH_PRELOAD_FOUND)
    {
      a.family = family == AF_INET ? 4 : 6;
      memcpy (a.addr, addr, family == AF_INET ? 4 : 16);
    }
  if (write (p->fd, &a, sizeof a) != sizeof a)
    {
      /* the program gave up waiting: nothing to tell */
    }
  g_hash_table_remove (p->socks->pending, p);
}

/* Ends the handshake with reply @rep (0: no reply, just close). A preload
 * name request is answered "failed" instead, or "no such name" for
 * SH_SOCKS5_HOST_UNREACHABLE. */
static void
fail (Pending *p, guint8 rep)
{
  if (rep != 0 && p->name_family >= 0)
    {
      answer_name (p, rep == SH_SOCKS5_HOST_UNREACHABLE ? SH_PRELOAD_NO_NAME : SH_PRELOAD_FAILED, 0,
                   NULL);
      return;
    }
  if (rep != 0)
    {
      guint8 out[10];

      sh_socks5_reply (rep, out);
      if (write (p->fd, out, sizeof out) < 0)
        {
          /* the client is gone: nothing to tell */
        }
    }
  g_hash_table_remove (p->socks->pending, p);
}

static void
connect_now (Pending *p)
{
  ShSocks *s = p->socks;
  guint8 out[10];
  int fd = p->fd;

  if (s->session == NULL)
    {
      fail (p, s->unix_path ? 0 : SH_SOCKS5_FAILURE);
      return;
    }
  sh_socks5_reply (SH_SOCKS5_OK, out);
  if (s->unix_path == NULL && write (fd, out, sizeof out) != sizeof out)
    {
      fail (p, 0);
      return;
    }
  sh_poll_remove (s->poll, fd);
  p->fd = -1;
  ShOpen dst = p->req.dst; /* removing @p from the table frees it */
  g_hash_table_remove (s->pending, p);
  sh_session_open_channel (s->session, fd, &dst);
}

static void
ask (Pending *p, guint16 qtype)
{
  ShSocks *s = p->socks;
  guint8 q[12 + 256 + 5];
  gsize n = sh_dns_name_query (p->req.name, qtype, 0, q);
  guint32 id;

  if (s->session == NULL || !sh_session_send_dns_query (s->session, &s->resolver, q, n, &id))
    {
      fail (p, SH_SOCKS5_FAILURE);
      return;
    }
  p->state = STATE_RESOLVING;
  p->qtype = qtype;
  p->dns_id = id;
  g_hash_table_insert (s->queries, GUINT_TO_POINTER (id), p);
}

gboolean
sh_socks_dns_reply (ShSocks *s, guint32 id, const guint8 *msg, gsize len)
{
  Pending *p = g_hash_table_lookup (s->queries, GUINT_TO_POINTER (id));

  if (p == NULL)
    return FALSE;
  g_hash_table_remove (s->queries, GUINT_TO_POINTER (id));
  p->state = STATE_REQUEST;
  if (p->name_family >= 0)
    {
      guint8 addr[16];
      int r = sh_dns_name_answer (msg, len, p->qtype, addr);

      if (r == 0)
        answer_name (p, SH_PRELOAD_FOUND, p->qtype == SH_DNS_TYPE_A ? AF_INET : AF_INET6, addr);
      else if (p->qtype == SH_DNS_TYPE_A && p->name_family == 0)
        ask (p, SH_DNS_TYPE_AAAA);
      else
        {
          sh_debug ("run: %s does not resolve on the far side", p->req.name);
          fail (p, r == -ENOENT ? SH_SOCKS5_HOST_UNREACHABLE : SH_SOCKS5_FAILURE);
        }
      return TRUE;
    }
  if (sh_dns_name_answer (msg, len, p->qtype, p->req.dst.addr) == 0)
    {
      p->req.dst.family = p->qtype == SH_DNS_TYPE_A ? AF_INET : AF_INET6;
      sh_debug ("SOCKS: %s is %s on the far side", p->req.name,
                p->qtype == SH_DNS_TYPE_A ? "IPv4" : "IPv6");
      connect_now (p);
    }
  else if (p->qtype == SH_DNS_TYPE_A)
    ask (p, SH_DNS_TYPE_AAAA);
  else
    {
      sh_info ("SOCKS: %s does not resolve on the far side", p->req.name);
      fail (p, SH_SOCKS5_HOST_UNREACHABLE);
    }
  return TRUE;
}

/* The preload library's request (preload-wire.h), once @p->buf holds all
 * of it: a connection to open, or (with --dns) a name to resolve on the
 * far side. Nothing beyond the request is read: the program's own bytes
 * may follow a connection's at once. */
static void
take_request (Pending *p)
{
  ShPreloadRequest r;

  if (sh_preload_request_parse (p->buf, p->len, &r) < 0
      || (r.is_name && (!p->socks->dns || !sh_hostname_is_valid (r.name, strlen (r.name)))))
    {
      sh_info ("run: a malformed request from the preload library");
      fail (p, 0);
      return;
    }
  memset (&p->req, 0, sizeof p->req);
  if (r.is_name)
    {
      p->name_family = r.family;
      g_strlcpy (p->req.name, r.name, sizeof p->req.name);
      ask (p, r.family == 6 ? SH_DNS_TYPE_AAAA : SH_DNS_TYPE_A);
      return;
    }
  p->req.dst.family = r.family == 4 ? AF_INET : AF_INET6;
  p->req.dst.port = r.port;
  memcpy (p->req.dst.addr, r.addr, 16);
  connect_now (p);
}

static void
on_readable (ShPollWatch *w, guint32 events)
{
  Pending *p = (Pending *) w;
  ssize_t n;
  int r;

  if (p->state == STATE_RESOLVING)
    {
      /* Nothing may come before our reply: data is a client that does not
       * wait, and end of file one that is gone. Either ends it (and the
       * level-triggered watch would otherwise fire again at once). */
      fail (p, 0);
      return;
    }
  if (p->state == STATE_PRELOAD)
    {
      int need = sh_preload_request_size (p->buf, p->len);

      if (need < 0 || (gsize) need > sizeof p->buf)
        {
          sh_info ("run: a malformed request from the preload library");
          fail (p, 0);
          return;
        }
      n = read (p->fd, p->buf + p->len, (gsize) need - p->len);
    }
  else
    n = read (p->fd, p->buf + p->len, sizeof p->buf - p->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      fail (p, 0);
      return;
    }
  p->len += (gsize) n;
  if (p->state == STATE_PRELOAD)
    {
      if ((int) p->len == sh_preload_request_size (p->buf, p->len))
        take_request (p);
      return;
    }
  if (p->state == STATE_GREETING)
    {
      r = sh_socks5_parse_greeting (p->buf, p->len);
      if (r == 0)
        return;
      if (r < 0)
        {
          static const guint8 no_method[2] = { 5, 0xff };

          if (r == -EACCES && write (p->fd, no_method, 2) < 0)
            {
              /* closing anyway */
            }
          fail (p, 0);
          return;
        }
      /* A client waits for our choice before it sends the request. */
      if ((gsize) r != p->len || write (p->fd, "\x05\x00", 2) != 2)
        {
          fail (p, 0);
          return;
        }
      p->len = 0;
      p->state = STATE_REQUEST;
      return;
    }
  r = sh_socks5_parse_request (p->buf, p->len, &p->req);
  if (r == 0 && p->len < sizeof p->buf)
    return;
  if (r <= 0)
    {
      fail (p, r < 0 ? (guint8) -r : SH_SOCKS5_FAILURE);
      return;
    }
  if ((gsize) r != p->len)
    {
      /* Data before our reply: we could not hand it to the channel. */
      fail (p, SH_SOCKS5_FAILURE);
      return;
    }
  if (p->req.dst.family == AF_UNSPEC)
    ask (p, SH_DNS_TYPE_A);
  else
    connect_now (p);
}

static gboolean
on_timeout (gpointer data)
{
  Pending *p = data;

  p->timer = 0;
  if (p->name_family >= 0)
    {
      sh_info ("run: the far side did not resolve %s in %d s", p->req.name, SH_SOCKS_HANDSHAKE_S);
      fail (p, SH_SOCKS5_FAILURE);
      return G_SOURCE_REMOVE;
    }
  sh_info ("SOCKS: a client did not finish its request in %d s", SH_SOCKS_HANDSHAKE_S);
  fail (p, p->state == STATE_RESOLVING ? SH_SOCKS5_HOST_UNREACHABLE : 0);
  return G_SOURCE_REMOVE;
}

/* Whether the socket at the other end of @fd belongs to our uid. */
static gboolean
is_ours (ShSocks *s, int fd)
{
  struct sockaddr_storage peer, local;
  socklen_t plen = sizeof peer, llen = sizeof local;
  g_autoptr (GError) error = NULL;
  guint32 uid;

  if (s->unix_path != NULL)
    {
      struct ucred cred;
      socklen_t clen = sizeof cred;

      /* Our directory is 0700 (root gets in anyway); the peer's
       * credentials must say the same. */
      if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0)
        return FALSE;
      if (cred.uid != getuid ())
        {
          sh_info ("the door: refused a client of uid %u (only uid %u may use it)",
                   (guint) cred.uid, (guint) getuid ());
          return FALSE;
        }
      return TRUE;
    }
  if (getpeername (fd, (struct sockaddr *) &peer, &plen) < 0
      || getsockname (fd, (struct sockaddr *) &local, &llen) < 0)
    return FALSE;
  if (!sh_fw_conn_owner ((struct sockaddr *) &peer, (struct sockaddr *) &local, &uid, &error))
    {
      sh_info ("SOCKS: refused a client whose owner is unknown: %s", error->message);
      return FALSE;
    }
  if (uid != (guint32) getuid ())
    {
      sh_info ("SOCKS: refused a client of uid %u (only uid %u may use it)", uid,
               (guint) getuid ());
      return FALSE;
    }
  return TRUE;
}

static void
on_accept (ShPollWatch *w, guint32 events)
{
  ShSocks *s = (ShSocks *) w;

  for (int i = 0; i < 64; i++)
    {
      int fd = accept4 (s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      Pending *p;

      if (fd < 0)
        return;
      if (g_hash_table_size (s->pending) >= SH_SOCKS_MAX_PENDING || !is_ours (s, fd))
        {
          close (fd);
          continue;
        }
      p = g_new0 (Pending, 1);
      p->watch.func = on_readable;
      p->socks = s;
      p->fd = fd;
      p->name_family = -1;
      p->state = s->unix_path ? STATE_PRELOAD : STATE_GREETING;
      p->timer = g_timeout_add_seconds (SH_SOCKS_HANDSHAKE_S, on_timeout, p);
      g_hash_table_add (s->pending, p);
      sh_poll_add (s->poll, fd, EPOLLIN | EPOLLRDHUP, &p->watch);
    }
}

ShSocks *
sh_socks_new (ShPoll *poll, const char *addr, guint16 port, const ShOpen *resolver, GError **error)
{
  union
  {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
  } sa = { 0 };
  socklen_t len;
  int one = 1, fd;

  if (addr == NULL || inet_pton (AF_INET, addr, &sa.v4.sin_addr) == 1)
    {
      sa.v4.sin_family = AF_INET;
      sa.v4.sin_port = htons (port);
      if (addr == NULL)
        sa.v4.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      len = sizeof sa.v4;
    }
  else if (inet_pton (AF_INET6, addr, &sa.v6.sin6_addr) == 1)
    {
      sa.v6.sin6_family = AF_INET6;
      sa.v6.sin6_port = htons (port);
      len = sizeof sa.v6;
    }
  else
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "invalid --socks address '%s'",
                   addr);
      return NULL;
    }
  fd = socket (sa.v4.sin_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "cannot open a socket: %s",
                   g_strerror (err));
      return NULL;
    }
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (sa.v4.sin_family == AF_INET6)
    setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind (fd, (struct sockaddr *) &sa, len) < 0 || listen (fd, 1024) < 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                   "cannot listen for SOCKS on port %u: %s", port, g_strerror (err));
      close (fd);
      return NULL;
    }
  ShSocks *s = g_new0 (ShSocks, 1);
  s->watch.func = on_accept;
  s->poll = poll;
  s->fd = fd;
  s->resolver = *resolver;
  s->pending = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) pending_free, NULL);
  s->queries = g_hash_table_new (NULL, NULL);
  return s;
}

ShSocks *
sh_socks_new_unix (ShPoll *poll, const char *path, const ShOpen *resolver, GError **error)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof sa.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG, "socket path too long: %s",
                   path);
      return NULL;
    }
  strcpy (sa.sun_path, path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0 || listen (fd, 1024) < 0)
    {
      int err = errno;

      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err), "cannot listen on %s: %s", path,
                   g_strerror (err));
      if (fd >= 0)
        close (fd);
      return NULL;
    }
  ShSocks *s = g_new0 (ShSocks, 1);
  s->watch.func = on_accept;
  s->poll = poll;
  s->fd = fd;
  s->unix_path = g_strdup (path);
  if (resolver != NULL)
    {
      s->dns = TRUE;
      s->resolver = *resolver;
    }
  s->pending = g_hash_table_new_full (NULL, NULL, (GDestroyNotify) pending_free, NULL);
  s->queries = g_hash_table_new (NULL, NULL);
  return s;
}

guint16
sh_socks_port (ShSocks *s)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;

  if (getsockname (s->fd, (struct sockaddr *) &ss, &len) < 0)
    return 0;
  return ntohs (ss.ss_family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                        : ((struct sockaddr_in6 *) &ss)->sin6_port);
}

void
sh_socks_set_session (ShSocks *s, ShSession *session)
{
  s->session = session;
  if (session == NULL)
    {
      /* The queries died with the old session. */
      GHashTableIter it;
      Pending *p;

      g_hash_table_iter_init (&it, s->pending);
      while (g_hash_table_iter_next (&it, (gpointer *) &p, NULL))
        if (p->state == STATE_RESOLVING)
          {
            g_hash_table_remove (s->queries, GUINT_TO_POINTER (p->dns_id));
            p->state = STATE_REQUEST;
            g_hash_table_iter_remove (&it);
          }
      return;
    }
  if (!s->accepting)
    sh_poll_add (s->poll, s->fd, EPOLLIN, &s->watch);
  s->accepting = TRUE;
}

void
sh_socks_free (ShSocks *s)
{
  if (s == NULL)
    return;
  g_hash_table_destroy (s->pending);
  g_hash_table_destroy (s->queries);
  if (s->accepting)
    sh_poll_remove (s->poll, s->fd);
  close (s->fd);
  if (s->unix_path)
    unlink (s->unix_path);
  g_free (s->unix_path);
  g_free (s);
}
