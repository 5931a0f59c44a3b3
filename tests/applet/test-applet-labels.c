/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The applet's pure parts: state words, reasons, icons, durations. */
#include "config.h"

#include "labels.h"
#include "runcmd.h"

#include <locale.h>

static void
test_state (void)
{
  g_autofree char *off = sh_label_state (SH_CONN_DISCONNECTED, 0, NULL);
  g_autofree char *on = sh_label_state (SH_CONN_CONNECTED, 0, NULL);
  g_autofree char *failed = sh_label_state (SH_CONN_FAILED, 0, "the login failed");
  g_autofree char *failed_bare = sh_label_state (SH_CONN_FAILED, 0, "");
  g_autoptr (GDateTime) t = g_date_time_new_local (2026, 3, 4, 14, 5, 0);
  g_autofree char *since = sh_label_state (SH_CONN_CONNECTED, g_date_time_to_unix (t), NULL);

  g_assert_cmpstr (off, ==, "Disconnected");
  g_assert_cmpstr (on, ==, "Connected");
  g_assert_cmpstr (since, ==, "Connected since 14:05");
  g_assert_cmpstr (failed, ==, "Failed: the login failed");
  g_assert_cmpstr (failed_bare, ==, "Failed");
}

static void
test_engine_state (void)
{
  g_assert_cmpint (sh_label_parse_engine_state ("connected"), ==, SH_CONN_CONNECTED);
  g_assert_cmpint (sh_label_parse_engine_state ("reconnecting"), ==, SH_CONN_CONNECTING);
  g_assert_cmpint (sh_label_parse_engine_state ("failed"), ==, SH_CONN_FAILED);
  g_assert_cmpint (sh_label_parse_engine_state ("bogus"), ==, SH_CONN_DISCONNECTED);
  g_assert_cmpint (sh_label_parse_engine_state (NULL), ==, SH_CONN_DISCONNECTED);
}

static void
test_reconnecting (void)
{
  const gint64 now = 1000 * G_USEC_PER_SEC;
  g_autofree char *in4 = sh_label_reconnecting ("keepalive lost", now + 4 * G_USEC_PER_SEC, now);
  /* 3.2 s left shows as 4 s: it counts down to "in 1 s", never "in 0 s" */
  g_autofree char *up = sh_label_reconnecting ("x", now + 3200000, now);
  g_autofree char *bare = sh_label_reconnecting ("", now + 2 * G_USEC_PER_SEC, now);
  g_autofree char *under_way = sh_label_reconnecting ("ssh exited", 0, now);
  g_autofree char *passed = sh_label_reconnecting (NULL, now - 1, now);
  g_autofree char *long_wait = sh_label_reconnecting ("y", now + 90 * G_USEC_PER_SEC, now);

  g_assert_cmpstr (in4, ==, "Reconnecting in 4 s — keepalive lost");
  g_assert_cmpstr (up, ==, "Reconnecting in 4 s — x");
  g_assert_cmpstr (bare, ==, "Reconnecting in 2 s");
  g_assert_cmpstr (under_way, ==, "Reconnecting… — ssh exited");
  g_assert_cmpstr (passed, ==, "Reconnecting…");
  g_assert_cmpstr (long_wait, ==, "Reconnecting in 1 min — y");
}

static void
test_reason (void)
{
  /* NM_ACTIVE_CONNECTION_STATE_REASON_LOGIN_FAILED, _USER_DISCONNECTED */
  g_assert_cmpstr (sh_label_nm_reason (10), ==, "the login failed");
  g_assert_cmpstr (sh_label_nm_reason (2), ==, "disconnected by the user");
  g_assert_cmpstr (sh_label_nm_reason (9999), ==, "no reason given");
}

static void
test_icons (void)
{
  static const ShConnState mixed[] = { SH_CONN_CONNECTED, SH_CONN_FAILED, SH_CONN_DISCONNECTED };
  static const ShConnState busy[] = { SH_CONN_FAILED, SH_CONN_CONNECTING };

  g_assert_cmpstr (sh_label_icon (SH_CONN_CONNECTED), ==, "shuttle-connected");
  g_assert_cmpstr (sh_label_icon (SH_CONN_DISCONNECTING), ==, "shuttle-connecting");
  g_assert_cmpstr (sh_label_icon_description (SH_CONN_FAILED), ==, "Shuttle VPN: failed");
  g_assert_cmpint (sh_label_overall (mixed, G_N_ELEMENTS (mixed)), ==, SH_CONN_FAILED);
  g_assert_cmpint (sh_label_overall (busy, G_N_ELEMENTS (busy)), ==, SH_CONN_CONNECTING);
  g_assert_cmpint (sh_label_overall (NULL, 0), ==, SH_CONN_DISCONNECTED);
}

static void
test_duration (void)
{
  g_autofree char *s = sh_label_duration (12);
  g_autofree char *m = sh_label_duration (3 * 60 + 59);
  g_autofree char *h = sh_label_duration (2 * 3600 + 5 * 60);
  g_autofree char *neg = sh_label_duration (-5);

  g_assert_cmpstr (s, ==, "12 s");
  g_assert_cmpstr (m, ==, "3 min");
  g_assert_cmpstr (h, ==, "2 h 05 min");
  g_assert_cmpstr (neg, ==, "0 s");
}

static void
test_runcmd (void)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) argv
      = sh_runcmd_argv ("/usr/bin/shuttle", "org.freedesktop.NetworkManager.shuttle.Connection_1",
                        "sh -c 'curl -s http://10.1.2.3/ > \"$HOME/out\"' ; x", &error);
  g_auto (GStrv) empty = NULL;
  g_auto (GStrv) open_quote = NULL;
  const char *const want[] = { "/usr/bin/shuttle",
                               "run",
                               "--attach",
                               "org.freedesktop.NetworkManager.shuttle.Connection_1",
                               "--",
                               "sh",
                               "-c",
                               "curl -s http://10.1.2.3/ > \"$HOME/out\"",
                               ";",
                               "x",
                               NULL };

  g_assert_no_error (error);
  /* words as a shell splits them, but nothing a shell would do: the ";"
   * is a word, $HOME is left for sh -c */
  g_assert_true (g_strv_equal ((const char *const *) argv, want));
  empty = sh_runcmd_argv ("shuttle", "1", "   ", &error);
  g_assert_null (empty);
  g_assert_error (error, G_SHELL_ERROR, G_SHELL_ERROR_EMPTY_STRING);
  g_assert_cmpstr (error->message, ==, "Type the command to run.");
  g_clear_error (&error);
  open_quote = sh_runcmd_argv ("shuttle", "1", "echo 'oops", &error);
  g_assert_null (open_quote);
  g_assert_true (g_str_has_prefix (error->message, "The command cannot be read: "));

  g_setenv ("SHUTTLE_BIN", "/build/service/shuttle", TRUE);
  g_assert_cmpstr (sh_runcmd_shuttle (), ==, "/build/service/shuttle");
  g_setenv ("SHUTTLE_BIN", "relative/shuttle", TRUE);
  g_assert_cmpstr (sh_runcmd_shuttle (), ==, SHUTTLE_BINDIR "/shuttle");
}

int
main (int argc, char **argv)
{
  /* Untranslated words: the test reads the msgids. */
  g_setenv ("LANGUAGE", "C", TRUE);
  setlocale (LC_ALL, "C.UTF-8");
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/applet/labels/state", test_state);
  g_test_add_func ("/applet/labels/engine-state", test_engine_state);
  g_test_add_func ("/applet/labels/reason", test_reason);
  g_test_add_func ("/applet/labels/reconnecting", test_reconnecting);
  g_test_add_func ("/applet/labels/icons", test_icons);
  g_test_add_func ("/applet/labels/duration", test_duration);
  g_test_add_func ("/applet/runcmd", test_runcmd);
  return g_test_run ();
}
