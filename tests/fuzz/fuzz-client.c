/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz a client session (service/session.c) with what a hostile server could
 * send after a proper HELLO: results for channels the client opened, data,
 * credit, closes, pongs, errors. Three channels are open (to local socket
 * pairs) before the input arrives, so the frames have something to act on.
 * Nothing here touches the network. */
#include "config.h"

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define N_APPS 3

typedef struct
{
  FuzzSession f;
  int apps[N_APPS];
} Ctx;

static void
drain_apps (gpointer data)
{
  Ctx *c = data;
  guint8 sink[65536];
  for (int k = 0; k < N_APPS; k++)
    while (read (c->apps[k], sink, sizeof sink) > 0)
      ;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static gboolean init;
  if (!init)
    {
      sh_log_init ("fuzz-client", -1, FALSE);
      init = TRUE;
    }
  if (size > 512 * 1024)
    return 0;

  Ctx ctx;
  ShSessionConfig cfg;
  sh_session_config_init (&cfg, SH_ROLE_CLIENT);
  cfg.channel_window = 8192;
  cfg.keepalive_s = 0;
  fuzz_session_open (&ctx.f, &cfg);
  fuzz_client_handshake (&ctx.f, 8192);

  for (int i = 0; i < N_APPS; i++)
    {
      int sp[2];
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
        abort ();
      ShOpen dst = { .family = AF_INET, .port = 80 + i, .addr = { 192, 0, 2, 1 + i } };
      sh_session_open_channel (ctx.f.session, sp[0], &dst); /* channels 1, 2, 3 */
      ctx.apps[i] = sp[1];
      if (write (ctx.apps[i], "hello", 5) != 5)
        abort ();
    }

  fuzz_write_all (ctx.f.feed, data, size);
  fuzz_session_finish (&ctx.f, drain_apps, &ctx);
  fuzz_session_close (&ctx.f);
  for (int k = 0; k < N_APPS; k++)
    close (ctx.apps[k]);
  return 0;
}
