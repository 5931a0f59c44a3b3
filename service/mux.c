/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "mux.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>

static inline guint16
get16 (const guint8 *p)
{
  return (guint16) ((p[0] << 8) | p[1]);
}

static inline guint32
get32 (const guint8 *p)
{
  return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static inline void
put16 (guint8 *p, guint16 v)
{
  p[0] = v >> 8;
  p[1] = v & 0xff;
}

static inline void
put32 (guint8 *p, guint32 v)
{
  p[0] = v >> 24;
  p[1] = (v >> 16) & 0xff;
  p[2] = (v >> 8) & 0xff;
  p[3] = v & 0xff;
}

/* Fixed payload layout of HELLO before the free-text name. */
#define HELLO_FIXED (SH_MUX_MAGIC_LEN + 2 + 2 + 4 + 4 + 4 + 4)

/* Per-type decoders: called with a payload whose length the table below
 * already allowed; each checks the fields and fills its part of @f->u. */

static gboolean
decode_hello (const guint8 *p, guint16 len, ShFrame *f)
{
  ShHello *h = &f->u.hello;
  if (len < HELLO_FIXED || len > HELLO_FIXED + SH_MUX_MAX_NAME)
    return FALSE; /* also bounds the writes to h->name below */
  if (memcmp (p, SH_MUX_MAGIC, SH_MUX_MAGIC_LEN) != 0)
    return FALSE;
  p += SH_MUX_MAGIC_LEN;
  h->version_min = get16 (p);
  h->version_max = get16 (p + 2);
  h->channel_window = get32 (p + 4);
  h->max_channels = get32 (p + 8);
  h->connect_timeout_ms = get32 (p + 12);
  h->inflight_limit = get32 (p + 16);
  if (h->version_min == 0 || h->version_min > h->version_max)
    return FALSE;
  if (h->channel_window < SH_MUX_MIN_WINDOW || h->channel_window > SH_MUX_MAX_WINDOW)
    return FALSE;
  if (h->max_channels == 0 || h->max_channels > SH_MUX_MAX_CHANNELS)
    return FALSE;
  if (h->connect_timeout_ms > SH_MUX_MAX_CONNECT_TIMEOUT_MS)
    return FALSE;
  if (h->inflight_limit != 0 && h->inflight_limit < SH_MUX_MIN_INFLIGHT)
    return FALSE;
  /* The name only ever reaches a log line: keep it printable. */
  gsize n = len - HELLO_FIXED;
  for (gsize i = 0; i < n; i++)
    {
      guint8 c = p[20 + i];
      h->name[i] = (c >= 0x20 && c < 0x7f) ? (char) c : '?';
    }
  h->name[n] = '\0';
  return TRUE;
}

/* "u8 family, u8 0, u16 port, address" at the start of OPEN and DNS_QUERY.
 * Returns its length, or -1. Family 0 (the server's resolver) has no
 * address. */
static gssize
decode_address (const guint8 *p, gsize len, ShOpen *o)
{
  if (len < 4 || p[1] != 0)
    return -1;
  gsize alen = p[0] == 4 ? 4 : p[0] == 6 ? 16 : p[0] == 0 ? 0 : G_MAXSIZE;
  if (alen == G_MAXSIZE || len < 4 + alen)
    return -1;
  o->family = alen == 4 ? AF_INET : alen == 16 ? AF_INET6 : AF_UNSPEC;
  o->port = get16 (p + 2);
  if (o->port == 0)
    return -1;
  memcpy (o->addr, p + 4, alen);
  return 4 + alen;
}

static gboolean
decode_open (const guint8 *p, guint16 len, ShFrame *f)
{
  return decode_address (p, len, &f->u.open) == len;
}

static gboolean
decode_open_result (const guint8 *p, guint16 len, ShFrame *f)
{
  if (p[0] > SH_OPEN_NO_RESOURCES || p[1] != 0)
    return FALSE;
  f->u.result.status = p[0];
  f->u.result.err = get16 (p + 2);
  f->u.result.reason = (const char *) p + 4;
  f->u.result.reason_len = len - 4;
  return TRUE;
}

static gboolean
decode_window (const guint8 *p, guint16 len, ShFrame *f)
{
  f->u.window = get32 (p);
  return f->u.window != 0 && f->u.window <= SH_MUX_MAX_WINDOW;
}

static gboolean
decode_close (const guint8 *p, guint16 len, ShFrame *f)
{
  f->u.close_reason = p[0];
  return p[0] <= 1;
}

static gboolean
decode_token (const guint8 *p, guint16 len, ShFrame *f)
{
  f->u.token = ((guint64) get32 (p) << 32) | get32 (p + 4);
  return TRUE;
}

static gboolean
decode_ack (const guint8 *p, guint16 len, ShFrame *f)
{
  f->u.ack = get32 (p);
  return TRUE;
}

static gboolean
decode_error (const guint8 *p, guint16 len, ShFrame *f)
{
  f->u.error.code = get16 (p);
  f->u.error.msg = (const char *) p + 2;
  f->u.error.msg_len = len - 2;
  return TRUE;
}

static gboolean
decode_dns_query (const guint8 *p, guint16 len, ShFrame *f)
{
  gssize n = decode_address (p, len, &f->u.dns.resolver);
  if (n < 0 || len - n < SH_MUX_DNS_MIN || len - n > SH_MUX_DNS_MAX_QUERY)
    return FALSE;
  f->u.dns.msg = p + n;
  f->u.dns.msg_len = len - n;
  return TRUE;
}

/* Only checks the entries: sh_frame_next_route() reads them. */
static gboolean
decode_routes (const guint8 *p, guint16 len, ShFrame *f)
{
  for (gsize off = 0; off < len;)
    {
      gsize alen = p[off] == 4 ? 4 : p[off] == 6 ? 16 : 0;
      if (alen == 0 || off + 2 + alen > len || p[off + 1] > alen * 8)
        return FALSE;
      off += 2 + alen;
    }
  return TRUE;
}

static gboolean
decode_host (const guint8 *p, guint16 len, ShFrame *f)
{
  gsize alen = p[0] == 4 ? 4 : p[0] == 6 ? 16 : 0;
  if (alen == 0 || p[1] != 0 || len < 2 + alen + 1 || len > 2 + alen + SH_MUX_MAX_HOSTNAME)
    return FALSE;
  f->u.host.family = alen == 4 ? AF_INET : AF_INET6;
  memcpy (f->u.host.addr, p + 2, alen);
  f->u.host.name = (const char *) p + 2 + alen;
  f->u.host.name_len = len - 2 - alen;
  return TRUE;
}

static gboolean
decode_dgram (const guint8 *p, guint16 len, ShFrame *f)
{
  ShDgram *d = &f->u.dgram;
  gsize alen = p[0] == 4 ? 4 : p[0] == 6 ? 16 : 0;
  if (alen == 0 || (p[1] != SH_DGRAM_UDP && p[1] != SH_DGRAM_ECHO))
    return FALSE;
  if (len < SH_MUX_DGRAM_FIXED + alen || len - SH_MUX_DGRAM_FIXED - alen > SH_MUX_MAX_DGRAM_DATA)
    return FALSE;
  d->family = alen == 4 ? AF_INET : AF_INET6;
  d->kind = p[1];
  d->port = get16 (p + 2);
  memcpy (d->addr, p + SH_MUX_DGRAM_FIXED, alen);
  d->data = p + SH_MUX_DGRAM_FIXED + alen;
  d->data_len = len - SH_MUX_DGRAM_FIXED - alen;
  return TRUE;
}

static gboolean
decode_dgram_close (const guint8 *p, guint16 len, ShFrame *f)
{
  f->u.dgram_close.reason = p[0];
  f->u.dgram_close.err = get16 (p + 2);
  return p[0] <= SH_DGRAM_CLOSE_FAILED && p[1] == 0;
}

static gboolean
decode_lanes (const guint8 *p, guint16 len, ShFrame *f)
{
  if ((p[0] != 4 && p[0] != 6) || p[1] == 0 || p[1] >= SH_MUX_MAX_LANES)
    return FALSE;
  f->u.lanes.family = p[0] == 4 ? AF_INET : AF_INET6;
  f->u.lanes.count = p[1];
  f->u.lanes.port = get16 (p + 2);
  memcpy (f->u.lanes.token, p + 4, SH_MUX_LANE_TOKEN_LEN);
  return f->u.lanes.port != 0;
}

static gboolean
decode_bond (const guint8 *p, guint16 len, ShFrame *f)
{
  f->u.bond_mask = get32 (p);
  return (f->u.bond_mask & 1) && f->u.bond_mask < (1u << SH_MUX_MAX_LANES);
}

/* The frame table of docs/protocol.md: what a header may say, judged before
 * the payload is in, and the decoder of the payload (NULL: bytes as they
 * are). A type without a name is unknown. */
typedef struct
{
  const char *name;
  guint16 min, max; /* payload length */
  gboolean channel; /* a channel (or query id) ≠ 0; else 0 */
  gboolean (*decode) (const guint8 *p, guint16 len, ShFrame *f);
} FrameRule;

static const FrameRule frame_rules[] = {
  [SH_FRAME_HELLO] = { "HELLO", HELLO_FIXED, HELLO_FIXED + SH_MUX_MAX_NAME, FALSE, decode_hello },
  [SH_FRAME_OPEN] = { "OPEN", 4, 4 + 16, TRUE, decode_open },
  [SH_FRAME_OPEN_RESULT] = { "OPEN_RESULT", 4, 4 + SH_MUX_MAX_REASON, TRUE, decode_open_result },
  [SH_FRAME_DATA] = { "DATA", 1, SH_MUX_MAX_DATA, TRUE, NULL },
  [SH_FRAME_WINDOW] = { "WINDOW", 4, 4, TRUE, decode_window },
  [SH_FRAME_EOF] = { "EOF", 0, 0, TRUE, NULL },
  [SH_FRAME_CLOSE] = { "CLOSE", 1, 1, TRUE, decode_close },
  [SH_FRAME_PING] = { "PING", 8, 8, FALSE, decode_token },
  [SH_FRAME_PONG] = { "PONG", 8, 8, FALSE, decode_token },
  [SH_FRAME_ACK] = { "ACK", 4, 4, FALSE, decode_ack },
  [SH_FRAME_ERROR] = { "ERROR", 2, 2 + SH_MUX_MAX_ERROR_MSG, FALSE, decode_error },
  [SH_FRAME_DNS_QUERY]
  = { "DNS_QUERY", 4 + SH_MUX_DNS_MIN, 4 + 16 + SH_MUX_DNS_MAX_QUERY, TRUE, decode_dns_query },
  [SH_FRAME_DNS_REPLY] = { "DNS_REPLY", 0, SH_MUX_MAX_DATA, TRUE, NULL },
  [SH_FRAME_ROUTES_GET] = { "ROUTES_GET", 0, 0, FALSE, NULL },
  [SH_FRAME_ROUTES] = { "ROUTES", 0, SH_MUX_MAX_DATA, FALSE, decode_routes },
  [SH_FRAME_HOSTS_WATCH] = { "HOSTS_WATCH", 0, SH_MUX_MAX_SEEDS, FALSE, NULL },
  [SH_FRAME_HOST] = { "HOST", 2 + 4 + 1, 2 + 16 + SH_MUX_MAX_HOSTNAME, FALSE, decode_host },
  /* Version 2: session.c refuses both in a version-1 session. */
  [SH_FRAME_DGRAM] = { "DGRAM", SH_MUX_DGRAM_FIXED + 4, SH_MUX_MAX_DGRAM, TRUE, decode_dgram },
  [SH_FRAME_DGRAM_CLOSE] = { "DGRAM_CLOSE", 4, 4, TRUE, decode_dgram_close },
  /* Version 3: session.c refuses both in an older session. */
  [SH_FRAME_LANES]
  = { "LANES", 4 + SH_MUX_LANE_TOKEN_LEN, 4 + SH_MUX_LANE_TOKEN_LEN, FALSE, decode_lanes },
  [SH_FRAME_BOND] = { "BOND", 4, 4, FALSE, decode_bond },
};

gssize
sh_frame_decode (const guint8 *buf, gsize len, ShFrame *out)
{
  if (len < SH_MUX_HDR_LEN)
    return 0;

  guint8 type = buf[0];
  guint16 plen = get16 (buf + 2);
  guint32 channel = get32 (buf + 4);
  const FrameRule *rule = type < G_N_ELEMENTS (frame_rules) ? &frame_rules[type] : NULL;

  /* Check the header before waiting for the payload, so a bad length is
   * reported at once instead of after the peer sent (or withheld) it. */
  if (buf[1] != 0 || rule == NULL || rule->name == NULL)
    return -EBADMSG;
  if (plen < rule->min || plen > rule->max || rule->channel != (channel != 0))
    return -EBADMSG;
  if (len < (gsize) SH_MUX_HDR_LEN + plen)
    return 0;

  const guint8 *p = buf + SH_MUX_HDR_LEN;
  memset (out, 0, sizeof *out);
  out->type = type;
  out->channel = channel;
  out->len = plen;
  out->payload = p;
  if (rule->decode && !rule->decode (p, plen, out))
    return -EBADMSG;
  return SH_MUX_HDR_LEN + plen;
}

gssize
sh_frame_find_hello (const guint8 *buf, gsize len)
{
  /* HELLO's header: type 1, flags 0, length, channel 0; then the magic. */
  for (gsize i = 0; i + SH_MUX_HDR_LEN + SH_MUX_MAGIC_LEN <= len; i++)
    {
      const guint8 *p = buf + i;
      if (p[0] == SH_FRAME_HELLO && p[1] == 0 && get32 (p + 4) == 0
          && memcmp (p + SH_MUX_HDR_LEN, SH_MUX_MAGIC, SH_MUX_MAGIC_LEN) == 0)
        return i;
    }
  return -1;
}

gssize
sh_frame_find_load_request (const guint8 *buf, gsize len)
{
  if (len < SH_MUX_MAGIC_LEN)
    return -1; /* also: memmem() must not see a NULL @buf, even with @len 0 */
  const guint8 *p = memmem (buf, len, SH_MUX_LOAD_REQUEST, SH_MUX_MAGIC_LEN);
  return p ? p - buf : -1;
}

gsize
sh_frame_put_header (guint8 *out, ShFrameType type, guint32 channel, guint16 len)
{
  out[0] = type;
  out[1] = 0;
  put16 (out + 2, len);
  put32 (out + 4, channel);
  return SH_MUX_HDR_LEN;
}

gsize
sh_frame_put_hello (guint8 *out, const ShHello *hello)
{
  gsize nlen = strnlen (hello->name, SH_MUX_MAX_NAME);
  guint16 plen = HELLO_FIXED + nlen;
  guint8 *p = out + sh_frame_put_header (out, SH_FRAME_HELLO, 0, plen);
  memcpy (p, SH_MUX_MAGIC, SH_MUX_MAGIC_LEN);
  p += SH_MUX_MAGIC_LEN;
  put16 (p, hello->version_min);
  put16 (p + 2, hello->version_max);
  put32 (p + 4, hello->channel_window);
  put32 (p + 8, hello->max_channels);
  put32 (p + 12, hello->connect_timeout_ms);
  put32 (p + 16, hello->inflight_limit);
  memcpy (p + 20, hello->name, nlen);
  return SH_MUX_HDR_LEN + plen;
}

static gsize
put_address (guint8 *p, const ShOpen *o)
{
  gsize alen = o->family == AF_INET6 ? 16 : o->family == AF_INET ? 4 : 0;
  p[0] = alen == 16 ? 6 : alen == 4 ? 4 : 0;
  p[1] = 0;
  put16 (p + 2, o->port);
  memcpy (p + 4, o->addr, alen);
  return 4 + alen;
}

gsize
sh_frame_put_open (guint8 *out, guint32 channel, const ShOpen *open)
{
  gsize n = put_address (out + SH_MUX_HDR_LEN, open);
  sh_frame_put_header (out, SH_FRAME_OPEN, channel, n);
  return SH_MUX_HDR_LEN + n;
}

gsize
sh_frame_put_dns_query (guint8 *out, guint32 id, const ShOpen *resolver, const guint8 *msg,
                        gsize len)
{
  g_return_val_if_fail (len >= SH_MUX_DNS_MIN && len <= SH_MUX_DNS_MAX_QUERY, 0);
  gsize n = put_address (out + SH_MUX_HDR_LEN, resolver);
  memcpy (out + SH_MUX_HDR_LEN + n, msg, len);
  sh_frame_put_header (out, SH_FRAME_DNS_QUERY, id, n + len);
  return SH_MUX_HDR_LEN + n + len;
}

gsize
sh_frame_put_dns_reply (guint8 *out, guint32 id, const guint8 *msg, gsize len)
{
  g_return_val_if_fail (len <= SH_MUX_MAX_DATA, 0);
  if (len)
    memcpy (out + SH_MUX_HDR_LEN, msg, len);
  sh_frame_put_header (out, SH_FRAME_DNS_REPLY, id, len);
  return SH_MUX_HDR_LEN + len;
}

gsize
sh_frame_put_routes (guint8 *out, const ShRoute *routes, guint n, guint *n_written)
{
  guint8 *p = out + SH_MUX_HDR_LEN;
  gsize len = 0;
  guint i;
  for (i = 0; i < n; i++)
    {
      gsize alen = routes[i].family == AF_INET6 ? 16 : 4;
      if (len + 2 + alen > SH_MUX_MAX_DATA)
        break;
      p[len] = alen == 16 ? 6 : 4;
      p[len + 1] = MIN (routes[i].prefix, alen * 8);
      memcpy (p + len + 2, routes[i].addr, alen);
      len += 2 + alen;
    }
  if (n_written)
    *n_written = i;
  sh_frame_put_header (out, SH_FRAME_ROUTES, 0, len);
  return SH_MUX_HDR_LEN + len;
}

gsize
sh_frame_put_dgram (guint8 *out, guint32 assoc, const ShDgram *d)
{
  if (d->data_len > SH_MUX_MAX_DGRAM_DATA)
    return 0;
  gsize alen = d->family == AF_INET6 ? 16 : 4;
  guint8 *p = out + SH_MUX_HDR_LEN;
  p[0] = alen == 16 ? 6 : 4;
  p[1] = d->kind;
  put16 (p + 2, d->port);
  memcpy (p + SH_MUX_DGRAM_FIXED, d->addr, alen);
  if (d->data_len)
    memcpy (p + SH_MUX_DGRAM_FIXED + alen, d->data, d->data_len);
  gsize plen = SH_MUX_DGRAM_FIXED + alen + d->data_len;
  sh_frame_put_header (out, SH_FRAME_DGRAM, assoc, plen);
  return SH_MUX_HDR_LEN + plen;
}

gsize
sh_frame_put_dgram_close (guint8 *out, guint32 assoc, ShDgramCloseReason reason, int err)
{
  guint8 *p = out + sh_frame_put_header (out, SH_FRAME_DGRAM_CLOSE, assoc, 4);
  p[0] = reason;
  p[1] = 0;
  put16 (p + 2, (guint16) CLAMP (err, 0, G_MAXUINT16));
  return SH_MUX_HDR_LEN + 4;
}

gsize
sh_frame_put_lanes (guint8 *out, int family, guint count, guint16 port, const guint8 *token)
{
  guint8 *p = out + sh_frame_put_header (out, SH_FRAME_LANES, 0, 4 + SH_MUX_LANE_TOKEN_LEN);
  p[0] = family == AF_INET6 ? 6 : 4;
  p[1] = (guint8) count;
  put16 (p + 2, port);
  memcpy (p + 4, token, SH_MUX_LANE_TOKEN_LEN);
  return SH_MUX_HDR_LEN + 4 + SH_MUX_LANE_TOKEN_LEN;
}

gsize
sh_frame_put_bond (guint8 *out, guint32 mask)
{
  return sh_frame_put_u32 (out, SH_FRAME_BOND, 0, mask);
}

void
sh_lane_put_hello (guint8 *out, const guint8 *token, guint32 index)
{
  memcpy (out, SH_MUX_LANE_MAGIC, SH_MUX_MAGIC_LEN);
  memcpy (out + SH_MUX_MAGIC_LEN, token, SH_MUX_LANE_TOKEN_LEN);
  put32 (out + SH_MUX_MAGIC_LEN + SH_MUX_LANE_TOKEN_LEN, index);
}

gboolean
sh_lane_parse_hello (const guint8 *p, guint8 *token, guint32 *index)
{
  if (memcmp (p, SH_MUX_LANE_MAGIC, SH_MUX_MAGIC_LEN) != 0)
    return FALSE;
  memcpy (token, p + SH_MUX_MAGIC_LEN, SH_MUX_LANE_TOKEN_LEN);
  *index = get32 (p + SH_MUX_MAGIC_LEN + SH_MUX_LANE_TOKEN_LEN);
  return *index >= 1 && *index < SH_MUX_MAX_LANES;
}

void
sh_segment_put_header (guint8 *out, guint32 seq, guint32 len)
{
  put32 (out, seq);
  put32 (out + 4, len);
}

gboolean
sh_segment_parse_header (const guint8 *p, guint32 *seq, guint32 *len)
{
  *seq = get32 (p);
  *len = get32 (p + 4);
  return *len >= 1 && *len <= SH_MUX_MAX_SEGMENT;
}

gboolean
sh_frame_next_route (const ShFrame *f, gsize *offset, ShRoute *out)
{
  if (*offset >= f->len)
    return FALSE;
  const guint8 *p = f->payload + *offset;
  gsize alen = p[0] == 6 ? 16 : 4;
  out->family = alen == 16 ? AF_INET6 : AF_INET;
  out->prefix = p[1];
  memset (out->addr, 0, sizeof out->addr);
  memcpy (out->addr, p + 2, alen);
  *offset += 2 + alen;
  return TRUE;
}

gsize
sh_frame_put_hosts_watch (guint8 *out, const char *seeds, gsize len)
{
  len = MIN (len, SH_MUX_MAX_SEEDS);
  if (len)
    memcpy (out + SH_MUX_HDR_LEN, seeds, len);
  sh_frame_put_header (out, SH_FRAME_HOSTS_WATCH, 0, len);
  return SH_MUX_HDR_LEN + len;
}

gsize
sh_frame_put_host (guint8 *out, const ShHost *host)
{
  gsize alen = host->family == AF_INET6 ? 16 : 4;
  gsize nlen = MIN (host->name_len, SH_MUX_MAX_HOSTNAME);
  guint8 *p = out + SH_MUX_HDR_LEN;
  p[0] = alen == 16 ? 6 : 4;
  p[1] = 0;
  memcpy (p + 2, host->addr, alen);
  memcpy (p + 2 + alen, host->name, nlen);
  sh_frame_put_header (out, SH_FRAME_HOST, 0, 2 + alen + nlen);
  return SH_MUX_HDR_LEN + 2 + alen + nlen;
}

gsize
sh_frame_put_open_result (guint8 *out, guint32 channel, ShOpenStatus status, int err,
                          const char *reason)
{
  gsize rlen = reason ? strnlen (reason, SH_MUX_MAX_REASON) : 0;
  guint8 *p = out + sh_frame_put_header (out, SH_FRAME_OPEN_RESULT, channel, 4 + rlen);
  p[0] = status;
  p[1] = 0;
  put16 (p + 2, (guint16) CLAMP (err, 0, G_MAXUINT16));
  if (rlen)
    memcpy (p + 4, reason, rlen);
  return SH_MUX_HDR_LEN + 4 + rlen;
}

gsize
sh_frame_put_u32 (guint8 *out, ShFrameType type, guint32 channel, guint32 value)
{
  put32 (out + sh_frame_put_header (out, type, channel, 4), value);
  return SH_MUX_HDR_LEN + 4;
}

gsize
sh_frame_put_u64 (guint8 *out, ShFrameType type, guint64 value)
{
  guint8 *p = out + sh_frame_put_header (out, type, 0, 8);
  put32 (p, value >> 32);
  put32 (p + 4, value & 0xffffffffu);
  return SH_MUX_HDR_LEN + 8;
}

gsize
sh_frame_put_close (guint8 *out, guint32 channel, gboolean reset)
{
  out[sh_frame_put_header (out, SH_FRAME_CLOSE, channel, 1)] = reset ? 1 : 0;
  return SH_MUX_HDR_LEN + 1;
}

gsize
sh_frame_put_error (guint8 *out, ShErrorCode code, const char *msg)
{
  gsize mlen = msg ? strnlen (msg, SH_MUX_MAX_ERROR_MSG) : 0;
  guint8 *p = out + sh_frame_put_header (out, SH_FRAME_ERROR, 0, 2 + mlen);
  put16 (p, code);
  if (mlen)
    memcpy (p + 2, msg, mlen);
  return SH_MUX_HDR_LEN + 2 + mlen;
}

ShOpenStatus
sh_open_status_from_errno (int err)
{
  switch (err)
    {
    case 0:
      return SH_OPEN_OK;
    case ECONNREFUSED:
      return SH_OPEN_REFUSED;
    case ENETUNREACH:
    case ENETDOWN:
      return SH_OPEN_NET_UNREACHABLE;
    case EHOSTUNREACH:
    case EHOSTDOWN:
      return SH_OPEN_HOST_UNREACHABLE;
    case ETIMEDOUT:
      return SH_OPEN_TIMED_OUT;
    case EMFILE:
    case ENFILE:
    case ENOBUFS:
    case ENOMEM:
      return SH_OPEN_NO_RESOURCES;
    default:
      return SH_OPEN_FAILED;
    }
}

const char *
sh_open_status_to_string (ShOpenStatus status)
{
  switch (status)
    {
    case SH_OPEN_OK:
      return "connected";
    case SH_OPEN_REFUSED:
      return "connection refused";
    case SH_OPEN_NET_UNREACHABLE:
      return "network unreachable";
    case SH_OPEN_HOST_UNREACHABLE:
      return "host unreachable";
    case SH_OPEN_TIMED_OUT:
      return "connection timed out";
    case SH_OPEN_NO_RESOURCES:
      return "no resources on the server";
    case SH_OPEN_FAILED:
    default:
      return "connection failed";
    }
}

const char *
sh_frame_type_to_string (ShFrameType type)
{
  if ((guint) type < G_N_ELEMENTS (frame_rules) && frame_rules[type].name)
    return frame_rules[type].name;
  return "?";
}
