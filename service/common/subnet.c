/* SPDX-License-Identifier: GPL-2.0-or-later */
/* subnet.c — sshuttle-style subnet specifications.
 *
 * A spec is taken apart in two steps: split_spec() finds the address, the
 * prefix and the port part by their punctuation only, then each part is
 * checked on its own, so an error can name exactly the part that is wrong.
 */
#include "config.h"

#include "quote.h"
#include "subnet.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

/* The longest valid numeric spec is about 60 bytes and a DNS name at most 253;
 * anything much longer is not worth looking at (nor quoting in full). */
#define SPEC_MAX 512
/* How much of the user's text an error message quotes. */
#define QUOTE_MAX 64

/* Error messages quote user text: one printable line, even for binary or
 * huge input (the fuzzer feeds both). */
static char *
quote (const char *s)
{
  return sh_quote (s, QUOTE_MAX);
}

static void set_error (GError **error, const char *spec, const char *format, ...)
    G_GNUC_PRINTF (3, 4);

/* Every message reads "invalid subnet 'SPEC': DETAIL". */
static void
set_error (GError **error, const char *spec, const char *format, ...)
{
  g_autofree char *detail = NULL;
  g_autofree char *quoted = quote (spec);
  va_list ap;

  va_start (ap, format);
  detail = g_strdup_vprintf (format, ap);
  va_end (ap);
  /* TRANSLATORS: the first %s is the spec as the user typed it, the second
   * says what is wrong with it. */
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, _ ("invalid subnet '%s': %s"),
               quoted, detail);
}

/* The three parts of a spec. The pointers point into @buf. */
typedef struct
{
  char *buf;
  const char *addr;
  const char *prefix; /* NULL: no "/w" */
  const char *ports;  /* NULL: no ":port" */
  gboolean bracketed;
} Parts;

static void
parts_clear (Parts *p)
{
  g_clear_pointer (&p->buf, g_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Parts, parts_clear)

static gsize
count_char (const char *s, char c)
{
  gsize n = 0;

  for (; *s != '\0'; s++)
    if (*s == c)
      n++;
  return n;
}

/* Splits by punctuation only; the parts are validated later. A colon ends the
 * address only when it cannot belong to it: after "[...]", or when the spec
 * has exactly one colon (IPv6 addresses always have at least two, which is
 * why IPv6 with a port must be bracketed). */
static gboolean
split_spec (const char *spec, Parts *p, GError **error)
{
  char *s;
  char *rest = NULL;

  memset (p, 0, sizeof *p);
  if (spec[0] == '\0')
    {
      set_error (error, spec, "%s", _ ("empty"));
      return FALSE;
    }
  if (strlen (spec) > SPEC_MAX)
    {
      set_error (error, spec, _ ("longer than %d characters"), SPEC_MAX);
      return FALSE;
    }

  p->buf = s = g_strdup (spec);
  if (s[0] == '[')
    {
      char *close = strchr (s, ']');

      if (close == NULL)
        {
          set_error (error, spec, "%s", _ ("missing ']'"));
          return FALSE;
        }
      *close = '\0';
      p->addr = s + 1;
      p->bracketed = TRUE;
      rest = close + 1;
      if (*rest == '/')
        {
          char *colon = strchr (rest, ':');

          if (colon != NULL)
            {
              *colon = '\0';
              p->ports = colon + 1;
            }
          p->prefix = rest + 1;
        }
      else if (*rest == ':')
        p->ports = rest + 1;
      else if (*rest != '\0')
        {
          g_autofree char *q = quote (rest);

          set_error (error, spec, _ ("unexpected '%s' after ']'"), q);
          return FALSE;
        }
    }
  else
    {
      char *slash;

      if (count_char (s, ':') == 1)
        {
          char *colon = strchr (s, ':');

          *colon = '\0';
          p->ports = colon + 1;
        }
      slash = strchr (s, '/');
      if (slash != NULL)
        {
          *slash = '\0';
          p->prefix = slash + 1;
        }
      p->addr = s;
    }

  if (p->addr[0] == '\0')
    {
      set_error (error, spec, "%s", _ ("missing address"));
      return FALSE;
    }
  return TRUE;
}

static gboolean
all_digits (const char *s)
{
  if (*s == '\0')
    return FALSE;
  for (; *s != '\0'; s++)
    if (!g_ascii_isdigit (*s))
      return FALSE;
  return TRUE;
}

/* Decimal, at most @max_digits digits, nothing else (no sign, no spaces). */
static gboolean
parse_uint (const char *s, gsize max_digits, guint *out)
{
  guint v = 0;

  if (!all_digits (s) || strlen (s) > max_digits)
    return FALSE;
  for (; *s != '\0'; s++)
    v = v * 10 + (guint) (*s - '0');
  *out = v;
  return TRUE;
}

/* Only digits and dots: this is meant as an IPv4 address, never a name. */
static gboolean
looks_ipv4 (const char *s)
{
  for (; *s != '\0'; s++)
    if (!g_ascii_isdigit (*s) && *s != '.')
      return FALSE;
  return TRUE;
}

/* Dotted decimal with 1 to 4 parts; missing trailing parts are zero
 * ("10" -> 10.0.0.0), as sshuttle reads them. Unlike inet_aton() there are no
 * hex or octal forms, and a leading zero is refused rather than guessed at. */
static gboolean
parse_ipv4 (const char *s, guint8 out[4], guint *n_parts)
{
  g_auto (GStrv) parts = g_strsplit (s, ".", 0);
  guint n = g_strv_length (parts);
  guint i;

  if (n < 1 || n > 4)
    return FALSE;
  memset (out, 0, 4);
  for (i = 0; i < n; i++)
    {
      guint v;

      if (!parse_uint (parts[i], 3, &v) || v > 255)
        return FALSE;
      if (parts[i][0] == '0' && parts[i][1] != '\0')
        return FALSE;
      out[i] = (guint8) v;
    }
  *n_parts = n;
  return TRUE;
}

static gboolean
parse_one_port (const char *spec, const char *s, guint16 *out, GError **error)
{
  g_autofree char *q = quote (s);
  guint v;

  if (s[0] == '\0')
    {
      set_error (error, spec, "%s", _ ("missing port"));
      return FALSE;
    }
  if (!all_digits (s))
    {
      set_error (error, spec, _ ("'%s' is not a port number"), q);
      return FALSE;
    }
  if (!parse_uint (s, 5, &v) || v < 1 || v > 65535)
    {
      set_error (error, spec, _ ("port '%s' is out of range (1..65535)"), q);
      return FALSE;
    }
  *out = (guint16) v;
  return TRUE;
}

static gboolean
parse_ports (const char *spec, const char *s, ShSubnet *out, GError **error)
{
  const char *dash = strchr (s, '-');
  g_autofree char *lo_s = NULL;

  if (dash == NULL)
    {
      if (!parse_one_port (spec, s, &out->port_lo, error))
        return FALSE;
      out->port_hi = out->port_lo;
      return TRUE;
    }

  lo_s = g_strndup (s, (gsize) (dash - s));
  if (!parse_one_port (spec, lo_s, &out->port_lo, error)
      || !parse_one_port (spec, dash + 1, &out->port_hi, error))
    return FALSE;
  if (out->port_lo > out->port_hi)
    {
      g_autofree char *q = quote (s);

      set_error (error, spec, _ ("port range '%s' is reversed"), q);
      return FALSE;
    }
  return TRUE;
}

static guint
family_bits (int family)
{
  return family == AF_INET ? 32 : 128;
}

static void
clear_host_bits (ShSubnet *s)
{
  guint len = family_bits (s->family) / 8;
  guint i;

  for (i = 0; i < len; i++)
    {
      guint first_bit = i * 8;

      if (first_bit >= s->prefix)
        s->addr[i] = 0;
      else if (first_bit + 8 > s->prefix)
        s->addr[i] &= (guint8) (0xffu << (8 - (s->prefix - first_bit)));
    }
}

/* Completes @out (family and address already set) from the prefix and port
 * parts. */
static gboolean
finish (const char *spec, const Parts *p, ShSubnet *out, GError **error)
{
  guint max = family_bits (out->family);

  out->prefix = (guint8) max;
  if (p->prefix != NULL)
    {
      guint v;

      if (p->prefix[0] == '\0')
        {
          set_error (error, spec, "%s", _ ("missing prefix length after '/'"));
          return FALSE;
        }
      if (!parse_uint (p->prefix, 3, &v) || v > max)
        {
          g_autofree char *q = quote (p->prefix);

          /* An unbracketed IPv6 spec swallows ":port" into the prefix. */
          if (out->family == AF_INET6 && !p->bracketed && strchr (p->prefix, ':') != NULL)
            set_error (error, spec,
                       _ ("'%s' is not a prefix length; write IPv6 with a port in brackets, "
                          "e.g. [fd00::]/8:22"),
                       q);
          else
            set_error (error, spec, _ ("'%s' is not a prefix length (0..%u)"), q, max);
          return FALSE;
        }
      out->prefix = (guint8) v;
    }
  if (p->ports != NULL && !parse_ports (spec, p->ports, out, error))
    return FALSE;
  clear_host_bits (out);
  return TRUE;
}

/* Fills family and address from a numeric address part. @is_name is set (and
 * FALSE returned without an error) when the part is neither IPv4 nor IPv6
 * syntax, i.e. could be a host name. */
static gboolean
parse_addr (const char *spec, const Parts *p, ShSubnet *out, gboolean *is_name, GError **error)
{
  g_autofree char *q = quote (p->addr);

  *is_name = FALSE;
  if (p->bracketed || strchr (p->addr, ':') != NULL)
    {
      if (strlen (p->addr) >= INET6_ADDRSTRLEN || inet_pton (AF_INET6, p->addr, out->addr) != 1)
        {
          set_error (error, spec, _ ("'%s' is not an IPv6 address"), q);
          return FALSE;
        }
      out->family = AF_INET6;
      return TRUE;
    }
  if (looks_ipv4 (p->addr))
    {
      guint n_parts;

      if (!parse_ipv4 (p->addr, out->addr, &n_parts))
        {
          set_error (error, spec, _ ("'%s' is not an IPv4 address"), q);
          return FALSE;
        }
      /* "10" alone would be the single host 10.0.0.0, which nobody means. */
      if (n_parts < 4 && p->prefix == NULL)
        {
          set_error (error, spec, _ ("partial address '%s' needs a prefix length, e.g. %s/8"), q,
                     q);
          return FALSE;
        }
      out->family = AF_INET;
      return TRUE;
    }
  *is_name = TRUE;
  return FALSE;
}

gboolean
sh_subnet_parse (const char *spec, ShSubnet *out, GError **error)
{
  g_auto (Parts) p = { 0 };
  ShSubnet s;
  gboolean is_name;

  g_return_val_if_fail (spec != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  memset (&s, 0, sizeof s);
  if (!split_spec (spec, &p, error))
    return FALSE;
  if (!parse_addr (spec, &p, &s, &is_name, error))
    {
      if (is_name)
        {
          g_autofree char *q = quote (p.addr);

          set_error (error, spec, _ ("'%s' is not an IP address"), q);
        }
      return FALSE;
    }
  if (!finish (spec, &p, &s, error))
    return FALSE;
  *out = s;
  return TRUE;
}

/* Letters, digits, '-', '_' and '.', not starting with '-' or '.': enough for
 * DNS and /etc/hosts names, and keeps odd bytes away from the resolver. */
static gboolean
valid_host_name (const char *s)
{
  const char *c;

  if (s[0] == '-' || s[0] == '.' || strlen (s) > 253)
    return FALSE;
  for (c = s; *c != '\0'; c++)
    if (!g_ascii_isalnum (*c) && *c != '-' && *c != '_' && *c != '.')
      return FALSE;
  return TRUE;
}

static gboolean
subnet_equal (const ShSubnet *a, const ShSubnet *b)
{
  return a->family == b->family && memcmp (a->addr, b->addr, sizeof a->addr) == 0
         && a->prefix == b->prefix && a->port_lo == b->port_lo && a->port_hi == b->port_hi;
}

gboolean
sh_subnet_parse_resolve (const char *spec, GArray *out, GError **error)
{
  g_auto (Parts) p = { 0 };
  g_autoptr (GArray) found = NULL;
  g_autofree char *q = NULL;
  struct addrinfo hints;
  struct addrinfo *res = NULL;
  struct addrinfo *ai;
  ShSubnet s;
  gboolean is_name;
  int rc;

  g_return_val_if_fail (spec != NULL, FALSE);
  g_return_val_if_fail (out != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  memset (&s, 0, sizeof s);
  if (!split_spec (spec, &p, error))
    return FALSE;
  if (parse_addr (spec, &p, &s, &is_name, error))
    {
      if (!finish (spec, &p, &s, error))
        return FALSE;
      g_array_append_val (out, s);
      return TRUE;
    }
  if (!is_name)
    return FALSE;

  q = quote (p.addr);
  memset (&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICHOST;
  /* getaddrinfo() also takes inet_aton() forms such as "0x0a.1"; those were
   * not accepted as addresses above, so they are not names either. */
  if (!valid_host_name (p.addr) || getaddrinfo (p.addr, NULL, &hints, &res) == 0)
    {
      g_clear_pointer (&res, freeaddrinfo);
      set_error (error, spec, _ ("'%s' is neither an IP address nor a host name"), q);
      return FALSE;
    }

  hints.ai_flags = 0;
  rc = getaddrinfo (p.addr, NULL, &hints, &res);
  if (rc != 0)
    {
      set_error (error, spec, _ ("cannot resolve '%s': %s"), q, gai_strerror (rc));
      return FALSE;
    }

  found = g_array_new (FALSE, FALSE, sizeof (ShSubnet));
  for (ai = res; ai != NULL; ai = ai->ai_next)
    {
      guint i;
      gboolean dup = FALSE;

      if (!sh_subnet_from_sockaddr (ai->ai_addr, &s))
        continue;
      if (!finish (spec, &p, &s, error))
        {
          freeaddrinfo (res);
          return FALSE;
        }
      for (i = 0; i < found->len && !dup; i++)
        dup = subnet_equal (&g_array_index (found, ShSubnet, i), &s);
      if (!dup)
        g_array_append_val (found, s);
    }
  freeaddrinfo (res);

  if (found->len == 0)
    {
      set_error (error, spec, _ ("'%s' has no IPv4 or IPv6 address"), q);
      return FALSE;
    }
  g_array_append_vals (out, found->data, found->len);
  return TRUE;
}

gboolean
sh_subnet_from_sockaddr (const struct sockaddr *sa, ShSubnet *out)
{
  memset (out, 0, sizeof *out);
  out->family = sa->sa_family;
  if (sa->sa_family == AF_INET)
    {
      memcpy (out->addr, &((const struct sockaddr_in *) sa)->sin_addr, 4);
      out->prefix = 32;
      return TRUE;
    }
  if (sa->sa_family == AF_INET6)
    {
      memcpy (out->addr, &((const struct sockaddr_in6 *) sa)->sin6_addr, 16);
      out->prefix = 128;
      return TRUE;
    }
  return FALSE;
}

gboolean
sh_subnet_contains (const ShSubnet *subnet, int family, const guint8 *addr, guint16 port)
{
  guint full;
  guint rest;

  g_return_val_if_fail (subnet != NULL, FALSE);
  g_return_val_if_fail (addr != NULL, FALSE);

  if (family != subnet->family || (family != AF_INET && family != AF_INET6))
    return FALSE;
  if (subnet->prefix > family_bits (family))
    return FALSE;

  full = subnet->prefix / 8;
  rest = subnet->prefix % 8;
  if (memcmp (subnet->addr, addr, full) != 0)
    return FALSE;
  if (rest != 0)
    {
      guint8 mask = (guint8) (0xffu << (8 - rest));

      if ((subnet->addr[full] & mask) != (addr[full] & mask))
        return FALSE;
    }

  if (subnet->port_lo == 0 && subnet->port_hi == 0)
    return TRUE;
  return port >= subnet->port_lo && port <= subnet->port_hi;
}

gboolean
sh_subnet_list_covers_address (const GArray *subnets, int family, const guint8 *addr)
{
  for (guint i = 0; subnets != NULL && i < subnets->len; i++)
    {
      ShSubnet any = g_array_index (subnets, ShSubnet, i);

      any.port_lo = any.port_hi = 0;
      if (sh_subnet_contains (&any, family, addr, 0))
        return TRUE;
    }
  return FALSE;
}

char *
sh_subnet_to_string (const ShSubnet *subnet)
{
  char addr[INET6_ADDRSTRLEN];
  gboolean has_ports;
  gboolean v6;
  GString *out;

  g_return_val_if_fail (subnet != NULL, NULL);
  g_return_val_if_fail (subnet->family == AF_INET || subnet->family == AF_INET6, NULL);

  if (inet_ntop (subnet->family, subnet->addr, addr, sizeof addr) == NULL)
    g_return_val_if_reached (NULL);

  has_ports = subnet->port_lo != 0 || subnet->port_hi != 0;
  v6 = subnet->family == AF_INET6;
  out = g_string_new (NULL);
  /* IPv6 is bracketed only when a port follows, which is when it must be. */
  if (has_ports && v6)
    g_string_append_printf (out, "[%s]/%u", addr, subnet->prefix);
  else
    g_string_append_printf (out, "%s/%u", addr, subnet->prefix);
  if (has_ports)
    g_string_append_printf (out, ":%u", subnet->port_lo);
  if (has_ports && subnet->port_hi != subnet->port_lo)
    g_string_append_printf (out, "-%u", subnet->port_hi);
  return g_string_free (out, FALSE);
}

gboolean
sh_subnet_list_leaks_ipv6 (const GArray *subnets)
{
  gboolean all4 = FALSE, all6 = FALSE;

  for (guint i = 0; i < (subnets != NULL ? subnets->len : 0); i++)
    {
      const ShSubnet *s = &g_array_index (subnets, ShSubnet, i);

      if (s->prefix != 0 || s->port_lo != 0 || s->port_hi != 0)
        continue;
      if (s->family == AF_INET)
        all4 = TRUE;
      else if (s->family == AF_INET6)
        all6 = TRUE;
    }
  return all4 && !all6;
}
