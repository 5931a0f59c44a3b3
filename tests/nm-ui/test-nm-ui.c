/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the user-facing plugin's pure parts: the argument-file
 * parser's corners, the auth-dialog's stdin parser, host-key fingerprints
 * (checked against ssh-keygen's own) and the encrypted-key check. */
#include "config.h"

#include <glib/gstdio.h>
#include <string.h>

#include <gio/gio.h>

#include "hostkey.h"
#include "import-export.h"
#include "keyfile-check.h"
#include "nm-shuttle-data.h"
#include "optgrammar.h"
#include "vpn-details.h"

static GHashTable *
import_ok (const char *text)
{
  g_autoptr (GError) error = NULL;
  GHashTable *data = sh_nm_import_parse (text, NULL, sh_nm_data_check_item, &error);

  g_assert_no_error (error);
  g_assert_nonnull (data);
  return data;
}

static void
assert_item (GHashTable *data, const char *key, const char *value)
{
  g_assert_cmpstr (g_hash_table_lookup (data, key), ==, value);
}

static void
test_import_clusters (void)
{
  g_autoptr (GHashTable) a = import_ok ("-Nrbob@gw:2200\n10.0.0.0/8,10.1.0.0/16\n");
  g_autoptr (GHashTable) b = import_ok ("--remote=gw\n--exclude=10.9.0.0/16\n0/0\n");
  g_autoptr (GHashTable) c = import_ok ("-r gw\n0/0\n-e ssh -i ~/.ssh/k\n");
  g_autofree char *home_key = g_build_filename (g_get_home_dir (), ".ssh", "k", NULL);

  assert_item (a, "auto-nets", "yes");
  assert_item (a, "host", "gw");
  assert_item (a, "user", "bob");
  assert_item (a, "port", "2200");
  assert_item (a, "subnets", "10.0.0.0/8,10.1.0.0/16");
  assert_item (b, "host", "gw");
  assert_item (b, "excludes", "10.9.0.0/16");
  assert_item (c, "auth-method", "key");
  assert_item (c, "key-file", home_key);
}

static void
test_import_errors (void)
{
  static const struct
  {
    const char *text;
    const char *message;
  } cases[] = {
    { "-r gw\n--\n-x\n", "line 3: invalid value for 'subnets'" },
    { "-r gw\n0/0\n-Q\n", "line 3: unknown option '-Q'" },
    { "-r gw\n0/0\n--dns=yes\n", "line 3: option '--dns' takes no value" },
    { "-r gw\n10.0.0.0/8,,10.1.0.0/16\n", "line 2: empty element" },
    { "#nm-shuttle dns\n", "line 1: '#nm-shuttle dns': expected KEY=VALUE" },
    { "#nm-shuttle auth-method=key\n-r gw\n0/0\n", "line 1: auth-method=key needs the key" },
    { "-r gw\n0/0\n-e \"ssh -i\n", "line 3: invalid --ssh-cmd" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (GHashTable) data
          = sh_nm_import_parse (cases[i].text, NULL, sh_nm_data_check_item, &error);

      g_assert_null (data);
      g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA);
      if (!g_str_has_prefix (error->message, cases[i].message))
        g_error ("case %" G_GSIZE_FORMAT ": got '%s', want '%s...'", i, error->message,
                 cases[i].message);
    }
}

/* Whatever export writes, import reads back to the same items. */
static void
test_export_roundtrip (void)
{
  g_autoptr (GHashTable) data = g_hash_table_new (g_str_hash, g_str_equal);
  g_autofree char *text = NULL;
  g_autoptr (GHashTable) back = NULL;
  GHashTableIter it;
  gpointer k, v;

  g_hash_table_insert (data, "host", "fd00::1");
  g_hash_table_insert (data, "user", "alice");
  g_hash_table_insert (data, "subnets", "10.0.0.0/8,[fd00::]/64");
  g_hash_table_insert (data, "auth-method", "password");
  g_hash_table_insert (data, "password-flags", "1");
  g_hash_table_insert (data, "dns", "full");
  g_hash_table_insert (data, "to-ns", "[fd00::53]:53");
  text = sh_nm_export_format (data, "name with\nnewline");
  g_assert_nonnull (strstr (text, "-r alice@[fd00::1]\n"));
  g_assert_nonnull (strstr (text, "# Shuttle VPN \"name with newline\"\n"));
  back = import_ok (text);
  g_assert_cmpuint (g_hash_table_size (back), ==, g_hash_table_size (data));
  g_hash_table_iter_init (&it, data);
  while (g_hash_table_iter_next (&it, &k, &v))
    assert_item (back, k, v);
}

/* Profiles that, together, give every whitelisted key a value other than its
 * default (an export that dropped a key, or wrote a default in its place,
 * would read back differently). A new key of the whitelist fails
 * /nm-ui/export/every-key until it has a value here. */
static const char *const every_key_profiles[][24] = {
  {
      "host=gw.example.com",
      "user=alice",
      "port=2222",
      "local-user=alice",
      "auth-method=key",
      "key-file=/home/alice/.ssh/id_ed25519",
      "key-passphrase-flags=2",
      "host-key=ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJriJIY2ikGBqO2htpbdkshb8jYBMoP8X6noktf2Mxyo",
      "subnets=10.0.0.0/8,[fd00::]/64",
      "excludes=10.9.0.0/16",
      "dns=split",
      "dns-domains=corp.example,lab.example",
      "to-ns=10.0.0.53",
      "auto-nets=yes",
      "transport=agent",
      "udp-timeout=120",
      NULL,
  },
  {
      "host=fd00::1",
      "subnets=0/0",
      "auth-method=password",
      "password-flags=1",
      "dns=full",
      "auto-hosts=yes",
      "seed-hosts=db.corp.example,git.corp.example",
      "latency-control=no",
      "connect-timeout=30",
      "python=/usr/bin/python3",
      "block-ipv6=no",
      "fail-closed=yes",
      "udp=no",
      NULL,
  },
};

/* `nmcli connection export` then import gives back every vpn.data key of
 * the whitelist (nm-shuttle-data.c), unchanged. */
static void
test_export_every_key (void)
{
  const char *const *keys = sh_nm_data_keys ();
  g_autoptr (GHashTable) covered = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);

  for (gsize p = 0; p < G_N_ELEMENTS (every_key_profiles); p++)
    {
      g_autoptr (GHashTable) data = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      g_autoptr (GHashTable) back = NULL;
      g_autoptr (GError) error = NULL;
      g_autofree char *text = NULL;
      GHashTableIter it;
      gpointer k, v;

      for (const char *const *kv = every_key_profiles[p]; *kv != NULL; kv++)
        {
          const char *eq = strchr (*kv, '=');
          g_hash_table_insert (data, g_strndup (*kv, eq - *kv), g_strdup (eq + 1));
          g_hash_table_add (covered, g_strndup (*kv, eq - *kv));
        }
      g_assert_true (sh_nm_data_check_all (data, &error));
      g_assert_no_error (error);
      text = sh_nm_export_format (data, "every key");
      g_test_message ("profile %" G_GSIZE_FORMAT " exported as:\n%s", p, text);
      back = import_ok (text);
      g_hash_table_iter_init (&it, data);
      while (g_hash_table_iter_next (&it, &k, &v))
        if (g_strcmp0 (g_hash_table_lookup (back, k), v) != 0)
          g_error ("profile %" G_GSIZE_FORMAT ": %s=%s came back as %s", p, (const char *) k,
                   (const char *) v, (const char *) g_hash_table_lookup (back, k));
      g_assert_cmpuint (g_hash_table_size (back), ==, g_hash_table_size (data));
    }
  for (gsize i = 0; keys[i] != NULL; i++)
    if (!g_hash_table_contains (covered, keys[i]))
      g_error ("vpn.data key '%s' has no value in every_key_profiles: add one, and its "
               "mapping in import-export.c",
               keys[i]);
}

/* ---- auth-dialog stdin ---- */

/* The option table names vpn.data keys as plain strings (the engine cannot
 * include nm-shuttle-data.h): each must be a key of the whitelist, and a
 * fixed value one it accepts. Names are unique in both forms. */
static void
test_grammar_keys (void)
{
  const char *const *keys = sh_nm_data_keys ();
  gsize n;
  const ShOptDef *defs = sh_opt_defs (&n);

  for (gsize i = 0; i < n; i++)
    {
      const ShOptDef *d = &defs[i];
      gboolean sets = d->nm == SH_OPT_NM_KEY || d->nm == SH_OPT_NM_LIST;

      g_test_message ("--%s", d->long_name);
      g_assert_true (sets == (d->nm_key != NULL));
      if (sets)
        g_assert_true (g_strv_contains (keys, d->nm_key));
      if (d->nm_value != NULL)
        g_assert_true (d->nm == SH_OPT_NM_KEY
                       && sh_nm_data_check_item (d->nm_key, d->nm_value, NULL));
      for (gsize j = 0; j < i; j++)
        {
          g_assert_cmpstr (defs[j].long_name, !=, d->long_name);
          g_assert_true (d->short_name == '\0' || defs[j].short_name != d->short_name);
        }
    }
}

static void
test_details_parse (void)
{
  static const char input[] = "DATA_KEY=host\nDATA_VAL=gw\n\n"
                              "DATA_KEY=multi\nDATA_VAL=one\n=two\n\n"
                              "SECRET_KEY=password\nSECRET_VAL=s3cret\n\n"
                              "DONE\n"
                              "DATA_KEY=after\nDATA_VAL=done\n\n";
  g_autoptr (GHashTable) data = NULL;
  g_autoptr (GHashTable) secrets = NULL;
  g_autoptr (GError) error = NULL;

  g_assert_true (sh_vpn_details_complete (input, sizeof input - 1));
  g_assert_false (sh_vpn_details_complete (input, 30));
  g_assert_true (sh_vpn_details_parse (input, sizeof input - 1, &data, &secrets, &error));
  g_assert_no_error (error);
  assert_item (data, "host", "gw");
  assert_item (data, "multi", "one\ntwo");
  g_assert_null (g_hash_table_lookup (data, "after"));
  g_assert_null (g_hash_table_lookup (data, "password"));
  assert_item (secrets, "password", "s3cret");
}

static void
test_details_errors (void)
{
  static const char *const bad[] = {
    "DATA_VAL=orphan\nDONE\n",
    "SECRET_KEY=a\nDATA_VAL=crossed\nDONE\n",
    "DONE\n",
    "",
  };
  g_autofree char *huge = g_strnfill (SH_VPN_DETAILS_MAX_LINE + 10, 'x');
  g_autofree char *long_input = g_strconcat ("DATA_KEY=a\nDATA_VAL=", huge, "\nDONE\n", NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GHashTable) data = NULL;
      g_autoptr (GHashTable) secrets = NULL;
      g_autoptr (GError) error = NULL;

      g_assert_false (sh_vpn_details_parse (bad[i], strlen (bad[i]), &data, &secrets, &error));
      g_assert_nonnull (error);
      g_assert_null (data);
    }
  {
    g_autoptr (GHashTable) data = NULL;
    g_autoptr (GHashTable) secrets = NULL;
    g_autoptr (GError) error = NULL;

    g_assert_false (
        sh_vpn_details_parse (long_input, strlen (long_input), &data, &secrets, &error));
    g_assert_nonnull (strstr (error->message, "longer than"));
  }
  {
    /* A NUL ends the input, as in libnm: what follows is not read. */
    static const char with_nul[] = "DATA_KEY=a\nDATA_VAL=b\n\0DATA_KEY=c\nDATA_VAL=d\n";
    g_autoptr (GHashTable) data = NULL;
    g_autoptr (GHashTable) secrets = NULL;

    g_assert_true (sh_vpn_details_parse (with_nul, sizeof with_nul - 1, &data, &secrets, NULL));
    assert_item (data, "a", "b");
    g_assert_null (g_hash_table_lookup (data, "c"));
  }
}

/* ---- host keys and key files, against the real ssh-keygen ---- */

static char *
make_key (const char *dir, const char *name, const char *passphrase)
{
  char *path = g_build_filename (dir, name, NULL);
  const char *argv[]
      = { "ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "", "-f", path, NULL };
  int status = 0;
  g_autoptr (GError) error = NULL;

  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL,
                               NULL, &status, &error));
  g_assert_no_error (error);
  g_assert_cmpint (status, ==, 0);
  return path;
}

/* Removes the flat directory make_key() filled, so no run leaves files in
 * /tmp for the next one. */
static void
remove_key_dir (const char *dir)
{
  g_autoptr (GDir) d = g_dir_open (dir, 0, NULL);
  const char *name;

  while (d && (name = g_dir_read_name (d)))
    {
      g_autofree char *path = g_build_filename (dir, name, NULL);
      g_unlink (path);
    }
  g_rmdir (dir);
}

static void
test_fingerprint_matches_ssh_keygen (void)
{
  g_autofree char *dir = g_dir_make_tmp ("shuttle-hostkey-XXXXXX", NULL);
  g_autofree char *key = make_key (dir, "host", "");
  g_autofree char *pub_path = g_strconcat (key, ".pub", NULL);
  g_autofree char *pub = NULL;
  g_autofree char *listing = NULL;
  g_autofree char *keyscan = NULL;
  g_autofree char *fp = NULL;
  g_autoptr (GPtrArray) keys = NULL;
  const char *argv[] = { "ssh-keygen", "-l", "-E", "sha256", "-f", pub_path, NULL };
  g_auto (GStrv) words = NULL;

  g_assert_true (g_file_get_contents (pub_path, &pub, NULL, NULL));
  g_strstrip (pub);
  g_assert_true (g_spawn_sync (NULL, (char **) argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL,
                               &listing, NULL, NULL, NULL));
  words = g_strsplit (listing, " ", -1); /* "256 SHA256:xxx comment (ED25519)" */
  fp = sh_host_key_fingerprint (pub);
  g_assert_cmpstr (fp, ==, words[1]);

  /* As ssh-keyscan prints it, with a comment and a duplicate. */
  keyscan = g_strdup_printf ("# gw:22 SSH-2.0-OpenSSH_9.2\ngw %s\ngw %s\ngarbage line\n", pub, pub);
  keys = sh_host_key_parse_keyscan (keyscan);
  g_assert_cmpuint (keys->len, ==, 1);
  g_assert_cmpstr (((ShHostKey *) keys->pdata[0])->fingerprint, ==, words[1]);
  g_assert_cmpstr (((ShHostKey *) keys->pdata[0])->type, ==, "ssh-ed25519");
  g_assert_true (sh_nm_data_check_item ("host-key", ((ShHostKey *) keys->pdata[0])->key, NULL));

  /* A type that does not match the blob is not a key. */
  g_assert_null (sh_host_key_fingerprint ("ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoq"
                                          "KLsabgH5C9okWi0dh2l9GKJl"));
  g_assert_null (sh_host_key_fingerprint ("ssh-ed25519 not*base64"));

  /* The answer's name: the fingerprint, URL-safe; none for a non-key. */
  {
    g_autofree char *name = sh_host_key_accept_secret (pub);
    g_autofree char *want = g_strconcat ("host-key-accept-", words[1] + strlen ("SHA256:"), NULL);
    g_strdelimit (want, "+", '-');
    g_strdelimit (want, "/", '_');
    g_assert_cmpstr (name, ==, want);
    g_assert_null (strpbrk (name + strlen ("host-key-accept-"), "+/=:"));
    g_assert_null (sh_host_key_accept_secret ("ssh-ed25519 not*base64"));
  }
  remove_key_dir (dir);
}

static void
test_key_encryption (void)
{
  g_autofree char *dir = g_dir_make_tmp ("shuttle-keyfile-XXXXXX", NULL);
  g_autofree char *plain = make_key (dir, "plain", "");
  g_autofree char *locked = make_key (dir, "locked", "a passphrase");
  g_autofree char *missing = g_build_filename (dir, "missing", NULL);

  g_assert_false (sh_key_file_needs_passphrase (plain));
  g_assert_true (sh_key_file_needs_passphrase (locked));
  g_assert_true (sh_key_file_needs_passphrase (missing));
  g_assert_true (sh_key_file_needs_passphrase (NULL));
  g_assert_true (sh_key_text_is_encrypted ("-----BEGIN RSA PRIVATE KEY-----\n"
                                           "Proc-Type: 4,ENCRYPTED\n"));
  g_assert_false (sh_key_text_is_encrypted ("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n"));
  remove_key_dir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nm-ui/import/clusters-and-forms", test_import_clusters);
  g_test_add_func ("/nm-ui/import/errors-name-the-line", test_import_errors);
  g_test_add_func ("/nm-ui/export/roundtrip", test_export_roundtrip);
  g_test_add_func ("/nm-ui/export/every-key", test_export_every_key);
  g_test_add_func ("/nm-ui/import/grammar-keys", test_grammar_keys);
  g_test_add_func ("/nm-ui/auth-dialog/parse", test_details_parse);
  g_test_add_func ("/nm-ui/auth-dialog/parse-errors", test_details_errors);
  g_test_add_func ("/nm-ui/hostkey/fingerprint", test_fingerprint_matches_ssh_keygen);
  g_test_add_func ("/nm-ui/keyfile/encrypted", test_key_encryption);
  return g_test_run ();
}
