/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-latency.c — the adaptive in-flight limit, driven by a fake clock: a
 * simulated path with a fixed base round trip plus the queueing that the
 * bytes in flight beyond its capacity cause. */
#include "config.h"

#include <glib.h>

#include "latency.h"

#define KiB 1024
#define MiB (1024 * 1024)

/* One round trip of a bulk sender that always has data: it sends up to
 * the limit (so it is capped), and the ACK for the last byte comes back
 * after base + (what is queued beyond the path's bandwidth-delay product)
 * / rate, plus @late_us of delay that is not queueing (a busy scheduler).
 * Returns the round trip in µs. */
static gint64
round_trip_late (ShLatencyControl *lc, guint64 *sent, gint64 *now, gint64 base_us,
                 double bytes_per_us, gint64 late_us)
{
  double bdp = base_us * bytes_per_us;
  /* A transfer's first frame leaves with nothing in flight before it, and
   * is the first sample (as in session.c: the mark is set per frame). */
  guint64 burst = *sent == 0 ? 32 * KiB : lc->limit;
  double queued = burst > bdp ? burst - bdp : 0;
  gint64 rtt = base_us + (gint64) (queued / bytes_per_us) + late_us;
  guint64 acked = *sent; /* the last burst is all ACKed */
  *sent += burst;
  sh_lc_sent (lc, *sent, acked, *now);
  sh_lc_capped (lc);
  *now += rtt;
  sh_lc_acked (lc, *sent, *now);
  return rtt;
}

static gint64
round_trip (ShLatencyControl *lc, guint64 *sent, gint64 *now, gint64 base_us, double bytes_per_us)
{
  return round_trip_late (lc, sent, now, base_us, bytes_per_us, 0);
}

/* The queueing (round trip - base) over 60 more round trips: its mean must
 * be about the target, and no single one far beyond it. */
static void
assert_queue_near_target (ShLatencyControl *lc, guint64 *sent, gint64 *now, gint64 base_us,
                          double bytes_per_us)
{
  gint64 sum = 0, max = 0, target = sh_lc_target (base_us);
  for (int i = 0; i < 60; i++)
    {
      gint64 q = round_trip (lc, sent, now, base_us, bytes_per_us) - base_us;
      sum += q;
      max = MAX (max, q);
    }
  g_assert_cmpint (sum / 60, <=, target + target / 4);
  g_assert_cmpint (sum / 60, >=, target / 4);
  g_assert_cmpint (max, <=, 2 * target);
}

static void
test_settles_near_target (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 128 * KiB, 4 * MiB);
  g_assert_cmpuint (lc.limit, ==, SH_LC_START);
  guint64 sent = 0;
  gint64 now = 1000000;
  /* 300 µs base, 400 MB/s (3.2 Gbit/s): a BDP of 120 KB. */
  for (int i = 0; i < 200; i++)
    round_trip (&lc, &sent, &now, 300, 400.0);
  /* The limit went up from the start (256 KiB queues 0.35 ms only)... */
  g_assert_cmpuint (lc.limit, >, SH_LC_START);
  /* ...and settled where the queue is about the target, not beyond. */
  assert_queue_near_target (&lc, &sent, &now, 300, 400.0);
  g_assert_cmpint (lc.base, ==, 300);
}

/* A 50 Mbit/s link with 40 ms of round trip (6.25 bytes/µs, a BDP of
 * 250 KB), whose round trips vary by up to 1.5 ms with nothing queued
 * (ssh's scheduling, the receiver's ACK timer): the limit must fill the
 * link and queue no more than the target. A fixed 0.7 ms target is below
 * that jitter, and the limit wandered off the BDP: above it in this model
 * (327 KB), down to the floor on the real link (0.40 x direct routing in
 * bench/run.sh links --links 50:40). */
static void
test_long_path_with_jitter (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 8 * KiB, 4 * MiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  g_test_rand_int (); /* seeded per run by GTest: reproducible with --seed */
  for (int i = 0; i < 400; i++)
    round_trip_late (&lc, &sent, &now, 40000, 6.25, g_test_rand_int_range (0, 1500));
  g_assert_cmpuint (lc.limit, >=, 250000 * 9 / 10);
  /* ...and does not queue beyond the target either. */
  g_assert_cmpuint (lc.limit, <=, 250000 + 6.25 * 2 * sh_lc_target (40000));
}

/* 200 Mbit/s across 80 ms (25 bytes/µs, a BDP of 2 MB). Growing by 1/8
 * per round trip from 256 KiB took 18 round trips (1.5 s) to fill it: the
 * startup phase must do it in a handful, then drain the queue it built. */
static void
test_startup_fills_long_fat_path (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 8 * KiB, 16 * MiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  int i;
  for (i = 0; i < 12 && lc.limit < 2000000 * 9 / 10; i++)
    round_trip (&lc, &sent, &now, 80000, 25.0);
  g_assert_cmpint (i, <=, 6);
  for (i = 0; i < 20; i++)
    round_trip (&lc, &sent, &now, 80000, 25.0);
  g_assert_false (lc.startup);
  assert_queue_near_target (&lc, &sent, &now, 80000, 25.0);
  g_assert_cmpuint (lc.limit, >=, 2000000 * 9 / 10);
}

/* The same path, with something else (a channel's window) holding the
 * sender at 3.5 MB in flight before the limit does: that queues 60 ms,
 * and startup, which only counted capped samples, kept its 3.6 MiB limit
 * out of the way for good (139 ms echo under load against 90 ms direct in
 * bench/run.sh links --links 200:80). The queue must end startup. */
static void
test_startup_ends_on_queue (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 8 * KiB, 16 * MiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  const double window = 3500000, bdp = 80000 * 25.0;
  for (int i = 0; i < 60; i++)
    {
      double burst = sent == 0 ? 32 * KiB : MIN ((double) lc.limit, window);
      gint64 rtt = 80000 + (gint64) (MAX (burst - bdp, 0) / 25.0);
      guint64 acked = sent;
      sent += (guint64) burst;
      sh_lc_sent (&lc, sent, acked, now);
      if (lc.limit <= burst)
        sh_lc_capped (&lc);
      now += rtt;
      sh_lc_acked (&lc, sent, now);
    }
  g_assert_false (lc.startup);
  assert_queue_near_target (&lc, &sent, &now, 80000, 25.0);
}

/* A sender held by another window before the limit, during round trips
 * of @base_us at @bytes_per_us: each round trip it sends what the limit
 * and @window allow, capped only when the limit is the smaller. */
static gint64
round_trip_window (ShLatencyControl *lc, guint64 *sent, gint64 *now, gint64 base_us,
                   double bytes_per_us, double window)
{
  double burst = *sent == 0 ? 32 * KiB : MIN ((double) lc->limit, window);
  gint64 rtt = base_us + (gint64) (MAX (burst - base_us * bytes_per_us, 0) / bytes_per_us);
  guint64 acked = *sent;
  *sent += (guint64) burst;
  sh_lc_sent (lc, *sent, acked, *now);
  if (lc->limit <= burst)
    sh_lc_capped (lc);
  *now += rtt;
  sh_lc_acked (lc, *sent, *now);
  return rtt;
}

/* 200 Mbit/s across 80 ms as bench/run.sh links --links 200:80 measured
 * it (-vv, every sample logged): 19.4 bytes/µs of ssh payload, a product
 * of 1.55 MB, and the upload held at 1.9 MB in flight by OpenSSH's 2 MiB
 * channel window, not by our limit: 18 ms of queue in the bottleneck. In
 * startup the limit had jumped from 1.6 to 4 MB, so no sample was capped
 * nor had half the limit in flight: none was "bulk", startup never ended,
 * its queue-blind limit stayed out of the way and the echo during the
 * upload took ~130 ms against direct routing's 83. A queue that stays
 * while the rate no longer grows ends startup too. */
static void
test_startup_ends_on_queue_below_half (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 8 * KiB, 16 * MiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  for (int i = 0; i < 30; i++)
    round_trip_window (&lc, &sent, &now, 80000, 19.4, 1900000);
  g_assert_false (lc.startup);
  /* Our limit holds the sender now, with the queue about the target. */
  g_assert_cmpuint (lc.limit, <, 1900000);
  assert_queue_near_target (&lc, &sent, &now, 80000, 19.4);
  g_assert_cmpuint (lc.limit, >=, 1552000 * 9 / 10);
}

/* 1 Gbit/s across 20 ms (a 2.5 MB product): a short bulk transfer, then
 * a quiet spell of small echoes, some runs of them late, then bulk again.
 * The echoes say nothing of the path's rate: they ended startup with the
 * limit at the 8 KiB floor, from which steps took minutes to recover
 * (bench/run.sh links --links 1000:20: 0.67x direct). */
static void
test_quiet_spell_keeps_bdp (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 8 * KiB, 16 * MiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  for (int i = 0; i < 3; i++)
    round_trip (&lc, &sent, &now, 20000, 125.0);
  for (int i = 0; i < 300; i++)
    {
      guint64 acked = sent;
      sent += 64;
      sh_lc_sent (&lc, sent, acked, now);
      now += 20000 + (i % 6 < 3 ? 4000 : 0);
      sh_lc_acked (&lc, sent, now);
      now += 80000;
    }
  for (int i = 0; i < 12; i++)
    round_trip (&lc, &sent, &now, 20000, 125.0);
  g_assert_cmpuint (lc.limit, >=, 2500000 * 9 / 10);
  assert_queue_near_target (&lc, &sent, &now, 20000, 125.0);
}

/* The same path where three round trips in twenty are 100 ms late (a loss
 * that ssh's TCP repairs, with nothing queued in front of it): the limit
 * must not be cut below what the path has shown it carries. */
static void
test_late_samples_keep_bdp (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 8 * KiB, 16 * MiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  for (int i = 0; i < 40; i++)
    round_trip (&lc, &sent, &now, 80000, 25.0);
  guint64 least = G_MAXUINT64;
  for (int i = 0; i < 200; i++)
    {
      round_trip_late (&lc, &sent, &now, 80000, 25.0, i % 20 < 3 ? 100000 : 0);
      least = MIN (least, lc.limit);
    }
  g_assert_cmpuint (least, >=, 2000000 * 8 / 10);
}

static void
test_shrinks_when_path_slows (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 128 * KiB, 4 * MiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  for (int i = 0; i < 200; i++)
    round_trip (&lc, &sent, &now, 300, 400.0);
  guint64 fast = lc.limit;
  /* The path now carries half: the same limit would queue twice as long. */
  for (int i = 0; i < 200; i++)
    round_trip (&lc, &sent, &now, 300, 200.0);
  g_assert_cmpuint (lc.limit, <, fast * 3 / 4);
  assert_queue_near_target (&lc, &sent, &now, 300, 200.0);
}

static void
test_path_gets_slower (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 128 * KiB, 4 * MiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  for (int i = 0; i < 200; i++)
    round_trip (&lc, &sent, &now, 300, 400.0);
  /* Held below its own base + target, the queue does not creep up with
   * time: minutes later the round trip is still base + about the target. */
  while (now < 1000000 + 5 * 60 * G_USEC_PER_SEC)
    round_trip (&lc, &sent, &now, 300, 400.0);
  g_assert_cmpint (lc.base, ==, 300);
  assert_queue_near_target (&lc, &sent, &now, 300, 400.0);
  /* A new route, 20 ms long at 100 MB/s (a 2 MB bandwidth-delay product):
   * after a window of it, that is the base, and the limit grows again to
   * fill the longer path. */
  guint64 before = lc.limit;
  for (int i = 0; i < 5000; i++)
    round_trip (&lc, &sent, &now, 20000, 100.0);
  g_assert_cmpint (lc.base, >=, 20000);
  g_assert_cmpuint (lc.limit, >, before);
  g_assert_cmpuint (lc.limit, >, 2000000);
  assert_queue_near_target (&lc, &sent, &now, 20000, 100.0);
}

static void
test_ignores_jitter (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 128 * KiB, 4 * MiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  /* Every other ACK is 3 ms late (a busy scheduler, nothing queued): the
   * limit still grows to what the path can take (here: the ceiling). */
  for (int i = 0; i < 300; i++)
    round_trip_late (&lc, &sent, &now, 300, 100000.0, i % 2 ? 3000 : 0);
  g_assert_cmpuint (lc.limit, ==, 4 * MiB);
  /* ...but a queue, which makes every ACK late, still shrinks it. */
  for (int i = 0; i < 100; i++)
    round_trip_late (&lc, &sent, &now, 300, 100000.0, 3000);
  g_assert_cmpuint (lc.limit, ==, 128 * KiB);
}

static void
test_bounds (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 128 * KiB, 512 * KiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  /* An endless fast path: never above the ceiling (the peer's promise). */
  for (int i = 0; i < 100; i++)
    round_trip (&lc, &sent, &now, 100, 100000.0);
  g_assert_cmpuint (lc.limit, ==, 512 * KiB);
  /* A hopeless one: never below the floor. */
  for (int i = 0; i < 100; i++)
    round_trip (&lc, &sent, &now, 100, 1.0);
  g_assert_cmpuint (lc.limit, ==, 128 * KiB);
  /* A ceiling under the start value is the limit from the start. */
  sh_lc_init (&lc, 128 * KiB, 200 * KiB);
  g_assert_cmpuint (lc.limit, ==, 200 * KiB);
}

static void
test_no_growth_unless_capped (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 128 * KiB, 4 * MiB);
  guint64 sent = 0;
  gint64 now = 1000000;
  /* A sender that never reaches its limit (interactive traffic) with a
   * fast path: no reason to raise a limit nobody uses. */
  for (int i = 0; i < 100; i++)
    {
      sent += 64 * KiB;
      sh_lc_sent (&lc, sent, sent - 64 * KiB, now);
      now += 200;
      g_assert_false (sh_lc_acked (&lc, sent, now));
    }
  g_assert_cmpuint (lc.limit, ==, SH_LC_START);
}

static void
test_stale_sample (void)
{
  ShLatencyControl lc;
  sh_lc_init (&lc, 128 * KiB, 4 * MiB);
  gint64 now = 1000000;
  /* A tail never acknowledged: the sample is replaced after a second,
   * and its eventual late ACK does not count as a 2 s round trip. */
  sh_lc_sent (&lc, 1000, 0, now);
  g_assert_cmpuint (lc.mark, ==, 1000);
  sh_lc_sent (&lc, 2000, 0, now + 10);
  g_assert_cmpuint (lc.mark, ==, 1000); /* one sample at a time */
  now += SH_LC_SAMPLE_MAX_US + 1;
  sh_lc_sent (&lc, 5000, 0, now);
  g_assert_cmpuint (lc.mark, ==, 5000);
  g_assert_false (sh_lc_acked (&lc, 4999, now + 100));
  sh_lc_capped (&lc);
  sh_lc_acked (&lc, 5000, now + 100);
  g_assert_cmpint (lc.last_rtt, ==, 100);
  g_assert_cmpuint (lc.mark, ==, 0);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/latency/settles-near-target", test_settles_near_target);
  g_test_add_func ("/latency/long-path-with-jitter", test_long_path_with_jitter);
  g_test_add_func ("/latency/startup-fills-long-fat-path", test_startup_fills_long_fat_path);
  g_test_add_func ("/latency/startup-ends-on-queue", test_startup_ends_on_queue);
  g_test_add_func ("/latency/startup-ends-on-queue-below-half",
                   test_startup_ends_on_queue_below_half);
  g_test_add_func ("/latency/quiet-spell-keeps-bdp", test_quiet_spell_keeps_bdp);
  g_test_add_func ("/latency/late-samples-keep-bdp", test_late_samples_keep_bdp);
  g_test_add_func ("/latency/shrinks-when-path-slows", test_shrinks_when_path_slows);
  g_test_add_func ("/latency/path-gets-slower", test_path_gets_slower);
  g_test_add_func ("/latency/ignores-jitter", test_ignores_jitter);
  g_test_add_func ("/latency/bounds", test_bounds);
  g_test_add_func ("/latency/no-growth-unless-capped", test_no_growth_unless_capped);
  g_test_add_func ("/latency/stale-sample", test_stale_sample);
  return g_test_run ();
}
