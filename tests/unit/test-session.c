/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The mux session (service/session.c) end to end inside one process, no
 * root: a client session and a server session joined by two pipes (as ssh
 * would join them), real TCP sockets on 127.0.0.1 for the application and the
 * destination. Also protocol conformance: hostile frames sent to a server
 * session end it with an ERROR frame, never a crash or a hang. */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epoll-source.h"
#include "session.h"

/* ------------------------------------------------------------ helpers */

static int
tcp_listener (guint16 *port)
{
  int fd = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  g_assert_cmpint (listen (fd, 64), ==, 0);
  socklen_t len = sizeof sa;
  getsockname (fd, (struct sockaddr *) &sa, &len);
  *port = ntohs (sa.sin_port);
  return fd;
}

/* A connected pair of TCP sockets: @app is the application's end; the
 * returned fd is the "accepted" end handed to the client session. */
static int
tcp_pair (int *app)
{
  guint16 port;
  int l = tcp_listener (&port);
  *app = socket (AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sa = { .sin_family = AF_INET,
                            .sin_port = htons (port),
                            .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  g_assert_cmpint (connect (*app, (struct sockaddr *) &sa, sizeof sa), ==, 0);
  int fd = accept (l, NULL, NULL);
  close (l);
  return fd;
}

static gboolean
write_all (int fd, const guint8 *p, gsize n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      if (w < 0 && errno == EINTR)
        continue;
      if (w <= 0)
        return FALSE;
      p += w;
      n -= w;
    }
  return TRUE;
}

static void
pattern (guint8 *p, gsize n, guint seed)
{
  guint32 x = seed * 2654435761u + 1;
  for (gsize i = 0; i < n; i++)
    {
      x ^= x << 13, x ^= x >> 17, x ^= x << 5;
      p[i] = x & 0xff;
    }
}

/* Reads a non-blocking @fd until end of stream while running the main loop;
 * returns the byte count, or -1 when no EOF came within @seconds. */
static gssize
read_to_eof (int fd, guint8 *buf, gsize cap, int seconds)
{
  gsize n = 0;
  gint64 end = g_get_monotonic_time () + seconds * G_USEC_PER_SEC;
  fcntl (fd, F_SETFL, O_NONBLOCK);
  while (g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      ssize_t r = read (fd, buf + n, cap - n);
      if (r > 0)
        n += r;
      else if (r == 0)
        return n;
    }
  return -1;
}

/* ----------------------------------------------------- a session pair */

typedef struct
{
  ShPoll *poll;
  ShSession *client, *server;
  gboolean client_ready;
  gboolean client_closed, server_closed;
  char *client_error, *server_error;
} Pair;

static void
pair_flush (gpointer data)
{
  Pair *p = data;
  if (p->client)
    sh_session_flush (p->client);
  if (p->server)
    sh_session_flush (p->server);
}

static void
on_ready (ShSession *s, const ShHello *peer, gpointer data)
{
  Pair *p = data;
  if (s == p->client)
    p->client_ready = TRUE;
}

static void
on_closed (ShSession *s, const GError *error, gpointer data)
{
  Pair *p = data;
  if (s == p->client)
    {
      p->client_closed = TRUE;
      p->client_error = error ? g_strdup (error->message) : NULL;
    }
  else
    {
      p->server_closed = TRUE;
      p->server_error = error ? g_strdup (error->message) : NULL;
    }
}

static void
iterate_until (gboolean *flag, int timeout_ms)
{
  gint64 end = g_get_monotonic_time () + timeout_ms * 1000;
  while (!*flag && g_get_monotonic_time () < end)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (200);
    }
  g_assert_true (*flag);
}

static void
pair_init (Pair *p, guint32 inflight)
{
  int c2s[2], s2c[2];
  memset (p, 0, sizeof *p);
  g_assert_cmpint (pipe2 (c2s, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (s2c, O_CLOEXEC), ==, 0);
  p->poll = sh_poll_new (pair_flush, p);

  ShSessionConfig cc, sc;
  sh_session_config_init (&cc, SH_ROLE_CLIENT);
  sh_session_config_init (&sc, SH_ROLE_SERVER);
  cc.inflight_limit = sc.inflight_limit = inflight;
  cc.connect_timeout_ms = 1000;
  cc.channel_window = sc.channel_window = 64 * 1024;
  p->client = sh_session_new (&cc, p->poll, s2c[0], c2s[1], on_ready, on_closed, p);
  p->server = sh_session_new (&sc, p->poll, c2s[0], s2c[1], on_ready, on_closed, p);
  pair_flush (p);
  iterate_until (&p->client_ready, 2000);
}

static void
pair_clear (Pair *p)
{
  g_clear_pointer (&p->client, sh_session_free);
  g_clear_pointer (&p->server, sh_session_free);
  g_clear_pointer (&p->poll, sh_poll_free);
  g_free (p->client_error);
  g_free (p->server_error);
}

static void
open_to (Pair *p, int fd, guint16 port)
{
  ShOpen dst = { .family = AF_INET, .port = port, .addr = { 127, 0, 0, 1 } };
  sh_session_open_channel (p->client, fd, &dst);
}

/* Every channel ends with a CLOSE exchange: within 2 s nothing is open. */
static void
assert_all_closed (Pair *p)
{
  ShSessionStats st;
  gint64 end = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  do
    {
      g_main_context_iteration (NULL, FALSE);
      sh_session_get_stats (p->client, &st);
    }
  while (st.channels_open > 0 && g_get_monotonic_time () < end);
  g_assert_cmpuint (st.channels_open, ==, 0);
}

/* ---------------------------------------------------- echo destination */

typedef struct
{
  int listen_fd;
  int conns;
  gboolean half_close_reply; /* read to EOF, then reply with the byte count */
} Echo;

static gpointer
echo_conn_thread (gpointer data)
{
  int fd = GPOINTER_TO_INT (data) & 0xffff;
  gboolean half = GPOINTER_TO_INT (data) >> 16;
  guint8 buf[65536];
  gsize total = 0;
  ssize_t n;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      total += n;
      if (!half && !write_all (fd, buf, n))
        break;
    }
  if (half)
    {
      char reply[64];
      int len = g_snprintf (reply, sizeof reply, "got %zu", total);
      write_all (fd, (guint8 *) reply, len);
    }
  close (fd);
  return NULL;
}

static gpointer
echo_thread (gpointer data)
{
  Echo *e = data;
  for (int i = 0; i < e->conns; i++)
    {
      int fd = accept (e->listen_fd, NULL, NULL);
      if (fd < 0)
        break;
      g_thread_unref (g_thread_new ("echo-conn", echo_conn_thread,
                                    GINT_TO_POINTER (fd | (e->half_close_reply << 16))));
    }
  return NULL;
}

/* ------------------------------------------------------------- tests */

typedef struct
{
  int app;
  gsize size;
  guint seed;
  gboolean ok;
  gboolean done;
} Transfer;

static gpointer
sender_thread (gpointer data)
{
  Transfer *t = data;
  g_autofree guint8 *buf = g_malloc (t->size);
  pattern (buf, t->size, t->seed);
  write_all (t->app, buf, t->size);
  shutdown (t->app, SHUT_WR);
  return NULL;
}

static gpointer
receiver_thread (gpointer data)
{
  Transfer *t = data;
  g_autofree guint8 *want = g_malloc (t->size);
  g_autofree guint8 *got = g_malloc (t->size + 1);
  pattern (want, t->size, t->seed);
  gsize n = 0;
  ssize_t r;
  while ((r = read (t->app, got + n, t->size + 1 - n)) > 0)
    n += r;
  t->ok = n == t->size && memcmp (want, got, n) == 0 && r == 0;
  t->done = TRUE;
  return NULL;
}

/* N channels, each echoing a different size (up to @scale × 300 kB) both
 * ways at once; every byte is checked. */
static void
run_echo_parallel (Pair *p_, guint scale)
{
  enum
  {
    N = 8
  };
  Pair *p = p_;
  Echo e = { .conns = N };
  guint16 port;
  e.listen_fd = tcp_listener (&port);
  GThread *et = g_thread_new ("echo", echo_thread, &e);

  Transfer t[N];
  GThread *th[2 * N];
  for (int i = 0; i < N; i++)
    {
      t[i] = (Transfer){ .size = (1 + i) * 300 * 1000 * scale + i, .seed = i + 1 };
      open_to (p, tcp_pair (&t[i].app), port);
      th[2 * i] = g_thread_new ("send", sender_thread, &t[i]);
      th[2 * i + 1] = g_thread_new ("recv", receiver_thread, &t[i]);
    }
  for (int i = 0; i < N; i++)
    iterate_until (&t[i].done, 20000 * scale);
  for (int i = 0; i < N; i++)
    {
      g_assert_true (t[i].ok);
      g_thread_join (th[2 * i]);
      g_thread_join (th[2 * i + 1]);
      close (t[i].app);
    }
  g_thread_join (et);
  close (e.listen_fd);

  ShSessionStats st;
  sh_session_get_stats (p->client, &st);
  g_assert_cmpuint (st.channels_total, ==, N);
  g_assert_false (p->client_closed);
  assert_all_closed (p);
}

static void
test_echo_parallel (void)
{
  Pair p;
  pair_init (&p, 256 * 1024);
  run_echo_parallel (&p, 1);
  pair_clear (&p);
}

/* Lanes: the server offers, the client bonds over three more socket pairs
 * (standing in for ssh channels), and all traffic still arrives intact.
 * Small socket buffers make writes partial and lanes fill unevenly. */
typedef struct
{
  gboolean offered, client_bonded, server_bonded;
  guint n_lanes;
  guint8 token[SH_MUX_LANE_TOKEN_LEN];
} LaneState;

static void
on_lanes (ShSession *s, int family, guint count, guint16 port, const guint8 *token, gpointer data)
{
  LaneState *ls = data;
  ls->offered = count == 3 && port == 4242 && memcmp (token, ls->token, sizeof ls->token) == 0;
}

static void
on_client_bonded (ShSession *s, guint n, gpointer data)
{
  LaneState *ls = data;
  ls->client_bonded = TRUE;
  ls->n_lanes = n;
}

static void
on_server_bonded (ShSession *s, guint n, gpointer data)
{
  LaneState *ls = data;
  ls->server_bonded = n == 4;
}

static void
test_lanes (void)
{
  Pair p;
  pair_init (&p, 256 * 1024);
  LaneState ls = { 0 };
  memset (ls.token, 0x5a, sizeof ls.token);
  ShSessionExtras ce = { .lanes = on_lanes, .bonded = on_client_bonded };
  ShSessionExtras se = { .bonded = on_server_bonded };
  sh_session_set_extras (p.client, &ce, &ls);
  sh_session_set_extras (p.server, &se, &ls);
  /* The server is ready once the client's HELLO is in. */
  gint64 end = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (sh_session_get_version (p.server) == 0 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
  g_assert_true (sh_session_offer_lanes (p.server, AF_INET, 3, 4242, ls.token));
  pair_flush (&p);
  iterate_until (&ls.offered, 2000);

  int cfds[SH_MUX_MAX_LANES] = { -1, -1, -1, -1, -1, -1, -1, -1 };
  for (guint i = 1; i <= 3; i++)
    {
      int sv[2];
      g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
      int small = 16 * 1024;
      setsockopt (sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
      setsockopt (sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
      cfds[i] = sv[0];
      g_assert_true (sh_session_attach_lane (p.server, i, sv[1]));
    }
  /* Lane 4 was not offered. */
  g_assert_false (sh_session_attach_lane (p.server, 4, 99));
  sh_session_bond (p.client, cfds, 0xf);
  pair_flush (&p);
  iterate_until (&ls.client_bonded, 2000);
  g_assert_true (ls.server_bonded);
  g_assert_cmpuint (ls.n_lanes, ==, 4);
  g_assert_cmpuint (sh_session_n_lanes (p.client), ==, 4);

  run_echo_parallel (&p, 4);
  pair_clear (&p);
}

static void
test_half_close (void)
{
  Pair p;
  pair_init (&p, 0);
  Echo e = { .conns = 1, .half_close_reply = TRUE };
  guint16 port;
  e.listen_fd = tcp_listener (&port);
  GThread *et = g_thread_new ("echo", echo_thread, &e);

  int app;
  open_to (&p, tcp_pair (&app), port);
  g_assert_true (write_all (app, (const guint8 *) "hello world", 11));
  shutdown (app, SHUT_WR);
  char buf[64];
  gssize n = read_to_eof (app, (guint8 *) buf, sizeof buf - 1, 5);
  g_assert_cmpint (n, >=, 0);
  buf[n] = '\0';
  g_assert_cmpstr (buf, ==, "got 11");
  close (app);
  g_thread_join (et);
  close (e.listen_fd);
  pair_clear (&p);
}

static void
test_refused_resets (void)
{
  Pair p;
  pair_init (&p, 256 * 1024);
  guint16 port;
  int l = tcp_listener (&port);
  close (l); /* nothing listens there now */

  int app;
  open_to (&p, tcp_pair (&app), port);
  fcntl (app, F_SETFL, O_NONBLOCK);
  int err = 0;
  gint64 start = g_get_monotonic_time ();
  while (g_get_monotonic_time () - start < 3 * G_USEC_PER_SEC)
    {
      g_main_context_iteration (NULL, FALSE);
      char c;
      ssize_t r = read (app, &c, 1);
      if (r == 0)
        break;
      if (r < 0 && errno != EAGAIN)
        {
          err = errno;
          break;
        }
    }
  /* A reset, not a clean end of stream: the application can tell. */
  g_assert_cmpint (err, ==, ECONNRESET);
  g_assert_cmpint (g_get_monotonic_time () - start, <, G_USEC_PER_SEC);
  close (app);
  g_assert_false (p.client_closed);
  pair_clear (&p);
}

/* A destination that sends @size pattern bytes, then closes. */
typedef struct
{
  int listen_fd;
  gsize size;
} Source;

static gpointer
source_thread (gpointer data)
{
  Source *src = data;
  int fd = accept (src->listen_fd, NULL, NULL);
  g_autofree guint8 *buf = g_malloc (src->size);
  pattern (buf, src->size, 42);
  write_all (fd, buf, src->size);
  close (fd);
  return NULL;
}

static void
test_slow_reader (void)
{
  /* Channel A's application does not read while 2 MiB come for it (the
   * window is 64 KiB); channel B's echoes must go on regardless. Then A reads
   * everything, in order, and the end of stream. */
  Pair p;
  pair_init (&p, 256 * 1024);
  Source src = { .size = 2 * 1024 * 1024 };
  guint16 sport, eport;
  src.listen_fd = tcp_listener (&sport);
  GThread *st = g_thread_new ("source", source_thread, &src);
  Echo e = { .conns = 1 };
  e.listen_fd = tcp_listener (&eport);
  GThread *et = g_thread_new ("echo", echo_thread, &e);

  int a, b;
  open_to (&p, tcp_pair (&a), sport);
  shutdown (a, SHUT_WR);
  open_to (&p, tcp_pair (&b), eport);
  fcntl (b, F_SETFL, O_NONBLOCK);

  for (int i = 0; i < 50; i++)
    {
      char c = 'a' + i % 26, r = 0;
      g_assert_cmpint (write (b, &c, 1), ==, 1);
      gint64 end = g_get_monotonic_time () + G_USEC_PER_SEC;
      while (read (b, &r, 1) != 1)
        {
          g_assert_cmpint (g_get_monotonic_time (), <, end);
          g_main_context_iteration (NULL, FALSE);
        }
      g_assert_cmpint (r, ==, c);
    }

  /* The client holds at most about one window for A, not the 2 MiB. */
  g_autofree guint8 *want = g_malloc (src.size);
  g_autofree guint8 *got = g_malloc (src.size + 1);
  pattern (want, src.size, 42);
  gssize n = read_to_eof (a, got, src.size + 1, 10);
  g_assert_cmpint (n, ==, src.size);
  g_assert_true (memcmp (got, want, n) == 0);

  close (a);
  close (b);
  g_thread_join (st);
  g_thread_join (et);
  close (src.listen_fd);
  close (e.listen_fd);

  assert_all_closed (&p);
  pair_clear (&p);
}

static void
test_drain_after_close (void)
{
  /* The whole transfer fits in the credit plus the kernel's buffers, so the
   * server's EOF and CLOSE arrive while the last bytes still wait in the
   * client engine (the application reads nothing yet): the closed channel
   * must still deliver them, then end the stream. */
  Pair p;
  pair_init (&p, 256 * 1024);
  Source src = { .size = 150 * 1024 };
  guint16 sport;
  src.listen_fd = tcp_listener (&sport);
  GThread *st = g_thread_new ("source", source_thread, &src);

  int a;
  int afd = tcp_pair (&a);
  int small = 16384;
  setsockopt (afd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  open_to (&p, afd, sport);
  shutdown (a, SHUT_WR);
  /* Let everything arrive without reading it. */
  for (int i = 0; i < 200; i++)
    {
      g_main_context_iteration (NULL, FALSE);
      g_usleep (1000);
    }
  g_autofree guint8 *want = g_malloc (src.size);
  g_autofree guint8 *got = g_malloc (src.size + 1);
  pattern (want, src.size, 42);
  gssize n = read_to_eof (a, got, src.size + 1, 5);
  g_assert_cmpint (n, ==, src.size);
  g_assert_true (memcmp (got, want, n) == 0);
  close (a);
  g_thread_join (st);
  close (src.listen_fd);
  pair_clear (&p);
}

typedef struct
{
  const char *name;
  guint8 bytes[128];
  gsize len;
  const char *expect; /* substring of the server's error */
  gboolean v2;        /* the client's HELLO offers version 2 */
} Hostile;

static gsize
hello_bytes_v (guint8 *out, guint16 version_max)
{
  ShHello h = { .version_min = 1,
                .version_max = version_max,
                .channel_window = 4096,
                .max_channels = 2,
                .connect_timeout_ms = 100 };
  return sh_frame_put_hello (out, &h);
}

static gsize
hello_bytes (guint8 *out)
{
  return hello_bytes_v (out, 1);
}

static void
test_open_unanswered (void)
{
  /* A "server" that completes the handshake and then never answers OPEN:
   * the client resets the application's connection after twice the
   * connect timeout (100 ms here) plus 2 s, instead of hanging forever. */
  int c2s[2], s2c[2];
  g_assert_cmpint (pipe2 (c2s, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (s2c, O_CLOEXEC), ==, 0);
  Pair p = { 0 };
  p.poll = sh_poll_new (pair_flush, &p);
  ShSessionConfig cc;
  sh_session_config_init (&cc, SH_ROLE_CLIENT);
  cc.connect_timeout_ms = 100;
  p.client = sh_session_new (&cc, p.poll, s2c[0], c2s[1], on_ready, on_closed, &p);
  guint8 hello[SH_MUX_MAX_FRAME];
  g_assert_true (write_all (s2c[1], hello, hello_bytes (hello)));
  iterate_until (&p.client_ready, 2000);

  int app;
  ShOpen dst = { .family = AF_INET, .port = 80, .addr = { 192, 0, 2, 1 } };
  sh_session_open_channel (p.client, tcp_pair (&app), &dst);
  fcntl (app, F_SETFL, O_NONBLOCK);
  gint64 start = g_get_monotonic_time ();
  int err = 0;
  while (!err && g_get_monotonic_time () - start < 6 * G_USEC_PER_SEC)
    {
      g_main_context_iteration (NULL, FALSE);
      char c;
      if (read (app, &c, 1) < 0 && errno != EAGAIN)
        err = errno;
      g_usleep (1000);
    }
  gint64 took = g_get_monotonic_time () - start;
  g_assert_cmpint (err, ==, ECONNRESET);
  g_assert_cmpint (took, >, 2 * G_USEC_PER_SEC);
  g_assert_cmpint (took, <, 4 * G_USEC_PER_SEC);
  g_assert_false (p.client_closed);
  close (app);
  close (c2s[0]);
  close (s2c[1]);
  pair_clear (&p);
}

static void
run_hostile (const Hostile *h)
{
  int c2s[2], s2c[2];
  g_assert_cmpint (pipe2 (c2s, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (s2c, O_CLOEXEC), ==, 0);
  Pair p = { 0 };
  p.poll = sh_poll_new (pair_flush, &p);
  ShSessionConfig sc;
  sh_session_config_init (&sc, SH_ROLE_SERVER);
  sc.max_channels = 2;
  p.server = sh_session_new (&sc, p.poll, c2s[0], s2c[1], on_ready, on_closed, &p);

  guint8 buf[512];
  gsize n = hello_bytes_v (buf, h->v2 ? 2 : 1);
  memcpy (buf + n, h->bytes, h->len);
  g_assert_true (write_all (c2s[1], buf, n + h->len));
  iterate_until (&p.server_closed, 3000);
  g_assert_nonnull (p.server_error);
  if (!strstr (p.server_error, h->expect))
    g_error ("%s: server said '%s', expected '%s'", h->name, p.server_error, h->expect);

  /* The server told the client why, in an ERROR frame after its HELLO. */
  guint8 out[4096];
  fcntl (s2c[0], F_SETFL, O_NONBLOCK);
  ssize_t r = read (s2c[0], out, sizeof out);
  g_assert_cmpint (r, >, 0);
  gsize pos = 0;
  gboolean saw_error = FALSE;
  ShFrame f;
  gssize k;
  while ((k = sh_frame_decode (out + pos, r - pos, &f)) > 0)
    {
      saw_error |= f.type == SH_FRAME_ERROR;
      pos += k;
    }
  g_assert_true (saw_error);
  close (c2s[1]);
  close (s2c[0]);
  pair_clear (&p);
}

static void
test_hostile_frames (void)
{
  static Hostile cases[8];
  int i = 0;
  guint8 *b;

  cases[i] = (Hostile){ .name = "garbage", .expect = "malformed" };
  memcpy (cases[i].bytes, "\xff\xff\xff\xff\xff\xff\xff\xff", 8);
  cases[i++].len = 8;

  cases[i] = (Hostile){ .name = "data for unknown channel", .expect = "unknown channel" };
  b = cases[i].bytes;
  cases[i].len = sh_frame_put_header (b, SH_FRAME_DATA, 77, 1) + 1;
  i++;

  cases[i] = (Hostile){ .name = "second hello", .expect = "HELLO" };
  cases[i].len = hello_bytes (cases[i].bytes);
  i++;

  cases[i] = (Hostile){ .name = "open_result to server", .expect = "OPEN_RESULT" };
  cases[i].len = sh_frame_put_open_result (cases[i].bytes, 1, SH_OPEN_OK, 0, NULL);
  i++;

  /* Three OPENs with max_channels 2 (to a closed port on loopback: they
   * fail fast, but the channels stay until the client's CLOSE). */
  cases[i] = (Hostile){ .name = "too many channels", .expect = "channels open" };
  ShOpen o = { .family = AF_INET, .port = 9, .addr = { 127, 0, 0, 1 } };
  for (guint32 c = 1; c <= 3; c++)
    cases[i].len += sh_frame_put_open (cases[i].bytes + cases[i].len, c, &o);
  i++;

  cases[i] = (Hostile){ .name = "open twice", .expect = "in use" };
  cases[i].len = sh_frame_put_open (cases[i].bytes, 5, &o);
  cases[i].len += sh_frame_put_open (cases[i].bytes + cases[i].len, 5, &o);
  i++;

  cases[i] = (Hostile){ .name = "ack beyond in-flight", .expect = "in flight" };
  cases[i].len = sh_frame_put_u32 (cases[i].bytes, SH_FRAME_ACK, 0, 1000);
  i++;

  cases[i] = (Hostile){ .name = "oversized length", .expect = "malformed" };
  cases[i].len = sh_frame_put_header (cases[i].bytes, SH_FRAME_DATA, 1, 0xffff);
  i++;

  for (int k = 0; k < i; k++)
    run_hostile (&cases[k]);
}

static void
test_credit_violation (void)
{
  /* More DATA than the 4 KiB window the server granted: the channel is
   * open (connected to a real listener), then the client oversends. */
  guint16 port;
  int l = tcp_listener (&port);
  int c2s[2], s2c[2];
  g_assert_cmpint (pipe2 (c2s, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (s2c, O_CLOEXEC), ==, 0);
  Pair p = { 0 };
  p.poll = sh_poll_new (pair_flush, &p);
  ShSessionConfig sc;
  sh_session_config_init (&sc, SH_ROLE_SERVER);
  sc.channel_window = 4096;
  p.server = sh_session_new (&sc, p.poll, c2s[0], s2c[1], on_ready, on_closed, &p);

  g_autofree guint8 *buf = g_malloc (16384);
  gsize n = hello_bytes (buf);
  ShOpen o = { .family = AF_INET, .port = port, .addr = { 127, 0, 0, 1 } };
  n += sh_frame_put_open (buf + n, 1, &o);
  for (int k = 0; k < 3; k++)
    {
      n += sh_frame_put_header (buf + n, SH_FRAME_DATA, 1, 2000);
      memset (buf + n, 'x', 2000);
      n += 2000;
    }
  g_assert_true (write_all (c2s[1], buf, n));
  iterate_until (&p.server_closed, 3000);
  g_assert_nonnull (p.server_error);
  g_assert_nonnull (strstr (p.server_error, "credit"));
  close (c2s[1]);
  close (s2c[0]);
  close (l);
  pair_clear (&p);
}

static void
test_unread_answers (void)
{
  /* A peer that floods PINGs and never reads the PONGs: the server stops
   * reading once its output is large, so its memory stays bounded (our
   * writes stall), and it loses nothing: once the peer reads, every PING is
   * answered. */
  int c2s[2], s2c[2];
  g_assert_cmpint (pipe2 (c2s, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (s2c, O_CLOEXEC), ==, 0);
  Pair p = { 0 };
  p.poll = sh_poll_new (pair_flush, &p);
  ShSessionConfig sc;
  sh_session_config_init (&sc, SH_ROLE_SERVER);
  p.server = sh_session_new (&sc, p.poll, c2s[0], s2c[1], on_ready, on_closed, &p);

  guint8 hello[SH_MUX_MAX_FRAME];
  g_assert_true (write_all (c2s[1], hello, hello_bytes (hello)));
  fcntl (c2s[1], F_SETFL, O_NONBLOCK);
  guint8 pings[64 * 16]; /* a PING is 16 bytes: header and token */
  gsize one = sh_frame_put_u64 (pings, SH_FRAME_PING, 42);
  for (gsize k = 1; k < 64; k++)
    memcpy (pings + k * one, pings, one);
  const gsize limit = 64 * 1024 * 1024;
  gsize sent = 0;
  gint64 stalled_since = 0;
  while (sent < limit)
    {
      ssize_t n = write (c2s[1], pings, 64 * one);
      if (n > 0)
        {
          g_assert_cmpint (n % one, ==, 0); /* a pipe writes <= PIPE_BUF whole */
          sent += n;
          stalled_since = 0;
        }
      else if (stalled_since == 0)
        stalled_since = g_get_monotonic_time ();
      else if (g_get_monotonic_time () - stalled_since > 300 * 1000)
        break; /* the server stopped reading */
      g_main_context_iteration (NULL, FALSE);
    }
  g_test_message ("the server took %zu bytes of PINGs without a reader", sent);
  g_assert_cmpuint (sent, <, 8 * 1024 * 1024);
  g_assert_false (p.server_closed);

  /* Now read: every PING gets its PONG. */
  fcntl (s2c[0], F_SETFL, O_NONBLOCK);
  g_autofree guint8 *in = g_malloc (1 << 20);
  gsize have = 0, pongs = 0, want = sent / one;
  gint64 end = g_get_monotonic_time () + 10 * G_USEC_PER_SEC;
  while (pongs < want && g_get_monotonic_time () < end)
    {
      g_main_context_iteration (NULL, FALSE);
      ssize_t n = read (s2c[0], in + have, (1 << 20) - have);
      if (n <= 0)
        continue;
      have += n;
      gsize pos = 0;
      ShFrame f;
      gssize k;
      while ((k = sh_frame_decode (in + pos, have - pos, &f)) > 0)
        {
          pongs += f.type == SH_FRAME_PONG;
          pos += k;
        }
      memmove (in, in + pos, have - pos);
      have -= pos;
    }
  g_assert_cmpuint (pongs, ==, want);
  g_assert_false (p.server_closed);
  close (c2s[1]);
  close (s2c[0]);
  pair_clear (&p);
}

/* ------------------------------------------------------------ datagrams */

typedef struct
{
  Pair *pair;
  guint received; /* client: DGRAMs that came back */
  guint8 last[2048];
  gsize last_len;
  guint32 last_assoc;
  int client_close_reason; /* -1: none */
  int server_closes;       /* server: DGRAM_CLOSEs the client sent first */
} DgramLog;

/* Server: echoes each datagram back on its association, from where it was
 * sent to. */
static void
server_dgram (ShSession *s, guint32 assoc, const ShDgram *d, gpointer data)
{
  sh_session_send_dgram (s, assoc, d);
}

static void
server_dgram_close (ShSession *s, guint32 assoc, ShDgramCloseReason reason, int err, gpointer data)
{
  DgramLog *log = data;
  log->server_closes++;
}

static void
client_dgram (ShSession *s, guint32 assoc, const ShDgram *d, gpointer data)
{
  DgramLog *log = data;
  log->received++;
  log->last_assoc = assoc;
  log->last_len = MIN (d->data_len, sizeof log->last);
  memcpy (log->last, d->data, log->last_len);
}

static void
client_dgram_close (ShSession *s, guint32 assoc, ShDgramCloseReason reason, int err, gpointer data)
{
  DgramLog *log = data;
  log->client_close_reason = reason;
}

static void
iterate_ms (int ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;
  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (200);
}

static void
dgram_pair (Pair *p, DgramLog *log, guint32 inflight)
{
  memset (log, 0, sizeof *log);
  log->client_close_reason = -1;
  pair_init (p, inflight);
  ShSessionExtras se = { .dgram = server_dgram, .dgram_close = server_dgram_close };
  ShSessionExtras ce = { .dgram = client_dgram, .dgram_close = client_dgram_close };
  sh_session_set_extras (p->server, &se, log);
  sh_session_set_extras (p->client, &ce, log);
  /* The server has the client's HELLO a moment after the client is ready. */
  gint64 end = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (sh_session_get_version (p->server) == 0 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
}

static guint
in_use (ShSession *s)
{
  ShSessionStats st;
  sh_session_get_stats (s, &st);
  return st.assocs_in_use;
}

static void
test_dgram_roundtrip (void)
{
  Pair p;
  DgramLog log;
  dgram_pair (&p, &log, 0);
  g_assert_cmpuint (sh_session_get_version (p.client), ==, SH_MUX_VERSION);
  g_assert_cmpuint (sh_session_get_version (p.server), ==, SH_MUX_VERSION);

  guint32 a = sh_session_dgram_open (p.client, AF_INET6, SH_DGRAM_UDP);
  guint32 b = sh_session_dgram_open (p.client, AF_INET, SH_DGRAM_ECHO);
  g_assert_cmpuint (a, !=, 0);
  g_assert_cmpuint (b, !=, a);
  ShDgram d = { .family = AF_INET6,
                .kind = SH_DGRAM_UDP,
                .port = 4433,
                .data = (const guint8 *) "quic",
                .data_len = 4 };
  g_assert_true (sh_session_send_dgram (p.client, a, &d));
  /* Another family or kind than the association's is a caller's bug. */
  d.family = AF_INET;
  g_test_expect_message (G_LOG_DOMAIN, G_LOG_LEVEL_CRITICAL, "*family*");
  g_assert_false (sh_session_send_dgram (p.client, a, &d));
  g_test_assert_expected_messages ();
  gint64 end = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (log.received < 1 && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
  g_assert_cmpuint (log.received, ==, 1);
  g_assert_cmpuint (log.last_assoc, ==, a);
  g_assert_cmpmem (log.last, log.last_len, "quic", 4);
  g_assert_cmpuint (in_use (p.server), ==, 1);

  /* b was never announced: closing it sends nothing, frees it at once. */
  sh_session_dgram_close (p.client, b, SH_DGRAM_CLOSE_DONE, 0);
  g_assert_cmpuint (in_use (p.client), ==, 1);

  /* The server closes a: the client hears it once, answers, and both
   * sides free the number. */
  sh_session_dgram_close (p.server, a, SH_DGRAM_CLOSE_LIMIT, 0);
  g_assert_false (sh_session_send_dgram (p.server, a, &d));
  pair_flush (&p);
  iterate_ms (100);
  g_assert_cmpint (log.client_close_reason, ==, SH_DGRAM_CLOSE_LIMIT);
  g_assert_cmpuint (in_use (p.client), ==, 0);
  g_assert_cmpuint (in_use (p.server), ==, 0);
  g_assert_cmpint (log.server_closes, ==, 0);

  /* The client closes one: the server hears it. */
  guint32 c = sh_session_dgram_open (p.client, AF_INET, SH_DGRAM_UDP);
  d.family = AF_INET;
  g_assert_true (sh_session_send_dgram (p.client, c, &d));
  sh_session_dgram_close (p.client, c, SH_DGRAM_CLOSE_DONE, 0);
  g_assert_false (sh_session_send_dgram (p.client, c, &d));
  pair_flush (&p);
  iterate_ms (100);
  g_assert_cmpint (log.server_closes, ==, 1);
  g_assert_cmpuint (in_use (p.client), ==, 0);
  g_assert_cmpuint (in_use (p.server), ==, 0);
  g_assert_false (p.client_closed || p.server_closed);
  pair_clear (&p);
}

/* Loss, not queues: with no ACK coming back (the loop does not run), a
 * datagram that would pass the in-flight limit is dropped and counted. */
static void
test_dgram_loss (void)
{
  Pair p;
  DgramLog log;
  dgram_pair (&p, &log, SH_MUX_MIN_INFLIGHT);
  g_autofree guint8 *big = g_malloc0 (60000);
  guint32 a = sh_session_dgram_open (p.client, AF_INET, SH_DGRAM_UDP);
  ShDgram d
      = { .family = AF_INET, .kind = SH_DGRAM_UDP, .port = 9, .data = big, .data_len = 60000 };
  g_assert_true (sh_session_send_dgram (p.client, a, &d));
  g_assert_true (sh_session_send_dgram (p.client, a, &d));
  g_assert_false (sh_session_send_dgram (p.client, a, &d)); /* 3 × 60008 > 128 KiB */
  d.data_len = 1000;
  g_assert_true (sh_session_send_dgram (p.client, a, &d)); /* a small one still fits */
  d.data_len = SH_MUX_MAX_DGRAM_DATA + 1;
  g_assert_false (sh_session_send_dgram (p.client, a, &d));
  ShSessionStats st;
  sh_session_get_stats (p.client, &st);
  g_assert_cmpuint (st.dgrams_sent, ==, 3);
  g_assert_cmpuint (st.dgrams_dropped, ==, 2);
  /* The server ACKs them like DATA: room again once the loop ran. */
  pair_flush (&p);
  iterate_ms (200);
  d.data_len = 60000;
  g_assert_true (sh_session_send_dgram (p.client, a, &d));
  pair_clear (&p);
}

/* A flow that keeps the in-flight limit full does not take the room of
 * echoes and small datagrams: they may pass the limit by a reserve, as
 * small channels do, and no further. (No ACK comes back: the loop does not
 * run; the output goes to the pipe now and then, so only the limit holds
 * datagrams back.) */
static void
test_dgram_priority (void)
{
  Pair p;
  DgramLog log;
  ShSessionStats st;
  dgram_pair (&p, &log, 1024 * 1024); /* a ceiling above the adaptive limit */
  guint32 a = sh_session_dgram_open (p.client, AF_INET, SH_DGRAM_UDP);
  guint32 e = sh_session_dgram_open (p.client, AF_INET, SH_DGRAM_ECHO);
  guint8 buf[1400] = { 0 };
  ShDgram bulk
      = { .family = AF_INET, .kind = SH_DGRAM_UDP, .port = 9, .data = buf, .data_len = 1400 };
  guint n = 0;
  while (sh_session_send_dgram (p.client, a, &bulk))
    {
      if (++n % 16 == 0)
        sh_session_flush (p.client);
      g_assert_cmpuint (n, <, 10000);
    }
  sh_session_flush (p.client);
  sh_session_get_stats (p.client, &st);
  g_assert_cmpuint (st.dgrams_dropped_limit, ==, 1);
  g_assert_cmpuint (n * 1408, >, 128 * 1024);

  /* The limit is full for bulk, not for a ping (of any size) or a small
   * datagram. */
  ShDgram ping
      = { .family = AF_INET, .kind = SH_DGRAM_ECHO, .port = 1, .data = buf, .data_len = 1400 };
  g_assert_true (sh_session_send_dgram (p.client, e, &ping));
  ShDgram small
      = { .family = AF_INET, .kind = SH_DGRAM_UDP, .port = 53, .data = buf, .data_len = 512 };
  g_assert_true (sh_session_send_dgram (p.client, a, &small));
  g_assert_false (sh_session_send_dgram (p.client, a, &bulk));
  bulk.data_len = 513;
  g_assert_false (sh_session_send_dgram (p.client, a, &bulk));

  /* By the reserve (64 KiB), no further: the bulk left less than one of
   * its datagrams (1408) under the limit. */
  guint m = 1;
  while (sh_session_send_dgram (p.client, a, &small))
    {
      if (++m % 16 == 0)
        sh_session_flush (p.client);
      g_assert_cmpuint (m, <, 10000);
    }
  g_assert_cmpuint (1408 + m * 520, >, 64 * 1024 - 520);
  g_assert_cmpuint (1408 + m * 520, <=, 64 * 1024 + 1408);
  sh_session_get_stats (p.client, &st);
  g_assert_cmpuint (st.dgrams_dropped_limit, ==, 4);
  g_assert_cmpuint (st.dgrams_dropped_full, ==, 0);
  pair_clear (&p);
}

/* A version-1 peer: no association can be opened, nothing is sent. */
static void
test_dgram_v1 (void)
{
  int c2s[2], s2c[2];
  g_assert_cmpint (pipe2 (c2s, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (s2c, O_CLOEXEC), ==, 0);
  Pair p = { 0 };
  p.poll = sh_poll_new (pair_flush, &p);
  ShSessionConfig cc, sc;
  sh_session_config_init (&cc, SH_ROLE_CLIENT);
  sh_session_config_init (&sc, SH_ROLE_SERVER);
  sc.version_max = 1; /* an old server */
  p.client = sh_session_new (&cc, p.poll, s2c[0], c2s[1], on_ready, on_closed, &p);
  p.server = sh_session_new (&sc, p.poll, c2s[0], s2c[1], on_ready, on_closed, &p);
  g_assert_cmpuint (sh_session_get_version (p.client), ==, 0);
  pair_flush (&p);
  iterate_until (&p.client_ready, 2000);
  g_assert_cmpuint (sh_session_get_version (p.client), ==, 1);
  g_assert_cmpuint (sh_session_dgram_open (p.client, AF_INET, SH_DGRAM_UDP), ==, 0);
  ShDgram d = { .family = AF_INET, .kind = SH_DGRAM_UDP, .port = 9 };
  g_assert_false (sh_session_send_dgram (p.client, 1, &d));
  pair_clear (&p);
}

static void
test_dgram_hostile (void)
{
  static Hostile cases[6];
  int i = 0;
  ShDgram d = { .family = AF_INET, .kind = SH_DGRAM_UDP, .port = 9, .addr = { 127, 0, 0, 1 } };

  cases[i] = (Hostile){ .name = "dgram in v1", .expect = "version-1" };
  cases[i].len = sh_frame_put_dgram (cases[i].bytes, 1, &d);
  i++;

  cases[i] = (Hostile){ .name = "dgram_close in v1", .expect = "version-1" };
  cases[i].len = sh_frame_put_dgram_close (cases[i].bytes, 1, 0, 0);
  i++;

  cases[i] = (Hostile){ .name = "dgram_close not in use", .expect = "not in use", .v2 = TRUE };
  cases[i].len = sh_frame_put_dgram_close (cases[i].bytes, 3, 0, 0);
  i++;

  cases[i] = (Hostile){ .name = "dgram_close twice", .expect = "not in use", .v2 = TRUE };
  cases[i].len = sh_frame_put_dgram (cases[i].bytes, 3, &d);
  cases[i].len += sh_frame_put_dgram_close (cases[i].bytes + cases[i].len, 3, 0, 0);
  cases[i].len += sh_frame_put_dgram_close (cases[i].bytes + cases[i].len, 3, 0, 0);
  i++;

  /* (Another kind on an association: conformance.py, against a server
   * that keeps the association open.) */

  cases[i] = (Hostile){ .name = "dgram reason 4", .expect = "malformed", .v2 = TRUE };
  cases[i].len = sh_frame_put_dgram_close (cases[i].bytes, 3, 4, 0);
  i++;

  for (int k = 0; k < i; k++)
    run_hostile (&cases[k]);
}

/* A client that never answers the server's DGRAM_CLOSE cannot make the
 * server keep numbers without end: past SH_SESSION_MAX_ASSOCS, an error. */
static void
test_dgram_unanswered (void)
{
  int c2s[2], s2c[2];
  g_assert_cmpint (pipe2 (c2s, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (s2c, O_CLOEXEC), ==, 0);
  Pair p = { 0 };
  p.poll = sh_poll_new (pair_flush, &p);
  ShSessionConfig sc;
  sh_session_config_init (&sc, SH_ROLE_SERVER);
  p.server = sh_session_new (&sc, p.poll, c2s[0], s2c[1], on_ready, on_closed, &p);
  /* No dgram callback: the server closes each association at once. */
  gsize cap = 16 + (SH_SESSION_MAX_ASSOCS + 1) * (SH_MUX_HDR_LEN + 8) + 128;
  g_autofree guint8 *buf = g_malloc (cap);
  gsize n = hello_bytes_v (buf, 2);
  ShDgram d = { .family = AF_INET, .kind = SH_DGRAM_UDP, .port = 9, .addr = { 127, 0, 0, 1 } };
  for (guint32 a = 1; a <= SH_SESSION_MAX_ASSOCS + 1; a++)
    n += sh_frame_put_dgram (buf + n, a, &d);
  /* Drain the server's output meanwhile: it answers every one. */
  fcntl (c2s[1], F_SETFL, O_NONBLOCK);
  fcntl (s2c[0], F_SETFL, O_NONBLOCK);
  gsize off = 0;
  guint8 sink[65536];
  gint64 end = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;
  while (!p.server_closed && g_get_monotonic_time () < end)
    {
      if (off < n)
        {
          ssize_t w = write (c2s[1], buf + off, n - off);
          if (w > 0)
            off += w;
        }
      while (read (s2c[0], sink, sizeof sink) > 0)
        ;
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_true (p.server_closed);
  g_assert_nonnull (strstr (p.server_error, "associations in use"));
  close (c2s[1]);
  close (s2c[0]);
  pair_clear (&p);
}

/* Connect fidelity (issue 25): an OPEN before the local socket exists. The
 * outcome comes once, as an errno; a socket bound afterwards gets what the
 * destination sent meanwhile (a banner and its end); a refused OPEN leaves
 * nothing open; a channel cancelled before its socket is closed. */
typedef struct
{
  int calls;
  guint32 id;
  int err;
} Opened;

static void
on_opened (ShSession *s, guint32 id, int err, gpointer data)
{
  Opened *o = data;
  o->calls++;
  o->id = id;
  o->err = err;
}

static void
wait_opened (Opened *o)
{
  gint64 end = g_get_monotonic_time () + 3 * G_USEC_PER_SEC;
  while (o->calls == 0 && g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (200);
  g_assert_cmpint (o->calls, ==, 1);
}

static void
test_early_open (void)
{
  Pair p;
  pair_init (&p, 0);
  guint16 port;
  ShOpen dst = { .family = AF_INET, .addr = { 127, 0, 0, 1 } };

  /* Refused: ECONNREFUSED, and the channel is gone. */
  int l = tcp_listener (&port);
  close (l);
  dst.port = port;
  Opened refused = { 0 };
  guint32 id = sh_session_open_early (p.client, &dst, on_opened, &refused);
  g_assert_cmpuint (id, !=, 0);
  wait_opened (&refused);
  g_assert_cmpuint (refused.id, ==, id);
  g_assert_cmpint (refused.err, ==, ECONNREFUSED);
  assert_all_closed (&p);
  int app;
  int fd = tcp_pair (&app);
  g_assert_false (sh_session_bind_channel (p.client, id, fd));
  close (fd);
  close (app);

  /* Open: the destination's banner (sent before the socket is bound) and
   * its end reach the socket bound afterwards. */
  Source src = { .size = 1000 };
  src.listen_fd = tcp_listener (&port);
  dst.port = port;
  GThread *st = g_thread_new ("source", source_thread, &src);
  Opened ok = { 0 };
  id = sh_session_open_early (p.client, &dst, on_opened, &ok);
  wait_opened (&ok);
  g_assert_cmpint (ok.err, ==, 0);
  g_thread_join (st);
  iterate_ms (100); /* the banner and the EOF arrive with no socket */
  fd = tcp_pair (&app);
  g_assert_true (sh_session_bind_channel (p.client, id, fd));
  guint8 want[1000], got[1001];
  pattern (want, sizeof want, 42);
  gint64 start = g_get_monotonic_time ();
  gssize n = 0;
  fcntl (app, F_SETFL, O_NONBLOCK);
  while (g_get_monotonic_time () - start < 3 * G_USEC_PER_SEC)
    {
      g_main_context_iteration (NULL, FALSE);
      ssize_t r = read (app, got + n, sizeof got - n);
      if (r == 0)
        break;
      if (r > 0)
        n += r;
    }
  g_assert_cmpint (n, ==, sizeof want);
  g_assert_cmpmem (got, n, want, sizeof want);
  close (app);
  close (src.listen_fd);

  /* Cancelled before its socket came: closed, no callback. */
  l = tcp_listener (&port);
  dst.port = port;
  Opened cancelled = { 0 };
  id = sh_session_open_early (p.client, &dst, on_opened, &cancelled);
  wait_opened (&cancelled);
  g_assert_cmpint (cancelled.err, ==, 0);
  sh_session_cancel_early (p.client, id);
  assert_all_closed (&p);
  g_assert_cmpint (cancelled.calls, ==, 1);
  close (l);
  g_assert_false (p.client_closed);
  pair_clear (&p);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/session/echo-parallel", test_echo_parallel);
  g_test_add_func ("/session/lanes", test_lanes);
  g_test_add_func ("/session/half-close", test_half_close);
  g_test_add_func ("/session/refused-resets", test_refused_resets);
  g_test_add_func ("/session/early-open", test_early_open);
  g_test_add_func ("/session/slow-reader", test_slow_reader);
  g_test_add_func ("/session/drain-after-close", test_drain_after_close);
  g_test_add_func ("/session/open-unanswered", test_open_unanswered);
  g_test_add_func ("/session/hostile-frames", test_hostile_frames);
  g_test_add_func ("/session/credit-violation", test_credit_violation);
  g_test_add_func ("/session/unread-answers", test_unread_answers);
  g_test_add_func ("/session/dgram-roundtrip", test_dgram_roundtrip);
  g_test_add_func ("/session/dgram-loss", test_dgram_loss);
  g_test_add_func ("/session/dgram-priority", test_dgram_priority);
  g_test_add_func ("/session/dgram-v1", test_dgram_v1);
  g_test_add_func ("/session/dgram-hostile", test_dgram_hostile);
  g_test_add_func ("/session/dgram-unanswered", test_dgram_unanswered);
  return g_test_run ();
}
