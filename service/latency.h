/* SPDX-License-Identifier: GPL-2.0-or-later */
/* latency.h — the adaptive in-flight limit of a session's sender.
 *
 * The in-flight limit the client sets in HELLO is a ceiling. Below it each
 * sender keeps its own limit, starting at SH_LC_START. Once per round trip,
 * the time from queueing a DATA byte to the ACK that covers it is compared
 * with the smallest such time seen (the base). The round trip used is the
 * smallest of the last SH_LC_FILTER samples: on a busy machine a single one
 * is often late by a scheduler tick with nothing queued, and only a queue
 * makes them all late. Above the base by more than the target
 * (sh_lc_target() below), data is queueing inside ssh and the pipes, in front of
 * every other channel's frames, so the limit shrinks by 1/8; within half of
 * it, and only if the limit did hold data back meanwhile, it grows by 1/8.
 * A bulk transfer so gets what the path carries while a small request on
 * another channel waits about a target behind it.
 *
 * The base is never forgotten just because time passed: the sender's own
 * queue keeps every later sample above it, so a base taken from recent
 * samples would creep up by the target each time. Only when a whole
 * SH_LC_WINDOW_US of samples stayed more than 4 targets above it (the path
 * itself got slower: a new route) does the base move up to that window's
 * minimum.
 *
 * Two more facts keep a long, fast path full. Each sample also measures
 * the delivery rate: the bytes acknowledged during its round trip over
 * that round trip. Only a bulk sample (the limit held data back, or half
 * of it was in flight anyway) speaks for the path; another (an echo) is
 * kept only when it is higher. Times the base, the largest of the last
 * SH_LC_RATES kept is a bandwidth-delay product that the path has shown it
 * carries; the limit is never cut below it, since a limit under it only
 * loses throughput (an ACK late for another reason, a retransmission
 * inside ssh's TCP, no longer halves a link's rate). And a session starts
 * in a startup phase: while the limit holds data back, it is raised to
 * SH_LC_STARTUP_GAIN × that product each round trip, queue or no queue
 * (ssh's own TCP ramping up after idle reads as one), until
 * SH_LC_STARTUP_ROUNDS bulk samples in a row bring no 25% more rate; then
 * it drops to the product (the queue startup built drains) and the steps
 * take over. Samples with more than a target of queue (the filtered round
 * trip) and a quarter of the limit in flight count as bulk here: startup
 * raises the limit 2.5-fold at once, so a sender held by another window
 * (OpenSSH's 2 MiB channel window at 200 Mbit/s and 80 ms: 18 ms of queue
 * with 1.9 of a 4 MB limit in flight) was neither capped nor "bulk", and
 * startup, blind to queues, never ended. Growing by 1/8 per round trip
 * alone took 1.5 s to fill 200 Mbit/s at 80 ms. After startup a step up
 * adds at most half a target of queue at that rate (and at least 1/64 of
 * the limit): 1/8 of the product is base/8 of queue, more than a long
 * path's target.
 *
 * Pure: the caller passes the clock, so tests can drive it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SH_LC_START (256 * 1024)
#define SH_LC_TARGET_US 700
#define SH_LC_WINDOW_US (30 * G_USEC_PER_SEC)
#define SH_LC_SAMPLE_MAX_US G_USEC_PER_SEC
#define SH_LC_FILTER 3
#define SH_LC_RATES 8
#define SH_LC_STARTUP_GAIN 2.5
#define SH_LC_STARTUP_ROUNDS 2

/* The queueing accepted: SH_LC_TARGET_US, plus 1/16 of the base round
 * trip. On loopback (a base of 0.3 ms) that is the 0.7 ms the CPU-bound
 * pipe was tuned for; across a 40 ms link it is 3.2 ms. A fixed 0.7 ms
 * there was below the path's own jitter (ssh's scheduling, the timer of
 * the receiver's ACK, the link): samples with nothing queued read as a
 * queue, and the limit shrank to the floor, far under what the link
 * carries (0.40 x direct routing at 50 Mbit/s and 40 ms). */
static inline gint64
sh_lc_target (gint64 base_us)
{
  return SH_LC_TARGET_US + base_us / 16;
}

typedef struct
{
  guint64 limit; /* the current limit, in [floor, ceiling] */
  guint64 floor, ceiling;
  guint64 mark;    /* the sample: the ACK covering byte number `mark`; 0: none */
  gint64 t0;       /* when the sample's byte was queued */
  gboolean capped; /* the limit held data back during the sample */
  gint64 base;     /* the smallest round trip (0: none yet) */
  gint64 win_min;  /* the smallest of the current window (0: none yet) */
  gint64 win_since;
  gint64 last_rtt;             /* the last sample, for logs */
  gint64 recent[SH_LC_FILTER]; /* the last samples (0: none) */
  guint recent_next;
  guint64 acked_t0;           /* the ACKed count when the sample began */
  guint64 rates[SH_LC_RATES]; /* the last delivery rates, bytes/s (0: none) */
  guint rates_next;
  gboolean startup;     /* still in the startup phase */
  guint64 startup_best; /* startup: the best rate that grew by 25% */
  guint startup_flat;   /* startup: capped samples since it last grew */
} ShLatencyControl;

void sh_lc_init (ShLatencyControl *lc, guint64 floor, guint64 ceiling);

/* DATA was queued; @sent_total counts every DATA byte so far, @acked_total
 * every one acknowledged. */
void sh_lc_sent (ShLatencyControl *lc, guint64 sent_total, guint64 acked_total, gint64 now);

/* The bandwidth-delay product the path has shown (0: no sample yet). */
guint64 sh_lc_bdp (const ShLatencyControl *lc);

/* The limit held data back. */
static inline void
sh_lc_capped (ShLatencyControl *lc)
{
  lc->capped = TRUE;
}

/* An ACK brought the acknowledged count to @acked_total. Returns TRUE when
 * the limit changed. */
gboolean sh_lc_acked (ShLatencyControl *lc, guint64 acked_total, gint64 now);

G_END_DECLS
