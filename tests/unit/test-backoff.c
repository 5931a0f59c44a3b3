/* SPDX-License-Identifier: GPL-2.0-or-later */
/* test-backoff.c — --reconnect's schedule (service/backoff.c), and the
 * route check it waits on (the part that needs no network namespace). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <glib.h>

#include "backoff.h"
#include "netwatch.h"

static void
test_schedule (void)
{
  static const guint want[] = { 1, 2, 4, 8, 16, 32, 60, 60, 60 };
  ShBackoff b;

  sh_backoff_init (&b);
  for (guint i = 0; i < G_N_ELEMENTS (want); i++)
    g_assert_cmpuint (sh_backoff_next (&b), ==, want[i]);
  /* It stays at the cap however long the outage. */
  for (guint i = 0; i < 1000; i++)
    g_assert_cmpuint (sh_backoff_next (&b), ==, SH_BACKOFF_MAX_S);
}

static void
test_reset (void)
{
  ShBackoff b;

  sh_backoff_init (&b);
  for (guint i = 0; i < 4; i++)
    sh_backoff_next (&b); /* 1 2 4 8 */

  /* A session that dropped soon after it came keeps the schedule growing:
   * a server that accepts and then fails is not hammered. */
  sh_backoff_session_ended (&b, (gint64) 5 * G_USEC_PER_SEC);
  g_assert_cmpuint (sh_backoff_next (&b), ==, 16);
  sh_backoff_session_ended (&b, (gint64) SH_BACKOFF_STABLE_S * G_USEC_PER_SEC - 1);
  g_assert_cmpuint (sh_backoff_next (&b), ==, 32);

  /* One that stayed up for a while starts it over. */
  sh_backoff_session_ended (&b, (gint64) SH_BACKOFF_STABLE_S * G_USEC_PER_SEC);
  g_assert_cmpuint (sh_backoff_next (&b), ==, 1);
  g_assert_cmpuint (sh_backoff_next (&b), ==, 2);
  sh_backoff_session_ended (&b, (gint64) 3600 * G_USEC_PER_SEC);
  g_assert_cmpuint (sh_backoff_next (&b), ==, 1);
}

static void
test_routable (void)
{
  struct sockaddr_storage a[2];
  int err = 0;

  memset (a, 0, sizeof a);
  struct sockaddr_in *v4 = (struct sockaddr_in *) &a[0];
  v4->sin_family = AF_INET;
  v4->sin_port = htons (22);
  v4->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
  struct sockaddr_in6 *v6 = (struct sockaddr_in6 *) &a[1];
  v6->sin6_family = AF_INET6;
  v6->sin6_port = htons (22);
  v6->sin6_addr = in6addr_loopback;

  g_assert_true (sh_net_routable (a, 1, &err));
  /* Where we cannot tell (a proxy does the connecting), never wait. */
  g_assert_true (sh_net_routable (NULL, 0, &err));
  g_assert_cmpint (err, ==, 0);
}

static void
test_helper_restart (void)
{
  const gint64 soon = G_USEC_PER_SEC / 2;
  /* The first time, and after a helper that stayed up: 250 ms. */
  g_assert_cmpuint (sh_backoff_helper_restart_ms (0, -1), ==, 250);
  g_assert_cmpuint (sh_backoff_helper_restart_ms (8000, 31 * G_USEC_PER_SEC), ==, 250);
  /* Leaving again soon after each restart: doubling, then held at 30 s. */
  guint d = sh_backoff_helper_restart_ms (0, -1);
  guint seen[8];
  for (guint i = 0; i < G_N_ELEMENTS (seen); i++)
    seen[i] = d = sh_backoff_helper_restart_ms (d, soon);
  g_assert_cmpuint (seen[0], ==, 500);
  g_assert_cmpuint (seen[1], ==, 1000);
  g_assert_cmpuint (seen[5], ==, 16000);
  g_assert_cmpuint (seen[6], ==, 30000);
  g_assert_cmpuint (seen[7], ==, 30000);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/backoff/schedule", test_schedule);
  g_test_add_func ("/backoff/reset", test_reset);
  g_test_add_func ("/backoff/routable", test_routable);
  g_test_add_func ("/backoff/helper-restart", test_helper_restart);
  return g_test_run ();
}
