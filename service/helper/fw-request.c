/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-request.c — validation of the helper's D-Bus arguments. */
#include "config.h"

#include "fw-request.h"

#include <arpa/inet.h>
#include <string.h>

#include "hostname.h"
#include "subnet.h"

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

gboolean
sh_fw_parse_hosts (GVariant *params, char **label, GPtrArray **lines, GError **error)
{
  const char *l;
  g_autoptr (GVariant) entries = NULL;
  g_autoptr (GPtrArray) out = NULL;
  gsize n;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa(ss))")))
    return sh_fw_invalid (error, "wrong argument types");
  g_variant_get (params, "(&s@a(ss))", &l, &entries);
  if (!sh_fw_check_label (l, error))
    return FALSE;
  n = g_variant_n_children (entries);
  if (n > SH_FW_HOSTS_MAX)
    return sh_fw_invalid (error, "too many host entries: %" G_GSIZE_FORMAT " (at most %d)", n,
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
        return sh_fw_invalid (error, "host entry %" G_GSIZE_FORMAT ": not an IPv4 or IPv6 address",
                              i);
      if (!sh_hostname_is_valid (name, strlen (name)))
        return sh_fw_invalid (error, "host entry %" G_GSIZE_FORMAT ": not a valid host name", i);
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
    return sh_fw_invalid (error, "wrong argument types");
  g_variant_get (params, "(&s)", &l);
  if (!sh_fw_check_label (l, error))
    return FALSE;
  *label = g_strdup (l);
  return TRUE;
}

/* (sa{sv}) with a label and the options @allowed names besides
 * "on-behalf-of-uid" ("fail-closed" or none). */
static gboolean
parse_label_options (GVariant *params, const char *method, gboolean fail_closed_allowed,
                     char **label, guint32 *on_behalf_of, gboolean *fail_closed, GError **error)
{
  g_autoptr (GVariant) options = NULL;
  ShFirewallSpec opts = { 0 };
  const char *l;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv})")))
    return sh_fw_invalid (error, "wrong argument types");
  g_variant_get (params, "(&s@a{sv})", &l, &options);
  if (!sh_fw_check_label (l, error) || !sh_fw_parse_options (options, &opts, on_behalf_of, error))
    {
      sh_fw_spec_clear (&opts);
      return FALSE;
    }
  /* The leak block and a scope are ApplyTunnel's business. */
  gboolean foreign
      = opts.block_ipv6 || opts.cgroup != NULL || (opts.syn_fail_closed && !fail_closed_allowed);
  *fail_closed = opts.syn_fail_closed;
  sh_fw_spec_clear (&opts);
  if (foreign)
    return sh_fw_invalid (error, "%s takes only the option “on-behalf-of-uid”%s", method,
                          fail_closed_allowed ? " and “fail-closed”" : "");
  *label = g_strdup (l);
  return TRUE;
}

gboolean
sh_fw_parse_dgram (GVariant *params, char **label, guint32 *on_behalf_of, GError **error)
{
  gboolean unused;

  return parse_label_options (params, "OpenDatagramTunnel", FALSE, label, on_behalf_of, &unused,
                              error);
}

gboolean
sh_fw_parse_synq (GVariant *params, char **label, guint32 *on_behalf_of, gboolean *fail_closed,
                  GError **error)
{
  return parse_label_options (params, "OpenSynQueue", TRUE, label, on_behalf_of, fail_closed,
                              error);
}
