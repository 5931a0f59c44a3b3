/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of nm-shuttle-service's check of its engine's ApplyTunnel
 * requests (nm-plugin/service/nm-shuttle-fwproxy.c): the IPv6 leak block
 * that a profile turns on by default, and the uid the service names to the
 * helper (the engine may not name one), through sh_nm_fw_rewrite_apply(). */
#include "config.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fw-wire.h"
#include "nm-shuttle-fwproxy.h"

static GHashTable *
table (const char *first, ...)
{
  GHashTable *t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  va_list ap;

  va_start (ap, first);
  for (const char *k = first; k != NULL; k = va_arg (ap, const char *))
    g_hash_table_insert (t, g_strdup (k), g_strdup (va_arg (ap, const char *)));
  va_end (ap);
  return t;
}

static GVariant *
subnets (gboolean all4, gboolean all6)
{
  GVariantBuilder b;
  static const guint8 zero[16] = { 0 };
  static const guint8 lan[4] = { 10, 1, 0, 0 };

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(yayyqq)"));
  g_variant_builder_add (&b, "(y@ayyqq)", 4,
                         g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, lan, 4, 1), 16, 0, 0);
  if (all4)
    g_variant_builder_add (&b, "(y@ayyqq)", 4,
                           g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, zero, 4, 1), 0, 0, 0);
  if (all6)
    g_variant_builder_add (&b, "(y@ayyqq)", 6,
                           g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, zero, 16, 1), 0, 0, 0);
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static GVariant *
options (int block)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  if (block >= 0)
    g_variant_builder_add (&b, "{sv}", "block-ipv6", g_variant_new_boolean (block));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

/* sh_nm_fw_rewrite_apply() of an engine's ApplyTunnel("engine", 12300, ...). */
static GVariant *
rewrite (const ShNmFwPolicy *policy, GVariant *s, GVariant *dns, GVariant *o, GError **error)
{
  g_autoptr (GVariant) params = g_variant_ref_sink (
      g_variant_new ("(sq@a(yayyqq)@a(yayyqq)@a(yay)@a{sv})", "engine", (guint16) 12300, s,
                     g_variant_new_array (G_VARIANT_TYPE ("(yayyqq)"), NULL, 0), dns, o));
  GVariant *out = sh_nm_fw_rewrite_apply (policy, params, error);

  return out != NULL ? g_variant_ref_sink (out) : NULL;
}

static gboolean
check (const char *block_key, gboolean all4, gboolean all6, int block, GError **error)
{
  g_autoptr (GHashTable) data
      = block_key != NULL ? table ("host", "gw", "subnets", "0/0,10.1.0.0/16,[::]/0", "block-ipv6",
                                   block_key, NULL)
                          : table ("host", "gw", "subnets", "0/0,10.1.0.0/16,[::]/0", NULL);
  g_autoptr (ShNmProfile) profile = sh_nm_profile_new (data, NULL);
  g_autoptr (GVariant) s = subnets (all4, all6);
  g_autoptr (GVariant) o = options (block);
  g_autoptr (GVariant) dns = g_variant_ref_sink (g_variant_new ("a(yay)", NULL));
  ShNmFwPolicy policy = { .profile = profile, .engine_uid = getuid (), .label = "t" };
  g_autoptr (GVariant) out = NULL;

  g_assert_nonnull (profile);
  out = rewrite (&policy, s, dns, o, error);
  return out != NULL;
}

static void
test_block_ipv6 (void)
{
  g_autoptr (GError) error = NULL;

  /* default on: a full IPv4 tunnel must ask for the block */
  g_assert_false (check (NULL, TRUE, FALSE, -1, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, "block-ipv6"));
  g_clear_error (&error);
  g_assert_false (check (NULL, TRUE, FALSE, FALSE, &error));
  g_clear_error (&error);
  g_assert_true (check (NULL, TRUE, FALSE, TRUE, &error));
  g_assert_no_error (error);
  /* no full IPv4 tunnel, or IPv6 fully tunnelled too: nothing to leak */
  g_assert_true (check (NULL, FALSE, FALSE, -1, &error));
  g_assert_true (check (NULL, TRUE, TRUE, -1, &error));
  g_assert_true (check ("yes", TRUE, TRUE, TRUE, &error));
  /* the profile may turn it off, and then either is fine */
  g_assert_true (check ("no", TRUE, FALSE, -1, &error));
  g_assert_true (check ("no", TRUE, FALSE, TRUE, &error));
  g_assert_no_error (error);
}

/* The service names the engine's uid to the helper, which checks the
 * listener port against it; the engine cannot name another. */
static void
test_on_behalf_of (void)
{
  g_autoptr (GHashTable) data = table ("host", "gw", "subnets", "10.1.0.0/16", NULL);
  g_autoptr (ShNmProfile) profile = sh_nm_profile_new (data, NULL);
  g_autoptr (GVariant) s = subnets (FALSE, FALSE);
  g_autoptr (GVariant) dns = g_variant_ref_sink (g_variant_new ("a(yay)", NULL));
  g_autoptr (GVariant) named
      = g_variant_ref_sink (g_variant_new_parsed ("{'on-behalf-of-uid': <@u 0>}"));
  g_autoptr (GVariant) plain = g_variant_ref_sink (g_variant_new_parsed ("{'block-ipv6': <true>}"));
  g_autoptr (GVariant) fwd = NULL;
  g_autoptr (GVariant) opts = NULL;
  g_autoptr (GVariant) sub = NULL;
  g_autoptr (GVariant) bad = NULL;
  ShNmFwPolicy policy = { .profile = profile, .engine_uid = 1000, .label = "t" };
  g_autoptr (GError) error = NULL;
  g_autoptr (GError) error2 = NULL;
  const char *label = NULL;
  guint16 port = 0;
  guint32 uid = 0;
  gboolean block = FALSE;

  g_assert_null (rewrite (&policy, s, dns, named, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED);
  g_assert_nonnull (strstr (error->message, "on-behalf-of-uid"));

  /* What goes to the helper: our label, the engine's port and subnets, its
   * block-ipv6, and the engine's uid named by us. */
  fwd = rewrite (&policy, s, dns, plain, NULL);
  g_assert_nonnull (fwd);
  g_variant_get_child (fwd, 0, "&s", &label);
  g_variant_get_child (fwd, 1, "q", &port);
  g_assert_cmpstr (label, ==, "t");
  g_assert_cmpuint (port, ==, 12300);
  opts = g_variant_get_child_value (fwd, 5);
  g_assert_true (g_variant_lookup (opts, "on-behalf-of-uid", "u", &uid));
  g_assert_cmpuint (uid, ==, 1000);
  g_assert_true (g_variant_lookup (opts, "block-ipv6", "b", &block) && block);
  sub = g_variant_get_child_value (fwd, 2);
  g_assert_cmpuint (g_variant_n_children (sub), ==, 1);

  /* A malformed request is the decoder's InvalidArgs, as at the helper. */
  bad = g_variant_ref_sink (g_variant_new ("(s)", "x"));
  g_assert_null (sh_nm_fw_rewrite_apply (&policy, bad, &error2));
  g_assert_error (error2, SH_FW_ERROR, SH_FW_ERROR_INVALID_ARGS);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nm-fwcheck/block-ipv6", test_block_ipv6);
  g_test_add_func ("/nm-fwcheck/on-behalf-of", test_on_behalf_of);
  return g_test_run ();
}
