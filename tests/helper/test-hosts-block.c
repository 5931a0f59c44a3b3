/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the helper's pure parts: hosts blocks and argument checks. */
#include "config.h"

#include <glib.h>
#include <string.h>

#include "fw-request.h"
#include "hosts-block.h"

static GPtrArray *
lines (const char *first, ...)
{
  GPtrArray *a = g_ptr_array_new_with_free_func (g_free);
  va_list ap;

  va_start (ap, first);
  for (const char *l = first; l != NULL; l = va_arg (ap, const char *))
    g_ptr_array_add (a, g_strdup (l));
  va_end (ap);
  return a;
}

/* Every order of adding and removing two blocks gives the original back,
 * with and without a final newline in the original. */
static void
test_restore (void)
{
  const char *originals[] = { "", "127.0.0.1 localhost\n", "127.0.0.1 localhost\n# no newline" };
  g_autoptr (GPtrArray) la = lines ("10.0.0.1 a", "fd00::1 a6", NULL);
  g_autoptr (GPtrArray) lb = lines ("10.0.0.2 b", NULL);

  for (guint i = 0; i < G_N_ELEMENTS (originals); i++)
    for (int first_a = 0; first_a < 2; first_a++)
      {
        const char *orig = originals[i];
        g_autofree char *t1 = sh_hosts_block_set (orig, "c1_1-x", "owner=:1.1", la);
        g_autofree char *t2 = sh_hosts_block_set (t1, "c1_2-x", "owner=:1.2", lb);
        g_autofree char *t3 = sh_hosts_block_remove (t2, first_a ? "c1_1-x" : "c1_2-x");
        g_autofree char *t4 = sh_hosts_block_remove (t3, first_a ? "c1_2-x" : "c1_1-x");

        g_assert_nonnull (strstr (t2, "10.0.0.1 a\nfd00::1 a6\n"));
        g_assert_true (g_str_has_prefix (t2, orig));
        g_assert_cmpstr (t4, ==, orig);
      }
}

static void
test_replace_and_list (void)
{
  g_autoptr (GPtrArray) la = lines ("10.0.0.1 a", NULL);
  g_autoptr (GPtrArray) lb = lines ("10.0.0.2 b", NULL);
  g_autoptr (GPtrArray) lc = lines ("10.0.0.3 c", NULL);
  g_autofree char *t1 = sh_hosts_block_set ("x y\n", "c1_1-x", "owner=:1.1 bus=ab uid=0", la);
  g_autofree char *t2 = sh_hosts_block_set (t1, "c1_2-x", "owner=:1.2 bus=ab uid=5", lb);
  g_autofree char *t3 = sh_hosts_block_set (t2, "c1_1-x", "owner=:1.1 bus=ab uid=0", lc);
  g_autoptr (GHashTable) blocks = sh_hosts_block_list (t3);
  /* A begin line without its end is somebody's edit: left alone. */
  g_autofree char *broken = g_strconcat (t3, "# shuttle-firewall c1_3-x begin owner=:1.3\n", NULL);
  g_autoptr (GHashTable) blocks2 = sh_hosts_block_list (broken);
  g_autofree char *same = sh_hosts_block_remove (broken, "c1_3-x");

  g_assert_null (strstr (t3, "10.0.0.1 a"));
  g_assert_true (strstr (t3, "10.0.0.3 c") < strstr (t3, "10.0.0.2 b"));
  g_assert_cmpuint (g_hash_table_size (blocks), ==, 2);
  g_assert_cmpstr (g_hash_table_lookup (blocks, "c1_2-x"), ==, "owner=:1.2 bus=ab uid=5");
  g_assert_cmpuint (g_hash_table_size (blocks2), ==, 2);
  g_assert_cmpstr (same, ==, broken);
}

/* Hand-edited text around and inside blocks: whatever happens, what is not
 * ours stays, and our blocks still come and go. */
static void
test_odd_text (void)
{
  const char *orig = "a b\n# last# shuttle-firewall c1_9-x begin owner=:1.9\n1.2.3.4 z\n"
                     "# shuttle-firewall c1_9-x end\n# shuttle-firewall c1_8-x end\n"
                     "# shuttle-firewall c1_7-x begin";
  g_autoptr (GPtrArray) la = lines ("10.0.0.1 a", NULL);
  g_autofree char *t1 = sh_hosts_block_set (orig, "c1_1-x", "owner=:1.1", la);
  g_autofree char *t2 = sh_hosts_block_set (t1, "c1_2-x", "owner=:1.2", la);
  g_autofree char *t3 = sh_hosts_block_remove (t2, "c1_1-x");
  g_autofree char *t4 = sh_hosts_block_remove (t3, "c1_2-x");
  g_autoptr (GHashTable) blocks = sh_hosts_block_list (t2);

  g_assert_cmpuint (g_hash_table_size (blocks), ==, 2);
  g_assert_cmpstr (t4, ==, orig);
}

/* A begin line of our own id without its end (a hand edit, a block cut
 * short) stays where it is, with what follows it: found by fuzz-hosts, when
 * the second update took everything from that line to our new block. */
static void
test_stray_begin (void)
{
  const char *orig = "x\n# shuttle-firewall c1_1-x begin owner=:1.1 +nl\n10.1.1.1 kept\n";
  g_autoptr (GPtrArray) la = lines ("10.0.0.1 a", NULL);
  g_autoptr (GPtrArray) lb = lines ("10.0.0.2 b", NULL);
  g_autofree char *t1 = sh_hosts_block_set (orig, "c1_1-x", "owner=:1.1", la);
  g_autofree char *t2 = sh_hosts_block_set (t1, "c1_1-x", "owner=:1.1", lb);
  g_autofree char *t3 = sh_hosts_block_remove (t2, "c1_1-x");

  g_assert_true (g_str_has_prefix (t1, orig));
  g_assert_true (g_str_has_prefix (t2, orig));
  g_assert_nonnull (strstr (t2, "10.0.0.2 b"));
  g_assert_null (strstr (t2, "10.0.0.1 a"));
  g_assert_cmpstr (t3, ==, orig);
}

static void
test_owner_token (void)
{
  g_autofree char *t = sh_fw_owner_token (":1.42");

  g_assert_cmpstr (t, ==, "c1_42");
  g_assert_null (sh_fw_owner_token ("io.github.x"));
  g_assert_null (sh_fw_owner_token (":1.4a"));
  g_assert_null (sh_fw_owner_token (":1."));
  g_assert_null (sh_fw_owner_token (":12345678901.1"));
  g_assert_true (sh_fw_label_is_valid ("work_2"));
  g_assert_false (sh_fw_label_is_valid ("Work"));
  g_assert_false (sh_fw_label_is_valid ("a-b"));
}

static void
test_parse_hosts (void)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) out = NULL;
  g_autofree char *label = NULL;
  g_autoptr (GVariant) good = g_variant_ref_sink (
      g_variant_new_parsed ("('lab', [('fd31:0002::0010', 'a.example'), ('10.0.0.1', 'b_c')])"));
  g_autoptr (GVariant) bad
      = g_variant_ref_sink (g_variant_new_parsed ("('lab', [('10.0.0.1', 'a..b')])"));

  g_assert_true (sh_fw_parse_hosts (good, &label, &out, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (g_ptr_array_index (out, 0), ==, "fd31:2::10 a.example");
  g_assert_false (sh_fw_parse_hosts (bad, &label, &out, &error));
  g_assert_error (error, SH_FW_ERROR, SH_FW_ERROR_INVALID_ARGS);
}

static gboolean
parse_tunnel_with (GVariant *options, guint32 *on_behalf_of, GError **error)
{
  g_autoptr (GVariant) params = g_variant_ref_sink (
      g_variant_new ("(sq@a(yayyqq)@a(yayyqq)@a(yay)@a{sv})", "t", (guint16) 12300,
                     g_variant_new_array (G_VARIANT_TYPE ("(yayyqq)"), NULL, 0),
                     g_variant_new_array (G_VARIANT_TYPE ("(yayyqq)"), NULL, 0),
                     g_variant_new_array (G_VARIANT_TYPE ("(yay)"), NULL, 0), options));
  g_autofree char *label = NULL;
  ShFirewallSpec spec = { 0 };
  gboolean ok = sh_fw_parse_tunnel (params, &label, &spec, on_behalf_of, error);

  sh_fw_spec_clear (&spec);
  return ok;
}

/* "on-behalf-of-uid" is a uint32 other than (uid_t) -1; absent means none. */
static void
test_parse_on_behalf_of (void)
{
  g_autoptr (GError) error = NULL;
  guint32 uid = 0;

  g_assert_true (parse_tunnel_with (g_variant_new_parsed ("@a{sv} {}"), &uid, NULL));
  g_assert_cmpuint (uid, ==, SH_FW_UID_NONE);
  g_assert_true (parse_tunnel_with (
      g_variant_new_parsed ("{'on-behalf-of-uid': <@u 1000>, 'block-ipv6': <true>}"), &uid, NULL));
  g_assert_cmpuint (uid, ==, 1000);
  g_assert_false (
      parse_tunnel_with (g_variant_new_parsed ("{'on-behalf-of-uid': <@i 1000>}"), &uid, &error));
  g_assert_error (error, SH_FW_ERROR, SH_FW_ERROR_INVALID_ARGS);
  g_clear_error (&error);
  g_assert_false (parse_tunnel_with (g_variant_new_parsed ("{'on-behalf-of-uid': <@u 4294967295>}"),
                                     &uid, &error));
  g_assert_error (error, SH_FW_ERROR, SH_FW_ERROR_INVALID_ARGS);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/helper/hosts/restore", test_restore);
  g_test_add_func ("/helper/hosts/replace-and-list", test_replace_and_list);
  g_test_add_func ("/helper/hosts/odd-text", test_odd_text);
  g_test_add_func ("/helper/hosts/stray-begin", test_stray_begin);
  g_test_add_func ("/helper/request/owner-token", test_owner_token);
  g_test_add_func ("/helper/request/parse-hosts", test_parse_hosts);
  g_test_add_func ("/helper/request/parse-on-behalf-of", test_parse_on_behalf_of);
  return g_test_run ();
}
