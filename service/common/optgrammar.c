/* SPDX-License-Identifier: GPL-2.0-or-later */
/* optgrammar.c — the option table and the argument walker (optgrammar.h). */
#include "config.h"

#include "optgrammar.h"

#include <string.h>

/* The vpn.data keys are nm-plugin/shared/nm-shuttle-data.h's SH_NM_KEY_*,
 * which the engine cannot include; tests/unit/test-options.c checks each
 * one here against that whitelist. */
static const ShOptDef opt_defs[] = {
  { "remote", 'r', TRUE, SH_OPT_REMOTE, SH_OPT_NM_SPECIAL, NULL, NULL },
  { "exclude", 'x', TRUE, SH_OPT_EXCLUDE, SH_OPT_NM_LIST, "excludes", NULL },
  { "exclude-from", 'X', TRUE, SH_OPT_EXCLUDE_FROM, SH_OPT_NM_REFUSED, NULL, NULL },
  { "listen", 'l', TRUE, SH_OPT_LISTEN, SH_OPT_NM_REFUSED, NULL, NULL },
  { "socks", '\0', TRUE, SH_OPT_SOCKS, SH_OPT_NM_REFUSED, NULL, NULL },
  { "scope", '\0', FALSE, SH_OPT_SCOPE, SH_OPT_NM_REFUSED, NULL, NULL },
  { "exclude-scope", '\0', FALSE, SH_OPT_EXCLUDE_SCOPE, SH_OPT_NM_REFUSED, NULL, NULL },
  { "attach", '\0', TRUE, SH_OPT_ATTACH, SH_OPT_NM_REFUSED, NULL, NULL },
  { "ssh-cmd", 'e', TRUE, SH_OPT_SSH_CMD, SH_OPT_NM_SPECIAL, NULL, NULL },
  { "server-cmd", '\0', TRUE, SH_OPT_SERVER_CMD, SH_OPT_NM_REFUSED, NULL, NULL },
  { "python", '\0', TRUE, SH_OPT_PYTHON, SH_OPT_NM_KEY, "python", NULL },
  { "verbose", 'v', FALSE, SH_OPT_VERBOSE, SH_OPT_NM_IGNORED, NULL, NULL },
  { "quiet", 'q', FALSE, SH_OPT_QUIET, SH_OPT_NM_IGNORED, NULL, NULL },
  { "no-latency-control", '\0', FALSE, SH_OPT_NO_LATENCY_CONTROL, SH_OPT_NM_KEY, "latency-control",
    "no" },
  { "daemon", 'D', FALSE, SH_OPT_DAEMON, SH_OPT_NM_IGNORED, NULL, NULL },
  { "pidfile", '\0', TRUE, SH_OPT_PIDFILE, SH_OPT_NM_IGNORED, NULL, NULL },
  { "syslog", '\0', FALSE, SH_OPT_SYSLOG, SH_OPT_NM_IGNORED, NULL, NULL },
  { "connect-timeout", '\0', TRUE, SH_OPT_CONNECT_TIMEOUT, SH_OPT_NM_KEY, "connect-timeout", NULL },
  { "reconnect", '\0', FALSE, SH_OPT_RECONNECT, SH_OPT_NM_UNKNOWN, NULL, NULL },
  { "fail-closed", '\0', FALSE, SH_OPT_FAIL_CLOSED, SH_OPT_NM_UNKNOWN, NULL, NULL },
  { "control-fd", '\0', TRUE, SH_OPT_CONTROL_FD, SH_OPT_NM_UNKNOWN, NULL, NULL },
  { "secret-fd", '\0', TRUE, SH_OPT_SECRET_FD, SH_OPT_NM_UNKNOWN, NULL, NULL },
  { "server", '\0', FALSE, SH_OPT_SERVER, SH_OPT_NM_REFUSED, NULL, NULL },
  /* "#nm-shuttle dns=split" in the same file says more and wins. */
  { "dns", '\0', FALSE, SH_OPT_DNS, SH_OPT_NM_KEY, "dns", "full" },
  /* Under NetworkManager DNS is captured at the connection's own resolver. */
  { "ns-hosts", '\0', TRUE, SH_OPT_NS_HOSTS, SH_OPT_NM_REFUSED, NULL, NULL },
  { "to-ns", '\0', TRUE, SH_OPT_TO_NS, SH_OPT_NM_KEY, "to-ns", NULL },
  { "auto-nets", 'N', FALSE, SH_OPT_AUTO_NETS, SH_OPT_NM_KEY, "auto-nets", "yes" },
  { "auto-hosts", 'H', FALSE, SH_OPT_AUTO_HOSTS, SH_OPT_NM_KEY, "auto-hosts", "yes" },
  { "seed-hosts", '\0', TRUE, SH_OPT_SEED_HOSTS, SH_OPT_NM_LIST, "seed-hosts", NULL },
  { "block-ipv6", '\0', FALSE, SH_OPT_BLOCK_IPV6, SH_OPT_NM_KEY, "block-ipv6", "yes" },
  { "transport", '\0', TRUE, SH_OPT_TRANSPORT, SH_OPT_NM_KEY, "transport", NULL },
  { "udp", '\0', FALSE, SH_OPT_UDP, SH_OPT_NM_KEY, "udp", "yes" },
  { "no-udp", '\0', FALSE, SH_OPT_NO_UDP, SH_OPT_NM_KEY, "udp", "no" },
  { "udp-timeout", '\0', TRUE, SH_OPT_UDP_TIMEOUT, SH_OPT_NM_KEY, "udp-timeout", NULL },
  /* A profile keeps the engine's default. */
  { "no-connect-fidelity", '\0', FALSE, SH_OPT_NO_CONNECT_FIDELITY, SH_OPT_NM_IGNORED, NULL, NULL },
  { "lanes", '\0', TRUE, SH_OPT_LANES, SH_OPT_NM_IGNORED, NULL, NULL },
  { "help", 'h', FALSE, SH_OPT_HELP, SH_OPT_NM_REFUSED, NULL, NULL },
  { "version", 'V', FALSE, SH_OPT_VERSION, SH_OPT_NM_REFUSED, NULL, NULL },
};

const ShOptDef *
sh_opt_defs (gsize *n_out)
{
  *n_out = G_N_ELEMENTS (opt_defs);
  return opt_defs;
}

/* A long name of @len bytes, or a short one when @len is 0. */
static const ShOptDef *
find (const ShOptVisitor *v, const char *name, gsize len)
{
  for (gsize i = 0; i < G_N_ELEMENTS (opt_defs); i++)
    {
      const ShOptDef *d = &opt_defs[i];

      if (v->profile && d->nm == SH_OPT_NM_UNKNOWN)
        continue;
      if (len == 0 ? d->short_name != '\0' && d->short_name == name[0]
                   : strlen (d->long_name) == len && strncmp (d->long_name, name, len) == 0)
        return d;
    }
  return NULL;
}

/* The next argument, as the value of the option in argument *@i. One that
 * looks like an option means the value was forgotten ("-r -v"); taking it
 * would also hand ssh an option as a host name. */
static const char *
next_value (char **args, guint n_args, guint *i)
{
  if (*i + 1 >= n_args || (args[*i + 1][0] == '-' && args[*i + 1][1] != '\0'))
    return NULL;
  return args[++*i];
}

/* One option of argument @at, found or not, with @value from inside the
 * argument (NULL: none there). */
static gboolean
visit (const ShOptVisitor *v, gpointer user, char **args, guint n_args, guint *i, guint at,
       const ShOptDef *def, const char *name, const char *cluster, const char *value,
       GError **error)
{
  ShOptFault fault;

  if (def == NULL)
    fault = SH_OPT_FAULT_UNKNOWN;
  else if (def->has_arg && value == NULL && (value = next_value (args, n_args, i)) == NULL)
    fault = SH_OPT_FAULT_NEEDS_VALUE;
  else if (!def->has_arg && value != NULL)
    fault = SH_OPT_FAULT_NO_VALUE;
  else
    return v->option (user, at, def, name, value, error);
  v->fault (user, at, fault, name, cluster, error);
  return FALSE;
}

gboolean
sh_opt_walk (char **args, guint n_args, const ShOptVisitor *v, gpointer user, GError **error)
{
  gboolean only_positional = FALSE;

  for (guint i = 0; i < n_args; i++)
    {
      const char *arg = args[i];
      guint at = i;

      if (only_positional || arg[0] != '-' || arg[1] == '\0')
        {
          if (!v->positional (user, i, arg, error))
            return FALSE;
        }
      else if (strcmp (arg, "--") == 0)
        only_positional = TRUE;
      else if (arg[1] == '-')
        {
          const char *eq = strchr (arg + 2, '=');
          gsize len = eq != NULL ? (gsize) (eq - arg - 2) : strlen (arg + 2);
          g_autofree char *written = g_strndup (arg, len + 2);

          if (!visit (v, user, args, n_args, &i, at, find (v, arg + 2, len), written, NULL,
                      eq != NULL ? eq + 1 : NULL, error))
            return FALSE;
        }
      else
        {
          /* A cluster of short options: "-vD", "-vv", "-rhost", "-vr host";
           * the first that takes a value takes the rest of the argument. */
          for (const char *c = arg + 1; *c != '\0'; c++)
            {
              const ShOptDef *def = find (v, c, 0);
              char written[3] = { '-', *c, '\0' };
              gboolean takes = def != NULL && def->has_arg;

              if (!visit (v, user, args, n_args, &i, at, def, written, arg[2] != '\0' ? arg : NULL,
                          takes && c[1] != '\0' ? c + 1 : NULL, error))
                return FALSE;
              if (takes)
                break;
            }
        }
    }
  return TRUE;
}

guint
sh_opt_split_line (char *line, char *out[2])
{
  char *space;

  line = g_strstrip (line);
  if (line[0] == '\0' || line[0] == '#')
    return 0;
  out[0] = line;
  space = strpbrk (line, " \t");
  if (line[0] != '-' || space == NULL)
    return 1;
  *space = '\0';
  out[1] = g_strchug (space + 1);
  return 2;
}

ShOptRemoteFault
sh_opt_split_remote (const char *value, char **user, char **host, const char **port)
{
  const char *at = strrchr (value, '@');
  const char *hostport = at != NULL ? at + 1 : value;
  const char *end;

  *port = NULL;
  if (hostport[0] == '[')
    {
      const char *close = strchr (hostport, ']');

      if (close == NULL)
        return SH_OPT_REMOTE_NO_CLOSE;
      if (close[1] != '\0' && close[1] != ':')
        return SH_OPT_REMOTE_AFTER_CLOSE;
      hostport++;
      end = close;
      if (close[1] == ':')
        *port = close + 2;
    }
  else
    {
      const char *colon = strchr (hostport, ':');

      end = hostport + strlen (hostport);
      if (colon != NULL && strchr (colon + 1, ':') == NULL)
        {
          end = colon;
          *port = colon + 1;
        }
    }
  *user = at != NULL ? g_strndup (value, (gsize) (at - value)) : NULL;
  *host = g_strndup (hostport, (gsize) (end - hostport));
  return SH_OPT_REMOTE_OK;
}
