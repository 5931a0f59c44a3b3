/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-request.c — validation of the helper's D-Bus arguments. */
#include "config.h"

#include "fw-request.h"

#include <arpa/inet.h>
#include <string.h>

#include "hostname.h"
#include "subnet.h"

static const GDBusErrorEntry error_entries[] = {
  { SH_FW_ERROR_INVALID_ARGS, "io.github.shuttlevpn.Firewall1.Error.InvalidArgs" },
  { SH_FW_ERROR_NOT_AUTHORIZED, "io.github.shuttlevpn.Firewall1.Error.NotAuthorized" },
  { SH_FW_ERROR_NOT_FOUND, "io.github.shuttlevpn.Firewall1.Error.NotFound" },
  { SH_FW_ERROR_FAILED, "io.github.shuttlevpn.Firewall1.Error.Failed" },
};

GQuark
sh_fw_error_quark (void)
{
  static gsize quark = 0;

  g_dbus_error_register_error_domain ("sh-fw-error-quark", &quark, error_entries,
                                      G_N_ELEMENTS (error_entries));
  return (GQuark) quark;
}

gboolean
sh_fw_label_is_valid (const char *label)
{
  size_t len = strlen (label);

  if (len == 0 || len > SH_FW_LABEL_MAX)
    return FALSE;
  for (size_t i = 0; i < len; i++)
    if (!(g_ascii_isdigit (label[i]) || (label[i] >= 'a' && label[i] <= 'z') || label[i] == '_'))
      return FALSE;
  return TRUE;
}

/* Ten digits each side keeps the token (and the table name built from it)
 * well inside SH_FIREWALL_OWNED_MAX. */
char *
sh_fw_owner_token (const char *unique_name)
{
  const char *dot;
  size_t major, minor;

  if (unique_name == NULL || unique_name[0] != ':')
    return NULL;
  dot = strchr (unique_name, '.');
  if (dot == NULL)
    return NULL;
  major = (size_t) (dot - unique_name - 1);
  minor = strlen (dot + 1);
  if (major == 0 || major > 10 || minor == 0 || minor > 10)
    return NULL;
  for (const char *p = unique_name + 1; *p != '\0'; p++)
    if (p != dot && !g_ascii_isdigit (*p))
      return NULL;
  return g_strdup_printf ("c%.*s_%s", (int) major, unique_name + 1, dot + 1);
}

static gboolean invalid (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const char *format, ...)
{
  va_list ap;
  g_autofree char *message = NULL;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error_literal (error, SH_FW_ERROR, SH_FW_ERROR_INVALID_ARGS, message);
  return FALSE;
}

static gboolean
check_label (const char *label, GError **error)
{
  if (!sh_fw_label_is_valid (label))
    return invalid (error, "invalid label: expected 1 to %d of a-z, 0-9, _", SH_FW_LABEL_MAX);
  return TRUE;
}

/* family 4 or 6 and an address of exactly that length. */
static gboolean
parse_address (guint8 family, GVariant *bytes, int *af, guint8 addr[16], const char *what,
               guint index, GError **error)
{
  gsize n = 0;
  const guint8 *data = g_variant_get_fixed_array (bytes, &n, 1);

  if (family != 4 && family != 6)
    return invalid (error, "%s %u: family must be 4 or 6, not %u", what, index, family);
  if (n != (family == 4 ? 4u : 16u))
    return invalid (error, "%s %u: an IPv%u address has %u bytes, not %" G_GSIZE_FORMAT, what,
                    index, family, family == 4 ? 4 : 16, n);
  memset (addr, 0, 16);
  memcpy (addr, data, n);
  *af = family == 4 ? AF_INET : AF_INET6;
  return TRUE;
}

static gboolean
parse_subnets (GVariant *list, GArray **out, const char *what, GError **error)
{
  gsize n = g_variant_n_children (list);
  g_autoptr (GArray) subnets = NULL;

  if (n > SH_FW_SUBNETS_MAX)
    return invalid (error, "too many %ss: %" G_GSIZE_FORMAT " (at most %d)", what, n,
                    SH_FW_SUBNETS_MAX);
  subnets = g_array_sized_new (FALSE, TRUE, sizeof (ShSubnet), (guint) n);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GVariant) addr = NULL;
      guint8 family, prefix;
      guint16 lo, hi;
      ShSubnet s = { 0 };

      g_variant_get_child (list, i, "(y@ayyqq)", &family, &addr, &prefix, &lo, &hi);
      if (!parse_address (family, addr, &s.family, s.addr, what, (guint) i, error))
        return FALSE;
      if (prefix > (family == 4 ? 32 : 128))
        return invalid (error, "%s %" G_GSIZE_FORMAT ": prefix %u is too long for IPv%u", what, i,
                        prefix, family);
      if (!((lo == 0 && hi == 0) || (lo >= 1 && lo <= hi)))
        return invalid (error,
                        "%s %" G_GSIZE_FORMAT ": bad port range %u-%u (0-0 for all ports, "
                        "else 1 <= low <= high)",
                        what, i, lo, hi);
      s.prefix = prefix;
      s.port_lo = lo;
      s.port_hi = hi;
      g_array_append_val (subnets, s);
    }
  *out = g_steal_pointer (&subnets);
  return TRUE;
}

void
sh_fw_spec_clear (ShFirewallSpec *spec)
{
  g_clear_pointer (&spec->subnets, g_array_unref);
  g_clear_pointer (&spec->excludes, g_array_unref);
  g_clear_pointer (&spec->dns_servers, g_array_unref);
}

/* The nameservers whose DNS (UDP and TCP port 53) is captured. */
static gboolean
parse_dns_servers (GVariant *list, GArray **out, GError **error)
{
  gsize n = g_variant_n_children (list);
  g_autoptr (GArray) servers = NULL;

  if (n > SH_FW_DNS_MAX)
    return invalid (error, "too many DNS servers: %" G_GSIZE_FORMAT " (at most %d)", n,
                    SH_FW_DNS_MAX);
  servers = g_array_sized_new (FALSE, TRUE, sizeof (ShSubnet), (guint) n);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GVariant) addr = NULL;
      guint8 family;
      ShSubnet s = { 0 };

      g_variant_get_child (list, i, "(y@ay)", &family, &addr);
      if (!parse_address (family, addr, &s.family, s.addr, "DNS server", (guint) i, error))
        return FALSE;
      s.prefix = family == 4 ? 32 : 128;
      g_array_append_val (servers, s);
    }
  *out = g_steal_pointer (&servers);
  return TRUE;
}

/* What the options of ApplyTunnel can set. */
typedef struct
{
  gboolean block_ipv6;
  guint32 on_behalf_of;
} TunnelOptions;

/* The options ApplyTunnel knows: anything else, a wrong type or a key given
 * twice is refused rather than ignored, so a caller never believes a switch
 * is on that this helper does not implement. */
static const struct
{
  const char *key;
  const char *type; /* "b" (a gboolean) or "u" (a guint32) */
  gsize offset;     /* of the value in TunnelOptions */
} known_options[] = {
  { "block-ipv6", "b", G_STRUCT_OFFSET (TunnelOptions, block_ipv6) },
  { "on-behalf-of-uid", "u", G_STRUCT_OFFSET (TunnelOptions, on_behalf_of) },
};

static gboolean
parse_options (GVariant *options, TunnelOptions *out, GError **error)
{
  gsize n = g_variant_n_children (options);
  gboolean seen[G_N_ELEMENTS (known_options)] = { FALSE };

  for (gsize i = 0; i < n; i++)
    {
      const char *key = NULL;
      g_autoptr (GVariant) value = NULL;
      guint k;

      g_variant_get_child (options, i, "{&sv}", &key, &value);
      for (k = 0; k < G_N_ELEMENTS (known_options); k++)
        if (g_str_equal (key, known_options[k].key))
          break;
      if (k == G_N_ELEMENTS (known_options))
        return invalid (error, "unknown option “%s”", key);
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (known_options[k].type)))
        return invalid (error, "option “%s” must be of type %s, not %s", key, known_options[k].type,
                        g_variant_get_type_string (value));
      if (seen[k])
        return invalid (error, "option “%s” given twice", key);
      seen[k] = TRUE;
      if (known_options[k].type[0] == 'b')
        G_STRUCT_MEMBER (gboolean, out, known_options[k].offset) = g_variant_get_boolean (value);
      else if (g_variant_get_uint32 (value) == SH_FW_UID_NONE)
        return invalid (error, "option “%s”: %u is not a uid", key, SH_FW_UID_NONE);
      else
        G_STRUCT_MEMBER (guint32, out, known_options[k].offset) = g_variant_get_uint32 (value);
    }
  return TRUE;
}

gboolean
sh_fw_parse_tunnel (GVariant *params, char **label, ShFirewallSpec *spec, guint32 *on_behalf_of,
                    GError **error)
{
  const char *l;
  guint16 port;
  g_autoptr (GVariant) subnets = NULL;
  g_autoptr (GVariant) excludes = NULL;
  g_autoptr (GVariant) dns = NULL;
  g_autoptr (GVariant) options = NULL;
  ShFirewallSpec s = { 0 };
  TunnelOptions opts = { .on_behalf_of = SH_FW_UID_NONE };

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sqa(yayyqq)a(yayyqq)a(yay)a{sv})")))
    return invalid (error, "wrong argument types");
  g_variant_get (params, "(&sq@a(yayyqq)@a(yayyqq)@a(yay)@a{sv})", &l, &port, &subnets, &excludes,
                 &dns, &options);
  if (!check_label (l, error))
    return FALSE;
  if (port == 0)
    return invalid (error, "invalid listener port 0");
  if (!parse_options (options, &opts, error))
    return FALSE;
  s.block_ipv6 = opts.block_ipv6;
  s.port = port;
  if (!parse_subnets (subnets, &s.subnets, "subnet", error)
      || !parse_subnets (excludes, &s.excludes, "exclude", error)
      || !parse_dns_servers (dns, &s.dns_servers, error))
    {
      sh_fw_spec_clear (&s);
      return FALSE;
    }
  *spec = s;
  *label = g_strdup (l);
  *on_behalf_of = opts.on_behalf_of;
  return TRUE;
}

gboolean
sh_fw_parse_hosts (GVariant *params, char **label, GPtrArray **lines, GError **error)
{
  const char *l;
  g_autoptr (GVariant) entries = NULL;
  g_autoptr (GPtrArray) out = NULL;
  gsize n;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa(ss))")))
    return invalid (error, "wrong argument types");
  g_variant_get (params, "(&s@a(ss))", &l, &entries);
  if (!check_label (l, error))
    return FALSE;
  n = g_variant_n_children (entries);
  if (n > SH_FW_HOSTS_MAX)
    return invalid (error, "too many host entries: %" G_GSIZE_FORMAT " (at most %d)", n,
                    SH_FW_HOSTS_MAX);
  out = g_ptr_array_new_full ((guint) n, g_free);
  for (gsize i = 0; i < n; i++)
    {
      const char *address, *name;
      guint8 bin[16];
      char text[INET6_ADDRSTRLEN];
      int af;

      g_variant_get_child (entries, i, "(&s&s)", &address, &name);
      if (inet_pton (AF_INET, address, bin) == 1)
        af = AF_INET;
      else if (inet_pton (AF_INET6, address, bin) == 1)
        af = AF_INET6;
      else
        return invalid (error, "host entry %" G_GSIZE_FORMAT ": not an IPv4 or IPv6 address", i);
      if (!sh_hostname_is_valid (name, strlen (name)))
        return invalid (error, "host entry %" G_GSIZE_FORMAT ": not a valid host name", i);
      /* The address is written back in canonical form: what goes into the
       * file is the helper's own rendering, not the caller's text. */
      inet_ntop (af, bin, text, sizeof text);
      g_ptr_array_add (out, g_strdup_printf ("%s %s", text, name));
    }
  *label = g_strdup (l);
  *lines = g_steal_pointer (&out);
  return TRUE;
}

static gboolean
line_is_held (const GPtrArray *held, const char *line)
{
  for (guint i = 0; held != NULL && i < held->len; i++)
    if (g_str_equal (g_ptr_array_index (held, i), line))
      return TRUE;
  return FALSE;
}

GPtrArray *
sh_fw_filter_hosts (const GPtrArray *lines, const GArray *subnets, GHashTable *taken,
                    const GPtrArray *held, GPtrArray *dropped)
{
  GPtrArray *kept = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < lines->len; i++)
    {
      const char *line = g_ptr_array_index (lines, i);
      const char *sp = strchr (line, ' ');
      g_autofree char *address = sp != NULL ? g_strndup (line, (gsize) (sp - line)) : NULL;
      g_autofree char *name = sp != NULL ? g_ascii_strdown (sp + 1, -1) : NULL;
      guint8 bin[16];
      int af = address != NULL && strchr (address, ':') != NULL ? AF_INET6 : AF_INET;

      if (address == NULL || inet_pton (af, address, bin) != 1)
        g_ptr_array_add (dropped, g_strdup_printf ("%s: not an address", line));
      else if (g_hash_table_contains (taken, name))
        g_ptr_array_add (dropped,
                         g_strdup_printf ("%s: the hosts file has this name already", line));
      else if (!sh_subnet_list_covers_address (subnets, af, bin) && !line_is_held (held, line))
        g_ptr_array_add (
            dropped, g_strdup_printf ("%s: the address is in none of the caller's tunnels", line));
      else
        g_ptr_array_add (kept, g_strdup (line));
    }
  return kept;
}

gboolean
sh_fw_parse_label (GVariant *params, char **label, GError **error)
{
  const char *l;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(s)")))
    return invalid (error, "wrong argument types");
  g_variant_get (params, "(&s)", &l);
  if (!check_label (l, error))
    return FALSE;
  *label = g_strdup (l);
  return TRUE;
}
