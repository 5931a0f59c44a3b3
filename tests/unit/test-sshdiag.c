/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-sshdiag.c — ssh's failure messages (as OpenSSH 9.2 prints them) made
 * one line, as NetworkManager's log and the CLI show them. */
#include "config.h"

#include <glib.h>
#include <string.h>

#include "sshdiag.h"

static char *
explain (const char *const *lines)
{
  ShSshDiag d = { 0 };

  for (; *lines != NULL; lines++)
    sh_ssh_diag_feed (&d, *lines);
  char *s = sh_ssh_diag_explain (&d);
  sh_ssh_diag_clear (&d);
  return s;
}

static void
test_key_changed (void)
{
  const char *lines[] = {
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @",
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@",
    "IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!",
    "The fingerprint for the ED25519 key sent by the remote host is",
    "SHA256:nhvG3FCrTxcaDyFzvoc9YPS7LF7jdveU8jMBgvv2RKg.",
    "Host key verification failed.",
    NULL,
  };
  g_autofree char *s = explain (lines);

  g_assert_nonnull (s);
  g_assert_nonnull (strstr (s, "SHA256:nhvG3FCrTxcaDyFzvoc9YPS7LF7jdveU8jMBgvv2RKg does not"));
}

static void
test_refused (void)
{
  const char *lines[] = {
    "Warning: Permanently added '10.0.0.1' (ED25519) to the list of known hosts.",
    "alice@10.0.0.1: Permission denied (publickey,password).",
    NULL,
  };
  g_autofree char *s = explain (lines);

  g_assert_nonnull (s);
  g_assert_true (g_str_has_prefix (s, "authentication failed:"));
  g_assert_nonnull (strstr (s, "accepts publickey,password"));
}

static void
test_hostile_and_silent (void)
{
  /* a method list with control bytes stays one printable line */
  const char *hostile[] = { "x: Permission denied (publickey\033[2J\n).", NULL };
  g_autofree char *s = explain (hostile);
  g_assert_nonnull (s);
  g_assert_null (strchr (s, '\033'));
  g_assert_null (strchr (s, '\n'));

  /* nothing ssh said that we know: no guess */
  const char *plain[] = { "ssh: connect to host 10.0.0.1 port 22: Connection refused", NULL };
  g_autofree char *t = explain (plain);
  g_assert_null (t);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sshdiag/key-changed", test_key_changed);
  g_test_add_func ("/sshdiag/refused", test_refused);
  g_test_add_func ("/sshdiag/hostile-and-silent", test_hostile_and_silent);
  return g_test_run ();
}
