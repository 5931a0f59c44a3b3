/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-askpass.c — which of ssh's prompts the engine answers with the
 * stored secret (askpass.h): the password and the passphrase, never a
 * one-time code. The prompts as OpenSSH 9.2 passes them to its askpass. */
#include "config.h"

#include <glib.h>

#include "askpass.h"

static void
test_secret_prompts (void)
{
  const char *yes[] = {
    "(shuttlelab@10.231.1.1) Password: ", /* PAM pam_unix, keyboard-interactive */
    "Password: ",
    "(alice@gw.example) password:",
    "alice@gw.example's password: ", /* ssh's method password */
    "Enter passphrase for key '/home/alice/.ssh/id_ed25519': ",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (yes); i++)
    g_assert_true (sh_askpass_prompt_takes_secret (yes[i]));
}

static void
test_other_prompts (void)
{
  const char *no[] = {
    /* pam_oath (libpam-oath), google-authenticator */
    "(shuttlelab@10.231.1.1) One-time password (OATH) for `shuttlelab': ",
    "(alice@gw) Verification code: ",
    "(alice@gw) Password and code: ",
    "(alice@gw) New password: ",
    "(alice@gw) Enter your OTP password: ",
    "(alice@gw) one-time password:",
    /* the server's words cannot pass for ssh's own */
    "(alice@gw) the admin's password: ",
    "(alice@gw) (x@y) Password: ",
    "(alice@gw) x) Password: ",
    "",
    "(alice@gw) ",
  };
  for (gsize i = 0; i < G_N_ELEMENTS (no); i++)
    {
      if (sh_askpass_prompt_takes_secret (no[i]))
        g_error ("'%s' would get the stored secret", no[i]);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/askpass/secret-prompts", test_secret_prompts);
  g_test_add_func ("/askpass/other-prompts", test_other_prompts);
  return g_test_run ();
}
