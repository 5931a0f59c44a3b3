/* SPDX-License-Identifier: GPL-2.0-or-later */
/* labels.c — state words, reasons, icons. */
#include "config.h"

#include "labels.h"

#include <glib/gi18n-lib.h>

char *
sh_label_state (ShConnState state, gint64 since, const char *failure)
{
  switch (state)
    {
    case SH_CONN_CONNECTING:
      return g_strdup (_ ("Connecting…"));
    case SH_CONN_CONNECTED:
      if (since > 0)
        {
          g_autoptr (GDateTime) t = g_date_time_new_from_unix_local (since);
          /* TRANSLATORS: the clock time of g_date_time_format(); keep it
             short, like the panel's clock */
          g_autofree char *hhmm = t != NULL ? g_date_time_format (t, _ ("%H:%M")) : NULL;

          if (hhmm != NULL)
            /* TRANSLATORS: %s is a clock time, e.g. "14:05" */
            return g_strdup_printf (_ ("Connected since %s"), hhmm);
        }
      return g_strdup (_ ("Connected"));
    case SH_CONN_DISCONNECTING:
      return g_strdup (_ ("Disconnecting…"));
    case SH_CONN_FAILED:
      if (failure != NULL && failure[0] != '\0')
        /* TRANSLATORS: %s says why, e.g. "the login failed" */
        return g_strdup_printf (_ ("Failed: %s"), failure);
      return g_strdup (_ ("Failed"));
    case SH_CONN_DISCONNECTED:
    default:
      return g_strdup (_ ("Disconnected"));
    }
}

char *
sh_label_reconnecting (const char *reason, gint64 at, gint64 now)
{
  g_autofree char *when = NULL;
  gboolean why = reason != NULL && reason[0] != '\0';

  if (at > now)
    {
      /* Rounded up: "in 0 s" would never be true. */
      g_autofree char *left = sh_label_duration ((at - now + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);

      /* TRANSLATORS: %s is a duration, e.g. "4 s" */
      when = g_strdup_printf (_ ("Reconnecting in %s"), left);
    }
  else
    when = g_strdup (_ ("Reconnecting…"));
  if (!why)
    return g_steal_pointer (&when);
  /* TRANSLATORS: "Reconnecting in 4 s", then why the tunnel dropped, as
     the engine says it */
  return g_strdup_printf (_ ("%s — %s"), when, reason);
}

ShConnState
sh_label_parse_engine_state (const char *state)
{
  if (g_strcmp0 (state, "connected") == 0)
    return SH_CONN_CONNECTED;
  if (g_strcmp0 (state, "failed") == 0)
    return SH_CONN_FAILED;
  if (g_strcmp0 (state, "connecting") == 0 || g_strcmp0 (state, "reconnecting") == 0)
    return SH_CONN_CONNECTING;
  return SH_CONN_DISCONNECTED;
}

/* The values of NMActiveConnectionStateReason (libnm 1.42's nm-dbus-interface.h);
 * copied as numbers so this file needs no libnm. */
const char *
sh_label_nm_reason (guint reason)
{
  switch (reason)
    {
    case 2:
      return _ ("disconnected by the user");
    case 3:
    case 12:
    case 13:
    case 14:
      return _ ("the network it runs over went away");
    case 4:
      return _ ("the VPN service stopped");
    case 5:
      return _ ("the VPN service returned an invalid configuration");
    case 6:
      return _ ("the connection attempt timed out");
    case 7:
      return _ ("the VPN service did not start in time");
    case 8:
      return _ ("the VPN service could not start");
    case 9:
      return _ ("no password or passphrase was given");
    case 10:
      return _ ("the login failed");
    case 11:
      return _ ("the connection was deleted");
    default:
      return _ ("no reason given");
    }
}

const char *
sh_label_icon (ShConnState state)
{
  switch (state)
    {
    case SH_CONN_CONNECTING:
    case SH_CONN_DISCONNECTING:
      return "shuttle-connecting";
    case SH_CONN_CONNECTED:
      return "shuttle-connected";
    case SH_CONN_FAILED:
      return "shuttle-failed";
    case SH_CONN_DISCONNECTED:
    default:
      return "shuttle-disconnected";
    }
}

const char *
sh_label_icon_description (ShConnState state)
{
  switch (state)
    {
    case SH_CONN_CONNECTING:
    case SH_CONN_DISCONNECTING:
      return _ ("Shuttle VPN: connecting");
    case SH_CONN_CONNECTED:
      return _ ("Shuttle VPN: connected");
    case SH_CONN_FAILED:
      return _ ("Shuttle VPN: failed");
    case SH_CONN_DISCONNECTED:
    default:
      return _ ("Shuttle VPN: disconnected");
    }
}

char *
sh_label_duration (gint64 seconds)
{
  if (seconds < 0)
    seconds = 0;
  if (seconds < 60)
    /* TRANSLATORS: a duration in seconds */
    return g_strdup_printf (_ ("%d s"), (int) seconds);
  if (seconds < 3600)
    /* TRANSLATORS: a duration in minutes */
    return g_strdup_printf (_ ("%d min"), (int) (seconds / 60));
  /* TRANSLATORS: a duration in hours and minutes, e.g. "2 h 05 min" */
  return g_strdup_printf (_ ("%d h %02d min"), (int) (seconds / 3600), (int) (seconds % 3600 / 60));
}

ShConnState
sh_label_overall (const ShConnState *states, guint n)
{
  static const ShConnState order[]
      = { SH_CONN_CONNECTING, SH_CONN_DISCONNECTING, SH_CONN_FAILED, SH_CONN_CONNECTED };

  for (guint o = 0; o < G_N_ELEMENTS (order); o++)
    for (guint i = 0; i < n; i++)
      if (states[i] == order[o])
        return order[o];
  return SH_CONN_DISCONNECTED;
}
