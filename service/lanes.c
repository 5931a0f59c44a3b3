/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "lanes.h"

#include <glib-unix.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "mux.h"

/* ------------------------------------------------------------------ server */

/* Connections that have not sent their hello yet, at most: a local user
 * who connects to the port cannot hold more than this. */
#define PENDING_MAX (2 * SH_MUX_MAX_LANES)

typedef struct
{
  ShPollWatch watch;
  ShLaneServer *ls;
  int fd;
  gsize len;
  guint8 buf[SH_MUX_LANE_HELLO_LEN];
} Pending;

struct _ShLaneServer
{
  ShPollWatch watch;
  ShPoll *poll;
  ShSession *session;
  int fd; /* the listener; -1 once it is closed */
  guint8 token[SH_MUX_LANE_TOKEN_LEN];
  GPtrArray *pending; /* Pending * */
  guint timer;
};

static void
pending_free (Pending *p, gboolean close_fd)
{
  sh_poll_remove (p->ls->poll, p->fd);
  if (close_fd)
    close (p->fd);
  g_ptr_array_remove_fast (p->ls->pending, p);
  g_free (p);
}

/* Compares without an early exit: the time taken says nothing of how much
 * of a guess was right. */
static gboolean
token_equal (const guint8 *a, const guint8 *b)
{
  guint8 d = 0;
  for (guint i = 0; i < SH_MUX_LANE_TOKEN_LEN; i++)
    d |= a[i] ^ b[i];
  return d == 0;
}

static void
pending_event (ShPollWatch *w, guint32 events)
{
  Pending *p = G_STRUCT_MEMBER_P (w, -G_STRUCT_OFFSET (Pending, watch));
  ssize_t n = read (p->fd, p->buf + p->len, sizeof p->buf - p->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      pending_free (p, TRUE);
      return;
    }
  p->len += n;
  if (p->len < sizeof p->buf)
    return;
  ShLaneServer *ls = p->ls;
  guint8 token[SH_MUX_LANE_TOKEN_LEN];
  guint32 index;
  if (!sh_lane_parse_hello (p->buf, token, &index) || !token_equal (token, ls->token))
    {
      sh_info ("lanes: a connection to the lane port without the session's token, closed");
      pending_free (p, TRUE);
      return;
    }
  /* Attached first: the answer tells the client the lane may be named in
   * BOND. It fits in the socket's empty buffer. */
  if (!sh_session_attach_lane (ls->session, index, p->fd))
    {
      pending_free (p, TRUE);
      return;
    }
  if (write (p->fd, p->buf, sizeof p->buf) != (ssize_t) sizeof p->buf)
    sh_info ("lanes: cannot answer lane %u: %s", index, g_strerror (errno));
  sh_debug ("lanes: lane %u connected", index);
  pending_free (p, FALSE); /* the session has the socket now */
}

static void
stop_listening (ShLaneServer *ls)
{
  if (ls->fd >= 0)
    {
      sh_poll_remove (ls->poll, ls->fd);
      close (ls->fd);
      ls->fd = -1;
    }
  while (ls->pending->len > 0)
    pending_free (g_ptr_array_index (ls->pending, 0), TRUE);
  g_clear_handle_id (&ls->timer, g_source_remove);
}

static gboolean
listen_expired (gpointer data)
{
  ShLaneServer *ls = data;
  ls->timer = 0;
  stop_listening (ls);
  return G_SOURCE_REMOVE;
}

static void
accept_event (ShPollWatch *w, guint32 events)
{
  ShLaneServer *ls = G_STRUCT_MEMBER_P (w, -G_STRUCT_OFFSET (ShLaneServer, watch));
  int fd = accept4 (ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0)
    return;
  if (ls->pending->len >= PENDING_MAX)
    {
      close (fd);
      return;
    }
  /* Segments carry interactive frames too: no Nagle delay on the lane. */
  int one = 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  Pending *p = g_new0 (Pending, 1);
  p->ls = ls;
  p->fd = fd;
  p->watch.func = pending_event;
  g_ptr_array_add (ls->pending, p);
  sh_poll_add (ls->poll, fd, EPOLLIN, &p->watch);
}

/* @family's loopback address and @port in @ss; returns its length. */
static socklen_t
loopback_address (int family, guint16 port, struct sockaddr_storage *ss)
{
  memset (ss, 0, sizeof *ss);
  if (family == AF_INET)
    {
      struct sockaddr_in *in = (struct sockaddr_in *) ss;
      in->sin_family = AF_INET;
      in->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      in->sin_port = htons (port);
      return sizeof *in;
    }
  struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) ss;
  in6->sin6_family = AF_INET6;
  in6->sin6_addr = in6addr_loopback;
  in6->sin6_port = htons (port);
  return sizeof *in6;
}

/* A listening socket on @family's loopback address, port chosen by the
 * kernel; -1 when there is none. */
static int
listen_loopback (int family, guint16 *port)
{
  int fd = socket (family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_storage ss;
  socklen_t sl = loopback_address (family, 0, &ss);
  if (bind (fd, (struct sockaddr *) &ss, sl) < 0 || listen (fd, PENDING_MAX) < 0
      || getsockname (fd, (struct sockaddr *) &ss, &sl) < 0)
    {
      close (fd);
      return -1;
    }
  *port = ntohs (family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                   : ((struct sockaddr_in6 *) &ss)->sin6_port);
  return fd;
}

ShLaneServer *
sh_lane_server_new (ShPoll *poll, ShSession *session, guint count)
{
  guint16 port = 0;
  int family = AF_INET;
  int fd = listen_loopback (AF_INET, &port);
  if (fd < 0)
    {
      family = AF_INET6;
      fd = listen_loopback (AF_INET6, &port);
    }
  if (fd < 0)
    {
      sh_info ("lanes: no loopback address to listen on: %s", g_strerror (errno));
      return NULL;
    }
  ShLaneServer *ls = g_new0 (ShLaneServer, 1);
  ls->poll = poll;
  ls->session = session;
  ls->fd = fd;
  ls->pending = g_ptr_array_new ();
  if (getrandom (ls->token, sizeof ls->token, 0) != (ssize_t) sizeof ls->token
      || !sh_session_offer_lanes (session, family, count, port, ls->token))
    {
      close (fd);
      g_ptr_array_unref (ls->pending);
      g_free (ls);
      return NULL;
    }
  ls->watch.func = accept_event;
  sh_poll_add (poll, fd, EPOLLIN, &ls->watch);
  ls->timer = g_timeout_add_seconds (SH_LANES_LISTEN_S, listen_expired, ls);
  sh_debug ("lanes: %u offered on port %u", count, port);
  return ls;
}

void
sh_lane_server_free (ShLaneServer *ls)
{
  if (!ls)
    return;
  stop_listening (ls);
  g_ptr_array_unref (ls->pending);
  g_free (ls);
}

/* ------------------------------------------------------------------ client */

typedef struct
{
  ShPollWatch watch;
  ShLaneOpener *o;
  guint index;
  int fd;
  gboolean polled;
  gboolean finished, ok;
  gsize len;
  guint8 buf[SH_MUX_LANE_HELLO_LEN];
} OLane;

struct _ShLaneOpener
{
  ShPoll *poll;
  OLane lanes[SH_MUX_MAX_LANES];
  guint count, left;
  guint8 token[SH_MUX_LANE_TOKEN_LEN];
  guint timer, idle;
  gboolean done_called;
  ShLanesDoneFunc done;
  gpointer data;
};

static void
olane_finish (OLane *l, gboolean ok)
{
  if (l->finished)
    return;
  l->finished = TRUE;
  l->ok = ok;
  if (l->polled)
    sh_poll_remove (l->o->poll, l->fd);
  l->polled = FALSE;
  l->o->left--;
}

static void
opener_done (ShLaneOpener *o)
{
  if (o->done_called)
    return;
  o->done_called = TRUE;
  g_clear_handle_id (&o->timer, g_source_remove);
  g_clear_handle_id (&o->idle, g_source_remove);
  int fds[SH_MUX_MAX_LANES];
  guint32 mask = 1;
  for (guint i = 0; i < SH_MUX_MAX_LANES; i++)
    fds[i] = -1;
  for (guint i = 1; i <= o->count; i++)
    {
      OLane *l = &o->lanes[i];
      olane_finish (l, l->ok);
      if (l->ok)
        {
          fds[i] = l->fd;
          mask |= 1u << i;
          l->fd = -1; /* the callee's now */
        }
    }
  o->done (fds, mask, o->data);
}

static void
olane_event (ShPollWatch *w, guint32 events)
{
  OLane *l = G_STRUCT_MEMBER_P (w, -G_STRUCT_OFFSET (OLane, watch));
  ShLaneOpener *o = l->o;
  ssize_t n = read (l->fd, l->buf + l->len, sizeof l->buf - l->len);
  if (n < 0 && (errno == EAGAIN || errno == EINTR))
    return;
  if (n <= 0)
    {
      /* ssh could not open the channel (forwarding refused), or the server
       * closed it. */
      sh_debug ("lanes: lane %u: %s", l->index, n == 0 ? "closed" : g_strerror (errno));
      olane_finish (l, FALSE);
    }
  else
    {
      l->len += n;
      if (l->len < sizeof l->buf)
        return;
      guint8 token[SH_MUX_LANE_TOKEN_LEN];
      guint32 index;
      gboolean ok = sh_lane_parse_hello (l->buf, token, &index) && index == l->index
                    && memcmp (token, o->token, sizeof token) == 0;
      if (!ok)
        sh_info ("lanes: lane %u: the server's answer is not a lane hello", l->index);
      olane_finish (l, ok);
    }
  if (o->left == 0)
    opener_done (o);
}

static gboolean
opener_timeout (gpointer data)
{
  ShLaneOpener *o = data;
  o->timer = 0;
  sh_debug ("lanes: %u of %u not answered in %d s", o->left, o->count, SH_LANES_OPEN_S);
  opener_done (o);
  return G_SOURCE_REMOVE;
}

static gboolean
opener_idle (gpointer data)
{
  ShLaneOpener *o = data;
  o->idle = 0;
  opener_done (o);
  return G_SOURCE_REMOVE;
}

/* Test mode: a connection to the local server's port. */
static int
connect_loopback (int family, guint16 port)
{
  int fd = socket (family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct sockaddr_storage ss;
  socklen_t sl = loopback_address (family, port, &ss);
  if (connect (fd, (struct sockaddr *) &ss, sl) < 0)
    {
      close (fd);
      return -1;
    }
  int one = 1;
  setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

ShLaneOpener *
sh_lane_opener_new (ShPoll *poll, ShSshLink *link, int family, guint16 port, const guint8 *token,
                    guint count, ShLanesDoneFunc done, gpointer data)
{
  ShLaneOpener *o = g_new0 (ShLaneOpener, 1);
  o->poll = poll;
  o->count = MIN (count, SH_MUX_MAX_LANES - 1);
  o->done = done;
  o->data = data;
  memcpy (o->token, token, sizeof o->token);
  const char *host = family == AF_INET6 ? "::1" : "127.0.0.1";
  for (guint i = 1; i <= o->count; i++)
    {
      OLane *l = &o->lanes[i];
      l->o = o;
      l->index = i;
      l->fd = -1;
      l->watch.func = olane_event;
      o->left++;
      if (link)
        {
          int sv[2];
          if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
            {
              olane_finish (l, FALSE);
              continue;
            }
          l->fd = sv[0];
          sh_ssh_link_forward (link, sv[1], host, port); /* takes sv[1] */
        }
      else if ((l->fd = connect_loopback (family, port)) < 0)
        {
          olane_finish (l, FALSE);
          continue;
        }
      guint8 hello[SH_MUX_LANE_HELLO_LEN];
      sh_lane_put_hello (hello, o->token, i);
      /* An empty socket takes these few bytes at once. */
      if (write (l->fd, hello, sizeof hello) != (ssize_t) sizeof hello)
        {
          olane_finish (l, FALSE);
          continue;
        }
      g_unix_set_fd_nonblocking (l->fd, TRUE, NULL);
      sh_poll_add (poll, l->fd, EPOLLIN, &l->watch);
      l->polled = TRUE;
    }
  if (o->left == 0)
    o->idle = g_idle_add (opener_idle, o);
  else
    o->timer = g_timeout_add_seconds (SH_LANES_OPEN_S, opener_timeout, o);
  return o;
}

void
sh_lane_opener_free (ShLaneOpener *o)
{
  if (!o)
    return;
  g_clear_handle_id (&o->timer, g_source_remove);
  g_clear_handle_id (&o->idle, g_source_remove);
  for (guint i = 1; i <= o->count; i++)
    {
      OLane *l = &o->lanes[i];
      if (l->polled)
        sh_poll_remove (o->poll, l->fd);
      if (l->fd >= 0)
        close (l->fd);
    }
  g_free (o);
}
