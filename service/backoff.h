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

G_END_DECLS
