/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A hostile server against a real client session (service/session.c): the
 * test writes the server's bytes into the client's input pipe and reads what
 * the client sends. Whatever the server does, the client keeps its own
 * bounds: no more channels than it is configured for (whatever the server's
 * HELLO allows), no more queued data than the credit it granted, output that
 * stops growing when the server stops reading, and a protocol error ends the
 * session instead of being obeyed. No root, no network. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "epoll-source.h"
#include "session.h"

typedef struct
{
  ShPoll *poll;
  ShSession *client;
  int to_client;   /* the server's writing end */
  int from_client; /* the server's reading end */
  gboolean ready, closed;
  char *error;
} Hostile;

/* What the client sent that read_frames() has not given out yet (a frame's
 * start); hostile_init() empties it. */
static guint8 rx_buf[1 << 20];
static gsize rx_have;

static void
flush (gpointer data)
{
  Hostile *h = data;
  if (h->client)
    sh_session_flush (h->client);
}

static void
on_ready (ShSession *s, const ShHello *peer, gpointer data)
{
  ((Hostile *) data)->ready = TRUE;
}

static void
on_closed (ShSession *s, const GError *error, gpointer data)
{
  Hostile *h = data;
  h->closed = TRUE;
  h->error = error ? g_strdup (error->message) : NULL;
}

static void
write_all (int fd, const guint8 *p, gsize n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      if (w < 0 && errno == EINTR)
        continue;
      g_assert_cmpint (w, >, 0);
      p += w;
      n -= (gsize) w;
    }
}

/* Runs the loop for @ms, or until the session ended. */
static void
iterate (Hostile *h, int ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;
  while (!h->closed && g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (200);
}

/* A client session whose server announced @max_channels and @window. */
static void
hostile_init (Hostile *h, guint32 client_max_channels, guint32 client_window,
              guint32 server_max_channels)
{
  int c2s[2], s2c[2];
  memset (h, 0, sizeof *h);
  rx_have = 0;
  g_assert_cmpint (pipe2 (c2s, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (s2c, O_CLOEXEC), ==, 0);
  h->poll = sh_poll_new (flush, h);
  ShSessionConfig cc;
  sh_session_config_init (&cc, SH_ROLE_CLIENT);
  cc.keepalive_s = 0;
  cc.max_channels = client_max_channels;
  cc.channel_window = client_window;
  h->client = sh_session_new (&cc, h->poll, s2c[0], c2s[1], on_ready, on_closed, h);
  h->to_client = s2c[1];
  h->from_client = c2s[0];
  fcntl (h->from_client, F_SETFL, O_NONBLOCK);

  guint8 f[SH_MUX_MAX_FRAME];
  ShHello hello = { .version_min = 1,
                    .version_max = 1,
                    .channel_window = SH_MUX_MAX_WINDOW,
                    .max_channels = server_max_channels };
  g_strlcpy (hello.name, "hostile", sizeof hello.name);
  write_all (h->to_client, f, sh_frame_put_hello (f, &hello));
  gint64 end = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (!h->ready && g_get_monotonic_time () < end)
    g_main_context_iteration (NULL, FALSE);
  g_assert_true (h->ready);
}

static void
hostile_clear (Hostile *h)
{
  g_clear_pointer (&h->client, sh_session_free);
  g_clear_pointer (&h->poll, sh_poll_free);
  close (h->to_client);
  close (h->from_client);
  g_free (h->error);
}

static void
drain (Hostile *h)
{
  guint8 sink[65536];
  while (read (h->from_client, sink, sizeof sink) > 0)
    ;
}

/* An application's connection handed to the client: returns the app's end. */
static int
open_app (Hostile *h, guint8 last_octet)
{
  int sp[2];
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp), ==, 0);
  ShOpen dst = { .family = AF_INET, .port = 80, .addr = { 192, 0, 2, last_octet } };
  sh_session_open_channel (h->client, sp[0], &dst);
  return sp[1];
}

/* TRUE when the client closed its end of the app's connection. */
static gboolean
app_closed (int app)
{
  guint8 b;
  ssize_t n = recv (app, &b, 1, MSG_DONTWAIT);
  return n == 0 || (n < 0 && errno != EAGAIN);
}

static void
test_channel_limit (void)
{
  /* The server allows a million channels and never answers an OPEN: the
   * client still keeps to its own 4. The fifth connection and later ones
   * are refused at once. */
  Hostile h;
  int apps[10];
  ShSessionStats st;

  hostile_init (&h, 4, 65536, SH_MUX_MAX_CHANNELS);
  for (int i = 0; i < 10; i++)
    {
      apps[i] = open_app (&h, (guint8) (i + 1));
      iterate (&h, 5);
      drain (&h);
    }
  sh_session_get_stats (h.client, &st);
  g_assert_cmpuint (st.channels_open, ==, 4);
  for (int i = 0; i < 10; i++)
    {
      g_assert_true (app_closed (apps[i]) == (i >= 4));
      close (apps[i]);
    }
  g_assert_false (h.closed);
  hostile_clear (&h);

  /* A server that allows fewer than we would is obeyed too. */
  hostile_init (&h, 8, 65536, 2);
  for (int i = 0; i < 3; i++)
    apps[i] = open_app (&h, (guint8) (i + 1));
  iterate (&h, 20);
  sh_session_get_stats (h.client, &st);
  g_assert_cmpuint (st.channels_open, ==, 2);
  g_assert_true (app_closed (apps[2]));
  for (int i = 0; i < 3; i++)
    close (apps[i]);
  hostile_clear (&h);
}

/* Reads what the client sent since the last call and gives each whole
 * frame to @fn. */
static void
read_frames (Hostile *h, void (*fn) (const ShFrame *f, gpointer data), gpointer data)
{
  gsize pos = 0;
  ssize_t n;
  ShFrame f;
  gssize k;

  while ((n = read (h->from_client, rx_buf + rx_have, sizeof rx_buf - rx_have)) > 0)
    rx_have += (gsize) n;
  while ((k = sh_frame_decode (rx_buf + pos, rx_have - pos, &f)) > 0)
    {
      fn (&f, data);
      pos += (gsize) k;
    }
  memmove (rx_buf, rx_buf + pos, rx_have - pos);
  rx_have -= pos;
}

typedef struct
{
  guint32 id;
  gsize credit;
} Credit;

static void
add_credit (const ShFrame *f, gpointer data)
{
  Credit *c = data;
  if (f->type == SH_FRAME_WINDOW && f->channel == c->id)
    c->credit += f->u.window;
}

/* The credit the client returned for channel @id (its WINDOW frames). */
static gsize
read_credit (Hostile *h, guint32 id)
{
  Credit c = { id, 0 };
  read_frames (h, add_credit, &c);
  return c.credit;
}

static void
send_data (Hostile *h, guint32 id, gsize total)
{
  guint8 f[SH_MUX_MAX_FRAME];
  for (gsize sent = 0; sent < total;)
    {
      gsize len = MIN (total - sent, 1024);
      gsize n = sh_frame_put_header (f, SH_FRAME_DATA, id, (guint16) len);
      memset (f + n, 'd', len);
      write_all (h->to_client, f, n + len);
      sent += len;
    }
}

static void
test_data_beyond_credit (void)
{
  /* The application does not read; the server keeps sending. What the
   * client queues for the application is bounded by the credit it grants:
   * one byte more than it granted ends the session as a flow violation
   * instead of growing the queue. */
  Hostile h;
  guint8 f[SH_MUX_MAX_FRAME];
  const gsize window = 8192;

  hostile_init (&h, 16, (guint32) window, 16);
  int sp[2];
  g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp), ==, 0);
  int small = 1;
  setsockopt (sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  ShOpen dst = { .family = AF_INET, .port = 80, .addr = { 192, 0, 2, 1 } };
  sh_session_open_channel (h.client, sp[0], &dst);
  iterate (&h, 20);
  read_credit (&h, 1);
  write_all (h.to_client, f, sh_frame_put_open_result (f, 1, SH_OPEN_OK, 0, NULL));

  /* All the credit there is, as long as the client hands out more. */
  gsize granted = window, sent = 0;
  for (int round = 0; round < 100 && sent < granted; round++)
    {
      send_data (&h, 1, granted - sent);
      sent = granted;
      iterate (&h, 20);
      granted += read_credit (&h, 1);
    }
  g_assert_false (h.closed);
  g_test_message ("the client took %zu bytes for an application that reads nothing", sent);
  g_assert_cmpuint (sent, <, 1024 * 1024);

  send_data (&h, 1, 1);
  iterate (&h, 2000);
  g_assert_true (h.closed);
  g_assert_nonnull (h.error);
  if (strstr (h.error, "credit") == NULL)
    g_error ("'%s' lacks 'credit'", h.error);
  close (sp[1]);
  hostile_clear (&h);
}

static void
test_unread_output (void)
{
  /* The server floods PINGs and never reads the PONGs: the client stops
   * reading once its own output is large, so its memory stays bounded. */
  Hostile h;
  guint8 pings[64 * 16];

  hostile_init (&h, 16, 65536, 16);
  fcntl (h.to_client, F_SETFL, O_NONBLOCK);
  gsize one = sh_frame_put_u64 (pings, SH_FRAME_PING, 42);
  for (gsize k = 1; k < 64; k++)
    memcpy (pings + k * one, pings, one);
  gsize sent = 0;
  gint64 stalled_since = 0;
  while (sent < 64 * 1024 * 1024)
    {
      ssize_t n = write (h.to_client, pings, 64 * one);
      if (n > 0)
        {
          sent += (gsize) n;
          stalled_since = 0;
        }
      else if (stalled_since == 0)
        stalled_since = g_get_monotonic_time ();
      else if (g_get_monotonic_time () - stalled_since > 300 * 1000)
        break; /* the client stopped reading */
      g_main_context_iteration (NULL, FALSE);
    }
  g_test_message ("the client took %zu bytes of PINGs without a reader", sent);
  g_assert_cmpuint (sent, <, 8 * 1024 * 1024);
  g_assert_false (h.closed);
  hostile_clear (&h);
}

static void
add_data (const ShFrame *f, gpointer data)
{
  gsize *per = data;
  if (f->type == SH_FRAME_DATA && f->channel < 8)
    per[f->channel] += f->len;
}

/* Adds the DATA bytes the client sent since the last call, per channel
 * (@per[id], ids below 8). */
static void
count_data (Hostile *h, gsize per[8])
{
  read_frames (h, add_data, per);
}

/* Writes what the app's socket takes of @n bytes; returns how many. */
static gsize
app_write (int app, gsize n)
{
  static const guint8 junk[65536];
  gsize done = 0;
  while (done < n)
    {
      ssize_t w = write (app, junk, MIN (sizeof junk, n - done));
      if (w <= 0)
        break;
      done += (gsize) w;
    }
  return done;
}

static void
test_unacked_small_first (void)
{
  /* The server never acknowledges. A bulk upload stops at the client's
   * in-flight limit; a small channel's bytes still go out (they need not
   * wait for the bulk bytes to be acknowledged: session.c ring_hi), but
   * past the limit by no more than a small reserve, however many small
   * channels there are. */
  Hostile h;
  guint8 f[SH_MUX_MAX_FRAME];
  gsize per[8] = { 0 };

  hostile_init (&h, 16, 65536, 16);
  int bulk = open_app (&h, 1);
  iterate (&h, 20);
  write_all (h.to_client, f, sh_frame_put_open_result (f, 1, SH_OPEN_OK, 0, NULL));
  gsize written = 0;
  for (int round = 0; round < 100; round++)
    {
      written += app_write (bulk, 4 << 20);
      iterate (&h, 5);
      count_data (&h, per);
    }
  iterate (&h, 100);
  count_data (&h, per);
  gsize capped = per[1];
  g_test_message ("bulk: %zu of %zu bytes sent without an ACK", capped, written);
  g_assert_cmpuint (capped, >=, 128 * 1024);
  g_assert_cmpuint (capped, <=, 1024 * 1024);
  g_assert_cmpuint (written, >, capped); /* it was held back */

  /* Six small channels, 64 bytes each, then 100 KiB more on one of them. */
  int small[6];
  for (guint i = 0; i < G_N_ELEMENTS (small); i++)
    {
      small[i] = open_app (&h, (guint8) (i + 2));
      iterate (&h, 5);
      write_all (h.to_client, f, sh_frame_put_open_result (f, i + 2, SH_OPEN_OK, 0, NULL));
    }
  iterate (&h, 20);
  for (guint i = 0; i < G_N_ELEMENTS (small); i++)
    g_assert_cmpuint (app_write (small[i], 64), ==, 64);
  iterate (&h, 50);
  count_data (&h, per);
  for (guint i = 0; i < G_N_ELEMENTS (small); i++)
    g_assert_cmpuint (per[i + 2], ==, 64);
  g_assert_cmpuint (per[1], ==, capped); /* the bulk channel still waits */

  app_write (small[0], 100 * 1024);
  iterate (&h, 100);
  count_data (&h, per);
  gsize over = per[2] + per[3] + per[4] + per[5] + per[6] + per[7];
  g_test_message ("small channels: %zu bytes past the limit", over);
  g_assert_cmpuint (over, <=, 64 * 1024);
  g_assert_cmpuint (per[1], ==, capped);
  g_assert_false (h.closed);

  close (bulk);
  for (guint i = 0; i < G_N_ELEMENTS (small); i++)
    close (small[i]);
  hostile_clear (&h);
}

/* One frame the server must not send; the session ends with @expect. */
static void
expect_failure (const guint8 *frame, gsize len, const char *expect)
{
  Hostile h;

  hostile_init (&h, 16, 65536, 16);
  int app = open_app (&h, 1);
  iterate (&h, 20);
  drain (&h);
  write_all (h.to_client, frame, len);
  iterate (&h, 2000);
  g_assert_true (h.closed);
  g_assert_nonnull (h.error);
  if (strstr (h.error, expect) == NULL)
    g_error ("'%s' lacks '%s'", h.error, expect);
  close (app);
  hostile_clear (&h);
}

static void
test_refused_frames (void)
{
  guint8 f[SH_MUX_MAX_FRAME];
  ShOpen o = { .family = AF_INET, .port = 22, .addr = { 10, 0, 0, 1 } };
  guint8 answer[12] = { 0 };

  /* The server opens nothing on the client's side. */
  expect_failure (f, sh_frame_put_open (f, 7, &o), "may not open");
  /* Results, data and credit only for channels the client opened. */
  expect_failure (f, sh_frame_put_open_result (f, 9, SH_OPEN_OK, 0, NULL), "channel");
  expect_failure (f, sh_frame_put_u32 (f, SH_FRAME_WINDOW, 9, 4096), "channel");
  /* Credit beyond the protocol's ceiling. */
  gsize n = sh_frame_put_open_result (f, 1, SH_OPEN_OK, 0, NULL);
  n += sh_frame_put_u32 (f + n, SH_FRAME_WINDOW, 1, SH_MUX_MAX_WINDOW);
  expect_failure (f, n, "credit");
  /* DNS answers only to queries that wait. */
  expect_failure (f, sh_frame_put_dns_reply (f, 5, answer, sizeof answer), "not waiting");
  /* Client-to-server frames sent the wrong way. */
  expect_failure (f, sh_frame_put_hosts_watch (f, "a", 1), "wrong way");
  /* An ACK for more than the client sent. */
  expect_failure (f, sh_frame_put_u32 (f, SH_FRAME_ACK, 0, 1 << 20), "in flight");
}

static void
test_error_after_spliced_payload (void)
{
  /* The client's output pipe is full, with a streaming channel's payload
   * waiting to be spliced behind its header (session.c, "sp"). A protocol
   * error now makes the client write its ERROR frame past the normal flush:
   * the stream must stay whole, the waiting payload in its place. */
  Hostile h;
  int c2s[2], s2c[2];
  memset (&h, 0, sizeof h);
  g_assert_cmpint (pipe2 (c2s, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (s2c, O_CLOEXEC), ==, 0);
  h.poll = sh_poll_new (flush, &h);
  ShSessionConfig cc;
  sh_session_config_init (&cc, SH_ROLE_CLIENT);
  cc.keepalive_s = 0;
  cc.inflight_limit = 0; /* no ACKs come: fill the pipe regardless */
  h.client = sh_session_new (&cc, h.poll, s2c[0], c2s[1], on_ready, on_closed, &h);
  h.to_client = s2c[1];
  h.from_client = c2s[0];
  fcntl (h.from_client, F_SETFL, O_NONBLOCK);
  guint8 f[SH_MUX_MAX_FRAME];
  ShHello hello = {
    .version_min = 1, .version_max = 1, .channel_window = SH_MUX_MAX_WINDOW, .max_channels = 16
  };
  write_all (h.to_client, f, sh_frame_put_hello (f, &hello));
  iterate (&h, 50);
  g_assert_true (h.ready);

  int app = open_app (&h, 1);
  int big = 4 * 1024 * 1024;
  setsockopt (app, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  write_all (h.to_client, f, sh_frame_put_open_result (f, 1, SH_OPEN_OK, 0, NULL));

  /* The application streams a pattern until the client stops taking it. */
  guint8 chunk[65536];
  gsize written = 0;
  gint64 stalled_since = 0;
  while (written < 64 * 1024 * 1024)
    {
      for (gsize i = 0; i < sizeof chunk; i++)
        chunk[i] = (guint8) ((written + i) % 251);
      ssize_t n = send (app, chunk, sizeof chunk, MSG_DONTWAIT);
      if (n > 0)
        {
          written += (gsize) n;
          stalled_since = 0;
        }
      else if (stalled_since == 0)
        stalled_since = g_get_monotonic_time ();
      else if (g_get_monotonic_time () - stalled_since > 300 * 1000)
        break;
      g_main_context_iteration (NULL, FALSE);
    }
  g_assert_false (h.closed);

  /* Make room without letting the client run, then the error. */
  static guint8 out[8 * 1024 * 1024];
  gsize have = 0;
  ssize_t r;
  while (have < 256 * 1024 && (r = read (h.from_client, out + have, 256 * 1024 - have)) > 0)
    have += (gsize) r;
  ShOpen o = { .family = AF_INET, .port = 22, .addr = { 10, 0, 0, 1 } };
  write_all (h.to_client, f, sh_frame_put_open (f, 7, &o));
  iterate (&h, 2000);
  g_assert_true (h.closed);
  while ((r = read (h.from_client, out + have, sizeof out - have)) > 0)
    have += (gsize) r;

  /* Every frame decodes; the data is the pattern, in order; ERROR ends it. */
  gsize pos = 0, data = 0;
  gboolean error_seen = FALSE;
  ShFrame fr;
  gssize k;
  while (!error_seen && (k = sh_frame_decode (out + pos, have - pos, &fr)) > 0)
    {
      if (fr.type == SH_FRAME_DATA)
        {
          g_assert_cmpuint (fr.channel, ==, 1);
          for (gsize i = 0; i < fr.len; i++)
            if (fr.payload[i] != (guint8) ((data + i) % 251))
              g_error ("DATA byte %zu is wrong", data + i);
          data += fr.len;
        }
      error_seen = fr.type == SH_FRAME_ERROR;
      pos += (gsize) k;
    }
  g_test_message ("%zu bytes of DATA, then ERROR: %s", data, error_seen ? "yes" : "no");
  g_assert_true (error_seen);
  g_assert_cmpuint (pos, ==, have);
  g_assert_cmpuint (data, >, 1024 * 1024);
  close (app);
  hostile_clear (&h);
}

/* Byte @k of what the server sends on channel @id. */
static guint8
pattern (guint32 id, gsize k)
{
  return (guint8) ((id * 31 + k) % 251);
}

static gsize
unread (int fd)
{
  int n = 0;
  g_assert_cmpint (ioctl (fd, FIONREAD, &n), ==, 0);
  return (gsize) n;
}

static void
test_queue_cap (void)
{
  /* Many channels, each sent no more than the credit the client grants,
   * but together far more than the client's cap on queued data, while the
   * applications read nothing. The client stops reading the session at
   * the cap (the server waits in the pipe), its queues never hold more,
   * and once the applications read, every byte arrives, in order. */
  enum
  {
    N = 64,
    PAYLOAD = 4096,
    FRAME = SH_MUX_HDR_LEN + PAYLOAD,
  };
  const gsize window = 64 * 1024, cap = 512 * 1024;
  const gsize frames = N * (window / PAYLOAD), total = frames * FRAME;
  Hostile h;
  int apps[N];
  gsize got[N] = { 0 };
  guint8 f[SH_MUX_MAX_FRAME];
  ShSessionStats st;

  hostile_init (&h, N, (guint32) window, N);
  sh_session_set_queue_cap (h.client, cap);
  for (int i = 0; i < N; i++)
    {
      int sp[2], small = 1;
      g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp), ==,
                       0);
      /* The application's socket takes only a few KiB before it reads. */
      setsockopt (sp[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
      ShOpen dst = { .family = AF_INET, .port = 80, .addr = { 192, 0, 2, (guint8) (i + 1) } };
      sh_session_open_channel (h.client, sp[0], &dst);
      apps[i] = sp[1];
    }
  iterate (&h, 20);
  drain (&h);
  for (guint32 id = 1; id <= N; id++)
    write_all (h.to_client, f, sh_frame_put_open_result (f, id, SH_OPEN_OK, 0, NULL));
  iterate (&h, 20);

  /* The channels' full credit, one frame each in turn. */
  guint8 *stream = g_malloc (total);
  for (gsize k = 0; k < frames; k++)
    {
      guint32 id = (guint32) (k % N) + 1;
      gsize at = (k / N) * PAYLOAD;
      guint8 *p = stream + k * FRAME;
      sh_frame_put_header (p, SH_FRAME_DATA, id, PAYLOAD);
      for (gsize j = 0; j < PAYLOAD; j++)
        p[SH_MUX_HDR_LEN + j] = pattern (id, at + j);
    }
  fcntl (h.to_client, F_SETFL, O_NONBLOCK);

  gsize written = 0, held_max = 0;
  gint64 stalled_since = 0;
  for (int phase = 0; phase < 2; phase++)
    {
      gint64 end = g_get_monotonic_time () + 20 * G_USEC_PER_SEC;
      gsize done = 0;
      while (g_get_monotonic_time () < end && !h.closed)
        {
          ssize_t n = written < total ? write (h.to_client, stream + written, total - written) : 0;
          if (n > 0)
            {
              written += (gsize) n;
              stalled_since = 0;
            }
          else if (stalled_since == 0)
            stalled_since = g_get_monotonic_time ();
          g_main_context_iteration (NULL, FALSE);
          drain (&h);

          /* What the client holds, seen from outside: the payload it read
           * off the pipe less what the applications' sockets hold. */
          gsize in = written - unread (h.to_client), rest = in % FRAME;
          gint64 held = (gint64) ((in / FRAME) * PAYLOAD
                                  + (rest > SH_MUX_HDR_LEN ? rest - SH_MUX_HDR_LEN : 0));
          for (int i = 0; i < N; i++)
            held -= (gint64) (unread (apps[i]) + got[i]);
          g_assert_cmpint (held, >=, 0);
          held_max = MAX (held_max, (gsize) held);
          /* One partial frame may wait in the client's read buffer. */
          g_assert_cmpint (held, <=, (gint64) (cap + PAYLOAD));

          if (phase == 0)
            {
              if (stalled_since != 0 && g_get_monotonic_time () - stalled_since > 300 * 1000)
                break; /* the client stopped reading */
              continue;
            }
          done = 0;
          for (int i = 0; i < N; i++)
            {
              guint8 b[65536];
              ssize_t r;
              while ((r = recv (apps[i], b, sizeof b, MSG_DONTWAIT)) > 0)
                {
                  for (gsize j = 0; j < (gsize) r; j++)
                    if (b[j] != pattern ((guint32) i + 1, got[i] + j))
                      g_error ("channel %d: byte %zu is wrong", i + 1, got[i] + j);
                  got[i] += (gsize) r;
                }
              done += got[i] == window;
            }
          if (done == N)
            break;
        }
      g_assert_false (h.closed);
      sh_session_get_stats (h.client, &st);
      g_test_message ("phase %d: the server wrote %zu of %zu bytes; the client held at most %zu "
                      "(its count: %" G_GUINT64_FORMAT ") under a cap of %zu",
                      phase, written, total, held_max, st.queued_peak, cap);
      if (phase == 0)
        {
          /* The client took what fits under the cap, and no more. */
          g_assert_cmpuint (written, <, total);
          g_assert_cmpuint (st.queued, >=, cap / 2);
        }
      else
        {
          g_assert_cmpuint (done, ==, N);
          g_assert_cmpuint (written, ==, total);
          g_assert_cmpuint (st.queued, ==, 0);
        }
      g_assert_cmpuint (st.queued_peak, <=, cap);
    }
  for (int i = 0; i < N; i++)
    close (apps[i]);
  g_free (stream);
  hostile_clear (&h);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/hostile-server/channel-limit", test_channel_limit);
  g_test_add_func ("/hostile-server/data-beyond-credit", test_data_beyond_credit);
  g_test_add_func ("/hostile-server/unread-output", test_unread_output);
  g_test_add_func ("/hostile-server/unacked-small-first", test_unacked_small_first);
  g_test_add_func ("/hostile-server/queue-cap", test_queue_cap);
  g_test_add_func ("/hostile-server/refused-frames", test_refused_frames);
  g_test_add_func ("/hostile-server/error-after-spliced-payload", test_error_after_spliced_payload);
  return g_test_run ();
}
