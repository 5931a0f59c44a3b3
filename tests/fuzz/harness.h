/* SPDX-License-Identifier: GPL-2.0-or-later */
/* harness.h — what the session fuzzers (fuzz-session, fuzz-client,
 * fuzz-dnsrelay, fuzz-dnsclient) share: one session fed through a pipe the
 * harness writes (the peer's bytes), its output drained from another, and
 * the loop that ends it. Static inline: each harness is its own program. */
#pragma once

#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "epoll-source.h"
#include "session.h"

typedef struct
{
  ShPoll *poll;
  ShSession *session;
  int feed;  /* write end: the peer's bytes into the session (blocking) */
  int drain; /* read end: what the session sends (non-blocking) */
  gboolean ready, closed;
} FuzzSession;

static inline void
fuzz_flush (gpointer data)
{
  FuzzSession *f = data;
  if (f->session)
    sh_session_flush (f->session);
}

static inline void
fuzz_on_ready (ShSession *s, const ShHello *peer, gpointer data)
{
  ((FuzzSession *) data)->ready = TRUE;
}

static inline void
fuzz_on_closed (ShSession *s, const GError *error, gpointer data)
{
  ((FuzzSession *) data)->closed = TRUE;
}

static inline void
fuzz_write_all (int fd, const uint8_t *p, size_t n)
{
  while (n > 0)
    {
      ssize_t w = write (fd, p, n);
      if (w <= 0)
        abort ();
      p += w;
      n -= (size_t) w;
    }
}

static inline void
fuzz_session_open (FuzzSession *f, const ShSessionConfig *cfg)
{
  int in[2], out[2];
  if (pipe2 (in, O_CLOEXEC) < 0 || pipe2 (out, O_CLOEXEC | O_NONBLOCK) < 0)
    abort ();
  /* A whole input fits: the harness writes it before the session reads. */
  fcntl (in[1], F_SETPIPE_SZ, 1024 * 1024);
  *f = (FuzzSession){ .feed = in[1], .drain = out[0] };
  f->poll = sh_poll_new (fuzz_flush, f);
  f->session = sh_session_new (cfg, f->poll, in[0], out[1], fuzz_on_ready, fuzz_on_closed, f);
}

/* A client session: writes the server's HELLO and waits for the handshake. */
static inline void
fuzz_client_handshake (FuzzSession *f, guint32 window)
{
  guint8 hello[SH_MUX_MAX_FRAME];
  ShHello h = { .version_min = 1, .version_max = 1, .channel_window = window, .max_channels = 16 };
  fuzz_write_all (f->feed, hello, sh_frame_put_hello (hello, &h));
  for (int i = 0; i < 100 && !f->ready; i++)
    g_main_context_iteration (NULL, FALSE);
  if (!f->ready)
    abort ();
}

/* Reads what the session sent; TRUE when there was something. */
static inline gboolean
fuzz_drain (FuzzSession *f)
{
  guint8 sink[65536];
  gboolean any = FALSE;
  while (read (f->drain, sink, sizeof sink) > 0)
    any = TRUE;
  return any;
}

/* Ends the input; the session must then end too (@each runs every round,
 * may be NULL). If it did not, the session hung: abort. */
static inline void
fuzz_session_finish (FuzzSession *f, void (*each) (gpointer), gpointer data)
{
  close (f->feed);
  f->feed = -1;
  for (int i = 0; i < 2000 && !f->closed; i++)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (100);
      fuzz_drain (f);
      if (each)
        each (data);
    }
  if (!f->closed)
    abort ();
}

static inline void
fuzz_session_close (FuzzSession *f)
{
  g_clear_pointer (&f->session, sh_session_free);
  g_clear_pointer (&f->poll, sh_poll_free);
  if (f->feed >= 0)
    close (f->feed);
  close (f->drain);
}
