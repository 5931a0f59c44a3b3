/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-dgramrelay.c — the server's datagram sends (service/dgramrelay.c) to
 * real UDP sockets on loopback: runs of equal datagrams go as UDP GSO
 * groups, and every datagram still arrives whole, alone and in order. */
#include "config.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dgramrelay.h"

static int
receiver (guint16 *port)
{
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl (INADDR_LOOPBACK) };
  socklen_t len = sizeof sin;
  int room = 4 * 1024 * 1024;
  struct timeval tv = { .tv_sec = 2 };

  g_assert_cmpint (fd, >=, 0);
  setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &room, sizeof room);
  setsockopt (fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &sin, sizeof sin), ==, 0);
  g_assert_cmpint (getsockname (fd, (struct sockaddr *) &sin, &len), ==, 0);
  *port = ntohs (sin.sin_port);
  return fd;
}

/* Datagram @n of a test: @len bytes that say which one it is. */
static void
fill (guint8 *buf, gsize len, guint n)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) (n * 7 + i);
}

static void
queue (ShDgramRelay *r, guint16 port, gsize len, guint n)
{
  static guint8 buf[65536];
  ShDgram d = { .family = AF_INET, .kind = SH_DGRAM_UDP, .port = port, .data = buf };

  d.addr[0] = 127;
  d.addr[3] = 1;
  fill (buf, len, n);
  d.data_len = (guint16) len;
  sh_dgram_relay_dgram (NULL, 1, &d, r);
}

static void
expect (int fd, gsize len, guint n)
{
  static guint8 got[65536], want[65536];
  ssize_t m = recv (fd, got, sizeof got, 0);

  g_assert_cmpint (m, ==, (ssize_t) len);
  fill (want, len, n);
  g_assert_cmpmem (got, len, want, len);
}

static void
test_groups (void)
{
  ShPoll *poll = sh_poll_new (NULL, NULL);
  /* No session: nothing here fails or replies, which is all it is for. */
  ShDgramRelay *r = sh_dgram_relay_new (poll, NULL, 60000, 8);
  guint16 pa, pb;
  int a = receiver (&pa), b = receiver (&pb);
  guint64 sent, grouped, failed;
  guint n = 0;

  /* To A: 40 of 1200 bytes and a shorter one (one group), then to B 10 of
   * 1200, to A again 3 of 100 and one too big to group. */
  for (guint i = 0; i < 40; i++)
    queue (r, pa, 1200, n++);
  queue (r, pa, 500, n++);
  for (guint i = 0; i < 10; i++)
    queue (r, pb, 1200, n++);
  for (guint i = 0; i < 3; i++)
    queue (r, pa, 100, n++);
  queue (r, pa, 3000, n++);
  sh_dgram_relay_flush (r);

  sh_dgram_relay_get_stats (r, &sent, &grouped, &failed);
  g_test_message ("sent %" G_GUINT64_FORMAT ", grouped %" G_GUINT64_FORMAT, sent, grouped);
  g_assert_cmpuint (sent, ==, n);
  g_assert_cmpuint (failed, ==, 0);
  /* The 41 to A and the 10 to B went grouped, so did the three small ones;
   * the big one alone. */
  g_assert_cmpuint (grouped, ==, n - 1);

  n = 0;
  for (guint i = 0; i < 40; i++)
    expect (a, 1200, n++);
  expect (a, 500, n++);
  for (guint i = 0; i < 10; i++)
    expect (b, 1200, n++);
  for (guint i = 0; i < 3; i++)
    expect (a, 100, n++);
  expect (a, 3000, n++);

  sh_dgram_relay_free (r);
  sh_poll_free (poll);
  close (a);
  close (b);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/dgramrelay/gso-groups", test_groups);
  return g_test_run ();
}
