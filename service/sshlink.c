/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "sshlink.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "sshmux.h"

#define SH_SSH_LINK_TRY_MS 50
/* A master that does not take a control connection in this long is stuck:
 * connect() and our few request bytes never wait longer. */
#define SH_SSH_LINK_SEND_TIMEOUT_S 2
/* The probe's destination on the server: discard, most often closed. Its
 * outcome does not matter, only whether ssh may open the channel at all. */
#define SH_SSH_LINK_PROBE_HOST "127.0.0.1"
#define SH_SSH_LINK_PROBE_PORT 9

typedef enum
{
  CONN_CONTROL, /* hello, alive checks */
  CONN_PROBE,   /* the one forward at start-up */
  CONN_FORWARD, /* one per forwarded connection */
} ConnKind;

typedef struct
{
  ShPollWatch watch;
  ShSshLink *link;
  ConnKind kind;
  int fd;     /* the control connection */
  int app_fd; /* our copy of the forwarded socket until ssh answers; -1 after */
  gboolean hello_seen;
  gboolean answered; /* the request's reply came */
  gsize len;
  guint8 buf[SH_SSHMUX_MAX_PACKET + 4];
} Conn;

struct _ShSshLink
{
  ShPoll *poll;
  char *ctl_path; /* the master's socket, then /proc/self/fd/<pin> */
  int pin;        /* the socket's inode, O_PATH; -1 until it appeared */
  guint max_forwards;
  ShSshLinkReadyFunc ready;
  ShSshLinkLostFunc lost;
  gpointer data;

  GHashTable *conns; /* Conn * -> itself: every open one */
  GHashTable *dns;   /* DnsQuery * -> itself: every one waiting */
  Conn *control;
  guint timer;
  gboolean is_ready;
  gboolean is_lost;       /* @lost was called: once is enough */
  gboolean alive_pending; /* an alive check is unanswered */
  gboolean limit_said;
  guint32 next_rid;
  guint n_forwards;
};

/* A DNS over TCP query on our end of a socket pair. */
typedef struct
{
  ShPollWatch watch;
  ShSshLink *link;
  int fd;
  guint timer;
  guint32 id;
  ShSshLinkDnsFunc reply;
  gpointer data;
  gsize len;
  guint8 buf[2 + 65535];
} DnsQuery;

static void conn_free (Conn *conn);
static void dns_free (DnsQuery *q);

/* An abortive close: the application sees a reset at once. */
static void
reset_fd (int fd)
{
  struct linger lg = { .l_onoff = 1, .l_linger = 0 };
  setsockopt (fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close (fd);
}

/* A blocking connect with a bound: a local master either accepts at once or
 * has its backlog full for a moment. Returns the socket, non-blocking, or
 * -1 with errno. */
static int
connect_master (const char *path)
{
  struct sockaddr_un sa = { .sun_family = AF_UNIX };
  if (strlen (path) >= sizeof sa.sun_path)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  strcpy (sa.sun_path, path);
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  struct timeval tv = { .tv_sec = SH_SSH_LINK_SEND_TIMEOUT_S };
  setsockopt (fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (connect (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      int err = errno;
      close (fd);
      errno = err;
      return -1;
    }
  return fd;
}

static gboolean
send_all (int fd, const guint8 *p, gsize len)
{
  while (len > 0)
    {
      ssize_t n = send (fd, p, len, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        return FALSE;
      p += n;
      len -= (gsize) n;
    }
  return TRUE;
}

/* One byte of data carrying @pass, as OpenSSH's mm_receive_fd() expects. */
static gboolean
send_fd (int sock, int pass)
{
  char byte = 0;
  struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
  union
  {
    struct cmsghdr hdr;
    char buf[CMSG_SPACE (sizeof (int))];
  } cm;
  memset (&cm, 0, sizeof cm);
  struct msghdr msg = {
    .msg_iov = &iov,
    .msg_iovlen = 1,
    .msg_control = cm.buf,
    .msg_controllen = sizeof cm.buf,
  };
  struct cmsghdr *c = CMSG_FIRSTHDR (&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN (sizeof (int));
  memcpy (CMSG_DATA (c), &pass, sizeof pass);
  ssize_t n;
  do
    n = sendmsg (sock, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n == 1;
}

static void on_conn_event (ShPollWatch *w, guint32 events);

/* A control connection carrying @request (after our hello) and, for a
 * forward, @app_fd twice. NULL with errno when the master cannot be
 * reached. */
static Conn *
conn_open (ShSshLink *link, ConnKind kind, GByteArray *request, int app_fd)
{
  int fd = connect_master (link->ctl_path);
  if (fd < 0)
    return NULL;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  sh_sshmux_put_hello (out);
  g_byte_array_append (out, request->data, request->len);
  if (!send_all (fd, out->data, out->len)
      || (app_fd >= 0 && (!send_fd (fd, app_fd) || !send_fd (fd, app_fd))))
    {
      int err = errno;
      close (fd);
      errno = err;
      return NULL;
    }
  fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK);
  Conn *conn = g_new0 (Conn, 1);
  conn->watch.func = on_conn_event;
  conn->link = link;
  conn->kind = kind;
  conn->fd = fd;
  conn->app_fd = app_fd;
  sh_poll_add (link->poll, fd, EPOLLIN, &conn->watch);
  g_hash_table_add (link->conns, conn);
  if (kind == CONN_FORWARD)
    link->n_forwards++;
  return conn;
}

static void
conn_free (Conn *conn)
{
  ShSshLink *link = conn->link;
  sh_poll_remove (link->poll, conn->fd);
  close (conn->fd);
  if (conn->app_fd >= 0)
    reset_fd (conn->app_fd); /* never answered: the master is gone */
  if (conn->kind == CONN_FORWARD)
    link->n_forwards--;
  if (link->control == conn)
    link->control = NULL;
  g_hash_table_remove (link->conns, conn);
  g_free (conn);
}

static void
lose (ShSshLink *link, const char *why)
{
  g_clear_handle_id (&link->timer, g_source_remove);
  if (link->lost && !link->is_lost)
    link->lost (link, why, link->data);
  link->is_lost = TRUE;
}

static void
start_probe (ShSshLink *link)
{
  g_autoptr (GByteArray) req = g_byte_array_new ();
  int sv[2];
  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      lose (link, "cannot create a socket pair for the forwarding probe");
      return;
    }
  sh_sshmux_put_stdio_fwd (req, ++link->next_rid, SH_SSH_LINK_PROBE_HOST, SH_SSH_LINK_PROBE_PORT);
  Conn *conn = conn_open (link, CONN_PROBE, req, sv[0]);
  close (sv[1]);
  if (conn == NULL)
    {
      close (sv[0]);
      lose (link, "the ssh master refused a control connection");
    }
}

/* The probe's answer, whatever it is: ssh has said (on its stderr) what the
 * server thinks of forwarding. */
static void
probe_done (ShSshLink *link, Conn *conn)
{
  if (conn->app_fd >= 0)
    close (conn->app_fd);
  conn->app_fd = -1;
  conn_free (conn);
  if (!link->is_ready)
    {
      link->is_ready = TRUE;
      if (link->ready)
        link->ready (link, link->data);
    }
}

/* One message from the master on @conn. FALSE when @conn is gone. */
static gboolean
conn_message (Conn *conn, const ShSshMuxMsg *m)
{
  ShSshLink *link = conn->link;
  if (m->type == SH_SSHMUX_MSG_HELLO)
    {
      if (conn->hello_seen || m->value != SH_SSHMUX_VERSION)
        {
          if (conn->kind == CONN_CONTROL)
            lose (link, "the ssh master speaks another mux protocol version");
          else
            conn_free (conn);
          return FALSE;
        }
      conn->hello_seen = TRUE;
      return TRUE;
    }
  switch (conn->kind)
    {
    case CONN_CONTROL:
      if (m->type == SH_SSHMUX_S_ALIVE)
        {
          link->alive_pending = FALSE;
          if (!link->is_ready && !conn->answered)
            {
              conn->answered = TRUE;
              start_probe (link);
            }
        }
      return TRUE;
    case CONN_PROBE:
      if (m->type == SH_SSHMUX_S_SESSION_OPENED || m->type == SH_SSHMUX_S_FAILURE
          || m->type == SH_SSHMUX_S_PERMISSION_DENIED)
        {
          probe_done (link, conn);
          return FALSE;
        }
      return TRUE;
    case CONN_FORWARD:
      if (m->type == SH_SSHMUX_S_SESSION_OPENED && !conn->answered)
        {
          /* ssh holds the socket now: our copy goes, the channel stays. */
          conn->answered = TRUE;
          close (conn->app_fd);
          conn->app_fd = -1;
          return TRUE;
        }
      if (m->type == SH_SSHMUX_S_FAILURE || m->type == SH_SSHMUX_S_PERMISSION_DENIED)
        {
          g_autofree char *why = g_strndup (m->text, m->text_len);
          sh_debug ("ssh could not open the forward: %s", why);
          conn_free (conn); /* resets the application's connection */
          return FALSE;
        }
      return TRUE;
    }
  return TRUE;
}

static void
on_conn_event (ShPollWatch *w, guint32 events)
{
  Conn *conn = (Conn *) w;
  ShSshLink *link = conn->link;
  for (;;)
    {
      ssize_t n = read (conn->fd, conn->buf + conn->len, sizeof conn->buf - conn->len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n <= 0)
        {
          /* The master ended this connection: a forward's channel closed,
           * or the master itself is going. */
          if (conn->kind == CONN_CONTROL)
            lose (link, "the ssh master closed its control connection");
          else if (conn->kind == CONN_PROBE)
            probe_done (link, conn);
          else
            conn_free (conn);
          return;
        }
      conn->len += (gsize) n;
      gsize off = 0;
      for (;;)
        {
          ShSshMuxMsg m;
          gssize used = sh_sshmux_parse (conn->buf + off, conn->len - off, &m);
          if (used == 0)
            break;
          if (used < 0)
            {
              if (conn->kind == CONN_CONTROL)
                lose (link, "the ssh master sent a malformed mux message");
              else if (conn->kind == CONN_PROBE)
                probe_done (link, conn);
              else
                conn_free (conn);
              return;
            }
          off += (gsize) used;
          if (!conn_message (conn, &m))
            return;
        }
      memmove (conn->buf, conn->buf + off, conn->len - off);
      conn->len -= off;
    }
}

static gboolean on_timer (gpointer data);

/* Holds the master's socket open (O_PATH) once it exists and connects
 * through /proc/self/fd from then on: the caller may then remove the
 * socket and its directory, and a SIGKILL leaves nothing in the file
 * system. FALSE while the socket is not there yet. */
static gboolean
pin_socket (ShSshLink *link)
{
  if (link->pin >= 0)
    return TRUE;
  int fd = open (link->ctl_path, O_PATH | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0)
    return FALSE;
  struct stat st;
  if (fstat (fd, &st) < 0 || !S_ISSOCK (st.st_mode))
    {
      close (fd);
      return FALSE;
    }
  link->pin = fd;
  g_free (link->ctl_path);
  link->ctl_path = g_strdup_printf ("/proc/self/fd/%d", fd);
  return TRUE;
}

static void
send_alive_check (ShSshLink *link)
{
  g_autoptr (GByteArray) req = g_byte_array_new ();
  sh_sshmux_put_alive_check (req, ++link->next_rid);
  link->alive_pending = TRUE;
  if (!send_all (link->control->fd, req->data, req->len))
    lose (link, "the ssh master closed its control connection");
}

static gboolean
on_timer (gpointer data)
{
  ShSshLink *link = data;
  if (link->control == NULL)
    {
      /* Start-up: the master's socket appears once it has logged in. */
      if (!pin_socket (link))
        return G_SOURCE_CONTINUE;
      g_autoptr (GByteArray) req = g_byte_array_new ();
      sh_sshmux_put_alive_check (req, ++link->next_rid);
      link->control = conn_open (link, CONN_CONTROL, req, -1);
      if (link->control == NULL)
        return G_SOURCE_CONTINUE;
      link->alive_pending = TRUE;
      link->timer = g_timeout_add_seconds (SH_SSH_LINK_ALIVE_S, on_timer, link);
      return G_SOURCE_REMOVE;
    }
  if (link->alive_pending)
    {
      link->timer = 0;
      lose (link, "the ssh master stopped answering");
      return G_SOURCE_REMOVE;
    }
  send_alive_check (link);
  return G_SOURCE_CONTINUE;
}

static void
dns_free (DnsQuery *q)
{
  sh_poll_remove (q->link->poll, q->fd);
  close (q->fd);
  g_clear_handle_id (&q->timer, g_source_remove);
  g_hash_table_remove (q->link->dns, q);
  g_free (q);
}

static void
dns_done (DnsQuery *q, const guint8 *msg, gsize len)
{
  ShSshLinkDnsFunc reply = q->reply;
  gpointer data = q->data;
  guint32 id = q->id;
  g_autofree guint8 *copy = len ? g_memdup2 (msg, len) : NULL;
  dns_free (q);
  reply (id, copy, len, data);
}

static gboolean
on_dns_timeout (gpointer data)
{
  DnsQuery *q = data;
  q->timer = 0;
  dns_done (q, NULL, 0);
  return G_SOURCE_REMOVE;
}

static void
on_dns_event (ShPollWatch *w, guint32 events)
{
  DnsQuery *q = (DnsQuery *) w;
  for (;;)
    {
      ssize_t n = read (q->fd, q->buf + q->len, sizeof q->buf - q->len);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && errno == EAGAIN)
        return;
      if (n <= 0)
        {
          dns_done (q, NULL, 0); /* refused, reset, or closed before the answer */
          return;
        }
      q->len += (gsize) n;
      if (q->len >= 2)
        {
          gsize want = (gsize) q->buf[0] << 8 | q->buf[1];
          if (q->len >= 2 + want)
            {
              dns_done (q, q->buf + 2, want);
              return;
            }
        }
    }
}

gboolean
sh_ssh_link_dns_query (ShSshLink *link, const char *host, guint16 port, const guint8 *query,
                       gsize len, guint32 id, ShSshLinkDnsFunc reply, gpointer data)
{
  int sv[2];
  if (!link->is_ready || len == 0 || len > 65535
      || socketpair (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    return FALSE;
  /* A fresh socket pair takes a query whole: its buffer is far larger. */
  guint8 hdr[2] = { len >> 8, len };
  if (write (sv[0], hdr, 2) != 2 || write (sv[0], query, len) != (ssize_t) len)
    {
      close (sv[0]);
      close (sv[1]);
      return FALSE;
    }
  DnsQuery *q = g_new0 (DnsQuery, 1);
  q->watch.func = on_dns_event;
  q->link = link;
  q->fd = sv[0];
  q->id = id;
  q->reply = reply;
  q->data = data;
  q->timer = g_timeout_add_seconds (SH_SSH_LINK_DNS_TIMEOUT_S, on_dns_timeout, q);
  sh_poll_add (link->poll, q->fd, EPOLLIN, &q->watch);
  g_hash_table_add (link->dns, q);
  sh_ssh_link_forward (link, sv[1], host, port); /* on failure, our end sees the end */
  return TRUE;
}

ShSshLink *
sh_ssh_link_new (ShPoll *poll, const char *ctl_path, guint max_forwards, ShSshLinkReadyFunc ready,
                 ShSshLinkLostFunc lost, gpointer data)
{
  ShSshLink *link = g_new0 (ShSshLink, 1);
  link->poll = poll;
  link->ctl_path = g_strdup (ctl_path);
  link->pin = -1;
  link->max_forwards = max_forwards;
  link->ready = ready;
  link->lost = lost;
  link->data = data;
  link->conns = g_hash_table_new (NULL, NULL);
  link->dns = g_hash_table_new (NULL, NULL);
  link->timer = g_timeout_add (SH_SSH_LINK_TRY_MS, on_timer, link);
  return link;
}

void
sh_ssh_link_free (ShSshLink *link)
{
  if (link == NULL)
    return;
  g_clear_handle_id (&link->timer, g_source_remove);
  GHashTableIter it;
  gpointer key;
  /* conn_free() edits the table: take them one at a time. */
  while (g_hash_table_size (link->conns) > 0)
    {
      g_hash_table_iter_init (&it, link->conns);
      g_hash_table_iter_next (&it, &key, NULL);
      conn_free (key);
    }
  g_hash_table_unref (link->conns);
  while (g_hash_table_size (link->dns) > 0)
    {
      g_hash_table_iter_init (&it, link->dns);
      g_hash_table_iter_next (&it, &key, NULL);
      dns_free (key);
    }
  g_hash_table_unref (link->dns);
  g_free (link->ctl_path);
  if (link->pin >= 0)
    close (link->pin);
  g_free (link);
}

void
sh_ssh_link_forward (ShSshLink *link, int fd, const char *host, guint16 port)
{
  if (!link->is_ready)
    {
      reset_fd (fd);
      return;
    }
  if (link->n_forwards >= link->max_forwards)
    {
      if (!link->limit_said)
        sh_error ("%u connections are open through ssh: new ones are refused until some end",
                  link->n_forwards);
      link->limit_said = TRUE;
      reset_fd (fd);
      return;
    }
  link->limit_said = FALSE;
  g_autoptr (GByteArray) req = g_byte_array_new ();
  if (!sh_sshmux_put_stdio_fwd (req, ++link->next_rid, host, port)
      || conn_open (link, CONN_FORWARD, req, fd) == NULL)
    {
      sh_debug ("cannot hand a connection to the ssh master: %s", g_strerror (errno));
      reset_fd (fd);
    }
}

guint
sh_ssh_link_n_forwards (ShSshLink *link)
{
  return link ? link->n_forwards : 0;
}
