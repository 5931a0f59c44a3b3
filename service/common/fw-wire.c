/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-wire.c — ApplyTunnel's arguments to and from ShFirewallSpec. */
#include "config.h"

#include "fw-wire.h"

#include <string.h>
#include <sys/socket.h>

#include "shuttle-dbus.h"
#include "subnet.h"

static const GDBusErrorEntry error_entries[] = {
  { SH_FW_ERROR_INVALID_ARGS, SH_FW_ERROR_PREFIX "InvalidArgs" },
  { SH_FW_ERROR_NOT_AUTHORIZED, SH_FW_ERROR_PREFIX "NotAuthorized" },
  { SH_FW_ERROR_NOT_FOUND, SH_FW_ERROR_PREFIX "NotFound" },
  { SH_FW_ERROR_FAILED, SH_FW_ERROR_PREFIX "Failed" },
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
sh_fw_invalid (GError **error, const char *format, ...)
{
  va_list ap;
  g_autofree char *message = NULL;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error_literal (error, SH_FW_ERROR, SH_FW_ERROR_INVALID_ARGS, message);
  return FALSE;
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

gboolean
sh_fw_check_label (const char *label, GError **error)
{
  if (!sh_fw_label_is_valid (label))
    return sh_fw_invalid (error, "invalid label: expected 1 to %d of a-z, 0-9, _", SH_FW_LABEL_MAX);
  return TRUE;
}

void
sh_fw_spec_clear (ShFirewallSpec *spec)
{
  g_clear_pointer (&spec->subnets, g_array_unref);
  g_clear_pointer (&spec->excludes, g_array_unref);
  g_clear_pointer (&spec->dns_servers, g_array_unref);
  g_clear_pointer (&spec->cgroup, g_free);
}

void
sh_fw_spec_copy (ShFirewallSpec *dst, const ShFirewallSpec *src)
{
  *dst = *src;
  if (dst->subnets != NULL)
    g_array_ref (dst->subnets);
  if (dst->excludes != NULL)
    g_array_ref (dst->excludes);
  if (dst->dns_servers != NULL)
    g_array_ref (dst->dns_servers);
  dst->cgroup = g_strdup (src->cgroup);
}

gboolean
sh_fw_cgroup_path_is_valid (const char *path)
{
  gsize len = path ? strlen (path) : 0, start = 0;

  if (len == 0 || len > SH_FW_CGROUP_PATH_MAX)
    return FALSE;
  for (gsize i = 0; i <= len; i++)
    {
      char ch = path[i];

      if (ch == '/' || ch == '\0')
        {
          gsize n = i - start;

          if (n == 0 || (n == 1 && path[start] == '.')
              || (n == 2 && path[start] == '.' && path[start + 1] == '.'))
            return FALSE;
          start = i + 1;
        }
      else if (!g_ascii_isalnum (ch) && !strchr ("._@:-", ch))
        return FALSE;
    }
  return TRUE;
}

/* On the wire an address is its family, 4 or 6, and its bytes. */
#define FAMILY_BYTE(s) ((guint8) ((s)->family == AF_INET ? 4 : 6))
#define ADDRESS_BYTES(s)                                                                           \
  g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, (s)->addr, (s)->family == AF_INET ? 4 : 16, 1)

/* family 4 or 6 and an address of exactly that length; the prefix is set
 * to the full width. */
static gboolean
parse_address (guint8 family, GVariant *bytes, ShSubnet *s, const char *what, gsize index,
               GError **error)
{
  gsize n = 0;
  const guint8 *data = g_variant_get_fixed_array (bytes, &n, 1);

  if (family != 4 && family != 6)
    return sh_fw_invalid (error, "%s %" G_GSIZE_FORMAT ": family must be 4 or 6, not %u", what,
                          index, family);
  if (n != (family == 4 ? 4u : 16u))
    return sh_fw_invalid (
        error, "%s %" G_GSIZE_FORMAT ": an IPv%u address has %u bytes, not %" G_GSIZE_FORMAT, what,
        index, family, family == 4 ? 4 : 16, n);
  memset (s->addr, 0, sizeof s->addr);
  memcpy (s->addr, data, n);
  s->family = family == 4 ? AF_INET : AF_INET6;
  s->prefix = family == 4 ? 32 : 128;
  return TRUE;
}

static GVariant *
subnets_variant (const GArray *subnets)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(yayyqq)"));
  for (guint i = 0; subnets != NULL && i < subnets->len; i++)
    {
      const ShSubnet *s = &g_array_index (subnets, ShSubnet, i);
      g_variant_builder_add (&b, "(y@ayyqq)", FAMILY_BYTE (s), ADDRESS_BYTES (s), s->prefix,
                             s->port_lo, s->port_hi);
    }
  return g_variant_builder_end (&b);
}

gboolean
sh_fw_parse_subnets (GVariant *list, const char *what, GArray **out, GError **error)
{
  gsize n = g_variant_n_children (list);
  g_autoptr (GArray) subnets = NULL;

  if (n > SH_FW_SUBNETS_MAX)
    return sh_fw_invalid (error, "too many %ss: %" G_GSIZE_FORMAT " (at most %d)", what, n,
                          SH_FW_SUBNETS_MAX);
  subnets = g_array_sized_new (FALSE, TRUE, sizeof (ShSubnet), (guint) n);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GVariant) addr = NULL;
      guint8 family, prefix;
      guint16 lo, hi;
      ShSubnet s = { 0 };

      g_variant_get_child (list, i, "(y@ayyqq)", &family, &addr, &prefix, &lo, &hi);
      if (!parse_address (family, addr, &s, what, i, error))
        return FALSE;
      if (prefix > s.prefix)
        return sh_fw_invalid (error, "%s %" G_GSIZE_FORMAT ": prefix %u is too long for IPv%u",
                              what, i, prefix, family);
      if (!((lo == 0 && hi == 0) || (lo >= 1 && lo <= hi)))
        return sh_fw_invalid (error,
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

/* The nameservers whose DNS (UDP and TCP port 53) is captured. */
gboolean
sh_fw_parse_dns_servers (GVariant *list, GArray **out, GError **error)
{
  gsize n = g_variant_n_children (list);
  g_autoptr (GArray) servers = NULL;

  if (n > SH_FW_DNS_MAX)
    return sh_fw_invalid (error, "too many DNS servers: %" G_GSIZE_FORMAT " (at most %d)", n,
                          SH_FW_DNS_MAX);
  servers = g_array_sized_new (FALSE, TRUE, sizeof (ShSubnet), (guint) n);
  for (gsize i = 0; i < n; i++)
    {
      g_autoptr (GVariant) addr = NULL;
      guint8 family;
      ShSubnet s = { 0 };

      g_variant_get_child (list, i, "(y@ay)", &family, &addr);
      if (!parse_address (family, addr, &s, "DNS server", i, error))
        return FALSE;
      g_array_append_val (servers, s);
    }
  *out = g_steal_pointer (&servers);
  return TRUE;
}

static GVariant *
dns_variant (const GArray *servers)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(yay)"));
  for (guint i = 0; servers != NULL && i < servers->len; i++)
    {
      const ShSubnet *s = &g_array_index (servers, ShSubnet, i);
      g_variant_builder_add (&b, "(y@ay)", FAMILY_BYTE (s), ADDRESS_BYTES (s));
    }
  return g_variant_builder_end (&b);
}

/* What the options of ApplyTunnel can set. */
typedef struct
{
  gboolean block_ipv6;
  guint32 on_behalf_of;
  const char *cgroup;
  guint32 cgroup_level;
  gboolean cgroup_exclude;
  gboolean fail_closed;
} TunnelOptions;

/* The options ApplyTunnel knows: anything else, a wrong type or a key given
 * twice is refused rather than ignored, so a caller never believes a switch
 * is on that the helper does not implement. */
static const struct
{
  const char *key;
  const char *type; /* "b" (a gboolean), "u" (a guint32) or "s" (a string) */
  gsize offset;     /* of the value in TunnelOptions */
} known_options[] = {
  { "block-ipv6", "b", G_STRUCT_OFFSET (TunnelOptions, block_ipv6) },
  { "on-behalf-of-uid", "u", G_STRUCT_OFFSET (TunnelOptions, on_behalf_of) },
  { "cgroup", "s", G_STRUCT_OFFSET (TunnelOptions, cgroup) },
  { "cgroup-level", "u", G_STRUCT_OFFSET (TunnelOptions, cgroup_level) },
  { "cgroup-exclude", "b", G_STRUCT_OFFSET (TunnelOptions, cgroup_exclude) },
  { "fail-closed", "b", G_STRUCT_OFFSET (TunnelOptions, fail_closed) },
};

gboolean
sh_fw_parse_options (GVariant *options, ShFirewallSpec *spec, guint32 *on_behalf_of, GError **error)
{
  gsize n = g_variant_n_children (options);
  gboolean seen[G_N_ELEMENTS (known_options)] = { FALSE };
  TunnelOptions out = { .on_behalf_of = SH_FW_UID_NONE };
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func ((GDestroyNotify) g_variant_unref);

  for (gsize i = 0; i < n; i++)
    {
      const char *key = NULL;
      GVariant *value = NULL;
      guint k;

      g_variant_get_child (options, i, "{&sv}", &key, &value);
      g_ptr_array_add (values, value); /* a string option points into it */
      for (k = 0; k < G_N_ELEMENTS (known_options); k++)
        if (g_str_equal (key, known_options[k].key))
          break;
      if (k == G_N_ELEMENTS (known_options))
        return sh_fw_invalid (error, "unknown option “%s”", key);
      if (!g_variant_is_of_type (value, G_VARIANT_TYPE (known_options[k].type)))
        return sh_fw_invalid (error, "option “%s” must be of type %s, not %s", key,
                              known_options[k].type, g_variant_get_type_string (value));
      if (seen[k])
        return sh_fw_invalid (error, "option “%s” given twice", key);
      seen[k] = TRUE;
      if (known_options[k].type[0] == 'b')
        G_STRUCT_MEMBER (gboolean, &out, known_options[k].offset) = g_variant_get_boolean (value);
      else if (known_options[k].type[0] == 's')
        G_STRUCT_MEMBER (const char *, &out, known_options[k].offset)
            = g_variant_get_string (value, NULL);
      else if (g_variant_get_uint32 (value) == SH_FW_UID_NONE)
        return sh_fw_invalid (error, "option “%s”: %u is not a uid", key, SH_FW_UID_NONE);
      else
        G_STRUCT_MEMBER (guint32, &out, known_options[k].offset) = g_variant_get_uint32 (value);
    }
  if ((out.cgroup != NULL) != (out.cgroup_level != 0))
    return sh_fw_invalid (error, "options “cgroup” and “cgroup-level” go together");
  if (out.cgroup == NULL && out.cgroup_exclude)
    return sh_fw_invalid (error, "option “cgroup-exclude” needs “cgroup”");
  if (out.cgroup != NULL && !sh_fw_cgroup_path_is_valid (out.cgroup))
    return sh_fw_invalid (error, "invalid cgroup path");
  if (out.cgroup_level > SH_FW_CGROUP_LEVEL_MAX)
    return sh_fw_invalid (error, "invalid cgroup level %u", out.cgroup_level);
  spec->block_ipv6 = out.block_ipv6;
  spec->cgroup = g_strdup (out.cgroup);
  spec->cgroup_level = out.cgroup_level;
  spec->cgroup_exclude = out.cgroup_exclude;
  spec->syn_fail_closed = out.fail_closed;
  *on_behalf_of = out.on_behalf_of;
  return TRUE;
}

GVariant *
sh_fw_encode_options (const ShFirewallSpec *spec, guint32 on_behalf_of)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  if (spec->block_ipv6)
    g_variant_builder_add (&b, "{sv}", "block-ipv6", g_variant_new_boolean (TRUE));
  if (on_behalf_of != SH_FW_UID_NONE)
    g_variant_builder_add (&b, "{sv}", "on-behalf-of-uid", g_variant_new_uint32 (on_behalf_of));
  if (spec->cgroup != NULL)
    {
      g_variant_builder_add (&b, "{sv}", "cgroup", g_variant_new_string (spec->cgroup));
      g_variant_builder_add (&b, "{sv}", "cgroup-level", g_variant_new_uint32 (spec->cgroup_level));
      if (spec->cgroup_exclude)
        g_variant_builder_add (&b, "{sv}", "cgroup-exclude", g_variant_new_boolean (TRUE));
    }
  if (spec->syn_fail_closed)
    g_variant_builder_add (&b, "{sv}", "fail-closed", g_variant_new_boolean (TRUE));
  return g_variant_builder_end (&b);
}

GVariant *
sh_fw_encode_tunnel (const char *label, const ShFirewallSpec *spec, guint32 on_behalf_of)
{
  return g_variant_new ("(sq@a(yayyqq)@a(yayyqq)@a(yay)@a{sv})", label, spec->port,
                        subnets_variant (spec->subnets), subnets_variant (spec->excludes),
                        dns_variant (spec->dns_servers), sh_fw_encode_options (spec, on_behalf_of));
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
  guint32 uid;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE (SH_FW_TUNNEL_SIGNATURE)))
    return sh_fw_invalid (error, "wrong argument types");
  g_variant_get (params, "(&sq@a(yayyqq)@a(yayyqq)@a(yay)@a{sv})", &l, &port, &subnets, &excludes,
                 &dns, &options);
  if (!sh_fw_check_label (l, error))
    return FALSE;
  if (port == 0)
    return sh_fw_invalid (error, "invalid listener port 0");
  if (!sh_fw_parse_options (options, &s, &uid, error))
    return FALSE;
  if (s.syn_fail_closed)
    {
      sh_fw_spec_clear (&s);
      return sh_fw_invalid (error, "option “fail-closed” belongs to OpenSynQueue");
    }
  s.port = port;
  if (!sh_fw_parse_subnets (subnets, "subnet", &s.subnets, error)
      || !sh_fw_parse_subnets (excludes, "exclude", &s.excludes, error)
      || !sh_fw_parse_dns_servers (dns, &s.dns_servers, error))
    {
      sh_fw_spec_clear (&s);
      return FALSE;
    }
  *spec = s;
  *label = g_strdup (l);
  *on_behalf_of = uid;
  return TRUE;
}
