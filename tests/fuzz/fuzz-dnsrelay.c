/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-dnsrelay.c — the C server's DNS relay (service/dnsrelay.c) behind a
 * real server session, fed whatever a client could send: DNS_QUERY frames
 * with any resolver address, id and message, mixed with every other frame.
 *
 * The relay really sends datagrams, so the harness first moves into a
 * private network namespace with only lo up, where its own resolver
 * answers on 127.0.0.1:53 and [::1]:53: each query comes back as its answer
 * (QR set), except that a query whose fourth byte is 0xee gets an answer too
 * big for a DNS_REPLY and one with 0xef gets none. Nothing else is
 * reachable. Without the privilege for that it runs nothing (exit 77). */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "dnsrelay.h"
#include "epoll-source.h"
#include "log.h"
#include "session.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int resolver_fds[2] = { -1, -1 };

typedef struct
{
  ShSession *session;
  ShDnsRelay *relay;
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

static void
on_dns_query (ShSession *s, guint32 id, const ShOpen *resolver, const guint8 *msg, gsize len,
              gpointer data)
{
  sh_dns_relay_query (s, id, resolver, msg, len, ((Ctx *) data)->relay);
}

static int
bind_resolver (int family)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t len;
  int fd = socket (family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  if (family == AF_INET)
    {
      struct sockaddr_in *a = (struct sockaddr_in *) &ss;
      a->sin_family = AF_INET;
      a->sin_port = htons (53);
      a->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      len = sizeof *a;
    }
  else
    {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
      a->sin6_family = AF_INET6;
      a->sin6_port = htons (53);
      a->sin6_addr = in6addr_loopback;
      len = sizeof *a;
    }
  if (fd < 0 || bind (fd, (struct sockaddr *) &ss, len) < 0)
    {
      fprintf (stderr, "fuzz-dnsrelay: cannot bind the resolver: %s\n", g_strerror (errno));
      abort ();
    }
  return fd;
}

static gboolean
isolate (void)
{
  if (unshare (CLONE_NEWNET) < 0)
    return FALSE;
  /* lo up, so the relay's queries reach our resolver. */
  int fd = socket (AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  struct ifreq ifr = { 0 };
  g_strlcpy (ifr.ifr_name, "lo", sizeof ifr.ifr_name);
  if (fd < 0 || ioctl (fd, SIOCGIFFLAGS, &ifr) < 0)
    abort ();
  ifr.ifr_flags |= IFF_UP;
  if (ioctl (fd, SIOCSIFFLAGS, &ifr) < 0)
    abort ();
  close (fd);
  resolver_fds[0] = bind_resolver (AF_INET);
  resolver_fds[1] = bind_resolver (AF_INET6);
  return TRUE;
}

/* Answers what came; TRUE when something did. */
static gboolean
serve_resolver (void)
{
  static guint8 buf[40000];
  gboolean any = FALSE;

  for (int i = 0; i < 2; i++)
    for (;;)
      {
        struct sockaddr_storage from;
        socklen_t from_len = sizeof from;
        ssize_t n = recvfrom (resolver_fds[i], buf, 4200, 0, (struct sockaddr *) &from, &from_len);
        if (n < 0)
          break;
        any = TRUE;
        if (n >= 4 && buf[3] == 0xef)
          continue;
        gsize len = (gsize) n;
        if (n >= 4 && buf[3] == 0xee)
          len = sizeof buf;
        if (n >= 3)
          buf[2] |= 0x80;
        sendto (resolver_fds[i], buf, len, 0, (struct sockaddr *) &from, from_len);
      }
  return any;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static int isolated = -1;
  if (isolated < 0)
    {
      isolated = isolate ();
      if (!isolated)
        {
          fprintf (stderr,
                   "fuzz-dnsrelay: cannot enter a private network namespace (%s); "
                   "run as root. Nothing fuzzed.\n",
                   g_strerror (errno));
          exit (77); /* "skipped" for meson */
        }
      sh_log_init ("fuzz-dnsrelay", -1, FALSE);
    }
  if (size > 512 * 1024)
    return 0;

  int c2s[2], s2c[2];
  if (pipe2 (c2s, O_CLOEXEC) < 0 || pipe2 (s2c, O_CLOEXEC | O_NONBLOCK) < 0)
    abort ();
  fcntl (c2s[1], F_SETPIPE_SZ, 1024 * 1024);

  Ctx ctx = { 0 };
  ShPoll *poll = sh_poll_new (flush, &ctx);
  ShSessionConfig cfg;
  sh_session_config_init (&cfg, SH_ROLE_SERVER);
  cfg.max_channels = 16;
  cfg.channel_window = 8192;
  ctx.session = sh_session_new (&cfg, poll, c2s[0], s2c[1], NULL, on_closed, &ctx);
  ctx.relay = sh_dns_relay_new (poll, ctx.session);
  ShSessionExtras extras = { .dns_query = on_dns_query };
  sh_session_set_extras (ctx.session, &extras, &ctx);

  for (size_t off = 0; off < size;)
    {
      ssize_t n = write (c2s[1], data + off, size - off);
      if (n <= 0)
        abort ();
      off += n;
    }

  /* While the client still listens: queries go out, answers come back. */
  guint8 sink[65536];
  for (int idle = 0, i = 0; idle < 3 && i < 10000 && !ctx.closed; i++)
    {
      gboolean progress = g_main_context_iteration (NULL, FALSE);
      progress |= serve_resolver ();
      while (read (s2c[0], sink, sizeof sink) > 0)
        progress = TRUE;
      idle = progress ? 0 : idle + 1;
    }

  close (c2s[1]);
  for (int i = 0; i < 2000 && !ctx.closed; i++)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (100);
      serve_resolver ();
      while (read (s2c[0], sink, sizeof sink) > 0)
        ;
    }
  /* EOF always ends the session: if it did not, the session hung. */
  if (!ctx.closed)
    abort ();

  /* As server.c: the relay before the session it answers through. */
  g_clear_pointer (&ctx.relay, sh_dns_relay_free);
  g_clear_pointer (&ctx.session, sh_session_free);
  sh_poll_free (poll);
  close (s2c[0]);
  serve_resolver (); /* nothing left over for the next input */
  return 0;
}
