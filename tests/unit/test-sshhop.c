/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-sshhop.c — which host ssh's TCP connection goes to: `ssh -G` output
 * and the first element of a ProxyJump list. */
#include "config.h"

#include <glib.h>

#include "sshhop.h"

static void
test_parse (void)
{
  ShSshHop hop = { 0 };
  sh_ssh_hop_parse ("user root\nhostname 10.0.0.1\nport 2222\nproxyjump none\n"
                    "proxycommand none\n",
                    &hop);
  g_assert_cmpstr (hop.hostname, ==, "10.0.0.1");
  g_assert_cmpuint (hop.port, ==, 2222);
  g_assert_null (hop.jump);
  g_assert_false (hop.via_command);

  sh_ssh_hop_parse ("hostname inner\nport 22\nproxyjump a@b:2200,c\n", &hop);
  g_assert_cmpstr (hop.jump, ==, "a@b:2200,c");
  g_assert_cmpstr (hop.hostname, ==, "inner");

  sh_ssh_hop_parse ("hostname x\nport 99999\nproxycommand nc %h %p\n", &hop);
  g_assert_cmpuint (hop.port, ==, 0); /* invalid: the caller's default */
  g_assert_true (hop.via_command);

  /* not OpenSSH, or -G failed */
  sh_ssh_hop_parse (NULL, &hop);
  g_assert_null (hop.hostname);
  g_assert_false (hop.via_command);
  sh_ssh_hop_parse ("hostname\nport\n\n", &hop);
  g_assert_null (hop.hostname);
  sh_ssh_hop_clear (&hop);
}

static void
test_jump (void)
{
  static const struct
  {
    const char *in, *user, *host;
    guint port;
  } ok[] = {
    { "gw", NULL, "gw", 0 },
    { "root@gw.example.org:2222,inner", "root", "gw.example.org", 2222 },
    { "ssh://alice@[fd31:1::1]:22", "alice", "fd31:1::1", 22 },
    { "[fd31:1::1]", NULL, "fd31:1::1", 0 },
    { "fd31:1::1", NULL, "fd31:1::1", 0 },
    { "10.1.2.3:22,b,c", NULL, "10.1.2.3", 22 },
  };
  for (guint i = 0; i < G_N_ELEMENTS (ok); i++)
    {
      g_autofree char *user = NULL, *host = NULL;
      guint port = 7;
      g_assert_true (sh_ssh_jump_first (ok[i].in, &user, &host, &port));
      g_assert_cmpstr (user, ==, ok[i].user);
      g_assert_cmpstr (host, ==, ok[i].host);
      g_assert_cmpuint (port, ==, ok[i].port);
    }
  static const char *const bad[] = {
    "",      "@gw",    "gw:0", "gw:65536",  "gw:22x",           "[fd31::1",
    "[]:22", "[::1]x", "a b",  "gw;reboot", "-oProxyCommand=x",
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      char *user = (char *) "x", *host = (char *) "x";
      guint port = 7;
      g_assert_false (sh_ssh_jump_first (bad[i], &user, &host, &port));
      g_assert_null (user);
      g_assert_null (host);
    }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/sshhop/parse", test_parse);
  g_test_add_func ("/sshhop/jump", test_jump);
  return g_test_run ();
}
