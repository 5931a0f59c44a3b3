/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "routes.h"

#include <string.h>
#include <sys/socket.h>

#define RTF_UP_ 0x0001u
#define RTF_REJECT_ 0x0200u
#define RTF_ANYCAST_ 0x00100000u
#define RTF_CACHE_ 0x01000000u
#define RTF_LOCAL_ 0x80000000u

static void
clear_host_bits (guint8 *addr, guint prefix, guint bytes)
{
  for (guint i = 0; i < bytes; i++)
    {
      guint keep = prefix >= (i + 1) * 8 ? 8 : prefix > i * 8 ? prefix - i * 8 : 0;
      addr[i] &= (guint8) (0xff00u >> keep);
    }
}

/* Inside 127/8, 169.254/16, 224/4; ::1, fe80::/10, ff00::/8. */
static gboolean
is_excluded (const ShRoute *r)
{
  const guint8 *a = r->addr;
  if (r->prefix == 0)
    return TRUE;
  if (r->family == AF_INET)
    return (r->prefix >= 8 && a[0] == 127) || (r->prefix >= 16 && a[0] == 169 && a[1] == 254)
           || (r->prefix >= 4 && (a[0] & 0xf0) == 224);
  static const guint8 lo6[16] = { [15] = 1 };
  return (r->prefix == 128 && memcmp (a, lo6, 16) == 0)
         || (r->prefix >= 10 && a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
         || (r->prefix >= 8 && a[0] == 0xff);
}

static void
add_route (GArray *out, ShRoute *r)
{
  clear_host_bits (r->addr, r->prefix, r->family == AF_INET ? 4 : 16);
  if (is_excluded (r))
    return;
  for (guint i = 0; i < out->len; i++)
    {
      const ShRoute *o = &g_array_index (out, ShRoute, i);
      if (o->family == r->family && o->prefix == r->prefix && memcmp (o->addr, r->addr, 16) == 0)
        return;
    }
  g_array_append_val (out, *r);
}

static gboolean
parse_hex_bytes (const char *hex, guint8 *out, guint n)
{
  if (strlen (hex) != n * 2)
    return FALSE;
  for (guint i = 0; i < n; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]), lo = g_ascii_xdigit_value (hex[2 * i + 1]);
      if (hi < 0 || lo < 0)
        return FALSE;
      out[i] = (guint8) (hi << 4 | lo);
    }
  return TRUE;
}

/* Iface Destination Gateway Flags RefCnt Use Metric Mask ...; the
 * addresses are hex words. */
void
sh_routes_parse_v4 (const char *text, GArray *out)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint l = 1; lines[0] && lines[l]; l++)
    {
      g_auto (GStrv) f = g_strsplit_set (g_strstrip (lines[l]), " \t", -1);
      const char *w[8];
      guint n = 0;
      for (guint i = 0; f[i] && n < 8; i++)
        if (f[i][0] != '\0')
          w[n++] = f[i];
      guint64 dst, flags, mask;
      if (n < 8 || !g_ascii_string_to_unsigned (w[1], 16, 0, G_MAXUINT32, &dst, NULL)
          || !g_ascii_string_to_unsigned (w[3], 16, 0, 0xffff, &flags, NULL)
          || !g_ascii_string_to_unsigned (w[7], 16, 0, G_MAXUINT32, &mask, NULL))
        continue;
      if (!(flags & RTF_UP_) || (flags & RTF_REJECT_))
        continue;
      /* The kernel prints the raw network-order word: in memory it is the
       * address again, on either byte order. */
      guint32 d = (guint32) dst, m = (guint32) mask;
      guint32 mh = GUINT32_FROM_BE (m); /* the mask as a number, to count its bits */
      guint prefix = 0;
      while (prefix < 32 && (mh & (0x80000000u >> prefix)))
        prefix++;
      ShRoute r = { .family = AF_INET, .prefix = (guint8) prefix };
      memcpy (r.addr, &d, 4);
      add_route (out, &r);
    }
}

/* dst dst_len src src_len nexthop metric refcnt use flags iface, hex. */
void
sh_routes_parse_v6 (const char *text, GArray *out)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  for (guint l = 0; lines[l]; l++)
    {
      g_auto (GStrv) f = g_strsplit_set (g_strstrip (lines[l]), " \t", -1);
      const char *w[10];
      guint n = 0;
      for (guint i = 0; f[i] && n < 10; i++)
        if (f[i][0] != '\0')
          w[n++] = f[i];
      ShRoute r = { .family = AF_INET6 };
      guint64 plen, flags;
      if (n < 10 || !parse_hex_bytes (w[0], r.addr, 16)
          || !g_ascii_string_to_unsigned (w[1], 16, 0, 128, &plen, NULL)
          || !g_ascii_string_to_unsigned (w[8], 16, 0, G_MAXUINT32, &flags, NULL))
        continue;
      if (!(flags & RTF_UP_) || (flags & (RTF_REJECT_ | RTF_LOCAL_ | RTF_ANYCAST_ | RTF_CACHE_)))
        continue;
      r.prefix = (guint8) plen;
      add_route (out, &r);
    }
}

GArray *
sh_routes_read (void)
{
  GArray *out = g_array_new (FALSE, TRUE, sizeof (ShRoute));
  g_autofree char *v4 = NULL, *v6 = NULL;
  if (g_file_get_contents ("/proc/net/route", &v4, NULL, NULL))
    sh_routes_parse_v4 (v4, out);
  if (g_file_get_contents ("/proc/net/ipv6_route", &v6, NULL, NULL))
    sh_routes_parse_v6 (v6, out);
  return out;
}
