/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-bond.c — lanes' striping and reordering (service/bond.c) on socket
 * pairs; the whole protocol of lanes is in test-session.c and the
 * conformance suite. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bond.h"
#include "epoll-source.h"
#include "mux.h"

typedef struct
{
  ShPoll *poll;
  ShBond *bond;
  int pipe_in[2], pipe_out[2]; /* lane 0 */
  int peer[SH_MUX_MAX_LANES];  /* the far end of lanes 1 ... */
  guint wakeups;
  GByteArray *got;
  int last_errno;
} Fixture;

static void
on_input (gpointer data)
{
  Fixture *f = data;
  guint8 buf[4096];
  gssize n;

  f->wakeups++;
  while ((n = sh_bond_read (f->bond, buf, sizeof buf)) > 0)
    g_byte_array_append (f->got, buf, (guint) n);
  f->last_errno = n < 0 ? errno : 0;
}

static void
fixture_init (Fixture *f, guint32 mask)
{
  int fds[SH_MUX_MAX_LANES] = { 0 };

  memset (f, 0, sizeof *f);
  f->poll = sh_poll_new (NULL, NULL);
  f->got = g_byte_array_new ();
  g_assert_cmpint (pipe2 (f->pipe_in, O_CLOEXEC), ==, 0);
  g_assert_cmpint (pipe2 (f->pipe_out, O_CLOEXEC), ==, 0);
  for (guint i = 1; i < SH_MUX_MAX_LANES; i++)
    {
      int sv[2];
      if (!(mask & (1u << i)))
        continue;
      g_assert_cmpint (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), ==, 0);
      fds[i] = sv[0];
      f->peer[i] = sv[1];
      fcntl (sv[1], F_SETFL, O_NONBLOCK);
    }
  f->bond = sh_bond_new (f->poll, f->pipe_in[0], f->pipe_out[1], fds, mask, on_input, f);
  sh_bond_push_lane0 (f->bond, (const guint8 *) "", 0);
  sh_bond_set_reading (f->bond, TRUE);
}

static void
fixture_clear (Fixture *f)
{
  sh_bond_free (f->bond);
  sh_poll_free (f->poll);
  for (guint i = 0; i < SH_MUX_MAX_LANES; i++)
    if (f->peer[i] > 0)
      close (f->peer[i]);
  close (f->pipe_in[0]);
  close (f->pipe_in[1]);
  close (f->pipe_out[0]);
  close (f->pipe_out[1]);
  g_byte_array_unref (f->got);
}

static void
iterate_for (int ms)
{
  gint64 end = g_get_monotonic_time () + ms * 1000;
  while (g_get_monotonic_time () < end)
    if (!g_main_context_iteration (NULL, FALSE))
      g_usleep (500);
}

static GByteArray *
segment (guint32 seq, const char *text, gsize len)
{
  GByteArray *a = g_byte_array_sized_new (SH_MUX_SEG_HDR_LEN + len);
  g_byte_array_set_size (a, SH_MUX_SEG_HDR_LEN);
  sh_segment_put_header (a->data, seq, (guint32) len);
  g_byte_array_append (a, (const guint8 *) text, (guint) len);
  return a;
}

static void
write_segment (int fd, guint32 seq, const char *text)
{
  g_autoptr (GByteArray) a = segment (seq, text, strlen (text));
  g_assert_cmpint (write (fd, a->data, a->len), ==, a->len);
}

/* Segments come out in sequence order whatever lane brought them, and
 * lane 0 (the session's pipe) is one of the lanes. */
static void
test_reorder (void)
{
  Fixture f;

  fixture_init (&f, 0x7);
  write_segment (f.peer[2], 2, "lanes");
  write_segment (f.peer[1], 1, "by ");
  iterate_for (50);
  g_assert_cmpuint (f.got->len, ==, 0); /* segment 0 has not come */
  g_assert_cmpint (f.last_errno, ==, EAGAIN);
  write_segment (f.pipe_in[1], 0, "ordered ");
  write_segment (f.peer[1], 3, "!");
  iterate_for (50);
  g_assert_cmpmem (f.got->data, f.got->len, "ordered by lanes!", 17);
  fixture_clear (&f);
}

/* A lane whose buffer is full of later segments is not read, and when its
 * peer hangs up then, epoll reports the hang-up on every round whatever it
 * was asked for: the lane must leave the poll set rather than wake the
 * loop for nothing until the segment the others wait for comes. */
static void
test_hangup_while_full (void)
{
  Fixture f;
  static char payload[SH_MUX_MAX_SEGMENT];
  g_autoptr (GByteArray) all = g_byte_array_new ();
  gsize written = 0;
  gint64 end;

  memset (payload, 'x', sizeof payload);
  fixture_init (&f, 0x3);
  /* Segments 1 ... 5 on lane 1, more than its 256 KiB buffer; 0 missing. */
  for (guint32 seq = 1; seq <= 5; seq++)
    {
      g_autoptr (GByteArray) s = segment (seq, payload, sizeof payload);
      g_byte_array_append (all, s->data, s->len);
    }
  end = g_get_monotonic_time () + 2 * G_USEC_PER_SEC;
  while (written < all->len && g_get_monotonic_time () < end)
    {
      ssize_t n = write (f.peer[1], all->data + written, all->len - written);
      if (n > 0)
        written += (gsize) n;
      iterate_for (5);
    }
  g_assert_cmpuint (written, ==, all->len);
  g_assert_cmpuint (f.got->len, ==, 0);
  close (f.peer[1]);
  f.peer[1] = 0;
  iterate_for (20);
  f.wakeups = 0;
  iterate_for (200);
  g_test_message ("wake-ups in 200 ms after the hang-up: %u", f.wakeups);
  g_assert_cmpuint (f.wakeups, <, 10);

  /* Segment 0 arrives: everything on lane 1 is delivered, then its end. */
  write_segment (f.pipe_in[1], 0, "0");
  iterate_for (100);
  g_assert_cmpuint (f.got->len, ==, 1 + 5 * sizeof payload);
  fixture_clear (&f);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/bond/reorder", test_reorder);
  g_test_add_func ("/bond/hangup-while-full", test_hangup_while_full);
  return g_test_run ();
}
