/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-dnsclient.c — the client's DNS path (service/dnsclient.c): queries
 * from local applications, and what a hostile server answers to them, through
 * a real client session.
 *
 * Input: the datagrams applications send (each a big-endian u16 length and
 * that many bytes; a zero length ends them), then the byte stream the server
 * sends after its HELLO (DNS_REPLY frames for the queries' ids 1, 2, ...,
 * and anything else). Datagrams go alternately to 127.0.0.1 and [::1].
 *
 * Besides not crashing: every datagram an application gets back carries
 * the id of a query it sent (a pass-through answer or a SERVFAIL), and the
 * pure sh_dns_servfail() never writes more than the query's length into a
 * buffer of exactly that size. Only loopback sockets on a free port are
 * used; nothing leaves the machine. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gio/gio.h>

#include "dnsclient.h"
#include "harness.h"
#include "log.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct
{
  FuzzSession f;
  ShDnsClient *dns;
  int apps[2];
  GHashTable *ids; /* query ids the applications sent */
} Ctx;

static void
on_dns_reply (ShSession *s, guint32 id, const guint8 *msg, gsize len, gpointer data)
{
  sh_dns_client_reply (((Ctx *) data)->dns, id, msg, len);
}

static void
check_servfail (const guint8 *q, gsize len)
{
  g_autofree guint8 *out = g_malloc (len > 0 ? len : 1);
  gsize n = sh_dns_servfail (q, len, out);

  if (n == 0)
    return;
  if (n < 12 || n > len || out[0] != q[0] || out[1] != q[1] || !(out[2] & 0x80)
      || (out[3] & 0x0f) != 2)
    abort ();
  for (int i = 6; i < 12; i++)
    if (out[i] != 0)
      abort ();
}

static ShDnsClient *
new_dns_client (ShPoll *poll, guint16 *port)
{
  ShOpen resolver = { .family = AF_UNSPEC, .port = 53 };

  /* The first free port (UDP on both loopbacks); the same one afterwards. */
  for (int tries = 0; tries < 200; tries++)
    {
      g_autoptr (GError) error = NULL;
      ShDnsClient *dns = sh_dns_client_new (poll, *port, TRUE, &resolver, &error);
      if (dns != NULL)
        return dns;
      *port = (guint16) (20000 + g_random_int_range (0, 40000));
    }
  abort ();
}

static int
app_socket (int family)
{
  int fd = socket (family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    abort ();
  return fd;
}

static void
send_to (int fd, int family, guint16 port, const guint8 *msg, gsize len)
{
  struct sockaddr_storage ss = { 0 };
  socklen_t sl;

  if (family == AF_INET)
    {
      struct sockaddr_in *a = (struct sockaddr_in *) &ss;
      a->sin_family = AF_INET;
      a->sin_port = htons (port);
      a->sin_addr.s_addr = htonl (INADDR_LOOPBACK);
      sl = sizeof *a;
    }
  else
    {
      struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
      a->sin6_family = AF_INET6;
      a->sin6_port = htons (port);
      a->sin6_addr = in6addr_loopback;
      sl = sizeof *a;
    }
  sendto (fd, msg, len, 0, (struct sockaddr *) &ss, sl);
}

/* Drains what the engine answered the applications; every answer must
 * carry the id of a query an application sent. */
static gboolean
read_answers (int fds[2], GHashTable *ids)
{
  guint8 buf[65536];
  gboolean any = FALSE;

  for (int i = 0; i < 2; i++)
    for (;;)
      {
        ssize_t n = recv (fds[i], buf, sizeof buf, 0);
        if (n < 0)
          break;
        any = TRUE;
        if (n < 2 || !g_hash_table_contains (ids, GUINT_TO_POINTER (buf[0] << 8 | buf[1])))
          {
            fprintf (stderr, "fuzz-dnsclient: an answer no query asked for\n");
            abort ();
          }
      }
  return any;
}

static void
read_each (gpointer data)
{
  Ctx *c = data;
  read_answers (c->apps, c->ids);
}

static void
run_until_idle (Ctx *ctx)
{
  for (int idle = 0, i = 0; idle < 3 && i < 10000 && !ctx->f.closed; i++)
    {
      gboolean progress = g_main_context_iteration (NULL, FALSE);
      progress |= fuzz_drain (&ctx->f);
      progress |= read_answers (ctx->apps, ctx->ids);
      idle = progress ? 0 : idle + 1;
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  static guint16 port = 20053;
  static gboolean init;
  if (!init)
    {
      sh_log_init ("fuzz-dnsclient", -1, FALSE);
      init = TRUE;
    }
  if (size > 512 * 1024)
    return 0;

  Ctx ctx;
  ShSessionConfig cfg;
  sh_session_config_init (&cfg, SH_ROLE_CLIENT);
  cfg.keepalive_s = 0;
  fuzz_session_open (&ctx.f, &cfg);
  ctx.dns = new_dns_client (ctx.f.poll, &port);
  ShSessionExtras extras = { .dns_reply = on_dns_reply };
  sh_session_set_extras (ctx.f.session, &extras, &ctx);
  fuzz_client_handshake (&ctx.f, 65536);
  sh_dns_client_start (ctx.dns, ctx.f.session);

  /* The applications' queries. */
  ctx.ids = g_hash_table_new (NULL, NULL);
  ctx.apps[0] = app_socket (AF_INET);
  ctx.apps[1] = app_socket (AF_INET6);
  size_t off = 0;
  for (guint k = 0; off + 2 <= size; k++)
    {
      gsize len = (gsize) data[off] << 8 | data[off + 1];
      off += 2;
      if (len == 0)
        break;
      len = MIN (len, size - off);
      check_servfail (data + off, len);
      if (len >= 2)
        g_hash_table_add (ctx.ids, GUINT_TO_POINTER (data[off] << 8 | data[off + 1]));
      send_to (ctx.apps[k % 2], k % 2 ? AF_INET6 : AF_INET, port, data + off, len);
      off += len;
      if (k % 32 == 31)
        run_until_idle (&ctx);
    }
  run_until_idle (&ctx);

  /* The server's answers (and whatever else it sends). */
  if (off < size)
    fuzz_write_all (ctx.f.feed, data + off, size - off);
  run_until_idle (&ctx);
  fuzz_session_finish (&ctx.f, read_each, &ctx);

  g_clear_pointer (&ctx.dns, sh_dns_client_free);
  fuzz_session_close (&ctx.f);
  close (ctx.apps[0]);
  close (ctx.apps[1]);
  g_hash_table_unref (ctx.ids);
  return 0;
}
