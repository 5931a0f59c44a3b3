/* SPDX-License-Identifier: GPL-2.0-or-later */
/* backoff.h — how long --reconnect waits before its next attempt (pure:
 * numbers in, numbers out; client.c owns the timers).
 *
 * 1 s after a session is lost, then 2, 4, 8 ... s after each failed
 * attempt, at most SH_BACKOFF_MAX_S. A session that stayed up for
 * SH_BACKOFF_STABLE_S starts the schedule over; one that drops sooner
 * (a server that accepts and then fails) keeps it growing. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SH_BACKOFF_FIRST_S 1
#define SH_BACKOFF_MAX_S 60
#define SH_BACKOFF_STABLE_S 30

typedef struct
{
  guint next_s; /* the delay the next call to sh_backoff_next() returns */
} ShBackoff;

void sh_backoff_init (ShBackoff *backoff);

/* The delay before the next attempt, in seconds; advances the schedule. */
guint sh_backoff_next (ShBackoff *backoff);

/* A session was up for @up_us microseconds before it ended: long enough,
 * and the next delay is the first one again. */
void sh_backoff_session_ended (ShBackoff *backoff, gint64 up_us);

/* The firewall helper's restart delay (fwclient.c, and the NM plugin's
 * fwproxy): SH_HELPER_RESTART_MS after it left; doubling, up to
 * SH_HELPER_RESTART_MAX_MS, while it keeps leaving within
 * SH_HELPER_STABLE_S of the last restart (say, it crashes at start).
 * @prev_ms: the delay used last time, 0 for none; @since_restart_us: time
 * since that restart, or -1 for none. */
#define SH_HELPER_RESTART_MS 250
#define SH_HELPER_RESTART_MAX_MS 30000
#define SH_HELPER_STABLE_S 30

guint sh_backoff_helper_restart_ms (guint prev_ms, gint64 since_restart_us);

G_END_DECLS
