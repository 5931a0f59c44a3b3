/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz a server session (service/session.c) with whatever a client could
 * send: the frame rules that need state — credit, channel numbers, limits,
 * close handshakes — on top of the decoder.
 *
 * The server really connects for OPEN frames, so the harness first moves
 * into a private network namespace where nothing is reachable (lo is down):
 * no fuzz input can make it send a packet anywhere. Without the privilege to
 * do that it runs nothing and says so. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "dgramrelay.h"
#include "harness.h"
#include "log.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int isolated = -1;

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  if (isolated < 0)
    {
      isolated = unshare (CLONE_NEWNET) == 0;
      if (!isolated)
        {
          fprintf (stderr,
                   "fuzz-session: cannot enter a private network namespace (%s); "
                   "run as root. Nothing fuzzed.\n",
                   g_strerror (errno));
          exit (77); /* "skipped" for meson */
        }
      sh_log_init ("fuzz-session", -1, FALSE);
    }
  if (!isolated || size > 512 * 1024)
    return 0;

  FuzzSession f;
  ShSessionConfig cfg;
  sh_session_config_init (&cfg, SH_ROLE_SERVER);
  cfg.max_channels = 64;
  cfg.channel_window = 8192;
  fuzz_session_open (&f, &cfg);
  /* Datagrams reach the server's relay (version 2): its sockets open, and
   * what they send goes nowhere. A small limit, so inputs can pass it. */
  ShDgramRelay *relay = sh_dgram_relay_new (f.poll, f.session, 1000, 4);
  ShSessionExtras extras = {
    .dgram = sh_dgram_relay_dgram,
    .dgram_close = sh_dgram_relay_closed,
  };
  sh_session_set_extras (f.session, &extras, relay);

  /* The whole input, then end of stream, which always ends the session. */
  fuzz_write_all (f.feed, data, size);
  fuzz_session_finish (&f, NULL, NULL);
  sh_dgram_relay_flush (relay); /* the gathered datagrams: sendmmsg */
  sh_dgram_relay_free (relay);
  fuzz_session_close (&f);
  return 0;
}
