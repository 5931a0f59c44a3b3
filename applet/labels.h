/* SPDX-License-Identifier: GPL-2.0-or-later */
/* labels.h — the words and icon names the applet shows for states, failure
 * reasons and amounts. Pure (no bus, no widgets), so unit tests read them. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  SH_CONN_DISCONNECTED,
  SH_CONN_CONNECTING,
  SH_CONN_CONNECTED,
  SH_CONN_DISCONNECTING,
  SH_CONN_FAILED,
} ShConnState;

/* "Connected since 14:05", "Failed: the login failed", ... (newly
 * allocated). @since: CLOCK_REALTIME seconds, 0 when unknown; @failure may
 * be NULL. Local time. */
char *sh_label_state (ShConnState state, gint64 since, const char *failure);

/* An engine's State "reconnecting": "Reconnecting in 4 s — ssh was killed
 * by signal 9" (newly allocated). @at: the engine's ReconnectAt, @now:
 * g_get_monotonic_time(), both µs; without a time still to come (0, or
 * passed: an attempt is under way) "Reconnecting…". @reason may be NULL or
 * empty: then no dash. */
char *sh_label_reconnecting (const char *reason, gint64 at, gint64 now);

/* An engine's State property ("connecting", "connected", ...) as a state. */
ShConnState sh_label_parse_engine_state (const char *state);

/* NetworkManager's NMActiveConnectionStateReason as a phrase (static,
 * translated). */
const char *sh_label_nm_reason (guint reason);

/* The tray icon for a state, and its accessible description: "shuttle-connected"
 * (static) and "Shuttle VPN: connected" (translated, static). */
const char *sh_label_icon (ShConnState state);
const char *sh_label_icon_description (ShConnState state);

/* "1 h 05 min", "3 min", "12 s" from @seconds (newly allocated). */
char *sh_label_duration (gint64 seconds);

/* The state the tray icon shows for several connections: what needs the
 * user's eye first (connecting, then failed, then connected). */
ShConnState sh_label_overall (const ShConnState *states, guint n);

G_END_DECLS
