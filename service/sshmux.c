/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "sshmux.h"

#include <errno.h>
#include <string.h>

static void
put32 (GByteArray *out, guint32 v)
{
  guint8 b[4] = { v >> 24, v >> 16, v >> 8, v };
  g_byte_array_append (out, b, 4);
}

static guint32
get32 (const guint8 *p)
{
  return (guint32) p[0] << 24 | (guint32) p[1] << 16 | (guint32) p[2] << 8 | p[3];
}

static void
put_string (GByteArray *out, const char *s, gsize len)
{
  put32 (out, (guint32) len);
  g_byte_array_append (out, (const guint8 *) s, (guint) len);
}

/* Writes the length of the packet that starts at @start, now complete. */
static void
end_packet (GByteArray *out, guint start)
{
  guint32 len = out->len - start - 4;
  guint8 *p = out->data + start;
  p[0] = len >> 24;
  p[1] = len >> 16;
  p[2] = len >> 8;
  p[3] = len;
}

void
sh_sshmux_put_hello (GByteArray *out)
{
  guint start = out->len;
  put32 (out, 0);
  put32 (out, SH_SSHMUX_MSG_HELLO);
  put32 (out, SH_SSHMUX_VERSION);
  end_packet (out, start);
}

void
sh_sshmux_put_alive_check (GByteArray *out, guint32 rid)
{
  guint start = out->len;
  put32 (out, 0);
  put32 (out, SH_SSHMUX_C_ALIVE_CHECK);
  put32 (out, rid);
  end_packet (out, start);
}

gboolean
sh_sshmux_put_stdio_fwd (GByteArray *out, guint32 rid, const char *host, guint32 port)
{
  gsize hlen = host ? strlen (host) : 0;
  if (hlen == 0 || hlen > SH_SSHMUX_MAX_HOST || port == 0 || port > 65535)
    return FALSE;
  guint start = out->len;
  put32 (out, 0);
  put32 (out, SH_SSHMUX_C_NEW_STDIO_FWD);
  put32 (out, rid);
  put_string (out, "", 0); /* reserved */
  put_string (out, host, hlen);
  put32 (out, port);
  end_packet (out, start);
  return TRUE;
}

gssize
sh_sshmux_parse (const guint8 *buf, gsize len, ShSshMuxMsg *msg)
{
  memset (msg, 0, sizeof *msg);
  if (len < 4)
    return 0;
  guint32 plen = get32 (buf);
  if (plen > SH_SSHMUX_MAX_PACKET)
    return -EMSGSIZE;
  if (len - 4 < plen)
    return 0;
  const guint8 *p = buf + 4;
  if (plen < 4)
    return -EBADMSG;
  msg->type = get32 (p);
  gsize have = plen - 4; /* body bytes after the type */
  p += 4;

  switch (msg->type)
    {
    case SH_SSHMUX_MSG_HELLO: /* version, then extensions we ignore */
      if (have < 4)
        return -EBADMSG;
      msg->value = get32 (p);
      break;
    case SH_SSHMUX_S_OK:
      if (have < 4)
        return -EBADMSG;
      msg->rid = get32 (p);
      break;
    case SH_SSHMUX_S_PERMISSION_DENIED:
    case SH_SSHMUX_S_FAILURE:
      {
        if (have < 8)
          return -EBADMSG;
        msg->rid = get32 (p);
        guint32 tlen = get32 (p + 4);
        if (tlen > have - 8)
          return -EBADMSG;
        msg->text = (const char *) p + 8;
        msg->text_len = tlen;
        break;
      }
    case SH_SSHMUX_S_ALIVE:
    case SH_SSHMUX_S_SESSION_OPENED:
      if (have < 8)
        return -EBADMSG;
      msg->rid = get32 (p);
      msg->value = get32 (p + 4);
      break;
    case SH_SSHMUX_S_EXIT_MESSAGE:
      if (have < 8)
        return -EBADMSG;
      msg->value = get32 (p);
      msg->value2 = get32 (p + 4);
      break;
    default:
      break;
    }
  return (gssize) plen + 4;
}
