/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "backoff.h"

void
sh_backoff_init (ShBackoff *b)
{
  b->next_s = SH_BACKOFF_FIRST_S;
}

guint
sh_backoff_next (ShBackoff *b)
{
  guint d = CLAMP (b->next_s, SH_BACKOFF_FIRST_S, SH_BACKOFF_MAX_S);
  b->next_s = MIN (d * 2, SH_BACKOFF_MAX_S);
  return d;
}

void
sh_backoff_session_ended (ShBackoff *b, gint64 up_us)
{
  if (up_us >= (gint64) SH_BACKOFF_STABLE_S * G_USEC_PER_SEC)
    sh_backoff_init (b);
}

guint
sh_backoff_helper_restart_ms (guint prev_ms, gint64 since_restart_us)
{
  if (prev_ms == 0 || since_restart_us < 0
      || since_restart_us > (gint64) SH_HELPER_STABLE_S * G_USEC_PER_SEC)
    return SH_HELPER_RESTART_MS;
  return MIN (MAX (prev_ms, SH_HELPER_RESTART_MS / 2) * 2, SH_HELPER_RESTART_MAX_MS);
}
