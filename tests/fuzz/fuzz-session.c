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

#include "epoll-source.h"
#include "log.h"
#include "session.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int isolated = -1;

typedef struct
{
  ShSession *session;
  gboolean closed;
} Ctx;

static void
flush (gpointer data)
{
  Ctx *c = data;
  if (c->session)
    sh_session_flush (c->session);
}

static void
on_closed (ShSession *s, const GError *error, gpointer data)
{
  ((Ctx *) data)->closed = TRUE;
}

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

  int c2s[2], s2c[2];
  if (pipe2 (c2s, O_CLOEXEC) < 0 || pipe2 (s2c, O_CLOEXEC | O_NONBLOCK) < 0)
    abort ();
  fcntl (c2s[1], F_SETPIPE_SZ, 1024 * 1024);

  Ctx ctx = { 0 };
  ShPoll *poll = sh_poll_new (flush, &ctx);
  ShSessionConfig cfg;
  sh_session_config_init (&cfg, SH_ROLE_SERVER);
  cfg.max_channels = 64;
  cfg.channel_window = 8192;
  ctx.session = sh_session_new (&cfg, poll, c2s[0], s2c[1], NULL, on_closed, &ctx);

  /* The whole input, then end of stream. */
  size_t off = 0;
  while (off < size)
    {
      ssize_t n = write (c2s[1], data + off, size - off);
      if (n <= 0)
        abort ();
      off += n;
    }
  close (c2s[1]);

  guint8 sink[65536];
  for (int i = 0; i < 2000 && !ctx.closed; i++)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (100);
      while (read (s2c[0], sink, sizeof sink) > 0)
        ;
    }
  /* EOF always ends the session: if it did not, the session hung. */
  if (!ctx.closed)
    abort ();

  g_clear_pointer (&ctx.session, sh_session_free);
  sh_poll_free (poll);
  close (s2c[0]);
  return 0;
}
