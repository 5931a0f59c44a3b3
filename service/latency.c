/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "latency.h"

#include <string.h>

void
sh_lc_init (ShLatencyControl *lc, guint64 floor, guint64 ceiling)
{
  memset (lc, 0, sizeof *lc);
  lc->floor = MIN (floor, ceiling);
  lc->ceiling = ceiling;
  lc->limit = CLAMP (SH_LC_START, lc->floor, ceiling);
  lc->startup = TRUE;
}

guint64
sh_lc_bdp (const ShLatencyControl *lc)
{
  guint64 rate = 0;
  for (guint i = 0; i < SH_LC_RATES; i++)
    rate = MAX (rate, lc->rates[i]);
  return rate * (guint64) lc->base / G_USEC_PER_SEC;
}

void
sh_lc_sent (ShLatencyControl *lc, guint64 sent_total, guint64 acked_total, gint64 now)
{
  /* One sample at a time. The receiver ACKs every 32 KiB, so the tail of
   * a transfer may never be acknowledged: such a sample is given up. */
  if (lc->mark != 0 && now - lc->t0 > SH_LC_SAMPLE_MAX_US)
    lc->mark = 0;
  if (lc->mark == 0 && sent_total != 0)
    {
      lc->mark = sent_total;
      lc->t0 = now;
      lc->acked_t0 = acked_total;
    }
}

gboolean
sh_lc_acked (ShLatencyControl *lc, guint64 acked_total, gint64 now)
{
  if (lc->mark == 0 || acked_total < lc->mark)
    return FALSE;
  gint64 rtt = MAX (now - lc->t0, 1);
  lc->mark = 0;
  lc->last_rtt = rtt;
  if (lc->base == 0 || rtt < lc->base)
    lc->base = rtt;
  if (lc->win_since == 0)
    lc->win_since = now;
  if (lc->win_min == 0 || rtt < lc->win_min)
    lc->win_min = rtt;
  if (now - lc->win_since > SH_LC_WINDOW_US)
    {
      if (lc->win_min > lc->base + 4 * sh_lc_target (lc->base))
        lc->base = lc->win_min; /* the path got slower */
      lc->win_min = 0;
      lc->win_since = now;
    }
  lc->recent[lc->recent_next] = rtt;
  lc->recent_next = (lc->recent_next + 1) % SH_LC_FILTER;
  gint64 filtered = rtt;
  for (guint i = 0; i < SH_LC_FILTER; i++)
    if (lc->recent[i] != 0 && lc->recent[i] < filtered)
      filtered = lc->recent[i];
  /* Bytes ACKed within the sample's round trip were all in flight when it
   * began (the later ones queue behind its byte), so rate × base never
   * exceeds a limit that was in force. A sample of a bulk transfer is one
   * the limit held back, or one that had half the limit in flight anyway
   * (something else, a channel's window or ssh's, held it). The others
   * (an echo, a request) say nothing about the path's rate: kept only
   * when above what it has shown, or an idle minute of them would make
   * the product tiny and the limit with it. */
  guint64 delivered = acked_total - lc->acked_t0;
  guint64 rate = delivered * G_USEC_PER_SEC / (guint64) rtt;
  gboolean bulk = lc->capped || delivered >= lc->limit / 2;
  guint64 bdp = sh_lc_bdp (lc);
  if (bulk || rate * (guint64) lc->base / G_USEC_PER_SEC > bdp)
    {
      lc->rates[lc->rates_next] = rate;
      lc->rates_next = (lc->rates_next + 1) % SH_LC_RATES;
      bdp = sh_lc_bdp (lc);
    }

  gint64 queued = filtered - lc->base;
  gint64 target = sh_lc_target (lc->base);
  guint64 old = lc->limit;
  if (lc->startup)
    {
      /* Bulk samples whose rate stops growing end startup, queue or no
       * queue (a queue whose rate still grows is ssh's TCP ramping up);
       * then the limit is the product the bulk samples have shown. So do
       * samples with a queue that every recent one saw and a quarter of
       * the limit in flight: startup raises the limit 2.5-fold at once,
       * so a sender that something else holds (OpenSSH's 2 MiB channel
       * window at 200 Mbit/s and 80 ms) had a queue of 18 ms with under
       * half the limit in flight, was never "bulk", and startup never
       * ended. An echo's sample (little in flight) does not count: with
       * nothing shown yet it would end startup at the floor. */
      if (bulk || (queued > target && delivered >= lc->limit / 4))
        {
          if (rate >= lc->startup_best + lc->startup_best / 4)
            {
              lc->startup_best = rate;
              lc->startup_flat = 0;
            }
          else if (++lc->startup_flat >= SH_LC_STARTUP_ROUNDS)
            lc->startup = FALSE;
        }
      if (lc->startup && lc->capped)
        lc->limit = MAX (lc->limit, (guint64) (bdp * SH_LC_STARTUP_GAIN));
      else if (!lc->startup)
        lc->limit = MAX (bdp, lc->floor);
      lc->limit = CLAMP (lc->limit, lc->floor, lc->ceiling);
    }
  else if (queued > target)
    lc->limit = MAX (MAX (lc->limit - lc->limit / 8, lc->floor), MIN (bdp, lc->limit));
  else if (queued < target / 2 && lc->capped)
    {
      /* One step adds at most half a target of queue at the rate the path
       * showed: 1/8 of a limit near the product is base/8 of queue, which
       * across 80 ms (10 ms) is twice that path's whole target. */
      guint64 step = lc->limit / 8;
      if (bdp > 0 && lc->base > 0)
        step = MIN (step, MAX (bdp * (guint64) target / (2 * (guint64) lc->base), lc->limit / 64));
      lc->limit = MIN (lc->limit + MAX (step, 1), lc->ceiling);
    }
  lc->capped = FALSE;
  return lc->limit != old;
}
