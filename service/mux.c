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

static gboolean
decode_hello (const guint8 *p, guint16 len, ShHello *h)
{
  if (len < HELLO_FIXED || len > HELLO_FIXED + SH_MUX_MAX_NAME)
    return FALSE;
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

gssize
sh_frame_decode (const guint8 *buf, gsize len, ShFrame *out)
{
  if (len < SH_MUX_HDR_LEN)
    return 0;

  guint8 type = buf[0];
  guint8 flags = buf[1];
  guint16 plen = get16 (buf + 2);
  guint32 channel = get32 (buf + 4);

  if (flags != 0)
    return -EBADMSG;

  /* Check the header before waiting for the payload, so a bad length is
   * reported at once instead of after the peer sent (or withheld) it. */
  gboolean session_frame;
  guint16 min, max;
  switch (type)
    {
    case SH_FRAME_HELLO:
      session_frame = TRUE, min = HELLO_FIXED, max = HELLO_FIXED + SH_MUX_MAX_NAME;
      break;
    case SH_FRAME_OPEN:
      session_frame = FALSE, min = 8, max = 20;
      break;
    case SH_FRAME_OPEN_RESULT:
      session_frame = FALSE, min = 4, max = 4 + SH_MUX_MAX_REASON;
      break;
    case SH_FRAME_DATA:
      session_frame = FALSE, min = 1, max = SH_MUX_MAX_DATA;
      break;
    case SH_FRAME_WINDOW:
      session_frame = FALSE, min = max = 4;
      break;
    case SH_FRAME_EOF:
      session_frame = FALSE, min = max = 0;
      break;
    case SH_FRAME_CLOSE:
      session_frame = FALSE, min = max = 1;
      break;
    case SH_FRAME_PING:
    case SH_FRAME_PONG:
      session_frame = TRUE, min = max = 8;
      break;
    case SH_FRAME_ACK:
      session_frame = TRUE, min = max = 4;
      break;
    case SH_FRAME_ERROR:
      session_frame = TRUE, min = 2, max = 2 + SH_MUX_MAX_ERROR_MSG;
      break;
    default:
      return -EBADMSG;
    }
  if (plen < min || plen > max)
    return -EBADMSG;
  if (session_frame != (channel == 0))
    return -EBADMSG;
  if (len < (gsize) SH_MUX_HDR_LEN + plen)
    return 0;

  const guint8 *p = buf + SH_MUX_HDR_LEN;
  memset (out, 0, sizeof *out);
  out->type = type;
  out->channel = channel;
  out->len = plen;
  out->payload = p;

  switch (type)
    {
    case SH_FRAME_HELLO:
      if (!decode_hello (p, plen, &out->u.hello))
        return -EBADMSG;
      break;
    case SH_FRAME_OPEN:
      if (p[1] != 0)
        return -EBADMSG;
      if (p[0] == 4 && plen == 8)
        out->u.open.family = AF_INET;
      else if (p[0] == 6 && plen == 20)
        out->u.open.family = AF_INET6;
      else
        return -EBADMSG;
      out->u.open.port = get16 (p + 2);
      if (out->u.open.port == 0)
        return -EBADMSG;
      memcpy (out->u.open.addr, p + 4, plen - 4);
      break;
    case SH_FRAME_OPEN_RESULT:
      if (p[0] > SH_OPEN_NO_RESOURCES || p[1] != 0)
        return -EBADMSG;
      out->u.result.status = p[0];
      out->u.result.err = get16 (p + 2);
      out->u.result.reason = (const char *) p + 4;
      out->u.result.reason_len = plen - 4;
      break;
    case SH_FRAME_WINDOW:
      out->u.window = get32 (p);
      if (out->u.window == 0 || out->u.window > SH_MUX_MAX_WINDOW)
        return -EBADMSG;
      break;
    case SH_FRAME_ACK:
      out->u.ack = get32 (p);
      break;
    case SH_FRAME_CLOSE:
      if (p[0] > 1)
        return -EBADMSG;
      out->u.close_reason = p[0];
      break;
    case SH_FRAME_PING:
    case SH_FRAME_PONG:
      out->u.token = ((guint64) get32 (p) << 32) | get32 (p + 4);
      break;
    case SH_FRAME_ERROR:
      out->u.error.code = get16 (p);
      out->u.error.msg = (const char *) p + 2;
      out->u.error.msg_len = plen - 2;
      break;
    default:
      break;
    }
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

gsize
sh_frame_put_open (guint8 *out, guint32 channel, const ShOpen *open)
{
  gsize alen = open->family == AF_INET6 ? 16 : 4;
  guint8 *p = out + sh_frame_put_header (out, SH_FRAME_OPEN, channel, 4 + alen);
  p[0] = open->family == AF_INET6 ? 6 : 4;
  p[1] = 0;
  put16 (p + 2, open->port);
  memcpy (p + 4, open->addr, alen);
  return SH_MUX_HDR_LEN + 4 + alen;
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
  static const char *const names[] = {
    [SH_FRAME_HELLO] = "HELLO",
    [SH_FRAME_OPEN] = "OPEN",
    [SH_FRAME_OPEN_RESULT] = "OPEN_RESULT",
    [SH_FRAME_DATA] = "DATA",
    [SH_FRAME_WINDOW] = "WINDOW",
    [SH_FRAME_EOF] = "EOF",
    [SH_FRAME_CLOSE] = "CLOSE",
    [SH_FRAME_PING] = "PING",
    [SH_FRAME_PONG] = "PONG",
    [SH_FRAME_ACK] = "ACK",
    [SH_FRAME_ERROR] = "ERROR",
  };
  if ((guint) type < G_N_ELEMENTS (names) && names[type])
    return names[type];
  return "?";
}
