/* SPDX-License-Identifier: GPL-2.0-or-later */
/* import-export.c — sshuttle argument files <-> vpn.data.
 *
 * Import reads the file the way `shuttle @FILE` does (service/options.c): each
 * non-blank, non-comment line is one argument, or an option and its value
 * when the line starts with '-' and has a blank. Then it walks the arguments
 * like the CLI, remembering each one's line so every error can name it.
 * Options that only make sense for a CLI run (-v, -D, --syslog...) are
 * accepted and dropped; options NetworkManager cannot honour (--listen,
 * --exclude-from, a general --ssh-cmd) are errors, so nothing is silently
 * lost.
 */
#include "config.h"

#include "import-export.h"

#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

/* Bounds on what a file can make us build; a profile is a few lines. */
#define MAX_ARGS 4096
#define MAX_LIST_ITEMS 1024
#define QUOTE_MAX 80

/* The comment prefix for keys the CLI has no option for. */
#define DIRECTIVE "#nm-shuttle"

typedef struct
{
  char *text;
  guint line;
} Arg;

typedef enum
{
  O_REMOTE,
  O_EXCLUDE,
  O_SSH_CMD,
  O_PYTHON,
  O_NO_LATENCY_CONTROL,
  O_CONNECT_TIMEOUT,
  O_DNS,
  O_TO_NS,
  O_AUTO_NETS,
  O_AUTO_HOSTS,
  O_SEED_HOSTS,
  O_BLOCK_IPV6,
  O_IGNORED,   /* CLI-run options with no meaning under NetworkManager */
  O_IGNORED_V, /* the same, taking a value */
  O_REFUSED,   /* known to the CLI, but not expressible in a profile */
  O_REFUSED_V,
} OptId;

typedef struct
{
  char short_name;
  const char *long_name;
  gboolean has_arg;
  OptId id;
} OptDef;

static const OptDef opt_defs[] = {
  { 'r', "remote", TRUE, O_REMOTE },
  { 'x', "exclude", TRUE, O_EXCLUDE },
  { 'e', "ssh-cmd", TRUE, O_SSH_CMD },
  { '\0', "python", TRUE, O_PYTHON },
  { '\0', "no-latency-control", FALSE, O_NO_LATENCY_CONTROL },
  { '\0', "connect-timeout", TRUE, O_CONNECT_TIMEOUT },
  { '\0', "dns", FALSE, O_DNS },
  { '\0', "to-ns", TRUE, O_TO_NS },
  { 'N', "auto-nets", FALSE, O_AUTO_NETS },
  { 'H', "auto-hosts", FALSE, O_AUTO_HOSTS },
  { '\0', "seed-hosts", TRUE, O_SEED_HOSTS },
  { '\0', "block-ipv6", FALSE, O_BLOCK_IPV6 },
  { 'v', "verbose", FALSE, O_IGNORED },
  { 'q', "quiet", FALSE, O_IGNORED },
  { 'D', "daemon", FALSE, O_IGNORED },
  { '\0', "syslog", FALSE, O_IGNORED },
  { '\0', "pidfile", TRUE, O_IGNORED_V },
  { 'X', "exclude-from", TRUE, O_REFUSED_V },
  { 'l', "listen", TRUE, O_REFUSED_V },
  { '\0', "server-cmd", TRUE, O_REFUSED_V },
  /* Under NetworkManager DNS is captured at the connection's own resolver. */
  { '\0', "ns-hosts", TRUE, O_REFUSED_V },
  { '\0', "server", FALSE, O_REFUSED },
  { 'h', "help", FALSE, O_REFUSED },
  { 'V', "version", FALSE, O_REFUSED },
};

/* Keys allowed in "#nm-shuttle KEY=VALUE": those without a CLI option. */
static const char *const directive_keys[] = {
  "dns",
  "dns-domains",
  "host-key",
  "auth-method",
  "local-user",
  "password-flags",
  "key-passphrase-flags",
  "block-ipv6", /* the CLI has --block-ipv6, but only the profile can say no */
};

typedef struct
{
  const char *source;
  ShNmCheckItem check_item;
  GHashTable *data;
  GPtrArray *subnets;
  GPtrArray *excludes;
  GPtrArray *seed_hosts;
  gboolean dns_flag;         /* --dns */
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
add_list (ImportState *st, GPtrArray *list, guint line, const char *key, const char *value,
          GError **error)
{
  g_auto (GStrv) parts = g_strsplit (value, ",", -1);
  guint i;

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
  const char *hostport = value;
  const char *port = NULL;
  const char *at = strrchr (value, '@');

  if (at != NULL)
    {
      user = g_strndup (value, (gsize) (at - value));
      hostport = at + 1;
    }
  if (hostport[0] == '[')
    {
      const char *close = strchr (hostport, ']');

      if (close == NULL || (close[1] != '\0' && close[1] != ':'))
        {
          line_error (st, error, line,
                      _ ("invalid remote '%s': expected [ADDRESS] or [ADDRESS]:PORT"), q);
          return FALSE;
        }
      host = g_strndup (hostport + 1, (gsize) (close - hostport - 1));
      if (close[1] == ':')
        port = close + 2;
    }
  else
    {
      const char *colon = strchr (hostport, ':');

      if (colon != NULL && strchr (colon + 1, ':') == NULL)
        {
          host = g_strndup (hostport, (gsize) (colon - hostport));
          port = colon + 1;
        }
      else
        host = g_strdup (hostport);
    }

  if (host[0] == '\0')
    {
      line_error (st, error, line, _ ("invalid remote '%s': missing host"), q);
      return FALSE;
    }
  /* A second -r replaces the first, as on the command line. */
  g_hash_table_remove (st->data, "user");
  g_hash_table_remove (st->data, "port");
  if (!set_item (st, line, "host", host, error))
    return FALSE;
  if (user != NULL && !set_item (st, line, "user", user, error))
    return FALSE;
  if (port != NULL && !set_item (st, line, "port", port, error))
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
  if (!set_item (st, line, "key-file", key, error))
    return FALSE;
  st->key_file_line = line;
  return TRUE;
}

static gboolean
apply_option (ImportState *st, const OptDef *def, const char *name, guint line, const char *value,
              GError **error)
{
  switch (def->id)
    {
    case O_REMOTE:
      return apply_remote (st, line, value, error);
    case O_EXCLUDE:
      return add_list (st, st->excludes, line, "excludes", value, error);
    case O_SSH_CMD:
      return apply_ssh_cmd (st, line, value, error);
    case O_PYTHON:
      return set_item (st, line, "python", value, error);
    case O_NO_LATENCY_CONTROL:
      return set_item (st, line, "latency-control", "no", error);
    case O_BLOCK_IPV6:
      return set_item (st, line, "block-ipv6", "yes", error);
    case O_CONNECT_TIMEOUT:
      return set_item (st, line, "connect-timeout", value, error);
    case O_DNS:
      st->dns_flag = TRUE;
      return TRUE;
    case O_TO_NS:
      return set_item (st, line, "to-ns", value, error);
    case O_AUTO_NETS:
      return set_item (st, line, "auto-nets", "yes", error);
    case O_AUTO_HOSTS:
      return set_item (st, line, "auto-hosts", "yes", error);
    case O_SEED_HOSTS:
      return add_list (st, st->seed_hosts, line, "seed-hosts", value, error);
    case O_IGNORED:
    case O_IGNORED_V:
      return TRUE;
    case O_REFUSED:
    case O_REFUSED_V:
      line_error (st, error, line, _ ("option '%s' is not supported in a NetworkManager profile"),
                  name);
      return FALSE;
    }
  g_return_val_if_reached (FALSE);
}

static const OptDef *
find_long (const char *name, gsize len)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (opt_defs); i++)
    if (strlen (opt_defs[i].long_name) == len && strncmp (opt_defs[i].long_name, name, len) == 0)
      return &opt_defs[i];
  return NULL;
}

static const OptDef *
find_short (char c)
{
  gsize i;

  for (i = 0; i < G_N_ELEMENTS (opt_defs); i++)
    if (opt_defs[i].short_name != '\0' && opt_defs[i].short_name == c)
      return &opt_defs[i];
  return NULL;
}

/* As the CLI: the next argument is the value unless it looks like an option
 * ("-r -v" is a forgotten value, not a host called "-v"). */
static const char *
next_value (ImportState *st, GArray *args, guint *i, const char *name, GError **error)
{
  Arg *cur = &g_array_index (args, Arg, *i);
  Arg *next;

  if (*i + 1 >= args->len)
    goto missing;
  next = &g_array_index (args, Arg, *i + 1);
  if (next->text[0] == '-' && next->text[1] != '\0')
    goto missing;
  (*i)++;
  return next->text;

missing:
  line_error (st, error, cur->line, _ ("option '%s' needs a value"), name);
  return NULL;
}

static gboolean
walk_args (ImportState *st, GArray *args, GError **error)
{
  gboolean only_positional = FALSE;
  guint i;

  for (i = 0; i < args->len; i++)
    {
      const Arg *a = &g_array_index (args, Arg, i);
      const char *arg = a->text;

      if (only_positional || arg[0] != '-' || arg[1] == '\0')
        {
          if (arg[0] == '@')
            {
              g_autofree char *q = quote (arg);

              line_error (st, error, a->line,
                          _ ("'%s': argument files cannot include other files in a profile"), q);
              return FALSE;
            }
          if (!add_list (st, st->subnets, a->line, "subnets", arg, error))
            return FALSE;
        }
      else if (strcmp (arg, "--") == 0)
        only_positional = TRUE;
      else if (arg[1] == '-')
        {
          const char *name = arg + 2;
          const char *eq = strchr (name, '=');
          gsize len = eq != NULL ? (gsize) (eq - name) : strlen (name);
          g_autofree char *written = g_strndup (arg, len + 2);
          g_autofree char *q = quote (written);
          const OptDef *def = find_long (name, len);
          const char *value = NULL;
          guint line = a->line;

          if (def == NULL)
            {
              line_error (st, error, line, _ ("unknown option '%s'"), q);
              return FALSE;
            }
          if (def->has_arg && eq != NULL)
            value = eq + 1;
          else if (def->has_arg && (value = next_value (st, args, &i, q, error)) == NULL)
            return FALSE;
          else if (!def->has_arg && eq != NULL)
            {
              line_error (st, error, line, _ ("option '%s' takes no value"), q);
              return FALSE;
            }
          if (!apply_option (st, def, q, line, value, error))
            return FALSE;
        }
      else
        {
          /* A cluster of short options: "-NH", "-rhost", "-Nr host". */
          const char *c;
          guint line = a->line;

          for (c = arg + 1; *c != '\0'; c++)
            {
              const OptDef *def = find_short (*c);
              char written[3] = { '-', *c, '\0' };
              g_autofree char *q = quote (written);
              const char *value = NULL;

              if (def == NULL)
                {
                  line_error (st, error, line, _ ("unknown option '%s'"), q);
                  return FALSE;
                }
              if (def->has_arg)
                {
                  if (c[1] != '\0')
                    value = c + 1;
                  else if ((value = next_value (st, args, &i, q, error)) == NULL)
                    return FALSE;
                }
              if (!apply_option (st, def, q, line, value, error))
                return FALSE;
              if (def->has_arg)
                break;
            }
        }
    }
  return TRUE;
}

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
  if (strcmp (key, "dns") == 0)
    {
      g_free (st->directive_dns);
      st->directive_dns = g_strdup (value);
      return TRUE;
    }
  if (strcmp (key, "auth-method") == 0)
    {
      g_free (st->directive_auth);
      st->directive_auth = g_strdup (value);
      st->directive_auth_line = line;
      return TRUE;
    }
  g_hash_table_replace (st->data, g_strdup (key), g_strdup (value));
  return TRUE;
}

/* Splits @text into arguments as the CLI's argument-file reader does, and
 * applies "#nm-shuttle" lines on the way. */
static gboolean
split_lines (ImportState *st, const char *text, GArray *args, GError **error)
{
  g_auto (GStrv) lines = g_strsplit (text, "\n", -1);
  guint i;

  for (i = 0; lines[i] != NULL; i++)
    {
      char *line = g_strstrip (lines[i]);
      guint n = i + 1;
      char *space;
      Arg a = { NULL, n };

      if (g_str_has_prefix (line, DIRECTIVE)
          && (line[strlen (DIRECTIVE)] == ' ' || line[strlen (DIRECTIVE)] == '\t'))
        {
          if (!apply_directive (st, n, g_strchug (line + strlen (DIRECTIVE)), error))
            return FALSE;
          continue;
        }
      if (line[0] == '\0' || line[0] == '#')
        continue;
      if (args->len + 2 > MAX_ARGS)
        {
          line_error (st, error, n, _ ("more than %d arguments"), MAX_ARGS);
          return FALSE;
        }
      space = strpbrk (line, " \t");
      if (line[0] == '-' && space != NULL)
        {
          *space = '\0';
          a.text = g_strdup (line);
          g_array_append_val (args, a);
          a.text = g_strdup (g_strchug (space + 1));
          g_array_append_val (args, a);
        }
      else
        {
          a.text = g_strdup (line);
          g_array_append_val (args, a);
        }
    }
  return TRUE;
}

static void
arg_clear (gpointer p)
{
  g_free (((Arg *) p)->text);
}

static void
set_list (GHashTable *data, const char *key, GPtrArray *list)
{
  g_autofree char *joined = NULL;

  if (list->len == 0)
    return;
  g_ptr_array_add (list, NULL);
  joined = g_strjoinv (",", (char **) list->pdata);
  g_ptr_array_remove_index (list, list->len - 1);
  g_hash_table_replace (data, g_strdup (key), g_steal_pointer (&joined));
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
    g_hash_table_replace (st->data, g_strdup ("auth-method"), g_strdup (auth));

  /* "#nm-shuttle dns=..." is the more precise statement; "--dns" alone is
   * what the CLI does: all DNS through the tunnel. */
  if (st->directive_dns != NULL)
    g_hash_table_replace (st->data, g_strdup ("dns"), g_strdup (st->directive_dns));
  else if (st->dns_flag)
    g_hash_table_replace (st->data, g_strdup ("dns"), g_strdup ("full"));

  set_list (st->data, "subnets", st->subnets);
  set_list (st->data, "excludes", st->excludes);
  set_list (st->data, "seed-hosts", st->seed_hosts);
  return TRUE;
}

GHashTable *
sh_nm_import_parse (const char *text, const char *source, ShNmCheckItem check_item, GError **error)
{
  g_autoptr (GHashTable) data = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autoptr (GPtrArray) subnets = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) excludes = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) seed_hosts = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GArray) args = g_array_new (FALSE, FALSE, sizeof (Arg));
  ImportState st = {
    .source = source,
    .check_item = check_item,
    .data = data,
    .subnets = subnets,
    .excludes = excludes,
    .seed_hosts = seed_hosts,
  };
  gboolean ok;

  g_return_val_if_fail (text != NULL, NULL);
  g_array_set_clear_func (args, arg_clear);

  ok = split_lines (&st, text, args, error) && walk_args (&st, args, error) && resolve (&st, error);
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
  const char *host = lookup (data, "host");
  const char *user = lookup (data, "user");
  const char *port = lookup (data, "port");
  const char *auth = lookup (data, "auth-method");
  const char *dns = lookup (data, "dns");
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
  if ((v = lookup (data, "subnets")) != NULL)
    append_list (out, "", v);
  if ((v = lookup (data, "excludes")) != NULL)
    append_list (out, "-x ", v);
  if (dns != NULL && strcmp (dns, "full") == 0)
    g_string_append (out, "--dns\n");
  else if (dns != NULL && strcmp (dns, "split") == 0)
    g_string_append (out, DIRECTIVE " dns=split\n");
  if ((v = lookup (data, "dns-domains")) != NULL)
    g_string_append_printf (out, DIRECTIVE " dns-domains=%s\n", v);
  if ((v = lookup (data, "to-ns")) != NULL)
    g_string_append_printf (out, "--to-ns %s\n", v);
  if ((v = lookup (data, "auto-nets")) != NULL && strcmp (v, "yes") == 0)
    g_string_append (out, "-N\n");
  if ((v = lookup (data, "auto-hosts")) != NULL && strcmp (v, "yes") == 0)
    g_string_append (out, "-H\n");
  if ((v = lookup (data, "seed-hosts")) != NULL)
    g_string_append_printf (out, "--seed-hosts %s\n", v);
  if ((v = lookup (data, "latency-control")) != NULL && strcmp (v, "no") == 0)
    g_string_append (out, "--no-latency-control\n");
  if ((v = lookup (data, "connect-timeout")) != NULL)
    g_string_append_printf (out, "--connect-timeout %s\n", v);
  if ((v = lookup (data, "python")) != NULL)
    g_string_append_printf (out, "--python %s\n", v);
  if (auth != NULL && strcmp (auth, "key") == 0 && (v = lookup (data, "key-file")) != NULL)
    {
      g_autofree char *w = shell_word (v);

      g_string_append_printf (out, "-e ssh -i %s\n", w);
    }
  else if (auth != NULL && strcmp (auth, "password") == 0)
    g_string_append (out, DIRECTIVE " auth-method=password\n");
  if ((v = lookup (data, "host-key")) != NULL)
    g_string_append_printf (out, DIRECTIVE " host-key=%s\n", v);
  if ((v = lookup (data, "local-user")) != NULL)
    g_string_append_printf (out, DIRECTIVE " local-user=%s\n", v);
  if ((v = lookup (data, "password-flags")) != NULL && strcmp (v, "0") != 0)
    g_string_append_printf (out, DIRECTIVE " password-flags=%s\n", v);
  if ((v = lookup (data, "key-passphrase-flags")) != NULL && strcmp (v, "0") != 0)
    g_string_append_printf (out, DIRECTIVE " key-passphrase-flags=%s\n", v);
  /* On is the profile's default and sshuttle has no such option: only the
   * choice to turn it off needs saying. */
  if ((v = lookup (data, "block-ipv6")) != NULL && strcmp (v, "no") == 0)
    g_string_append (out, DIRECTIVE " block-ipv6=no\n");
  return g_string_free (out, FALSE);
}
