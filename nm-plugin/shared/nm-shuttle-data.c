/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-data.c — the vpn.data whitelist (docs/nm-vpn-data.md). Every
 * value is checked against its type here before any other code sees it;
 * nothing from a profile reaches a shell, and the engine gets an argv. */
#include "config.h"

#include "nm-shuttle-data.h"

#include <arpa/inet.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#include "quote.h"
#include "subnet.h"

G_DEFINE_QUARK (sh - nm - data - error - quark, sh_nm_data_error)

/* Hard limits on what a profile may hold. */
#define MAX_LIST 1024
#define MAX_PATH 4096
#define MAX_HOST_KEY 16384

typedef enum
{
  T_HOST,
  T_LOGIN,
  T_PORT,
  T_ENUM,
  T_PATH,
  T_HOST_KEY,
  T_SUBNETS,
  T_DOMAINS,
  T_NS,
  T_BOOL,
  T_SECONDS,
  T_IDLE_SECONDS,
  T_PYTHON,
  T_FLAGS,
} KeyType;

typedef struct
{
  const char *key;
  KeyType type;
  const char *const *choices; /* T_ENUM */
} KeyInfo;

static const char *const auth_choices[] = { "agent", "key", "password", NULL };
static const char *const dns_choices[] = { "none", "split", "full", NULL };
static const char *const transport_choices[] = { "auto", "agent", "ssh", NULL };

static const KeyInfo keys[] = {
  { SH_NM_KEY_HOST, T_HOST },
  { SH_NM_KEY_USER, T_LOGIN },
  { SH_NM_KEY_PORT, T_PORT },
  { SH_NM_KEY_LOCAL_USER, T_LOGIN },
  { SH_NM_KEY_AUTH_METHOD, T_ENUM, auth_choices },
  { SH_NM_KEY_KEY_FILE, T_PATH },
  { SH_NM_KEY_HOST_KEY, T_HOST_KEY },
  { SH_NM_KEY_SUBNETS, T_SUBNETS },
  { SH_NM_KEY_EXCLUDES, T_SUBNETS },
  { SH_NM_KEY_DNS, T_ENUM, dns_choices },
  { SH_NM_KEY_DNS_DOMAINS, T_DOMAINS },
  { SH_NM_KEY_TO_NS, T_NS },
  { SH_NM_KEY_AUTO_NETS, T_BOOL },
  { SH_NM_KEY_AUTO_HOSTS, T_BOOL },
  { SH_NM_KEY_SEED_HOSTS, T_DOMAINS },
  { SH_NM_KEY_LATENCY_CONTROL, T_BOOL },
  { SH_NM_KEY_CONNECT_TIMEOUT, T_SECONDS },
  { SH_NM_KEY_PYTHON, T_PYTHON },
  { SH_NM_KEY_BLOCK_IPV6, T_BOOL },
  { SH_NM_KEY_TRANSPORT, T_ENUM, transport_choices },
  { SH_NM_KEY_FAIL_CLOSED, T_BOOL },
  { SH_NM_KEY_UDP, T_BOOL },
  { SH_NM_KEY_UDP_TIMEOUT, T_IDLE_SECONDS },
  { SH_NM_KEY_PASSWORD_FLAGS, T_FLAGS },
  { SH_NM_KEY_KEY_PASSPHRASE_FLAGS, T_FLAGS },
};

const char *const *
sh_nm_data_keys (void)
{
  static const char *names[G_N_ELEMENTS (keys) + 1];

  if (names[0] == NULL)
    for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
      names[i] = keys[i].key;
  return names;
}

static const KeyInfo *
find_key (const char *key)
{
  for (guint i = 0; i < G_N_ELEMENTS (keys); i++)
    if (g_str_equal (keys[i].key, key))
      return &keys[i];
  return NULL;
}

G_GNUC_PRINTF (3, 4)
static gboolean
invalid (GError **error, const char *key, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *why = NULL;

  va_start (ap, fmt);
  why = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error (error, SH_NM_DATA_ERROR, SH_NM_DATA_ERROR_INVALID, _ ("invalid value for '%s': %s"),
               key, why);
  return FALSE;
}

static gboolean
only_chars (const char *s, const char *extra)
{
  for (; *s; s++)
    if (!g_ascii_isalnum (*s) && strchr (extra, *s) == NULL)
      return FALSE;
  return TRUE;
}

static gboolean
parse_uint (const char *s, guint64 lo, guint64 hi, guint64 *out)
{
  guint64 v;

  /* Digits only: g_ascii_string_to_unsigned() would allow a sign or blanks
   * on some versions, and "010" must not mean anything else than 10. */
  if (*s == '\0' || strlen (s) > 10 || !only_chars (s, "")
      || strspn (s, "0123456789") != strlen (s))
    return FALSE;
  v = g_ascii_strtoull (s, NULL, 10);
  if (v < lo || v > hi)
    return FALSE;
  *out = v;
  return TRUE;
}

/* A DNS host name (LDH labels of at most 63, 253 in all) or an IP literal. */
static gboolean
valid_hostname (const char *s)
{
  gsize n = strlen (s);

  if (n == 0 || n > 253 || s[0] == '-' || s[0] == '.')
    return FALSE;
  if (!only_chars (s, ".-_"))
    return FALSE;
  g_auto (GStrv) labels = g_strsplit (s, ".", -1);
  for (char **l = labels; *l; l++)
    {
      gsize ln = strlen (*l);
      /* one trailing dot (a rooted name) is fine, empty labels elsewhere not */
      if (ln == 0 && l[1] == NULL && l != labels)
        continue;
      if (ln == 0 || ln > 63 || (*l)[0] == '-' || (*l)[ln - 1] == '-')
        return FALSE;
    }
  return TRUE;
}

static gboolean
check_host (const char *key, const char *v, GError **error)
{
  guint8 buf[16];

  if (strchr (v, ':') != NULL)
    {
      if (strlen (v) > 253 || inet_pton (AF_INET6, v, buf) != 1)
        return invalid (error, key, _ ("'%s' is not an IPv6 address"), v);
      return TRUE;
    }
  if (!valid_hostname (v))
    return invalid (error, key, _ ("'%s' is not a host name or address"), v);
  return TRUE;
}

static gboolean
check_login (const char *key, const char *v, GError **error)
{
  if (*v == '\0' || strlen (v) > 32 || v[0] == '-' || !only_chars (v, "._-"))
    return invalid (error, key,
                    _ ("'%s' is not a user name (letters, digits, '.', '_', '-', at most 32, "
                       "not starting with '-')"),
                    v);
  return TRUE;
}

static gboolean
check_path (const char *key, const char *v, GError **error)
{
  if (v[0] != '/' || strlen (v) > MAX_PATH)
    return invalid (error, key, _ ("'%s' is not an absolute path"), v);
  for (const char *p = v; *p; p++)
    if ((guchar) *p < 0x20 || *p == 0x7f)
      return invalid (error, key, _ ("the path contains a control character"));
  if (!g_utf8_validate (v, -1, NULL))
    return invalid (error, key, _ ("the path is not valid UTF-8"));
  return TRUE;
}

/* "TYPE BASE64" where the blob is an SSH public key of that TYPE: the
 * decoded key starts with the type name as an SSH string. */
static gboolean
check_host_key (const char *key, const char *v, GError **error)
{
  const char *sp = strchr (v, ' ');
  gsize tn, bn = 0;

  if (strlen (v) > MAX_HOST_KEY || sp == NULL || sp == v)
    return invalid (error, key, _ ("expected 'TYPE BASE64' as in a known_hosts line"));
  tn = sp - v;
  g_autofree char *type = g_strndup (v, tn);
  if (!only_chars (type, "@.-"))
    return invalid (error, key, _ ("'%s' is not a key type"), type);
  const char *b64 = sp + 1;
  if (*b64 == '\0' || !only_chars (b64, "+/="))
    return invalid (error, key, _ ("the key is not base64"));
  g_autofree guchar *blob = g_base64_decode (b64, &bn);
  if (bn < 4 + tn)
    return invalid (error, key, _ ("the key is too short"));
  guint32 len
      = ((guint32) blob[0] << 24) | ((guint32) blob[1] << 16) | ((guint32) blob[2] << 8) | blob[3];
  if (len != tn || memcmp (blob + 4, type, tn) != 0)
    return invalid (error, key, _ ("the key data is not a '%s' key"), type);
  return TRUE;
}

static gboolean
check_subnet (const char *key, const char *v, GError **error)
{
  ShSubnet sn;
  g_autoptr (GError) local = NULL;

  /* Numbers only: a name would be resolved by root at activation time. */
  if (!sh_subnet_parse (v, &sn, &local))
    return invalid (error, key, "%s", local->message);
  return TRUE;
}

static gboolean
check_domain (const char *key, const char *v, GError **error)
{
  if (!valid_hostname (v))
    return invalid (error, key, _ ("'%s' is not a domain name"), v);
  return TRUE;
}

/* IP, IP:port, [IPv6]:port or IPv6. */
static gboolean
check_ns (const char *key, const char *v, GError **error)
{
  guint8 buf[16];
  g_autofree char *addr = NULL;
  const char *port = NULL;
  guint64 p;

  if (v[0] == '[')
    {
      const char *close = strchr (v, ']');
      if (close == NULL || close[1] != ':')
        return invalid (error, key, _ ("expected [IPv6]:PORT"));
      addr = g_strndup (v + 1, close - v - 1);
      port = close + 2;
      if (inet_pton (AF_INET6, addr, buf) != 1)
        return invalid (error, key, _ ("'%s' is not an IPv6 address"), addr);
    }
  else if (strchr (v, ':') != strrchr (v, ':'))
    {
      if (inet_pton (AF_INET6, v, buf) != 1)
        return invalid (error, key, _ ("'%s' is not an IPv6 address"), v);
    }
  else
    {
      const char *colon = strchr (v, ':');
      addr = colon ? g_strndup (v, colon - v) : g_strdup (v);
      port = colon ? colon + 1 : NULL;
      if (inet_pton (AF_INET, addr, buf) != 1)
        return invalid (error, key, _ ("'%s' is not an IP address"), addr);
    }
  if (port != NULL && !parse_uint (port, 1, 65535, &p))
    return invalid (error, key, _ ("'%s' is not a port in 1..65535"), port);
  return TRUE;
}

/* Applies @check to each comma-separated element of @v (blanks around an
 * element are allowed, empty elements are not). */
static gboolean
check_list (const char *key, const char *v,
            gboolean (*check) (const char *, const char *, GError **), GError **error)
{
  g_auto (GStrv) items = g_strsplit (v, ",", -1);

  if (g_strv_length (items) > MAX_LIST)
    return invalid (error, key, _ ("more than %d elements"), MAX_LIST);
  for (char **i = items; *i; i++)
    {
      g_strstrip (*i);
      if (**i == '\0')
        return invalid (error, key, _ ("empty element in a comma-separated list"));
      if (!check (key, *i, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
check_value (const KeyInfo *k, const char *v, GError **error)
{
  guint64 n;

  if (!g_utf8_validate (v, -1, NULL))
    return invalid (error, k->key, _ ("not valid UTF-8"));
  switch (k->type)
    {
    case T_HOST:
      return check_host (k->key, v, error);
    case T_LOGIN:
      return check_login (k->key, v, error);
    case T_PORT:
      if (!parse_uint (v, 1, 65535, &n))
        return invalid (error, k->key, _ ("'%s' is not in 1..65535"), v);
      return TRUE;
    case T_ENUM:
      if (!g_strv_contains (k->choices, v))
        {
          g_autofree char *q = sh_quote (v, 64);
          g_autofree char *all = g_strjoinv (", ", (char **) k->choices);
          return invalid (error, k->key, _ ("'%s' is not one of %s"), q, all);
        }
      return TRUE;
    case T_PATH:
      return check_path (k->key, v, error);
    case T_HOST_KEY:
      return check_host_key (k->key, v, error);
    case T_SUBNETS:
      return check_list (k->key, v, check_subnet, error);
    case T_DOMAINS:
      return check_list (k->key, v, check_domain, error);
    case T_NS:
      return check_ns (k->key, v, error);
    case T_BOOL:
      if (!g_str_equal (v, "yes") && !g_str_equal (v, "no"))
        {
          g_autofree char *q = sh_quote (v, 64);
          return invalid (error, k->key, _ ("'%s' is not yes or no"), q);
        }
      return TRUE;
    case T_SECONDS:
      if (!parse_uint (v, 1, 300, &n))
        return invalid (error, k->key, _ ("'%s' is not a number of seconds in 1..300"), v);
      return TRUE;
    case T_IDLE_SECONDS:
      /* the engine's --udp-timeout range */
      if (!parse_uint (v, 1, 3600, &n))
        return invalid (error, k->key, _ ("'%s' is not a number of seconds in 1..3600"), v);
      return TRUE;
    case T_PYTHON:
      if (v[0] != '/' || strlen (v) > MAX_PATH || !only_chars (v, "/._+-"))
        return invalid (error, k->key,
                        _ ("'%s' is not an absolute path of letters, digits and /._+-"), v);
      return TRUE;
    case T_FLAGS:
      if (!parse_uint (v, 0, 7, &n))
        return invalid (error, k->key, _ ("'%s' is not a secret flags value in 0..7"), v);
      return TRUE;
    }
  g_assert_not_reached ();
}

gboolean
sh_nm_data_check_item (const char *key, const char *value, GError **error)
{
  const KeyInfo *k = find_key (key);

  if (k == NULL)
    {
      g_autofree char *q = sh_quote (key, 64);
      g_set_error (error, SH_NM_DATA_ERROR, SH_NM_DATA_ERROR_UNKNOWN_KEY,
                   _ ("unknown key '%s' in vpn.data"), q);
      return FALSE;
    }
  if (value == NULL)
    return invalid (error, key, _ ("no value"));
  return check_value (k, value, error);
}

static const char *
get (GHashTable *data, const char *key)
{
  const char *v = g_hash_table_lookup (data, key);

  /* An empty value (an empty list is valid) is no value, as the export and
   * the editor read it: "subnets=" must not count as tunnelling something. */
  return v != NULL && v[0] != '\0' ? v : NULL;
}

G_GNUC_PRINTF (2, 3)
static gboolean
missing (GError **error, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, SH_NM_DATA_ERROR, SH_NM_DATA_ERROR_MISSING, msg);
  return FALSE;
}

gboolean
sh_nm_secret_check (const char *key, gsize len, GError **error)
{
  if (len <= SH_NM_SECRET_MAX)
    return TRUE;
  g_set_error (error, SH_NM_DATA_ERROR, SH_NM_DATA_ERROR_INVALID,
               _ ("the secret '%s' is too long (%zu bytes, at most %d)"), key, len,
               SH_NM_SECRET_MAX);
  return FALSE;
}

gboolean
sh_nm_data_check_all (GHashTable *data, GError **error)
{
  const char *auth, *dns;

  /* Sorted, so the first error reported does not depend on hashing. */
  g_autofree gpointer *names = g_hash_table_get_keys_as_array (data, NULL);
  guint n = g_hash_table_size (data);
  qsort (names, n, sizeof (gpointer), (GCompareFunc) g_strcmp0);
  for (guint i = 0; i < n; i++)
    if (!sh_nm_data_check_item (names[i], g_hash_table_lookup (data, names[i]), error))
      return FALSE;

  if (get (data, SH_NM_KEY_HOST) == NULL)
    return missing (error, _ ("the profile names no ssh server ('%s')"), SH_NM_KEY_HOST);
  if (get (data, SH_NM_KEY_SUBNETS) == NULL
      && g_strcmp0 (get (data, SH_NM_KEY_AUTO_NETS), "yes") != 0)
    return missing (error, _ ("the profile tunnels nothing: set '%s' or %s=yes"), SH_NM_KEY_SUBNETS,
                    SH_NM_KEY_AUTO_NETS);
  auth = get (data, SH_NM_KEY_AUTH_METHOD);
  if (g_strcmp0 (auth, "key") == 0 && get (data, SH_NM_KEY_KEY_FILE) == NULL)
    return missing (error, _ ("auth-method=key needs '%s'"), SH_NM_KEY_KEY_FILE);
  if (g_strcmp0 (auth, "key") != 0 && get (data, SH_NM_KEY_KEY_FILE) != NULL)
    return missing (error, _ ("'%s' is only used with auth-method=key"), SH_NM_KEY_KEY_FILE);
  dns = get (data, SH_NM_KEY_DNS);
  if (g_strcmp0 (dns, "split") == 0 && get (data, SH_NM_KEY_DNS_DOMAINS) == NULL)
    return missing (error, _ ("dns=split needs '%s'"), SH_NM_KEY_DNS_DOMAINS);
  if (get (data, SH_NM_KEY_SEED_HOSTS) != NULL
      && g_strcmp0 (get (data, SH_NM_KEY_AUTO_HOSTS), "yes") != 0)
    return missing (error, _ ("'%s' is only used with %s=yes"), SH_NM_KEY_SEED_HOSTS,
                    SH_NM_KEY_AUTO_HOSTS);
  if (get (data, SH_NM_KEY_UDP_TIMEOUT) != NULL && g_strcmp0 (get (data, SH_NM_KEY_UDP), "no") == 0)
    return missing (error, _ ("'%s' is only used with %s=yes"), SH_NM_KEY_UDP_TIMEOUT,
                    SH_NM_KEY_UDP);
  return TRUE;
}

static char **
split_list (const char *v)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();

  if (v != NULL)
    {
      g_auto (GStrv) items = g_strsplit (v, ",", -1);
      for (char **i = items; *i; i++)
        g_strv_builder_add (b, g_strstrip (*i));
    }
  return g_strv_builder_end (b);
}

static guint
get_uint (GHashTable *data, const char *key, guint dflt)
{
  const char *v = get (data, key);
  return v ? (guint) g_ascii_strtoull (v, NULL, 10) : dflt;
}

ShNmProfile *
sh_nm_profile_new (GHashTable *data, GError **error)
{
  const char *v;

  if (!sh_nm_data_check_all (data, error))
    return NULL;

  ShNmProfile *p = g_new0 (ShNmProfile, 1);
  p->host = g_strdup (get (data, SH_NM_KEY_HOST));
  p->user = g_strdup (get (data, SH_NM_KEY_USER));
  p->port = get_uint (data, SH_NM_KEY_PORT, 0);
  p->local_user = g_strdup (get (data, SH_NM_KEY_LOCAL_USER));
  v = get (data, SH_NM_KEY_AUTH_METHOD);
  p->auth = g_strcmp0 (v, "key") == 0        ? SH_NM_AUTH_KEY
            : g_strcmp0 (v, "password") == 0 ? SH_NM_AUTH_PASSWORD
                                             : SH_NM_AUTH_AGENT;
  p->key_file = g_strdup (get (data, SH_NM_KEY_KEY_FILE));
  p->host_key = g_strdup (get (data, SH_NM_KEY_HOST_KEY));
  p->subnets = split_list (get (data, SH_NM_KEY_SUBNETS));
  p->excludes = split_list (get (data, SH_NM_KEY_EXCLUDES));
  v = get (data, SH_NM_KEY_DNS);
  p->dns = g_strcmp0 (v, "split") == 0  ? SH_NM_DNS_SPLIT
           : g_strcmp0 (v, "full") == 0 ? SH_NM_DNS_FULL
                                        : SH_NM_DNS_NONE;
  p->dns_domains = split_list (get (data, SH_NM_KEY_DNS_DOMAINS));
  p->to_ns = g_strdup (get (data, SH_NM_KEY_TO_NS));
  p->auto_nets = g_strcmp0 (get (data, SH_NM_KEY_AUTO_NETS), "yes") == 0;
  p->auto_hosts = g_strcmp0 (get (data, SH_NM_KEY_AUTO_HOSTS), "yes") == 0;
  p->seed_hosts = split_list (get (data, SH_NM_KEY_SEED_HOSTS));
  p->latency_control = g_strcmp0 (get (data, SH_NM_KEY_LATENCY_CONTROL), "no") != 0;
  p->connect_timeout = get_uint (data, SH_NM_KEY_CONNECT_TIMEOUT, 0);
  p->python = g_strdup (get (data, SH_NM_KEY_PYTHON));
  /* On unless switched off: a full tunnel that leaks IPv6 is what nobody
   * who routes 0/0 through it wants. */
  p->block_ipv6 = g_strcmp0 (get (data, SH_NM_KEY_BLOCK_IPV6), "no") != 0;
  v = get (data, SH_NM_KEY_TRANSPORT);
  p->transport = g_strcmp0 (v, "auto") == 0 ? NULL : g_strdup (v);
  p->fail_closed = g_strcmp0 (get (data, SH_NM_KEY_FAIL_CLOSED), "yes") == 0;
  p->udp = g_strcmp0 (get (data, SH_NM_KEY_UDP), "no") != 0;
  p->udp_timeout = get_uint (data, SH_NM_KEY_UDP_TIMEOUT, 0);
  p->password_flags = get_uint (data, SH_NM_KEY_PASSWORD_FLAGS, 0);
  p->key_passphrase_flags = get_uint (data, SH_NM_KEY_KEY_PASSPHRASE_FLAGS, 0);
  return p;
}

void
sh_nm_profile_free (ShNmProfile *p)
{
  if (p == NULL)
    return;
  g_free (p->host);
  g_free (p->user);
  g_free (p->local_user);
  g_free (p->key_file);
  g_free (p->host_key);
  g_strfreev (p->subnets);
  g_strfreev (p->excludes);
  g_strfreev (p->dns_domains);
  g_free (p->to_ns);
  g_strfreev (p->seed_hosts);
  g_free (p->python);
  g_free (p->transport);
  g_free (p);
}

char *
sh_nm_host_key_known_hosts_line (const char *host_key)
{
  return g_strdup_printf ("%s %s\n", SH_NM_HOST_KEY_ALIAS, host_key);
}

/* Appends "-o NAME=VALUE" to the ssh command, quoted for the engine's
 * g_shell_parse_argv() of -e. */
static void
ssh_opt (GString *cmd, const char *name, const char *value)
{
  g_autofree char *kv = g_strdup_printf ("%s=%s", name, value);
  g_autofree char *q = g_shell_quote (kv);
  g_string_append_printf (cmd, " -o %s", q);
}

char **
sh_nm_profile_engine_args (const ShNmProfile *p, const ShNmEngineContext *ctx)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_autoptr (GString) ssh = g_string_new ("ssh");
  g_autoptr (GString) remote = g_string_new (NULL);

  if (p->user)
    g_string_append_printf (remote, "%s@", p->user);
  if (strchr (p->host, ':') != NULL)
    g_string_append_printf (remote, "[%s]", p->host);
  else
    g_string_append (remote, p->host);
  if (p->port)
    g_string_append_printf (remote, ":%u", p->port);
  g_strv_builder_add (b, "-r");
  g_strv_builder_add (b, remote->str);

  /* Never ask a question nobody can answer, never accept an unknown key. */
  ssh_opt (ssh, "StrictHostKeyChecking", "yes");
  ssh_opt (ssh, "UpdateHostKeys", "no");
  if (p->host_key != NULL && ctx->known_hosts_file != NULL)
    {
      /* Only the pinned key counts: an alias keeps the user's known_hosts
       * (and their entries for this host) out of the decision. */
      ssh_opt (ssh, "HostKeyAlias", SH_NM_HOST_KEY_ALIAS);
      ssh_opt (ssh, "UserKnownHostsFile", ctx->known_hosts_file);
      ssh_opt (ssh, "GlobalKnownHostsFile", "/dev/null");
      ssh_opt (ssh, "CheckHostIP", "no");
    }
  switch (p->auth)
    {
    case SH_NM_AUTH_AGENT:
      if (!ctx->have_secret)
        ssh_opt (ssh, "BatchMode", "yes");
      break;
    case SH_NM_AUTH_KEY:
      ssh_opt (ssh, "IdentityFile", p->key_file);
      ssh_opt (ssh, "IdentitiesOnly", "yes");
      ssh_opt (ssh, "PreferredAuthentications", "publickey");
      if (!ctx->have_secret)
        ssh_opt (ssh, "BatchMode", "yes");
      break;
    case SH_NM_AUTH_PASSWORD:
      ssh_opt (ssh, "PreferredAuthentications", "password,keyboard-interactive");
      ssh_opt (ssh, "PubkeyAuthentication", "no");
      /* One try: a wrong password must fail the activation, not loop. */
      ssh_opt (ssh, "NumberOfPasswordPrompts", "1");
      break;
    }
  ssh_opt (ssh, "ConnectTimeout", "15");
  g_strv_builder_add (b, "-e");
  g_strv_builder_add (b, ssh->str);

  for (char **x = p->excludes; *x; x++)
    {
      g_strv_builder_add (b, "-x");
      g_strv_builder_add (b, *x);
    }
  if (p->dns != SH_NM_DNS_NONE && ctx->dns_stub != NULL)
    {
      g_strv_builder_add (b, "--dns");
      g_strv_builder_add (b, "--ns-hosts");
      g_strv_builder_add (b, ctx->dns_stub);
    }
  if (p->to_ns != NULL)
    {
      g_strv_builder_add (b, "--to-ns");
      g_strv_builder_add (b, p->to_ns);
    }
  if (p->auto_nets)
    g_strv_builder_add (b, "--auto-nets");
  if (p->auto_hosts)
    g_strv_builder_add (b, "--auto-hosts");
  if (p->seed_hosts[0] != NULL)
    {
      g_autofree char *all = g_strjoinv (",", p->seed_hosts);
      g_strv_builder_add (b, "--seed-hosts");
      g_strv_builder_add (b, all);
    }
  if (!p->latency_control)
    g_strv_builder_add (b, "--no-latency-control");
  if (p->connect_timeout)
    {
      g_autofree char *s = g_strdup_printf ("%u", p->connect_timeout);
      g_strv_builder_add (b, "--connect-timeout");
      g_strv_builder_add (b, s);
    }
  if (p->python)
    {
      g_strv_builder_add (b, "--python");
      g_strv_builder_add (b, p->python);
    }
  if (p->block_ipv6)
    g_strv_builder_add (b, "--block-ipv6");
  /* The kill switch: the engine keeps its rules through an outage and
   * reconnects itself, so no moment passes without them; only a deliberate
   * disconnect removes them. Without vpn.persistent there is no outage to
   * bridge: the connection fails and the rules go with it. */
  if (p->fail_closed && ctx->persistent)
    {
      g_strv_builder_add (b, "--reconnect");
      g_strv_builder_add (b, "--fail-closed");
    }
  if (!p->udp)
    g_strv_builder_add (b, "--no-udp");
  else if (p->udp_timeout)
    {
      g_autofree char *s = g_strdup_printf ("%u", p->udp_timeout);
      g_strv_builder_add (b, "--udp-timeout");
      g_strv_builder_add (b, s);
    }
  if (p->transport)
    {
      g_strv_builder_add (b, "--transport");
      g_strv_builder_add (b, p->transport);
    }
  /* "--" so that no subnet is ever read as an option. */
  g_strv_builder_add (b, "--");
  for (char **s = p->subnets; *s; s++)
    g_strv_builder_add (b, *s);
  return g_strv_builder_end (b);
}

/* ------------------------------------------------- several tunnels at once */

/* Whether the first @bits bits of @a and @b are equal. */
static gboolean
prefix_equal (const guint8 *a, const guint8 *b, guint bits)
{
  guint bytes = bits / 8, rest = bits % 8;

  if (memcmp (a, b, bytes) != 0)
    return FALSE;
  if (rest == 0)
    return TRUE;
  guint8 mask = (guint8) (0xff << (8 - rest));
  return (a[bytes] & mask) == (b[bytes] & mask);
}

static void
port_range (const ShSubnet *s, guint *lo, guint *hi)
{
  *lo = s->port_lo ? s->port_lo : 1;
  *hi = s->port_lo ? s->port_hi : 65535;
}

/* Whether @a and @b share an address and a port. */
static gboolean
subnets_meet (const ShSubnet *a, const ShSubnet *b)
{
  guint alo, ahi, blo, bhi;

  if (a->family != b->family || !prefix_equal (a->addr, b->addr, MIN (a->prefix, b->prefix)))
    return FALSE;
  port_range (a, &alo, &ahi);
  port_range (b, &blo, &bhi);
  return alo <= bhi && blo <= ahi;
}

/* Whether all of @inner lies in @outer (addresses and ports). */
static gboolean
subnet_within (const ShSubnet *inner, const ShSubnet *outer)
{
  guint ilo, ihi, olo, ohi;

  if (inner->family != outer->family || outer->prefix > inner->prefix
      || !prefix_equal (inner->addr, outer->addr, outer->prefix))
    return FALSE;
  port_range (inner, &ilo, &ihi);
  port_range (outer, &olo, &ohi);
  return olo <= ilo && ihi <= ohi;
}

static GArray *
parse_list (const char *const *specs)
{
  GArray *out = g_array_new (FALSE, FALSE, sizeof (ShSubnet));

  for (const char *const *s = specs; s != NULL && *s != NULL; s++)
    {
      ShSubnet sn;
      if (sh_subnet_parse (*s, &sn, NULL))
        g_array_append_val (out, sn);
    }
  return out;
}

static gboolean
excluded (const ShSubnet *s, const GArray *excludes)
{
  for (guint i = 0; i < excludes->len; i++)
    if (subnet_within (s, &g_array_index (excludes, ShSubnet, i)))
      return TRUE;
  return FALSE;
}

gboolean
sh_nm_subnets_overlap (const char *const *a, const char *const *a_excludes, const char *const *b,
                       const char *const *b_excludes, char **a_subnet, char **b_subnet)
{
  g_autoptr (GArray) as = parse_list (a);
  g_autoptr (GArray) ax = parse_list (a_excludes);
  g_autoptr (GArray) bs = parse_list (b);
  g_autoptr (GArray) bx = parse_list (b_excludes);

  for (guint i = 0; i < as->len; i++)
    for (guint j = 0; j < bs->len; j++)
      {
        const ShSubnet *x = &g_array_index (as, ShSubnet, i);
        const ShSubnet *y = &g_array_index (bs, ShSubnet, j);
        if (!subnets_meet (x, y))
          continue;
        /* The shared addresses are the more specific of the two; where
         * either profile excludes them, that one does not take them. */
        const ShSubnet *inner = x->prefix >= y->prefix ? x : y;
        if (excluded (inner, ax) || excluded (inner, bx))
          continue;
        if (a_subnet != NULL)
          *a_subnet = sh_subnet_to_string (x);
        if (b_subnet != NULL)
          *b_subnet = sh_subnet_to_string (y);
        return TRUE;
      }
  return FALSE;
}

static gboolean
unshown (gunichar c)
{
  /* Controls, and what reorders text around it (U+202A..U+202E,
   * U+2066..U+2069) or hides (zero-width, U+200B..U+200F). */
  return g_unichar_iscntrl (c) || (c >= 0x200b && c <= 0x200f) || (c >= 0x202a && c <= 0x202e)
         || (c >= 0x2066 && c <= 0x2069) || c == 0xfeff;
}

char *
sh_nm_prompt_clean (const char *text)
{
  g_autofree char *valid = g_utf8_make_valid (text ? text : "", -1);
  g_autoptr (GString) out = g_string_new (NULL);
  guint n = 0;
  gboolean space = TRUE; /* drops leading spaces */

  for (const char *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c == '\n' || c == '\r' || c == '\t' || g_unichar_isspace (c))
        c = ' ';
      else if (unshown (c))
        continue;
      if (c == ' ' && space)
        continue;
      space = c == ' ';
      if (n == SH_NM_PROMPT_MAX)
        {
          g_string_append (out, "…");
          break;
        }
      g_string_append_unichar (out, c);
      n++;
    }
  while (out->len > 0 && out->str[out->len - 1] == ' ')
    g_string_truncate (out, out->len - 1);
  return g_string_free (g_steal_pointer (&out), FALSE);
}

gboolean
sh_nm_is_answer_secret (const char *name)
{
  const char *hex;

  if (name == NULL || !g_str_has_prefix (name, SH_NM_SECRET_ANSWER))
    return FALSE;
  hex = name + strlen (SH_NM_SECRET_ANSWER);
  return strlen (hex) == 16 && strspn (hex, "0123456789abcdef") == 16;
}

gboolean
sh_nm_reason_is_network_loss (guint reason)
{
  /* NM_ACTIVE_CONNECTION_STATE_REASON_{DEVICE_DISCONNECTED, DEPENDENCY_FAILED,
   * DEVICE_REMOVED}: no libnm here. */
  return reason == 3 || reason == 12 || reason == 14;
}
