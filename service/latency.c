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
}

void
sh_lc_sent (ShLatencyControl *lc, guint64 sent_total, gint64 now)
{
  /* One sample at a time. The receiver ACKs every 32 KiB, so the tail of
   * a transfer may never be acknowledged: such a sample is given up. */
  if (lc->mark != 0 && now - lc->t0 > SH_LC_SAMPLE_MAX_US)
    lc->mark = 0;
  if (lc->mark == 0 && sent_total != 0)
    {
      lc->mark = sent_total;
      lc->t0 = now;
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
  gint64 queued = filtered - lc->base;
  gint64 target = sh_lc_target (lc->base);
  guint64 old = lc->limit;
  if (queued > target)
    lc->limit = MAX (lc->limit - lc->limit / 8, lc->floor);
  else if (queued < target / 2 && lc->capped)
    lc->limit = MIN (lc->limit + lc->limit / 8, lc->ceiling);
  lc->capped = FALSE;
  return lc->limit != old;
}
