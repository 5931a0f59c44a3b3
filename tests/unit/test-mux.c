/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the mux codec (service/mux.c): every frame round-trips, every
 * malformed header or payload is rejected, partial input waits. */
#include "config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "mux.h"

static ShHello
sample_hello (void)
{
  ShHello h = {
    .version_min = 1,
    .version_max = 1,
    .channel_window = 65536,
    .max_channels = 100,
    .connect_timeout_ms = 5000,
    .inflight_limit = 256 * 1024,
  };
  g_strlcpy (h.name, "test 1.0", sizeof h.name);
  return h;
}

static void
test_hello_roundtrip (void)
{
  guint8 buf[SH_MUX_MAX_FRAME];
  ShHello h = sample_hello ();
  gsize n = sh_frame_put_hello (buf, &h);
  ShFrame f;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpint (f.type, ==, SH_FRAME_HELLO);
  g_assert_cmpuint (f.channel, ==, 0);
  g_assert_cmpuint (f.u.hello.version_min, ==, 1);
  g_assert_cmpuint (f.u.hello.channel_window, ==, 65536);
  g_assert_cmpuint (f.u.hello.max_channels, ==, 100);
  g_assert_cmpuint (f.u.hello.connect_timeout_ms, ==, 5000);
  g_assert_cmpuint (f.u.hello.inflight_limit, ==, 256 * 1024);
  g_assert_cmpstr (f.u.hello.name, ==, "test 1.0");

  /* Every strict prefix is "need more", never an error or a frame. */
  for (gsize i = 0; i < n; i++)
    g_assert_cmpint (sh_frame_decode (buf, i, &f), ==, 0);
}

static void
test_hello_rejects (void)
{
  guint8 buf[SH_MUX_MAX_FRAME];
  ShFrame f;
  ShHello h = sample_hello ();
  h.channel_window = 100;
  gsize n = sh_frame_put_hello (buf, &h);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  h = sample_hello ();
  h.channel_window = SH_MUX_MAX_WINDOW + 1;
  n = sh_frame_put_hello (buf, &h);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  h = sample_hello ();
  h.max_channels = 0;
  n = sh_frame_put_hello (buf, &h);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  h = sample_hello ();
  h.version_min = 3;
  h.version_max = 2;
  n = sh_frame_put_hello (buf, &h);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  h = sample_hello ();
  h.connect_timeout_ms = SH_MUX_MAX_CONNECT_TIMEOUT_MS + 1;
  n = sh_frame_put_hello (buf, &h);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  /* An in-flight limit is 0 (none) or at least the minimum. */
  h = sample_hello ();
  h.inflight_limit = SH_MUX_MIN_INFLIGHT - 1;
  n = sh_frame_put_hello (buf, &h);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  h.inflight_limit = 0;
  n = sh_frame_put_hello (buf, &h);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);

  /* Wrong magic. */
  h = sample_hello ();
  n = sh_frame_put_hello (buf, &h);
  buf[SH_MUX_HDR_LEN + 3] ^= 0x20;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  /* HELLO on a channel. */
  n = sh_frame_put_hello (buf, &h);
  buf[7] = 1;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
}

static void
test_hello_name_sanitized (void)
{
  guint8 buf[SH_MUX_MAX_FRAME];
  ShHello h = sample_hello ();
  g_strlcpy (h.name, "evil\033[2Jname\n", sizeof h.name);
  gsize n = sh_frame_put_hello (buf, &h);
  ShFrame f;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpstr (f.u.hello.name, ==, "evil?[2Jname?");
}

static void
test_open_roundtrip (void)
{
  guint8 buf[SH_MUX_MAX_FRAME];
  ShFrame f;
  ShOpen o4 = { .family = AF_INET, .port = 443, .addr = { 10, 1, 2, 3 } };
  gsize n = sh_frame_put_open (buf, 7, &o4);
  g_assert_cmpuint (n, ==, SH_MUX_HDR_LEN + 8);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpint (f.type, ==, SH_FRAME_OPEN);
  g_assert_cmpuint (f.channel, ==, 7);
  g_assert_cmpint (f.u.open.family, ==, AF_INET);
  g_assert_cmpuint (f.u.open.port, ==, 443);
  g_assert_cmpmem (f.u.open.addr, 4, o4.addr, 4);

  ShOpen o6 = { .family = AF_INET6, .port = 22, .addr = { 0xfd, [15] = 9 } };
  n = sh_frame_put_open (buf, 0xffffffffu, &o6);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpint (f.u.open.family, ==, AF_INET6);
  g_assert_cmpuint (f.channel, ==, 0xffffffffu);
  g_assert_cmpmem (f.u.open.addr, 16, o6.addr, 16);

  /* Family byte that does not match the length. */
  n = sh_frame_put_open (buf, 7, &o4);
  buf[SH_MUX_HDR_LEN] = 6;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  /* Port 0. */
  o4.port = 0;
  n = sh_frame_put_open (buf, 7, &o4);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  /* Channel 0. */
  o4.port = 80;
  n = sh_frame_put_open (buf, 0, &o4);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
}

static void
test_open_result (void)
{
  guint8 buf[SH_MUX_MAX_FRAME];
  ShFrame f;
  gsize n = sh_frame_put_open_result (buf, 3, SH_OPEN_REFUSED, ECONNREFUSED, "Connection refused");
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpuint (f.u.result.status, ==, SH_OPEN_REFUSED);
  g_assert_cmpuint (f.u.result.err, ==, ECONNREFUSED);
  g_assert_cmpmem (f.u.result.reason, f.u.result.reason_len, "Connection refused", 18);

  /* A reason longer than the limit is cut, not overflowed. */
  g_autofree char *longr = g_strnfill (1000, 'x');
  n = sh_frame_put_open_result (buf, 3, SH_OPEN_FAILED, 5, longr);
  g_assert_cmpuint (n, ==, SH_MUX_HDR_LEN + 4 + SH_MUX_MAX_REASON);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);

  /* Unknown status. */
  n = sh_frame_put_open_result (buf, 3, SH_OPEN_OK, 0, NULL);
  buf[SH_MUX_HDR_LEN] = 42;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  g_assert_cmpint (sh_open_status_from_errno (ECONNREFUSED), ==, SH_OPEN_REFUSED);
  g_assert_cmpint (sh_open_status_from_errno (ENETUNREACH), ==, SH_OPEN_NET_UNREACHABLE);
  g_assert_cmpint (sh_open_status_from_errno (EHOSTUNREACH), ==, SH_OPEN_HOST_UNREACHABLE);
  g_assert_cmpint (sh_open_status_from_errno (ETIMEDOUT), ==, SH_OPEN_TIMED_OUT);
  g_assert_cmpint (sh_open_status_from_errno (EMFILE), ==, SH_OPEN_NO_RESOURCES);
  g_assert_cmpint (sh_open_status_from_errno (EPERM), ==, SH_OPEN_FAILED);
}

static void
test_data_limits (void)
{
  g_autofree guint8 *buf = g_malloc (SH_MUX_MAX_FRAME + 16);
  ShFrame f;

  sh_frame_put_header (buf, SH_FRAME_DATA, 5, SH_MUX_MAX_DATA);
  memset (buf + SH_MUX_HDR_LEN, 0xab, SH_MUX_MAX_DATA);
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN + SH_MUX_MAX_DATA, &f), ==,
                   SH_MUX_HDR_LEN + SH_MUX_MAX_DATA);
  g_assert_cmpuint (f.len, ==, SH_MUX_MAX_DATA);
  g_assert_true (f.payload == buf + SH_MUX_HDR_LEN);

  /* One byte over the limit is rejected from the header alone: the decoder
   * must not wait for a payload it will never accept. */
  sh_frame_put_header (buf, SH_FRAME_DATA, 5, SH_MUX_MAX_DATA + 1);
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN, &f), ==, -EBADMSG);
  /* Empty DATA is not allowed either. */
  sh_frame_put_header (buf, SH_FRAME_DATA, 5, 0);
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN, &f), ==, -EBADMSG);
}

static void
test_small_frames (void)
{
  guint8 buf[64];
  ShFrame f;
  gsize n;

  n = sh_frame_put_u32 (buf, SH_FRAME_WINDOW, 9, 4096);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpuint (f.u.window, ==, 4096);
  n = sh_frame_put_u32 (buf, SH_FRAME_WINDOW, 9, 0);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  n = sh_frame_put_u32 (buf, SH_FRAME_WINDOW, 9, SH_MUX_MAX_WINDOW + 1);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  n = sh_frame_put_u32 (buf, SH_FRAME_ACK, 0, 123456);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpuint (f.u.ack, ==, 123456);
  n = sh_frame_put_u32 (buf, SH_FRAME_ACK, 4, 1);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  n = sh_frame_put_u64 (buf, SH_FRAME_PING, G_GUINT64_CONSTANT (0x0102030405060708));
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpuint (f.u.token, ==, G_GUINT64_CONSTANT (0x0102030405060708));

  n = sh_frame_put_close (buf, 2, TRUE);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpuint (f.u.close_reason, ==, 1);
  buf[SH_MUX_HDR_LEN] = 2;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  n = sh_frame_put_header (buf, SH_FRAME_EOF, 2, 0);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpint (f.type, ==, SH_FRAME_EOF);

  n = sh_frame_put_error (buf, SH_ERR_FLOW, "too much");
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpuint (f.u.error.code, ==, SH_ERR_FLOW);
  g_assert_cmpmem (f.u.error.msg, f.u.error.msg_len, "too much", 8);
}

static void
test_bad_headers (void)
{
  guint8 buf[64] = { 0 };
  ShFrame f;

  /* Unknown types, including 0 and the high end. */
  for (guint t = 0; t < 256; t++)
    {
      if (t >= SH_FRAME_HELLO && t <= SH_FRAME_DGRAM_CLOSE)
        continue;
      sh_frame_put_header (buf, t, 1, 0);
      g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN, &f), ==, -EBADMSG);
    }
  /* Flags must be zero. */
  sh_frame_put_header (buf, SH_FRAME_EOF, 1, 0);
  buf[1] = 0x80;
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN, &f), ==, -EBADMSG);
  /* Channel frames need a channel; session frames must not have one. */
  sh_frame_put_header (buf, SH_FRAME_EOF, 0, 0);
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN, &f), ==, -EBADMSG);
  sh_frame_put_header (buf, SH_FRAME_PING, 3, 8);
  g_assert_cmpint (sh_frame_decode (buf, sizeof buf, &f), ==, -EBADMSG);
  /* A length the type does not allow. */
  sh_frame_put_header (buf, SH_FRAME_PING, 0, 7);
  g_assert_cmpint (sh_frame_decode (buf, sizeof buf, &f), ==, -EBADMSG);
  sh_frame_put_header (buf, SH_FRAME_ERROR, 0, 2 + SH_MUX_MAX_ERROR_MSG + 1);
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN, &f), ==, -EBADMSG);
}

/* Names and routes (--dns, -N, -H). */
static void
test_names_and_routes (void)
{
  guint8 buf[SH_MUX_MAX_FRAME];
  ShFrame f;
  const guint8 q[12] = { 0x12, 0x34, 1, 0, 0, 1 };

  /* DNS_QUERY to the server's resolver (family 0: no address) and to one given. */
  ShOpen own = { .family = AF_UNSPEC, .port = 53 };
  gsize n = sh_frame_put_dns_query (buf, 7, &own, q, sizeof q);
  g_assert_cmpuint (n, ==, SH_MUX_HDR_LEN + 4 + 12);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpuint (f.channel, ==, 7);
  g_assert_cmpint (f.u.dns.resolver.family, ==, AF_UNSPEC);
  g_assert_cmpuint (f.u.dns.resolver.port, ==, 53);
  g_assert_cmpmem (f.u.dns.msg, f.u.dns.msg_len, q, sizeof q);
  ShOpen v6 = { .family = AF_INET6, .port = 5353, .addr = { 0xfd, 0x31, [15] = 1 } };
  n = sh_frame_put_dns_query (buf, 8, &v6, q, sizeof q);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpint (f.u.dns.resolver.family, ==, AF_INET6);
  g_assert_cmpmem (f.u.dns.resolver.addr, 16, v6.addr, 16);
  /* A query shorter than a DNS header, and one on channel 0. */
  buf[3] = 4 + 16 + 11;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  n = sh_frame_put_dns_query (buf, 8, &v6, q, sizeof q);
  buf[7] = 0;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);

  /* An empty DNS_REPLY means "no answer". */
  n = sh_frame_put_dns_reply (buf, 9, NULL, 0);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpuint (f.len, ==, 0);

  /* ROUTES: entries of both families; a prefix too long or a cut entry is bad. */
  ShRoute r[2] = { { AF_INET, 24, { 10, 231, 2 } }, { AF_INET6, 64, { 0xfd, 0x31, 0, 2 } } };
  guint written;
  n = sh_frame_put_routes (buf, r, 2, &written);
  g_assert_cmpuint (written, ==, 2);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  gsize off = 0;
  ShRoute got;
  g_assert_true (sh_frame_next_route (&f, &off, &got));
  g_assert_cmpint (got.family, ==, AF_INET);
  g_assert_cmpuint (got.prefix, ==, 24);
  g_assert_cmpmem (got.addr, 4, r[0].addr, 4);
  g_assert_true (sh_frame_next_route (&f, &off, &got));
  g_assert_cmpint (got.family, ==, AF_INET6);
  g_assert_cmpuint (got.prefix, ==, 64);
  g_assert_false (sh_frame_next_route (&f, &off, &got));
  buf[SH_MUX_HDR_LEN + 1] = 33;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  n = sh_frame_put_routes (buf, r, 2, NULL);
  buf[3] -= 1;
  g_assert_cmpint (sh_frame_decode (buf, n - 1, &f), ==, -EBADMSG);
  /* More routes than one frame holds: as many as fit. */
  ShRoute many[2000];
  for (guint i = 0; i < G_N_ELEMENTS (many); i++)
    many[i] = r[1];
  n = sh_frame_put_routes (buf, many, G_N_ELEMENTS (many), &written);
  g_assert_cmpuint (written, ==, SH_MUX_MAX_DATA / 18);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);

  /* HOST: the name is carried as is (the client checks it). */
  ShHost h = { .family = AF_INET, .addr = { 10, 231, 2, 11 }, .name = "db.corp", .name_len = 7 };
  n = sh_frame_put_host (buf, &h);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpmem (f.u.host.name, f.u.host.name_len, "db.corp", 7);
  g_assert_cmpmem (f.u.host.addr, 4, h.addr, 4);
  buf[SH_MUX_HDR_LEN] = 5;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  sh_frame_put_header (buf, SH_FRAME_HOST, 0, 6); /* no name */
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN, &f), ==, -EBADMSG);

  /* OPEN of the server's resolver. */
  n = sh_frame_put_open (buf, 3, &own);
  g_assert_cmpuint (n, ==, SH_MUX_HDR_LEN + 4);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpint (f.u.open.family, ==, AF_UNSPEC);
  g_assert_cmpuint (f.u.open.port, ==, 53);
}

static void
test_find_hello (void)
{
  guint8 buf[512];
  ShHello h = sample_hello ();
  const char *junk = "Welcome to gw!\nLast login: yesterday\n";
  gsize jl = strlen (junk);
  memcpy (buf, junk, jl);
  gsize n = sh_frame_put_hello (buf + jl, &h);

  g_assert_cmpint (sh_frame_find_hello (buf, jl + n), ==, jl);
  g_assert_cmpint (sh_frame_find_hello (buf, jl), ==, -1);
  /* A partial HELLO (header + part of the magic) is not found yet. */
  g_assert_cmpint (sh_frame_find_hello (buf, jl + SH_MUX_HDR_LEN + 4), ==, -1);
  g_assert_cmpint (sh_frame_find_hello (buf + jl, n), ==, 0);
}

static void
test_dgram (void)
{
  g_autofree guint8 *buf = g_malloc (SH_MUX_HDR_LEN + SH_MUX_MAX_DGRAM);
  g_autofree guint8 *data = g_malloc (SH_MUX_MAX_DGRAM_DATA + 1);
  memset (data, 0x5a, SH_MUX_MAX_DGRAM_DATA + 1);
  ShFrame f;

  /* UDP over IPv4, empty: the smallest DGRAM (8 bytes of payload). */
  ShDgram d = { .family = AF_INET, .kind = SH_DGRAM_UDP, .port = 53, .addr = { 10, 1, 2, 3 } };
  gsize n = sh_frame_put_dgram (buf, 7, &d);
  g_assert_cmpuint (n, ==, SH_MUX_HDR_LEN + 8);
  g_assert_cmpint (sh_frame_decode (buf, n - 1, &f), ==, 0);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpint (f.type, ==, SH_FRAME_DGRAM);
  g_assert_cmpuint (f.channel, ==, 7);
  g_assert_cmpint (f.u.dgram.family, ==, AF_INET);
  g_assert_cmpuint (f.u.dgram.kind, ==, SH_DGRAM_UDP);
  g_assert_cmpuint (f.u.dgram.port, ==, 53);
  g_assert_cmpmem (f.u.dgram.addr, 4, d.addr, 4);
  g_assert_cmpuint (f.u.dgram.data_len, ==, 0);

  /* Echo over IPv6 with the largest payload: sequence 0 is allowed. */
  ShDgram e = { .family = AF_INET6,
                .kind = SH_DGRAM_ECHO,
                .port = 0,
                .data = data,
                .data_len = SH_MUX_MAX_DGRAM_DATA };
  e.addr[15] = 1;
  n = sh_frame_put_dgram (buf, 0xffffffffu, &e);
  g_assert_cmpuint (n, ==, SH_MUX_HDR_LEN + SH_MUX_MAX_DGRAM);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
  g_assert_cmpint (f.u.dgram.family, ==, AF_INET6);
  g_assert_cmpuint (f.u.dgram.kind, ==, SH_DGRAM_ECHO);
  g_assert_cmpuint (f.u.dgram.port, ==, 0);
  g_assert_cmpmem (f.u.dgram.addr, 16, e.addr, 16);
  g_assert_cmpmem (f.u.dgram.data, f.u.dgram.data_len, data, SH_MUX_MAX_DGRAM_DATA);

  /* One byte more is not encoded. */
  e.data_len = SH_MUX_MAX_DGRAM_DATA + 1;
  g_assert_cmpuint (sh_frame_put_dgram (buf, 1, &e), ==, 0);
}

static void
test_dgram_rejects (void)
{
  g_autofree guint8 *buf = g_malloc (SH_MUX_HDR_LEN + 65535);
  ShFrame f;
  ShDgram d = { .family = AF_INET, .kind = SH_DGRAM_UDP, .port = 9, .addr = { 127, 0, 0, 1 } };
  gsize n = sh_frame_put_dgram (buf, 3, &d);

  /* Channel 0. */
  sh_frame_put_header (buf, SH_FRAME_DGRAM, 0, 8);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  /* Shorter than the fixed part and an IPv4 address; judged from the header. */
  sh_frame_put_header (buf, SH_FRAME_DGRAM, 3, 7);
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN, &f), ==, -EBADMSG);
  /* Longer than the largest (IPv6 with 65 507 bytes). */
  sh_frame_put_header (buf, SH_FRAME_DGRAM, 3, SH_MUX_MAX_DGRAM + 1);
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN, &f), ==, -EBADMSG);
  /* An IPv4 datagram with 65 508 bytes of data. */
  memset (buf + SH_MUX_HDR_LEN + 8, 0, SH_MUX_MAX_DGRAM_DATA + 1);
  sh_frame_put_header (buf, SH_FRAME_DGRAM, 3, 8 + SH_MUX_MAX_DGRAM_DATA + 1);
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN + 8 + SH_MUX_MAX_DGRAM_DATA + 1, &f), ==,
                   -EBADMSG);
  sh_frame_put_header (buf, SH_FRAME_DGRAM, 3, 8 + SH_MUX_MAX_DGRAM_DATA);
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN + 8 + SH_MUX_MAX_DGRAM_DATA, &f), >, 0);

  /* Bad family, bad kind; IPv6 cut short. */
  n = sh_frame_put_dgram (buf, 3, &d);
  buf[SH_MUX_HDR_LEN] = 5;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  buf[SH_MUX_HDR_LEN] = 0;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  buf[SH_MUX_HDR_LEN] = 4;
  buf[SH_MUX_HDR_LEN + 1] = 6; /* TCP */
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  buf[SH_MUX_HDR_LEN + 1] = 58; /* ICMPv6 is kind 1 with family 6 */
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  buf[SH_MUX_HDR_LEN + 1] = SH_DGRAM_UDP;
  buf[SH_MUX_HDR_LEN] = 6; /* 8 bytes: no room for an IPv6 address */
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
  /* Flags. */
  n = sh_frame_put_dgram (buf, 3, &d);
  buf[1] = 1;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG);
}

static void
test_dgram_close (void)
{
  guint8 buf[SH_MUX_HDR_LEN + 8];
  ShFrame f;
  for (int r = SH_DGRAM_CLOSE_DONE; r <= SH_DGRAM_CLOSE_FAILED; r++)
    {
      gsize n = sh_frame_put_dgram_close (buf, 42, r, EACCES);
      g_assert_cmpuint (n, ==, SH_MUX_HDR_LEN + 4);
      g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, n);
      g_assert_cmpint (f.type, ==, SH_FRAME_DGRAM_CLOSE);
      g_assert_cmpuint (f.channel, ==, 42);
      g_assert_cmpuint (f.u.dgram_close.reason, ==, r);
      g_assert_cmpuint (f.u.dgram_close.err, ==, EACCES);
    }
  gsize n = sh_frame_put_dgram_close (buf, 42, 4, 0);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG); /* unknown reason */
  n = sh_frame_put_dgram_close (buf, 42, 0, 0);
  buf[SH_MUX_HDR_LEN + 1] = 1;
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG); /* the 0 byte */
  n = sh_frame_put_dgram_close (buf, 0, 0, 0);
  g_assert_cmpint (sh_frame_decode (buf, n, &f), ==, -EBADMSG); /* association 0 */
  sh_frame_put_header (buf, SH_FRAME_DGRAM_CLOSE, 1, 5);
  g_assert_cmpint (sh_frame_decode (buf, SH_MUX_HDR_LEN, &f), ==, -EBADMSG);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/mux/hello/roundtrip", test_hello_roundtrip);
  g_test_add_func ("/mux/hello/rejects", test_hello_rejects);
  g_test_add_func ("/mux/hello/name-sanitized", test_hello_name_sanitized);
  g_test_add_func ("/mux/open", test_open_roundtrip);
  g_test_add_func ("/mux/open-result", test_open_result);
  g_test_add_func ("/mux/data-limits", test_data_limits);
  g_test_add_func ("/mux/small-frames", test_small_frames);
  g_test_add_func ("/mux/bad-headers", test_bad_headers);
  g_test_add_func ("/mux/find-hello", test_find_hello);
  g_test_add_func ("/mux/names-and-routes", test_names_and_routes);
  g_test_add_func ("/mux/dgram", test_dgram);
  g_test_add_func ("/mux/dgram-rejects", test_dgram_rejects);
  g_test_add_func ("/mux/dgram-close", test_dgram_close);
  return g_test_run ();
}
