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

#include "epoll-source.h"
#include "log.h"
#include "session.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define N_APPS 3

typedef struct
{
  ShSession *session;
  gboolean ready, closed;
} Ctx;

static void
flush (gpointer data)
{
  Ctx *c = data;
  if (c->session)
    sh_session_flush (c->session);
}

static void
on_ready (ShSession *s, const ShHello *peer, gpointer data)
{
  ((Ctx *) data)->ready = TRUE;
}

static void
on_closed (ShSession *s, const GError *error, gpointer data)
{
  ((Ctx *) data)->closed = TRUE;
}

static void
write_all (int fd, const uint8_t *p, size_t n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      if (w <= 0)
        abort ();
      p += w;
      n -= w;
    }
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

  int c2s[2], s2c[2];
  if (pipe2 (c2s, O_CLOEXEC | O_NONBLOCK) < 0 || pipe2 (s2c, O_CLOEXEC) < 0)
    abort ();
  fcntl (s2c[1], F_SETPIPE_SZ, 1024 * 1024);

  Ctx ctx = { 0 };
  ShPoll *poll = sh_poll_new (flush, &ctx);
  ShSessionConfig cfg;
  sh_session_config_init (&cfg, SH_ROLE_CLIENT);
  cfg.channel_window = 8192;
  cfg.keepalive_s = 0;
  ctx.session = sh_session_new (&cfg, poll, s2c[0], c2s[1], on_ready, on_closed, &ctx);

  guint8 hello[SH_MUX_MAX_FRAME];
  ShHello h = { .version_min = 1, .version_max = 1, .channel_window = 8192, .max_channels = 16 };
  write_all (s2c[1], hello, sh_frame_put_hello (hello, &h));
  for (int i = 0; i < 100 && !ctx.ready; i++)
    g_main_context_iteration (NULL, FALSE);
  if (!ctx.ready)
    abort ();

  int apps[N_APPS];
  for (int i = 0; i < N_APPS; i++)
    {
      int sp[2];
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sp) < 0)
        abort ();
      ShOpen dst = { .family = AF_INET, .port = 80 + i, .addr = { 192, 0, 2, 1 + i } };
      sh_session_open_channel (ctx.session, sp[0], &dst); /* channels 1, 2, 3 */
      apps[i] = sp[1];
      if (write (apps[i], "hello", 5) != 5)
        abort ();
    }

  write_all (s2c[1], data, size);
  close (s2c[1]);

  guint8 sink[65536];
  for (int i = 0; i < 2000 && !ctx.closed; i++)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (100);
      while (read (c2s[0], sink, sizeof sink) > 0)
        ;
      for (int k = 0; k < N_APPS; k++)
        while (read (apps[k], sink, sizeof sink) > 0)
          ;
    }
  /* EOF always ends the session: if it did not, the session hung. */
  if (!ctx.closed)
    abort ();

  g_clear_pointer (&ctx.session, sh_session_free);
  sh_poll_free (poll);
  close (c2s[0]);
  for (int k = 0; k < N_APPS; k++)
    close (apps[k]);
  return 0;
}
