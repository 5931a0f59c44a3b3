/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-sshcipher.c — when the engine asks ssh for aes128-gcm first, and
 * when it leaves ssh's (or the user's) choice alone. */
#include "config.h"

#include <glib.h>

#include "sshcipher.h"

#define G_DEFAULT                                                                                  \
  "user root\nhostname 10.0.0.1\nport 22\nciphers " SH_SSH_DEFAULT_CIPHERS "\n"                    \
  "macs umac-64-etm@openssh.com\n"

static void
test_cpu (void)
{
  g_assert_true (sh_cpu_has_aes ("processor\t: 0\nflags\t\t: fpu vme sse2 aes avx\n"));
  g_assert_true (sh_cpu_has_aes ("Features\t: fp asimd evtstrm aes pmull sha1\n"));
  /* "aes" must be a word of its own, on the right line */
  g_assert_false (sh_cpu_has_aes ("flags\t\t: fpu vme vaes_x avx\n"));
  g_assert_false (sh_cpu_has_aes ("model name\t: aes\nflags\t\t: fpu\n"));
  g_assert_false (sh_cpu_has_aes (""));
  g_assert_false (sh_cpu_has_aes (NULL));
}

static void
test_choice (void)
{
  g_autofree char *fast = sh_ssh_fast_ciphers (G_DEFAULT, TRUE);
  g_assert_nonnull (fast);
  g_assert_true (g_str_has_prefix (fast, "aes128-gcm@openssh.com,"));
  /* the same ciphers as ssh's default, only in another order */
  g_auto (GStrv) a = g_strsplit (fast, ",", -1);
  g_auto (GStrv) b = g_strsplit (SH_SSH_DEFAULT_CIPHERS, ",", -1);
  g_assert_cmpuint (g_strv_length (a), ==, g_strv_length (b));
  for (char **x = b; *x; x++)
    g_assert_true (g_strv_contains ((const char *const *) a, *x));

  /* no AES instructions: chacha20 is the faster one */
  g_assert_null (sh_ssh_fast_ciphers (G_DEFAULT, FALSE));
  /* the user (or a system crypto policy) chose: never override */
  g_assert_null (sh_ssh_fast_ciphers ("ciphers aes256-ctr\n", TRUE));
  g_assert_null (sh_ssh_fast_ciphers ("ciphers chacha20-poly1305@openssh.com\n", TRUE));
  /* not OpenSSH, or -G failed */
  g_assert_null (sh_ssh_fast_ciphers (NULL, TRUE));
  g_assert_null (sh_ssh_fast_ciphers ("hostname x\n", TRUE));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sshcipher/cpu", test_cpu);
  g_test_add_func ("/sshcipher/choice", test_choice);
  return g_test_run ();
}
