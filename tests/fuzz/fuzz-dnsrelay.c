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
#include "harness.h"
#include "log.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static int resolver_fds[2] = { -1, -1 };

typedef struct
{
  FuzzSession f;
  ShDnsRelay *relay;
} Ctx;

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

static void
serve_each (gpointer data)
{
  serve_resolver ();
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

  Ctx ctx;
  ShSessionConfig cfg;
  sh_session_config_init (&cfg, SH_ROLE_SERVER);
  cfg.max_channels = 16;
  cfg.channel_window = 8192;
  fuzz_session_open (&ctx.f, &cfg);
  ctx.relay = sh_dns_relay_new (ctx.f.poll, ctx.f.session);
  ShSessionExtras extras = { .dns_query = on_dns_query };
  sh_session_set_extras (ctx.f.session, &extras, &ctx);

  fuzz_write_all (ctx.f.feed, data, size);

  /* While the client still listens: queries go out, answers come back. */
  for (int idle = 0, i = 0; idle < 3 && i < 10000 && !ctx.f.closed; i++)
    {
      gboolean progress = g_main_context_iteration (NULL, FALSE);
      progress |= serve_resolver ();
      progress |= fuzz_drain (&ctx.f);
      idle = progress ? 0 : idle + 1;
    }
  fuzz_session_finish (&ctx.f, serve_each, NULL);

  /* As server.c: the relay before the session it answers through. */
  g_clear_pointer (&ctx.relay, sh_dns_relay_free);
  fuzz_session_close (&ctx.f);
  serve_resolver (); /* nothing left over for the next input */
  return 0;
}
