/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of the vpn.data whitelist (nm-plugin/shared/nm-shuttle-data.c). */
#include "config.h"

#include <string.h>

#include "nm-shuttle-data.h"

/* A real ed25519 public key (the blob names its type). */
#define ED_KEY "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJriJIY2ikGBqO2htpbdkshb8jYBMoP8X6noktf2Mxyo"

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

static void
test_items_good (void)
{
  static const char *const good[][2] = {
    { "host", "gw.example.com" },
    { "host", "10.1.2.3" },
    { "host", "fd00::1" },
    { "user", "alice.b_c-d" },
    { "port", "1" },
    { "port", "65535" },
    { "local-user", "alice" },
    { "auth-method", "agent" },
    { "auth-method", "password" },
    { "key-file", "/home/alice/.ssh/id_ed25519" },
    { "host-key", ED_KEY },
    { "subnets", "10.0.0.0/8, 192.168.1.5,[fd00::]/64,0/0" },
    { "subnets", "10.0.0.0/8:8000-8999" },
    { "excludes", "10.9.0.0/16" },
    { "dns", "split" },
    { "dns-domains", "corp.example,lab.example." },
    { "to-ns", "10.0.0.53" },
    { "to-ns", "10.0.0.53:5353" },
    { "to-ns", "[fd00::53]:53" },
    { "to-ns", "fd00::53" },
    { "auto-nets", "yes" },
    { "latency-control", "no" },
    { "block-ipv6", "no" },
    { "fail-closed", "yes" },
    { "fail-closed", "no" },
    { "connect-timeout", "300" },
    { "udp-timeout", "1" },
    { "udp-timeout", "3600" },
    { "python", "/usr/bin/python3.11" },
    { "password-flags", "7" },
    { "key-passphrase-flags", "0" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (good); i++)
    {
      g_autoptr (GError) error = NULL;
      if (!sh_nm_data_check_item (good[i][0], good[i][1], &error))
        g_error ("%s=%s refused: %s", good[i][0], good[i][1], error->message);
    }
}

static void
test_items_bad (void)
{
  /* key, value, a part the message must contain */
  static const char *const bad[][3] = {
    { "hostname", "gw", "unknown key 'hostname'" },
    { "host", "-oProxyCommand=x", "'host'" },
    { "host", "gw example", "'host'" },
    { "host", "gw;rm", "'host'" },
    { "host", "", "'host'" },
    { "host", "fd00::zz", "not an IPv6 address" },
    { "user", "-l", "'user'" },
    { "user", "a b", "'user'" },
    { "user", "abcdefghijabcdefghijabcdefghijabc", "'user'" },
    { "port", "0", "1..65535" },
    { "port", "65536", "1..65535" },
    { "port", "+22", "1..65535" },
    { "port", " 22", "1..65535" },
    { "auth-method", "kerberos", "not one of agent, key, password" },
    { "key-file", "id_rsa", "absolute path" },
    { "key-file", "/tmp/a\nb", "control character" },
    { "host-key", "ssh-ed25519", "TYPE BASE64" },
    { "host-key", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJriJIY2ikGBqO2htpbdkshb8jYBMoP8X6noktf2Mxyo",
      "not a 'ssh-rsa' key" },
    { "host-key", "ssh-ed25519 !!!", "not base64" },
    { "subnets", "10.0.0.0/33", "invalid subnet" },
    { "subnets", "10.0.0.0/8,,10.1.0.0/16", "empty element" },
    { "subnets", "example.com", "invalid subnet" },
    { "excludes", "10.0.0.300", "invalid subnet" },
    { "dns", "some", "not one of none, split, full" },
    { "dns-domains", "bad_domain-.com", "not a domain name" },
    { "dns-domains", "a..b", "not a domain name" },
    { "to-ns", "10.0.0.53:0", "1..65535" },
    { "to-ns", "ns.example", "not an IP address" },
    { "to-ns", "[fd00::53:53", "[IPv6]:PORT" },
    { "auto-nets", "true", "not yes or no" },
    { "connect-timeout", "0", "1..300" },
    { "connect-timeout", "301", "1..300" },
    { "udp-timeout", "0", "1..3600" },
    { "udp-timeout", "3601", "1..3600" },
    { "udp-timeout", "60s", "1..3600" },
    { "python", "python3", "absolute path" },
    { "python", "/usr/bin/python3;id", "absolute path" },
    { "password-flags", "8", "0..7" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autoptr (GError) error = NULL;
      if (sh_nm_data_check_item (bad[i][0], bad[i][1], &error))
        g_error ("%s=%s accepted", bad[i][0], bad[i][1]);
      int want = i == 0 ? SH_NM_DATA_ERROR_UNKNOWN_KEY : SH_NM_DATA_ERROR_INVALID;
      g_assert_error (error, SH_NM_DATA_ERROR, want);
      if (strstr (error->message, bad[i][2]) == NULL)
        g_error ("%s=%s: message '%s' lacks '%s'", bad[i][0], bad[i][1], error->message, bad[i][2]);
      g_assert_null (strchr (error->message, '\n'));
    }
}

static void
test_rules_between_keys (void)
{
  struct
  {
    GHashTable *t;
    const char *want;
  } c[] = {
    { table ("subnets", "10.0.0.0/8", NULL), "names no ssh server" },
    { table ("host", "gw", NULL), "tunnels nothing" },
    { table ("host", "gw", "auto-nets", "no", NULL), "tunnels nothing" },
    { table ("host", "gw", "subnets", "0/0", "auth-method", "key", NULL), "needs 'key-file'" },
    { table ("host", "gw", "subnets", "0/0", "key-file", "/k", NULL), "only used with" },
    { table ("host", "gw", "subnets", "0/0", "dns", "split", NULL), "needs 'dns-domains'" },
    /* empty values are no values (found by fuzz-nm-data and fuzz-nm-import:
     * these passed, ran an engine with nothing to do, and did not survive
     * an export) */
    { table ("host", "gw", "subnets", "", NULL), "tunnels nothing" },
    { table ("host", "gw", "subnets", "0/0", "dns", "split", "dns-domains", "", NULL),
      "needs 'dns-domains'" },
    { table ("host", "gw", "subnets", "0/0", "seed-hosts", "a", NULL), "only used with" },
    { table ("host", "gw", "subnets", "0/0", "udp", "no", "udp-timeout", "30", NULL),
      "'udp-timeout' is only used with udp=yes" },
    /* an unknown key fails the whole table, whatever else is right */
    { table ("host", "gw", "subnets", "0/0", "remote", "gw", NULL), "unknown key 'remote'" },
  };
  for (guint i = 0; i < G_N_ELEMENTS (c); i++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (ShNmProfile) p = sh_nm_profile_new (c[i].t, &error);
      g_assert_null (p);
      if (strstr (error->message, c[i].want) == NULL)
        g_error ("case %u: '%s' lacks '%s'", i, error->message, c[i].want);
      g_hash_table_unref (c[i].t);
    }
  {
    g_autoptr (GHashTable) t = table ("host", "gw", "auto-nets", "yes", NULL);
    g_autoptr (GError) error = NULL;
    g_autoptr (ShNmProfile) p = sh_nm_profile_new (t, &error);
    g_assert_no_error (error);
    g_assert_true (p->auto_nets);
    g_assert_null (p->subnets[0]);
  }
}

static void
test_engine_args (void)
{
  g_autoptr (GHashTable) t
      = table ("host", "fd00::1", "user", "alice", "port", "2222", "auth-method", "key", "key-file",
               "/home/alice/my key", "host-key", ED_KEY, "subnets", "10.0.0.0/8, [fd00::]/64",
               "excludes", "10.9.0.0/16", "latency-control", "no", "connect-timeout", "20",
               "python", "/usr/bin/python3", "block-ipv6", "no", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (ShNmProfile) p = sh_nm_profile_new (t, &error);
  g_assert_no_error (error);
  ShNmEngineContext ctx = { .known_hosts_file = "/run/x/known_hosts", .dns_stub = "100.115.92.7" };
  g_auto (GStrv) args = sh_nm_profile_engine_args (p, &ctx);
  g_autofree char *all = g_strjoinv ("|", args);

  g_assert_cmpstr (args[0], ==, "-r");
  g_assert_cmpstr (args[1], ==, "alice@[fd00::1]:2222");
  g_assert_cmpstr (args[2], ==, "-e");
  /* the ssh command survives the engine's shell-style split intact */
  g_auto (GStrv) ssh = NULL;
  g_assert_true (g_shell_parse_argv (args[3], NULL, &ssh, NULL));
  g_autofree char *ssh_all = g_strjoinv ("|", ssh);
  g_assert_nonnull (strstr (ssh_all, "|-o|IdentityFile=/home/alice/my key|"));
  g_assert_nonnull (strstr (ssh_all, "|-o|StrictHostKeyChecking=yes|"));
  g_assert_nonnull (strstr (ssh_all, "|-o|HostKeyAlias=" SH_NM_HOST_KEY_ALIAS "|"));
  g_assert_nonnull (strstr (ssh_all, "|-o|UserKnownHostsFile=/run/x/known_hosts|"));
  g_assert_nonnull (strstr (ssh_all, "|-o|BatchMode=yes|"));
  g_assert_nonnull (strstr (all,
                            "|-x|10.9.0.0/16|--no-latency-control|--connect-timeout|20|--python|"
                            "/usr/bin/python3|--|10.0.0.0/8|[fd00::]/64"));
  g_assert_null (strstr (all, "password"));
  g_assert_null (strstr (all, "--block-ipv6"));

  g_autofree char *line = sh_nm_host_key_known_hosts_line (ED_KEY);
  g_assert_cmpstr (line, ==, SH_NM_HOST_KEY_ALIAS " " ED_KEY "\n");
}

/* transport: ssh and agent reach the engine; auto is its default, unsaid. */
static void
test_transport_args (void)
{
  static const char *const values[] = { "ssh", "agent", "auto" };
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    {
      g_autoptr (GHashTable) t
          = table ("host", "gw", "subnets", "10.0.0.0/8", "transport", values[i], NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (ShNmProfile) p = sh_nm_profile_new (t, &error);
      g_assert_no_error (error);
      ShNmEngineContext ctx = { .have_secret = FALSE };
      g_auto (GStrv) args = sh_nm_profile_engine_args (p, &ctx);
      g_autofree char *all = g_strjoinv ("|", args);
      g_autofree char *want = g_strdup_printf ("|--transport|%s|", values[i]);
      if (i < 2)
        g_assert_nonnull (strstr (all, want));
      else
        g_assert_null (strstr (all, "--transport"));
    }
  g_autoptr (GError) error = NULL;
  g_assert_false (sh_nm_data_check_item ("transport", "tcp", &error));
  g_assert_error (error, SH_NM_DATA_ERROR, SH_NM_DATA_ERROR_INVALID);
}

/* fail-closed=yes: the engine reconnects itself and keeps its rules, but
 * only for a vpn.persistent connection (nothing reconnects otherwise). */
static void
test_fail_closed_args (void)
{
  static const char *const values[] = { "yes", "no", NULL };
  for (guint i = 0; i < G_N_ELEMENTS (values); i++)
    for (int persistent = 0; persistent < 2; persistent++)
      {
        g_autoptr (GHashTable) t = table ("host", "gw", "subnets", "10.0.0.0/8",
                                          values[i] ? "fail-closed" : NULL, values[i], NULL);
        g_autoptr (GError) error = NULL;
        g_autoptr (ShNmProfile) p = sh_nm_profile_new (t, &error);
        g_assert_no_error (error);
        ShNmEngineContext ctx = { .persistent = persistent };
        g_auto (GStrv) args = sh_nm_profile_engine_args (p, &ctx);
        g_autofree char *all = g_strjoinv ("|", args);
        if (i == 0 && persistent)
          g_assert_nonnull (strstr (all, "|--reconnect|--fail-closed|"));
        else
          g_assert_null (strstr (all, "--reconnect"));
        g_assert_true (p->fail_closed == (i == 0));
      }
  g_autoptr (GError) error = NULL;
  g_assert_false (sh_nm_data_check_item ("fail-closed", "on", &error));
  g_assert_error (error, SH_NM_DATA_ERROR, SH_NM_DATA_ERROR_INVALID);
}

/* Two profiles at once: overlapping subnets are found, disjoint ones and
 * space one side excludes are not. */
static void
test_overlap (void)
{
  static const struct
  {
    const char *a, *ax, *b, *bx, *want;
  } cases[] = {
    { "10.1.0.0/16", "", "10.2.0.0/16", "", NULL },
    { "10.0.0.0/8", "", "10.2.0.0/16", "", "10.0.0.0/8 / 10.2.0.0/16" },
    { "10.2.0.0/16", "", "10.2.0.0/16", "", "10.2.0.0/16" },
    { "0/0", "", "192.168.1.5", "", "0.0.0.0/0 / 192.168.1.5/32" },
    { "10.0.0.0/8", "10.2.0.0/16", "10.2.0.0/16", "", NULL },
    { "10.2.0.0/16", "", "10.0.0.0/8", "10.2.0.0/16", NULL },
    { "10.0.0.0/8", "10.2.0.0/24", "10.2.0.0/16", "", "10.0.0.0/8 / 10.2.0.0/16" },
    { "10.0.0.0/8:22", "", "10.0.0.0/8:80-90", "", NULL },
    { "10.0.0.0/8:80-90", "", "10.1.0.0/16:90", "", "10.0.0.0/8:80-90 / 10.1.0.0/16:90" },
    { "[fd00::]/8", "", "10.0.0.0/8", "", NULL },
    { "[fd00::]/8", "", "[fd12::]/64", "", "fd00::/8 / fd12::/64" },
    { "10.231.2.10", "", "10.231.2.11", "", NULL },
  };
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_auto (GStrv) a = g_strsplit (cases[i].a, ",", -1);
      g_auto (GStrv) ax = cases[i].ax[0] ? g_strsplit (cases[i].ax, ",", -1) : g_new0 (char *, 1);
      g_auto (GStrv) b = g_strsplit (cases[i].b, ",", -1);
      g_auto (GStrv) bx = cases[i].bx[0] ? g_strsplit (cases[i].bx, ",", -1) : g_new0 (char *, 1);
      g_autofree char *sa = NULL, *sb = NULL, *got = NULL;
      if (sh_nm_subnets_overlap ((const char *const *) a, (const char *const *) ax,
                                 (const char *const *) b, (const char *const *) bx, &sa, &sb))
        got = g_str_equal (sa, sb) ? g_strdup (sa) : g_strdup_printf ("%s / %s", sa, sb);
      if (g_strcmp0 (got, cases[i].want) != 0)
        g_error ("%s -%s vs %s -%s: got %s, want %s", cases[i].a, cases[i].ax, cases[i].b,
                 cases[i].bx, got, cases[i].want);
    }
}

static void
test_udp_off_args (void)
{
  g_autoptr (GHashTable) t = table ("host", "gw", "subnets", "10.0.0.0/8", "udp", "no", NULL);
  g_autoptr (ShNmProfile) p = sh_nm_profile_new (t, NULL);
  ShNmEngineContext ctx = { 0 };
  g_auto (GStrv) args = sh_nm_profile_engine_args (p, &ctx);
  g_autofree char *all = g_strjoinv ("|", args);

  g_assert_false (p->udp);
  g_assert_nonnull (strstr (all, "|--no-udp|"));
  g_assert_null (strstr (all, "--udp-timeout"));
}

/* udp-timeout reaches the engine as --udp-timeout; unsaid, its default. */
static void
test_udp_timeout_args (void)
{
  g_autoptr (GHashTable) t
      = table ("host", "gw", "subnets", "10.0.0.0/8", "udp-timeout", "900", NULL);
  g_autoptr (GHashTable) t0 = table ("host", "gw", "subnets", "10.0.0.0/8", NULL);
  g_autoptr (ShNmProfile) p = sh_nm_profile_new (t, NULL);
  g_autoptr (ShNmProfile) p0 = sh_nm_profile_new (t0, NULL);
  ShNmEngineContext ctx = { 0 };
  g_auto (GStrv) args = sh_nm_profile_engine_args (p, &ctx);
  g_auto (GStrv) args0 = sh_nm_profile_engine_args (p0, &ctx);
  g_autofree char *all = g_strjoinv ("|", args);
  g_autofree char *all0 = g_strjoinv ("|", args0);

  g_assert_cmpuint (p->udp_timeout, ==, 900);
  g_assert_nonnull (strstr (all, "|--udp-timeout|900|"));
  g_assert_null (strstr (all0, "--udp-timeout"));
}

static void
test_password_args (void)
{
  g_autoptr (GHashTable) t
      = table ("host", "gw", "auth-method", "password", "subnets", "10.0.0.0/8", NULL);
  g_autoptr (ShNmProfile) p = sh_nm_profile_new (t, NULL);
  ShNmEngineContext ctx = { .have_secret = TRUE, .dns_stub = "100.115.92.1" };
  g_auto (GStrv) args = sh_nm_profile_engine_args (p, &ctx);

  g_assert_nonnull (p);
  g_assert_cmpstr (args[1], ==, "gw");
  g_assert_nonnull (strstr (args[3], "PreferredAuthentications=password"));
  g_assert_null (strstr (args[3], "BatchMode"));
  /* dns=none: no capture, whatever the stub */
  g_autofree char *all = g_strjoinv ("|", args);
  g_assert_null (strstr (all, "--dns"));
  /* the IPv6 leak block is on unless the profile says block-ipv6=no */
  g_assert_true (p->block_ipv6);
  g_assert_nonnull (strstr (all, "|--block-ipv6|--|10.0.0.0/8"));
  /* UDP and ping are carried unless the profile says udp=no */
  g_assert_true (p->udp);
  g_assert_null (strstr (all, "--no-udp"));
  /* without a pinned key the user's known_hosts decide, strictly */
  g_assert_null (strstr (args[3], "HostKeyAlias"));
  g_assert_nonnull (strstr (args[3], "StrictHostKeyChecking=yes"));
}

/* A secret longer than a pipe holds would block the plugin's write: refused
 * past SH_NM_SECRET_MAX, and the message never holds the secret. */
static void
test_secret_cap (void)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (sh_nm_secret_check (SH_NM_SECRET_PASSWORD, 0, &error));
  g_assert_true (sh_nm_secret_check (SH_NM_SECRET_PASSWORD, 4096, &error));
  g_assert_no_error (error);
  g_assert_false (sh_nm_secret_check (SH_NM_SECRET_KEY_PASSPHRASE, 4097, &error));
  g_assert_error (error, SH_NM_DATA_ERROR, SH_NM_DATA_ERROR_INVALID);
  g_assert_cmpstr (error->message, ==,
                   "the secret 'key-passphrase' is too long (4097 bytes, at most 4096)");
  g_clear_error (&error);
  g_assert_false (sh_nm_secret_check (SH_NM_SECRET_PASSWORD, 70000, &error));
  g_clear_error (&error);
}

static void
test_keys_listed (void)
{
  const char *const *k = sh_nm_data_keys ();
  g_assert_cmpuint (g_strv_length ((char **) k), ==, 25);
  for (; *k; k++)
    {
      /* every listed key is known to the checker */
      g_autoptr (GError) error = NULL;
      sh_nm_data_check_item (*k, "", &error);
      g_assert_false (g_error_matches (error, SH_NM_DATA_ERROR, SH_NM_DATA_ERROR_UNKNOWN_KEY));
    }
}

/* A server's prompt is hostile text: shown plain, one line, bounded. */
static void
test_prompt_clean (void)
{
  static const struct
  {
    const char *in, *out;
  } cases[] = {
    { "One-time password (OATH) for `shuttlelab': ", "One-time password (OATH) for `shuttlelab':" },
    { "  Verification\ncode:\t ", "Verification code:" },
    { "<b>bold</b> &amp; _under", "<b>bold</b> &amp; _under" }, /* kept: shown as text */
    { "a\x1b[31mred\x07\x7f", "a[31mred" },
    { "evil\xe2\x80\xaetxt.exe", "eviltxt.exe" }, /* U+202E right-to-left override */
    { "zero\xe2\x80\x8bwidth", "zerowidth" },
    { "bad \xff utf-8", "bad \xef\xbf\xbd utf-8" },
    { "", "" },
  };
  g_autoptr (GString) big = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *got = sh_nm_prompt_clean (cases[i].in);
      g_assert_cmpstr (got, ==, cases[i].out);
    }
  for (int i = 0; i < 500; i++)
    g_string_append (big, "é");
  g_autofree char *cut = sh_nm_prompt_clean (big->str);
  g_assert_cmpint (g_utf8_strlen (cut, -1), ==, SH_NM_PROMPT_MAX + 1);
  g_assert_true (g_str_has_suffix (cut, "…"));
  g_autofree char *none = sh_nm_prompt_clean (NULL);
  g_assert_cmpstr (none, ==, "");

  g_assert_true (sh_nm_is_answer_secret (SH_NM_SECRET_ANSWER "0123456789abcdef"));
  g_assert_false (sh_nm_is_answer_secret (SH_NM_SECRET_ANSWER "0123456789ABCDEF"));
  g_assert_false (sh_nm_is_answer_secret (SH_NM_SECRET_ANSWER "0123"));
  g_assert_false (sh_nm_is_answer_secret ("password"));
  g_assert_false (sh_nm_is_answer_secret (NULL));
}

/* NetworkManager's reasons: only the network going away keeps a guard. */
static void
test_reason_network_loss (void)
{
  g_assert_true (sh_nm_reason_is_network_loss (3));   /* DEVICE_DISCONNECTED */
  g_assert_true (sh_nm_reason_is_network_loss (12));  /* DEPENDENCY_FAILED */
  g_assert_true (sh_nm_reason_is_network_loss (14));  /* DEVICE_REMOVED */
  g_assert_false (sh_nm_reason_is_network_loss (0));  /* UNKNOWN */
  g_assert_false (sh_nm_reason_is_network_loss (2));  /* USER_DISCONNECTED */
  g_assert_false (sh_nm_reason_is_network_loss (4));  /* SERVICE_STOPPED */
  g_assert_false (sh_nm_reason_is_network_loss (11)); /* CONNECTION_REMOVED */
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/nm-data/items-good", test_items_good);
  g_test_add_func ("/nm-data/items-bad", test_items_bad);
  g_test_add_func ("/nm-data/rules-between-keys", test_rules_between_keys);
  g_test_add_func ("/nm-data/engine-args", test_engine_args);
  g_test_add_func ("/nm-data/udp-off-args", test_udp_off_args);
  g_test_add_func ("/nm-data/udp-timeout-args", test_udp_timeout_args);
  g_test_add_func ("/nm-data/password-args", test_password_args);
  g_test_add_func ("/nm-data/transport-args", test_transport_args);
  g_test_add_func ("/nm-data/fail-closed-args", test_fail_closed_args);
  g_test_add_func ("/nm-data/overlap", test_overlap);
  g_test_add_func ("/nm-data/reason-network-loss", test_reason_network_loss);
  g_test_add_func ("/nm-data/keys-listed", test_keys_listed);
  g_test_add_func ("/nm-data/secret-cap", test_secret_cap);
  g_test_add_func ("/nm-data/prompt-clean", test_prompt_clean);
  return g_test_run ();
}
