/* SPDX-License-Identifier: GPL-2.0-or-later */
/* dnsname.c — a name's query and its answer's first address (dnsname.h). */
#include "config.h"

#include "dnsname.h"

#include <errno.h>
#include <string.h>

#define DNS_HEADER 12

gsize
sh_dns_name_query (const char *name, guint16 qtype, guint16 id, guint8 *out)
{
  gsize p = DNS_HEADER;
  const char *label = name;

  memset (out, 0, DNS_HEADER);
  out[0] = (guint8) (id >> 8);
  out[1] = (guint8) id;
  out[2] = 0x01; /* RD */
  out[5] = 1;    /* one question */
  while (*label != '\0')
    {
      const char *dot = strchr (label, '.');
      gsize n = dot ? (gsize) (dot - label) : strlen (label);

      out[p++] = (guint8) n;
      memcpy (out + p, label, n);
      p += n;
      label += n + (dot ? 1 : 0);
    }
  out[p++] = 0;
  out[p++] = (guint8) (qtype >> 8);
  out[p++] = (guint8) qtype;
  out[p++] = 0;
  out[p++] = 1; /* IN */
  return p;
}

/* Skips a (possibly compressed) name at *@p; FALSE when it runs out. */
static gboolean
skip_name (const guint8 *msg, gsize len, gsize *p)
{
  while (*p < len)
    {
      guint8 b = msg[*p];

      if (b == 0)
        {
          *p += 1;
          return TRUE;
        }
      if ((b & 0xc0) == 0xc0)
        {
          *p += 2;
          return *p <= len;
        }
      if ((b & 0xc0) != 0)
        return FALSE;
      *p += 1 + (gsize) b;
    }
  return FALSE;
}

int
sh_dns_name_answer (const guint8 *msg, gsize len, guint16 qtype, guint8 addr[16])
{
  gsize p = DNS_HEADER, want = qtype == SH_DNS_TYPE_A ? 4 : 16;
  guint qd, an;

  if (len < DNS_HEADER || (msg[2] & 0x80) == 0)
    return -EPROTO;
  if ((msg[3] & 0x0f) != 0)
    return -ENOENT;
  qd = (guint) msg[4] << 8 | msg[5];
  an = (guint) msg[6] << 8 | msg[7];
  for (guint i = 0; i < qd; i++)
    {
      if (!skip_name (msg, len, &p) || p + 4 > len)
        return -EPROTO;
      p += 4;
    }
  for (guint i = 0; i < an; i++)
    {
      guint16 type, rdlen;

      if (!skip_name (msg, len, &p) || p + 10 > len)
        return -EPROTO;
      type = (guint16) (msg[p] << 8 | msg[p + 1]);
      rdlen = (guint16) (msg[p + 8] << 8 | msg[p + 9]);
      p += 10;
      if (p + rdlen > len)
        return -EPROTO;
      if (type == qtype && msg[p - 8] == 0 && msg[p - 7] == 1 && rdlen == want)
        {
          memcpy (addr, msg + p, want);
          return 0;
        }
      p += rdlen;
    }
  return -ENOENT;
}
