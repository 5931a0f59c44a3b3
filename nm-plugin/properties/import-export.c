/* SPDX-License-Identifier: GPL-2.0-or-later */
/* import-export.c — sshuttle argument files <-> vpn.data.
 *
 * Import reads the file with the CLI's own grammar (service/common/optgrammar.h):
 * its line splitter and argument walker, remembering each argument's line so
 * every error can name it. The option table says what each option becomes:
 * a vpn.data key; nothing, for options that only make sense for a CLI run
 * (-v, -D, --syslog...); or an error, for options NetworkManager cannot
 * honour (--listen, --exclude-from; a general --ssh-cmd here), so nothing is
 * silently lost.
 */
#include "config.h"

#include "import-export.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#include "nm-shuttle-data.h"
#include "optgrammar.h"

/* Bounds on what a file can make us build; a profile is a few lines. */
#define MAX_ARGS 4096
#define MAX_LIST_ITEMS 1024
#define QUOTE_MAX 80

/* The comment prefix for keys the CLI has no option for. */
#define DIRECTIVE "#nm-shuttle"

/* Keys allowed in "#nm-shuttle KEY=VALUE": those without a CLI option. */
static const char *const directive_keys[] = {
  SH_NM_KEY_DNS,
  SH_NM_KEY_DNS_DOMAINS,
  SH_NM_KEY_HOST_KEY,
  SH_NM_KEY_AUTH_METHOD,
  SH_NM_KEY_LOCAL_USER,
  SH_NM_KEY_PASSWORD_FLAGS,
  SH_NM_KEY_KEY_PASSPHRASE_FLAGS,
  SH_NM_KEY_BLOCK_IPV6,  /* the CLI has --block-ipv6, but only the profile can say no */
  SH_NM_KEY_FAIL_CLOSED, /* the CLI's --fail-closed needs --reconnect, which NM decides */
};

typedef struct
{
  const char *source;
  ShNmCheckItem check_item;
  GHashTable *data;
  GPtrArray *args;           /* the file's arguments, pointing into its lines */
  GArray *lines;             /* guint: the line of each argument */
  GHashTable *lists;         /* a list key -> GPtrArray of its elements */
  guint key_file_line;       /* where -e ssh -i KEY was, 0: absent */
  char *directive_dns;       /* #nm-shuttle dns= */
  char *directive_auth;      /* #nm-shuttle auth-method= */
  guint directive_auth_line; /* for the conflict message */
} ImportState;

/* Message text quotes file content: one printable line, bounded. */
static char *
quote (const char *s)
{
  g_autofree char *cut = g_utf8_make_valid (s, MIN (strlen (s), (gsize) QUOTE_MAX));
  g_autofree char *esc = g_strescape (cut, NULL);

  if (strlen (s) > QUOTE_MAX)
    return g_strconcat (esc, "...", NULL);
  return g_steal_pointer (&esc);
}

static void line_error (ImportState *st, GError **error, guint line, const char *format, ...)
    G_GNUC_PRINTF (4, 5);

static void
line_error (ImportState *st, GError **error, guint line, const char *format, ...)
{
  g_autofree char *msg = NULL;
  va_list ap;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (st->source != NULL)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s:%u: %s", st->source, line, msg);
  else
    /* TRANSLATORS: "line 3: unknown option '--foo'" */
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _ ("line %u: %s"), line, msg);
}

/* Runs the caller's value check for one item, prefixing its message with the
 * line. */
static gboolean
check (ImportState *st, guint line, const char *key, const char *value, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (st->check_item == NULL || st->check_item (key, value, &local_error))
    return TRUE;
  line_error (st, error, line, "%s", local_error->message);
  return FALSE;
}

static gboolean
set_item (ImportState *st, guint line, const char *key, const char *value, GError **error)
{
  if (!check (st, line, key, value, error))
    return FALSE;
  g_hash_table_replace (st->data, g_strdup (key), g_strdup (value));
  return TRUE;
}

/* A list value may be given as one element or as "a,b,c"; each element is
 * checked on its own so the message can say which. */
static gboolean
add_list (ImportState *st, guint line, const char *key, const char *value, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (value, ",", -1);
  GPtrArray *list = g_hash_table_lookup (st->lists, key);
  guint i;

  if (list == NULL)
    {
      list = g_ptr_array_new_with_free_func (g_free);
      g_hash_table_insert (st->lists, (gpointer) key, list);
    }

  for (i = 0; parts[i] != NULL; i++)
    {
      const char *item = g_strstrip (parts[i]);

      if (item[0] == '\0')
        {
          g_autofree char *q = quote (value);

          line_error (st, error, line, _ ("empty element in '%s'"), q);
          return FALSE;
        }
      if (list->len >= MAX_LIST_ITEMS)
        {
          line_error (st, error, line, _ ("more than %d elements in %s"), MAX_LIST_ITEMS, key);
          return FALSE;
        }
      if (!check (st, line, key, item, error))
        return FALSE;
      g_ptr_array_add (list, g_strdup (item));
    }
  return TRUE;
}

/* [user@]host[:port] | [user@][v6]:port | [user@]v6 — as the CLI reads -r. */
static gboolean
apply_remote (ImportState *st, guint line, const char *value, GError **error)
{
  g_autofree char *q = quote (value);
  g_autofree char *user = NULL;
  g_autofree char *host = NULL;
  const char *port;

  if (sh_opt_split_remote (value, &user, &host, &port) != SH_OPT_REMOTE_OK)
    {
      line_error (st, error, line, _ ("invalid remote '%s': expected [ADDRESS] or [ADDRESS]:PORT"),
                  q);
      return FALSE;
    }
  if (host[0] == '\0')
    {
      line_error (st, error, line, _ ("invalid remote '%s': missing host"), q);
      return FALSE;
    }
  /* A second -r replaces the first, as on the command line. */
  g_hash_table_remove (st->data, SH_NM_KEY_USER);
  g_hash_table_remove (st->data, SH_NM_KEY_PORT);
  if (!set_item (st, line, SH_NM_KEY_HOST, host, error))
    return FALSE;
  if (user != NULL && !set_item (st, line, SH_NM_KEY_USER, user, error))
    return FALSE;
  if (port != NULL && !set_item (st, line, SH_NM_KEY_PORT, port, error))
    return FALSE;
  return TRUE;
}

/* Only "ssh -i KEYFILE" maps onto a profile (auth-method=key); any other ssh
 * option belongs in ~/.ssh/config, which the engine's ssh reads anyway. */
static gboolean
apply_ssh_cmd (ImportState *st, guint line, const char *value, GError **error)
{
  g_auto (GStrv) argv = NULL;
  g_autofree char *q = quote (value);
  g_autofree char *key = NULL;
  const char *prog;
  int argc = 0;
  int i;

  if (!g_shell_parse_argv (value, &argc, &argv, NULL))
    {
      line_error (st, error, line, _ ("invalid --ssh-cmd '%s': unbalanced quotes"), q);
      return FALSE;
    }
  prog = argv[0];
  if (strcmp (prog, "ssh") != 0 && !g_str_has_suffix (prog, "/ssh"))
    {
      line_error (st, error, line,
                  _ ("--ssh-cmd '%s' cannot be imported: only \"ssh -i KEYFILE\" can "
                     "(put other ssh options in ~/.ssh/config)"),
                  q);
      return FALSE;
    }
  for (i = 1; i < argc; i++)
    {
      const char *path = NULL;

      if (strcmp (argv[i], "-i") == 0 && i + 1 < argc)
        path = argv[++i];
      else if (g_str_has_prefix (argv[i], "-i") && argv[i][2] != '\0')
        path = argv[i] + 2;
      if (path == NULL || key != NULL)
        {
          line_error (st, error, line,
                      _ ("--ssh-cmd '%s' cannot be imported: only \"ssh -i KEYFILE\" can "
                         "(put other ssh options in ~/.ssh/config)"),
                      q);
          return FALSE;
        }
      /* A profile needs an absolute path; "~/" is the importing user's home,
       * which is whose ssh the profile is for. */
      if (g_str_has_prefix (path, "~/"))
        key = g_build_filename (g_get_home_dir (), path + 2, NULL);
      else
        key = g_strdup (path);
    }
  if (key == NULL)
    return TRUE; /* plain "ssh": the default */
  if (!set_item (st, line, SH_NM_KEY_KEY_FILE, key, error))
    return FALSE;
  st->key_file_line = line;
  return TRUE;
}

static gboolean
on_option (gpointer user, guint index, const ShOptDef *def, const char *name, const char *value,
           GError **error)
{
  ImportState *st = user;
  guint line = g_array_index (st->lines, guint, index);
  g_autofree char *q = quote (name);

  switch (def->nm)
    {
    case SH_OPT_NM_KEY:
      return set_item (st, line, def->nm_key, def->nm_value ? def->nm_value : value, error);
    case SH_OPT_NM_LIST:
      return add_list (st, line, def->nm_key, value, error);
    case SH_OPT_NM_SPECIAL:
      if (def->id == SH_OPT_REMOTE)
        return apply_remote (st, line, value, error);
      return apply_ssh_cmd (st, line, value, error);
    case SH_OPT_NM_IGNORED:
      return TRUE;
    case SH_OPT_NM_REFUSED:
    case SH_OPT_NM_UNKNOWN:
      break;
    }
  line_error (st, error, line, _ ("option '%s' is not supported in a NetworkManager profile"), q);
  return FALSE;
}

static gboolean
on_positional (gpointer user, guint index, const char *arg, GError **error)
{
  ImportState *st = user;
  guint line = g_array_index (st->lines, guint, index);

  if (arg[0] == '@')
    {
      g_autofree char *q = quote (arg);

      line_error (st, error, line,
                  _ ("'%s': argument files cannot include other files in a profile"), q);
      return FALSE;
    }
  return add_list (st, line, SH_NM_KEY_SUBNETS, arg, error);
}

static void
on_fault (gpointer user, guint index, ShOptFault fault, const char *name, const char *cluster,
          GError **error)
{
  ImportState *st = user;
  guint line = g_array_index (st->lines, guint, index);
  g_autofree char *q = quote (name);

  if (fault == SH_OPT_FAULT_NEEDS_VALUE)
    line_error (st, error, line, _ ("option '%s' needs a value"), q);
  else if (fault == SH_OPT_FAULT_NO_VALUE)
    line_error (st, error, line, _ ("option '%s' takes no value"), q);
  else
    line_error (st, error, line, _ ("unknown option '%s'"), q);
}

/* As the CLI reads a file, but options only a CLI run knows are unknown. */
static const ShOptVisitor import_visitor = {
  .profile = TRUE,
  .positional = on_positional,
  .option = on_option,
  .fault = on_fault,
};

static gboolean
apply_directive (ImportState *st, guint line, const char *rest, GError **error)
{
  g_autofree char *q = quote (rest);
  const char *eq = strchr (rest, '=');
  g_autofree char *key = NULL;
  const char *value;
  gsize i;

  if (eq == NULL)
    {
      line_error (st, error, line, _ ("'%s %s': expected KEY=VALUE"), DIRECTIVE, q);
      return FALSE;
    }
  key = g_strstrip (g_strndup (rest, (gsize) (eq - rest)));
  value = eq + 1;
  for (i = 0; i < G_N_ELEMENTS (directive_keys); i++)
    if (strcmp (key, directive_keys[i]) == 0)
      break;
  if (i == G_N_ELEMENTS (directive_keys))
    {
      g_autofree char *qk = quote (key);

      line_error (st, error, line, _ ("unknown key '%s' after '%s'"), qk, DIRECTIVE);
      return FALSE;
    }
  if (!check (st, line, key, value, error))
    return FALSE;
  if (strcmp (key, SH_NM_KEY_DNS) == 0)
    {
      g_free (st->directive_dns);
      st->directive_dns = g_strdup (value);
      return TRUE;
    }
  if (strcmp (key, SH_NM_KEY_AUTH_METHOD) == 0)
    {
      g_free (st->directive_auth);
      st->directive_auth = g_strdup (value);
      st->directive_auth_line = line;
      return TRUE;
    }
  g_hash_table_replace (st->data, g_strdup (key), g_strdup (value));
  return TRUE;
}

/* Splits @lines (the file's text, cut at newlines) into arguments as the
 * CLI's argument-file reader does, and applies "#nm-shuttle" lines on the
 * way. The arguments point into @lines. */
static gboolean
split_lines (ImportState *st, char **lines, GError **error)
{
  for (guint i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      char *words[2];
      guint n = i + 1;
      guint n_words;

      if (g_str_has_prefix (line, DIRECTIVE)
          && (line[strlen (DIRECTIVE)] == ' ' || line[strlen (DIRECTIVE)] == '\t'))
        {
          if (!apply_directive (st, n, g_strchug (line + strlen (DIRECTIVE)), error))
            return FALSE;
          continue;
        }
      n_words = sh_opt_split_line (line, words);
      if (n_words > 0 && st->args->len + 2 > MAX_ARGS)
        {
          line_error (st, error, n, _ ("more than %d arguments"), MAX_ARGS);
          return FALSE;
        }
      for (guint k = 0; k < n_words; k++)
        {
          g_ptr_array_add (st->args, words[k]);
          g_array_append_val (st->lines, n);
        }
    }
  return TRUE;
}

/* Each list read (subnets, -x, --seed-hosts) becomes its comma-joined key. */
static void
set_lists (GHashTable *data, GHashTable *lists)
{
  GHashTableIter it;
  gpointer key, list;

  g_hash_table_iter_init (&it, lists);
  while (g_hash_table_iter_next (&it, &key, &list))
    {
      g_ptr_array_add (list, NULL);
      g_hash_table_replace (data, g_strdup (key),
                            g_strjoinv (",", (char **) ((GPtrArray *) list)->pdata));
    }
}

/* The keys that two sources in the file describe together. */
static gboolean
resolve (ImportState *st, GError **error)
{
  const char *auth = st->directive_auth;

  if (st->key_file_line != 0)
    {
      if (auth != NULL && strcmp (auth, "key") != 0)
        {
          line_error (st, error, st->directive_auth_line,
                      _ ("auth-method=%s contradicts \"-e ssh -i\" on line %u"), auth,
                      st->key_file_line);
          return FALSE;
        }
      auth = "key";
    }
  else if (auth != NULL && strcmp (auth, "key") == 0)
    {
      line_error (st, error, st->directive_auth_line,
                  _ ("auth-method=key needs the key file as \"-e ssh -i KEYFILE\""));
      return FALSE;
    }
  if (auth != NULL)
    g_hash_table_replace (st->data, g_strdup (SH_NM_KEY_AUTH_METHOD), g_strdup (auth));

  /* "#nm-shuttle dns=..." is the more precise statement; "--dns" alone
   * (dns=full, from the option table) is what the CLI does: all DNS through
   * the tunnel. */
  if (st->directive_dns != NULL)
    g_hash_table_replace (st->data, g_strdup (SH_NM_KEY_DNS), g_strdup (st->directive_dns));
  set_lists (st->data, st->lists);
  return TRUE;
}

GHashTable *
sh_nm_import_parse (const char *text, const char *source, ShNmCheckItem check_item, GError **error)
{
  g_autoptr (GHashTable) data = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GHashTable) lists
      = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) g_ptr_array_unref);
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autoptr (GArray) lines = g_array_new (FALSE, FALSE, sizeof (guint));
  g_auto (GStrv) text_lines = NULL;
  ImportState st = {
    .source = source,
    .check_item = check_item,
    .data = data,
    .args = args,
    .lines = lines,
    .lists = lists,
  };
  gboolean ok;

  g_return_val_if_fail (text != NULL, NULL);

  text_lines = g_strsplit (text, "\n", -1);
  ok = split_lines (&st, text_lines, error)
       && sh_opt_walk ((char **) args->pdata, args->len, &import_visitor, &st, error)
       && resolve (&st, error);
  g_free (st.directive_dns);
  g_free (st.directive_auth);
  if (!ok)
    return NULL;
  return g_steal_pointer (&data);
}

/* ---- export ---- */

static const char *
lookup (GHashTable *data, const char *key)
{
  const char *v = g_hash_table_lookup (data, key);

  return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Quotes for the CLI's g_shell_parse_argv() only when needed, so ordinary
 * paths stay readable. */
static char *
shell_word (const char *s)
{
  const char *p;

  for (p = s; *p != '\0'; p++)
    if (!g_ascii_isalnum (*p) && strchr ("/._+-~@:,=", *p) == NULL)
      return g_shell_quote (s);
  return g_strdup (s);
}

static void
append_list (GString *out, const char *prefix, const char *list)
{
  g_auto (GStrv) parts = g_strsplit (list, ",", -1);
  guint i;

  for (i = 0; parts[i] != NULL; i++)
    {
      const char *item = g_strstrip (parts[i]);

      if (item[0] != '\0')
        g_string_append_printf (out, "%s%s\n", prefix, item);
    }
}

char *
sh_nm_export_format (GHashTable *data, const char *name)
{
  GString *out = g_string_new (NULL);
  const char *host = lookup (data, SH_NM_KEY_HOST);
  const char *user = lookup (data, SH_NM_KEY_USER);
  const char *port = lookup (data, SH_NM_KEY_PORT);
  const char *auth = lookup (data, SH_NM_KEY_AUTH_METHOD);
  const char *dns = lookup (data, SH_NM_KEY_DNS);
  const char *v;

  /* The header is a comment: both readers skip it. Newlines in a connection
   * name must not end the comment early. */
  if (name != NULL)
    {
      g_autofree char *flat = g_strdup (name);

      g_strdelimit (flat, "\r\n", ' ');
      g_string_append_printf (out, "# Shuttle VPN \"%s\"\n", flat);
    }
  g_string_append (out, "# Run with: shuttle @FILE; import with: nmcli connection import type "
                        "shuttle file FILE\n");

  if (host != NULL)
    {
      gboolean v6 = strchr (host, ':') != NULL;

      g_string_append (out, "-r ");
      if (user != NULL)
        g_string_append_printf (out, "%s@", user);
      g_string_append_printf (out, v6 ? "[%s]" : "%s", host);
      if (port != NULL)
        g_string_append_printf (out, ":%s", port);
      g_string_append_c (out, '\n');
    }
  if ((v = lookup (data, SH_NM_KEY_SUBNETS)) != NULL)
    append_list (out, "", v);
  if ((v = lookup (data, SH_NM_KEY_EXCLUDES)) != NULL)
    append_list (out, "-x ", v);
  if (dns != NULL && strcmp (dns, "full") == 0)
    g_string_append (out, "--dns\n");
  else if (dns != NULL && strcmp (dns, "split") == 0)
    g_string_append (out, DIRECTIVE " " SH_NM_KEY_DNS "=split\n");
  if ((v = lookup (data, SH_NM_KEY_DNS_DOMAINS)) != NULL)
    g_string_append_printf (out, DIRECTIVE " " SH_NM_KEY_DNS_DOMAINS "=%s\n", v);
  if ((v = lookup (data, SH_NM_KEY_TO_NS)) != NULL)
    g_string_append_printf (out, "--to-ns %s\n", v);
  if ((v = lookup (data, SH_NM_KEY_AUTO_NETS)) != NULL && strcmp (v, "yes") == 0)
    g_string_append (out, "-N\n");
  if ((v = lookup (data, SH_NM_KEY_AUTO_HOSTS)) != NULL && strcmp (v, "yes") == 0)
    g_string_append (out, "-H\n");
  if ((v = lookup (data, SH_NM_KEY_SEED_HOSTS)) != NULL)
    g_string_append_printf (out, "--seed-hosts %s\n", v);
  if ((v = lookup (data, SH_NM_KEY_LATENCY_CONTROL)) != NULL && strcmp (v, "no") == 0)
    g_string_append (out, "--no-latency-control\n");
  if ((v = lookup (data, SH_NM_KEY_CONNECT_TIMEOUT)) != NULL)
    g_string_append_printf (out, "--connect-timeout %s\n", v);
  if ((v = lookup (data, SH_NM_KEY_PYTHON)) != NULL)
    g_string_append_printf (out, "--python %s\n", v);
  if ((v = lookup (data, SH_NM_KEY_TRANSPORT)) != NULL && strcmp (v, "auto") != 0)
    g_string_append_printf (out, "--transport %s\n", v);
  if ((v = lookup (data, SH_NM_KEY_UDP)) != NULL && strcmp (v, "no") == 0)
    g_string_append (out, "--no-udp\n");
  if ((v = lookup (data, SH_NM_KEY_UDP_TIMEOUT)) != NULL)
    g_string_append_printf (out, "--udp-timeout %s\n", v);
  if (auth != NULL && strcmp (auth, "key") == 0 && (v = lookup (data, SH_NM_KEY_KEY_FILE)) != NULL)
    {
      g_autofree char *w = shell_word (v);

      g_string_append_printf (out, "-e ssh -i %s\n", w);
    }
  else if (auth != NULL && strcmp (auth, "password") == 0)
    g_string_append (out, DIRECTIVE " " SH_NM_KEY_AUTH_METHOD "=password\n");
  if ((v = lookup (data, SH_NM_KEY_HOST_KEY)) != NULL)
    g_string_append_printf (out, DIRECTIVE " " SH_NM_KEY_HOST_KEY "=%s\n", v);
  if ((v = lookup (data, SH_NM_KEY_LOCAL_USER)) != NULL)
    g_string_append_printf (out, DIRECTIVE " " SH_NM_KEY_LOCAL_USER "=%s\n", v);
  if ((v = lookup (data, SH_NM_KEY_PASSWORD_FLAGS)) != NULL && strcmp (v, "0") != 0)
    g_string_append_printf (out, DIRECTIVE " " SH_NM_KEY_PASSWORD_FLAGS "=%s\n", v);
  if ((v = lookup (data, SH_NM_KEY_KEY_PASSPHRASE_FLAGS)) != NULL && strcmp (v, "0") != 0)
    g_string_append_printf (out, DIRECTIVE " " SH_NM_KEY_KEY_PASSPHRASE_FLAGS "=%s\n", v);
  /* On is the profile's default and sshuttle has no such option: only the
   * choice to turn it off needs saying. */
  if ((v = lookup (data, SH_NM_KEY_BLOCK_IPV6)) != NULL && strcmp (v, "no") == 0)
    g_string_append (out, DIRECTIVE " " SH_NM_KEY_BLOCK_IPV6 "=no\n");
  if ((v = lookup (data, SH_NM_KEY_FAIL_CLOSED)) != NULL && strcmp (v, "yes") == 0)
    g_string_append (out, DIRECTIVE " " SH_NM_KEY_FAIL_CLOSED "=yes\n");
  return g_string_free (out, FALSE);
}
