/* SPDX-License-Identifier: GPL-2.0-or-later */
/* options.c — the `shuttle` command line.
 *
 * A small hand-written loop rather than GOptionContext: sshuttle users expect
 * "@FILE" argument files, "-rhost" and "-vD" forms, and every error must be a
 * single line that names the offending argument, which GOption does not give
 * precise control over.
 *
 * Order of work: expand @FILE arguments into a flat list, then walk it once.
 */
#include "config.h"

#include "options.h"

#include "mux.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#include "hostname.h"
#include "optgrammar.h"
#include "quote.h"
#include "subnet.h"

/* Limits on what argument files can make of the command line: they may nest
 * and so could expand without bound. */
#define ARGFILE_MAX_DEPTH 8
#define ARGFILE_MAX_BYTES (1024 * 1024)
#define ARGS_MAX 65536
#define QUOTE_MAX 128

#define DEFAULT_SSH_CMD "ssh"
#define DEFAULT_PIDFILE "shuttle.pid"
#define DEFAULT_CONNECT_TIMEOUT_S 10
#define MAX_CONNECT_TIMEOUT_S 600
#define DEFAULT_UDP_TIMEOUT_S 60
#define MAX_UDP_TIMEOUT_S 3600
/* --lanes: ssh channels for one session (bond.h). One by default: more
 * overshoot links whose bottleneck buffer is shallow (bench/README.md). */
#define DEFAULT_LANES 1
#define MAX_LANES SH_MUX_MAX_LANES

/* Kept in step with data/shuttle.8. */
static const char usage_text[]
    = "Usage: shuttle [OPTION...] [SUBNET...]\n"
      "       shuttle run [OPTION...] [SUBNET...] -- COMMAND [ARG...]\n"
      "Forward TCP connections to SUBNETs through an ssh session: those of the\n"
      "whole machine (firewall rules), or with run, those of COMMAND and its\n"
      "children only (no rules, no administrator rights).\n"
      "\n"
      "  -r, --remote [USER@]HOST[:PORT]  ssh server to tunnel through\n"
      "                                   (IPv6: [USER@][ADDR]:PORT)\n"
      "  -x, --exclude SUBNET             never forward SUBNET (repeatable)\n"
      "  -X, --exclude-from FILE          exclude the subnets listed in FILE\n"
      "  -l, --listen [IP:]PORT           local listener (default: loopback,\n"
      "                                   a free port; [::1]:PORT for IPv6)\n"
      "      --socks [IP:]PORT            a SOCKS5 proxy into the tunnel (default\n"
      "                                   address: 127.0.0.1; only our uid may use it)\n"
      "      --scope                      with run: COMMAND in a cgroup of its own, which\n"
      "                                   the firewall rules match (static programs too)\n"
      "      --exclude-scope              with run: the firewall rules tunnel everything\n"
      "                                   but COMMAND's cgroup\n"
      "      --attach ENGINE              with run: COMMAND through a running engine's\n"
      "                                   door (its bus name, or a standalone one's PID)\n"
      "                                   instead of a new engine\n"
      "  -e, --ssh-cmd CMD                ssh command (default: ssh)\n"
      "      --server-cmd CMD             run CMD as the server (default: shuttle-server\n"
      "                                   when installed there, else upload the agent)\n"
      "      --python PATH                upload the Python agent, run by PATH\n"
      "                                   (default: python3 on the server's PATH)\n"
      "  -v, --verbose                    more messages (repeatable)\n"
      "  -q, --quiet                      fewer messages\n"
      "      --no-latency-control         favour throughput over latency\n"
      "  -D, --daemon                     run in the background\n"
      "      --pidfile FILE               with --daemon (default: shuttle.pid)\n"
      "      --syslog                     log to syslog\n"
      "      --connect-timeout SECONDS    1..600 (default: 10)\n"
      "      --reconnect                  when the session is lost, reconnect (after\n"
      "                                   1, 2, 4 ... 60 s) instead of exiting\n"
      "      --fail-closed                with --reconnect: while the tunnel is down,\n"
      "                                   refuse what it carries instead of letting\n"
      "                                   it take the normal route\n"
      "      --dns                        answer DNS queries to the nameservers through\n"
      "                                   the server's resolver\n"
      "      --ns-hosts IP[,IP...]        the nameservers to capture (default: those\n"
      "                                   of /etc/resolv.conf)\n"
      "      --to-ns IP[:PORT]            the remote resolver (default: the server's)\n"
      "  -N, --auto-nets                  also tunnel the networks the server routes\n"
      "  -H, --auto-hosts                 put the server's host names in /etc/hosts\n"
      "      --seed-hosts NAME[,NAME...]  names for -H to look up on the server\n"
      "      --block-ipv6                 with IPv4 0/0 tunnelled and IPv6 not: refuse\n"
      "                                   IPv6 that would go around the tunnel\n"
      "      --transport auto|agent|ssh   agent: Shuttle's server on the ssh server;\n"
      "                                   ssh: ssh's own TCP forwarding (nothing runs\n"
      "                                   there); auto (default): agent, else ssh\n"
      "      --no-udp                     do not carry UDP and ping (default: carried\n"
      "                                   where the server can; --udp: insist)\n"
      "      --udp-timeout SECONDS        close a UDP flow idle this long, 1..3600\n"
      "                                   (default: 60; ping: 30 at most)\n"
      "      --no-connect-fidelity        connect() to a tunnelled address succeeds at\n"
      "                                   once, not when the far side's does\n"
      "      --lanes N                    carry the session over N ssh channels, 1..8\n"
      "                                   (default: 1; see the man page before raising it)\n"
      "      --server                     (internal) serve the mux on stdin/stdout\n"
      "  -h, --help                       show this help and exit\n"
      "  -V, --version                    show the version and exit\n"
      "\n"
      "SUBNET: ADDR[/WIDTH][:PORT[-PORT]], e.g. 10.0.0.0/8, 10/8, 0/0,\n"
      "  192.168.1.5, 10.0.0.0/8:443, [fd00::]/8:22, example.com.\n"
      "@FILE anywhere reads more arguments from FILE, one per line.\n";

/* Error messages quote user text: one printable line, even for binary or
 * huge input (the fuzzer feeds both). */
static char *
quote (const char *s)
{
  return sh_quote (s, QUOTE_MAX);
}

static void set_error (GError **error, const char *format, ...) G_GNUC_PRINTF (2, 3);

static void
set_error (GError **error, const char *format, ...)
{
  va_list ap;

  if (error == NULL)
    return;
  va_start (ap, format);
  *error = g_error_new_valist (G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, format, ap);
  va_end (ap);
}

/* Reads @path whole, with a size cap, refusing NUL bytes (they would silently
 * cut a line short). @what names the file's role in messages. */
static char *
read_text_file (const char *path, const char *what, GError **error)
{
  g_autofree char *q = quote (path);
  g_autoptr (GString) buf = g_string_new (NULL);
  FILE *f;
  char chunk[4096];
  size_t n;
  int saved_errno;

  f = fopen (path, "re");
  if (f == NULL)
    {
      saved_errno = errno;
      /* TRANSLATORS: "cannot read argument file 'x': No such file" */
      set_error (error, _ ("cannot read %s '%s': %s"), what, q, g_strerror (saved_errno));
      return NULL;
    }
  while ((n = fread (chunk, 1, sizeof chunk, f)) > 0)
    {
      if (buf->len + n > ARGFILE_MAX_BYTES)
        {
          fclose (f);
          set_error (error, _ ("%s '%s' is larger than %d bytes"), what, q, ARGFILE_MAX_BYTES);
          return NULL;
        }
      g_string_append_len (buf, chunk, (gssize) n);
    }
  saved_errno = errno;
  if (ferror (f))
    {
      fclose (f);
      set_error (error, _ ("cannot read %s '%s': %s"), what, q, g_strerror (saved_errno));
      return NULL;
    }
  fclose (f);
  if (memchr (buf->str, '\0', buf->len) != NULL)
    {
      set_error (error, _ ("%s '%s' contains a NUL byte"), what, q);
      return NULL;
    }
  return g_string_free (g_steal_pointer (&buf), FALSE);
}

static gboolean expand_args (GPtrArray *out, char **args, gsize n_args, guint depth,
                             GError **error);

static gboolean
add_arg (GPtrArray *out, const char *arg, GError **error)
{
  if (out->len >= ARGS_MAX)
    {
      set_error (error, _ ("more than %d arguments after reading argument files"), ARGS_MAX);
      return FALSE;
    }
  g_ptr_array_add (out, g_strdup (arg));
  return TRUE;
}

/* One argument per line; an option and its value on one line ("-r host",
 * "--exclude 10/8") become two arguments, as sshuttle's argument files allow.
 * Lines are trimmed; blank lines and lines starting with '#' are skipped. */
static gboolean
expand_file (GPtrArray *out, const char *path, guint depth, GError **error)
{
  g_autofree char *text = NULL;
  g_auto (GStrv) lines = NULL;
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);
  guint i;

  if (depth >= ARGFILE_MAX_DEPTH)
    {
      g_autofree char *q = quote (path);

      set_error (error, _ ("argument file '@%s' nested more than %d deep"), q, ARGFILE_MAX_DEPTH);
      return FALSE;
    }
  text = read_text_file (path, _ ("argument file"), error);
  if (text == NULL)
    return FALSE;

  lines = g_strsplit (text, "\n", 0);
  for (i = 0; lines[i] != NULL; i++)
    {
      char *words[2];
      guint n = sh_opt_split_line (lines[i], words);

      for (guint k = 0; k < n; k++)
        g_ptr_array_add (args, g_strdup (words[k]));
    }
  return expand_args (out, (char **) args->pdata, args->len, depth + 1, error);
}

static gboolean
expand_args (GPtrArray *out, char **args, gsize n_args, guint depth, GError **error)
{
  gsize i;

  for (i = 0; i < n_args; i++)
    {
      if (args[i][0] == '@' && args[i][1] != '\0')
        {
          if (!expand_file (out, args[i] + 1, depth, error))
            return FALSE;
        }
      else if (!add_arg (out, args[i], error))
        return FALSE;
    }
  return TRUE;
}

/* Plain decimal: digits only (no sign, blanks or base prefix), at most
 * @max_digits of them, so no overflow is possible. */
static gboolean
parse_decimal (const char *s, gsize max_digits, guint *out)
{
  guint v = 0;
  gsize n;

  for (n = 0; s[n] != '\0'; n++)
    {
      if (!g_ascii_isdigit (s[n]) || n == max_digits)
        return FALSE;
      v = v * 10 + (guint) (s[n] - '0');
    }
  if (n == 0)
    return FALSE;
  *out = v;
  return TRUE;
}

/* Ports here may be 0 only where @allow_zero (the listener: "choose one"). */
static gboolean
parse_port (const char *s, gboolean allow_zero, guint16 *out)
{
  guint v;

  if (!parse_decimal (s, 5, &v) || v > 65535 || (v == 0 && !allow_zero))
    return FALSE;
  *out = (guint16) v;
  return TRUE;
}

static gboolean
has_space_or_control (const char *s)
{
  for (; *s != '\0'; s++)
    if ((guchar) *s <= 0x20 || *s == 0x7f)
      return TRUE;
  return FALSE;
}

/* [user@]host[:port], [user@][v6addr][:port], or a bare IPv6 host (more than
 * one colon, no brackets) which then has no port. */
static gboolean
parse_remote (ShOptions *opts, const char *value, GError **error)
{
  g_autofree char *q = quote (value);
  g_autofree char *user = NULL;
  g_autofree char *host = NULL;
  const char *port_s = NULL;
  const char *at = strrchr (value, '@');
  guint16 port = 0;

  if (value[0] == '\0')
    {
      set_error (error, "%s", _ ("invalid remote '': empty"));
      return FALSE;
    }
  if (has_space_or_control (value))
    {
      set_error (error, _ ("invalid remote '%s': contains a space or control character"), q);
      return FALSE;
    }
  if (at == value)
    {
      set_error (error, _ ("invalid remote '%s': empty user name before '@'"), q);
      return FALSE;
    }
  switch (sh_opt_split_remote (value, &user, &host, &port_s))
    {
    case SH_OPT_REMOTE_NO_CLOSE:
      set_error (error, _ ("invalid remote '%s': missing ']'"), q);
      return FALSE;
    case SH_OPT_REMOTE_AFTER_CLOSE:
      set_error (error, _ ("invalid remote '%s': unexpected text after ']'"), q);
      return FALSE;
    case SH_OPT_REMOTE_OK:
      break;
    }
  if (host[0] == '\0')
    {
      set_error (error, _ ("invalid remote '%s': missing host"), q);
      return FALSE;
    }
  /* ssh would take a leading '-' as an option; refuse it rather than pass it. */
  if (host[0] == '-' || (user != NULL && user[0] == '-'))
    {
      set_error (error, _ ("invalid remote '%s': user and host must not start with '-'"), q);
      return FALSE;
    }
  if (strchr (host, '[') != NULL || strchr (host, ']') != NULL)
    {
      set_error (error, _ ("invalid remote '%s': stray bracket in host"), q);
      return FALSE;
    }
  if (port_s != NULL && !parse_port (port_s, FALSE, &port))
    {
      g_autofree char *qp = quote (port_s);

      set_error (error, _ ("invalid port '%s' in '--remote %s'"), qp, q);
      return FALSE;
    }

  g_free (opts->remote);
  opts->remote = g_strdup (value);
  g_free (opts->remote_user);
  opts->remote_user = g_steal_pointer (&user);
  g_free (opts->remote_host);
  opts->remote_host = g_steal_pointer (&host);
  opts->remote_port = port;
  return TRUE;
}

/* [ip:]port, [v6addr]:port: the value of option @opt. */
static gboolean
parse_addr_port (const char *opt, const char *value, gboolean allow_zero, char **addr_out,
                 guint16 *port_out, GError **error)
{
  g_autofree char *q = quote (value);
  g_autofree char *addr = NULL;
  const char *port_s = value;
  guint16 port;
  guint8 buf[16];

  if (value[0] == '[')
    {
      const char *close = strchr (value, ']');

      if (close == NULL || close[1] != ':')
        {
          set_error (error, _ ("invalid listen address in '%s %s': expected [ADDRESS]:PORT"), opt,
                     q);
          return FALSE;
        }
      addr = g_strndup (value + 1, (gsize) (close - value - 1));
      port_s = close + 2;
      if (inet_pton (AF_INET6, addr, buf) != 1)
        {
          g_autofree char *qa = quote (addr);

          set_error (error, _ ("invalid listen address '%s' in '%s %s'"), qa, opt, q);
          return FALSE;
        }
    }
  else
    {
      const char *colon = strrchr (value, ':');

      if (colon != NULL && strchr (value, ':') != colon)
        {
          set_error (error,
                     _ ("invalid listen address in '%s %s': write IPv6 in brackets, "
                        "e.g. [::1]:PORT"),
                     opt, q);
          return FALSE;
        }
      if (colon != NULL)
        {
          addr = g_strndup (value, (gsize) (colon - value));
          port_s = colon + 1;
          if (inet_pton (AF_INET, addr, buf) != 1)
            {
              g_autofree char *qa = quote (addr);

              set_error (error, _ ("invalid listen address '%s' in '%s %s'"), qa, opt, q);
              return FALSE;
            }
        }
    }

  if (!parse_port (port_s, allow_zero, &port))
    {
      g_autofree char *qp = quote (port_s);

      set_error (error, _ ("invalid port '%s' in '%s %s'"), qp, opt, q);
      return FALSE;
    }
  g_free (*addr_out);
  *addr_out = g_steal_pointer (&addr);
  *port_out = port;
  return TRUE;
}

static gboolean
parse_connect_timeout (ShOptions *opts, const char *value, GError **error)
{
  guint v;

  if (!parse_decimal (value, 3, &v) || v < 1 || v > MAX_CONNECT_TIMEOUT_S)
    {
      g_autofree char *q = quote (value);

      set_error (error, _ ("invalid connect timeout '%s': must be 1 to %d seconds"), q,
                 MAX_CONNECT_TIMEOUT_S);
      return FALSE;
    }
  opts->connect_timeout_ms = v * 1000;
  return TRUE;
}

static gboolean
parse_ssh_cmd (ShOptions *opts, const char *value, GError **error)
{
  g_auto (GStrv) argv = NULL;
  g_autoptr (GError) local_error = NULL;

  /* Checked now so a typo fails at start-up, not when ssh is spawned. GLib's
   * own messages quote the text over several lines, hence our wording. */
  if (!g_shell_parse_argv (value, NULL, &argv, &local_error))
    {
      g_autofree char *q = quote (value);

      if (g_error_matches (local_error, G_SHELL_ERROR, G_SHELL_ERROR_EMPTY_STRING))
        set_error (error, _ ("invalid --ssh-cmd '%s': empty command"), q);
      else
        set_error (error, _ ("invalid --ssh-cmd '%s': unbalanced quotes"), q);
      return FALSE;
    }
  g_free (opts->ssh_cmd);
  opts->ssh_cmd = g_strdup (value);
  return TRUE;
}

static gboolean
parse_lanes (ShOptions *opts, const char *value, GError **error)
{
  guint v;

  if (!parse_decimal (value, 1, &v) || v < 1 || v > MAX_LANES)
    {
      g_autofree char *q = quote (value);

      set_error (error, _ ("invalid number of lanes '%s': must be 1 to %d"), q, MAX_LANES);
      return FALSE;
    }
  opts->lanes = v;
  return TRUE;
}

static gboolean
parse_udp_timeout (ShOptions *opts, const char *value, GError **error)
{
  guint v;

  if (!parse_decimal (value, 4, &v) || v < 1 || v > MAX_UDP_TIMEOUT_S)
    {
      g_autofree char *q = quote (value);

      set_error (error, _ ("invalid UDP timeout '%s': must be 1 to %d seconds"), q,
                 MAX_UDP_TIMEOUT_S);
      return FALSE;
    }
  opts->udp_timeout_s = v;
  return TRUE;
}

static gboolean
parse_transport (ShOptions *opts, const char *value, GError **error)
{
  if (g_strcmp0 (value, "auto") == 0)
    opts->transport = SH_TRANSPORT_AUTO;
  else if (g_strcmp0 (value, "agent") == 0)
    opts->transport = SH_TRANSPORT_AGENT;
  else if (g_strcmp0 (value, "ssh") == 0)
    opts->transport = SH_TRANSPORT_SSH;
  else
    {
      g_autofree char *q = quote (value);
      set_error (error, _ ("invalid --transport '%s': give auto, agent or ssh"), q);
      return FALSE;
    }
  return TRUE;
}

const char *
sh_options_ssh_transport_conflict (const ShOptions *opts)
{
  if (opts->remote == NULL)
    return _ ("--transport=ssh needs -r: it forwards through an ssh server");
  if (opts->auto_nets || opts->auto_hosts)
    return _ ("-N and -H need Shuttle's server on the ssh server, which --transport=ssh does "
              "not run: name the subnets to tunnel, and use --dns --to-ns for names");
  if (opts->server_cmd || opts->python)
    return _ ("--server-cmd and --python name a server to run, which --transport=ssh does not: "
              "drop them, or use --transport=agent");
  /* Both hand local sockets to Shuttle's own session, which ssh's
   * forwarding does not have (yet). */
  if (opts->socks || opts->run_argv)
    return _ ("--socks and shuttle run need Shuttle's server on the ssh server, which "
              "--transport=ssh does not run: use --transport=agent, or ssh -D for a SOCKS proxy");
  if (opts->udp > 0)
    return _ ("--udp needs Shuttle's server on the ssh server: ssh's own forwarding carries "
              "only TCP; use --transport=agent");
  if (opts->dns && !opts->has_to_ns)
    return _ ("--dns with --transport=ssh needs --to-ns IP: the queries go as DNS over TCP "
              "to that resolver, through ssh's forwarding (there is no server of ours to ask)");
  return NULL;
}

static gboolean
check_ssh_transport (const ShOptions *opts, GError **error)
{
  const char *why = sh_options_ssh_transport_conflict (opts);
  if (why == NULL)
    return TRUE;
  set_error (error, "%s", why);
  return FALSE;
}

/* The interpreter goes into a remote shell command: a path or a name, no
 * characters any shell would interpret. */
static gboolean
parse_python (ShOptions *opts, const char *value, GError **error)
{
  gboolean ok = value[0] != '\0';
  for (const char *p = value; *p && ok; p++)
    ok = g_ascii_isalnum (*p) || strchr ("/._+-", *p);
  if (!ok)
    {
      g_autofree char *q = quote (value);
      set_error (error,
                 _ ("invalid --python '%s': give the interpreter's path or name (letters, "
                    "digits and / . _ + - only)"),
                 q);
      return FALSE;
    }
  g_free (opts->python);
  opts->python = g_strdup (value);
  return TRUE;
}

/* Subnets and excludes may be host names (resolved here, at start-up). */
static gboolean
add_subnet (GArray *to, const char *spec, GError **error)
{
  return sh_subnet_parse_resolve (spec, to, error);
}

/* One subnet per line; blank lines and '#' comments (whole-line or trailing:
 * a subnet never contains '#') are ignored. Errors say FILE:LINE. */
static gboolean
read_exclude_file (ShOptions *opts, const char *path, GError **error)
{
  g_autofree char *text = read_text_file (path, _ ("exclude file"), error);
  g_auto (GStrv) lines = NULL;
  guint i;

  if (text == NULL)
    return FALSE;
  lines = g_strsplit (text, "\n", 0);
  for (i = 0; lines[i] != NULL; i++)
    {
      char *hash = strchr (lines[i], '#');
      char *line;
      g_autoptr (GError) local_error = NULL;

      if (hash != NULL)
        *hash = '\0';
      line = g_strstrip (lines[i]);
      if (line[0] == '\0')
        continue;
      if (!add_subnet (opts->excludes, line, &local_error))
        {
          g_autofree char *q = quote (path);

          set_error (error, "%s:%u: %s", q, i + 1, local_error->message);
          return FALSE;
        }
    }
  return TRUE;
}

/* --control-fd/--secret-fd: a descriptor our parent (nm-shuttle-service)
 * left open for us. Marked close-on-exec at once, so ssh never gets it. */
static gboolean
parse_fd (const char *name, const char *value, int *out, GError **error)
{
  guint64 v;

  if (!g_ascii_string_to_unsigned (value, 10, 3, G_MAXINT, &v, NULL)
      || fcntl ((int) v, F_SETFD, FD_CLOEXEC) < 0)
    {
      g_autofree char *q = quote (value);
      set_error (error, _ ("option '%s' needs an open file descriptor above 2, not '%s'"), name, q);
      return FALSE;
    }
  *out = (int) v;
  return TRUE;
}

static gboolean
non_empty (const char *name, const char *value, GError **error)
{
  if (value[0] != '\0')
    return TRUE;
  set_error (error, _ ("option '%s' needs a non-empty value"), name);
  return FALSE;
}

static void
print_usage_and_exit (void)
{
  fputs (usage_text, stdout);
  fflush (stdout);
  exit (EXIT_SUCCESS);
}

static void
print_version_and_exit (void)
{
  printf ("shuttle %s\n", PACKAGE_VERSION);
  fflush (stdout);
  exit (EXIT_SUCCESS);
}

/* An address with an optional port: "10.0.0.53", "10.0.0.53:5353",
 * "fd00::53", "[fd00::53]:5353". */
static gboolean
parse_address_port (const char *name, const char *value, guint16 default_port, ShOpen *out,
                    GError **error)
{
  g_autofree char *q = quote (value);
  g_autofree char *addr = NULL;
  const char *port_s = NULL;

  memset (out, 0, sizeof *out);
  if (value[0] == '[')
    {
      const char *close = strchr (value, ']');

      if (close == NULL || (close[1] != '\0' && close[1] != ':'))
        {
          set_error (error, _ ("invalid address '%s' for '%s': expected [IPV6]:PORT"), q, name);
          return FALSE;
        }
      addr = g_strndup (value + 1, (gsize) (close - value - 1));
      port_s = close[1] == ':' ? close + 2 : NULL;
    }
  else
    {
      const char *colon = strchr (value, ':');

      /* One colon: IPv4:PORT; more: a bare IPv6 address. */
      if (colon != NULL && strchr (colon + 1, ':') == NULL)
        {
          addr = g_strndup (value, (gsize) (colon - value));
          port_s = colon + 1;
        }
      else
        addr = g_strdup (value);
    }
  if (inet_pton (AF_INET, addr, out->addr) == 1)
    out->family = AF_INET;
  else if (inet_pton (AF_INET6, addr, out->addr) == 1)
    out->family = AF_INET6;
  else
    {
      set_error (error, _ ("invalid address '%s' for '%s': not an IPv4 or IPv6 address"), q, name);
      return FALSE;
    }
  out->port = default_port;
  if (port_s != NULL)
    {
      guint64 port;

      if (!g_ascii_string_to_unsigned (port_s, 10, 1, 65535, &port, NULL))
        {
          set_error (error, _ ("invalid port in '%s' for '%s': expected 1..65535"), q, name);
          return FALSE;
        }
      out->port = (guint16) port;
    }
  return TRUE;
}

/* --ns-hosts: comma-separated addresses (port 53), repeatable. */
static gboolean
parse_ns_hosts (ShOptions *opts, const char *name, const char *value, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (value, ",", -1);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      ShOpen ns;
      char *one = g_strstrip (parts[i]);

      if (one[0] == '\0')
        continue;
      /* A nameserver is an address: a port here would not be captured. */
      if (strchr (one, '[') != NULL
          || (strchr (one, ':') != NULL && strchr (one, ':') == strrchr (one, ':')))
        {
          g_autofree char *q = quote (one);

          set_error (error, _ ("invalid nameserver '%s' for '%s': give the address only"), q, name);
          return FALSE;
        }
      if (!parse_address_port (name, one, 53, &ns, error))
        return FALSE;
      if (opts->ns_hosts->len >= SH_OPTIONS_MAX_NS)
        {
          set_error (error, _ ("too many nameservers for '%s' (at most %d)"), name,
                     SH_OPTIONS_MAX_NS);
          return FALSE;
        }
      g_array_append_val (opts->ns_hosts, ns);
    }
  return TRUE;
}

/* --seed-hosts: comma-separated host names, each checked here so that the
 * server gets nothing it would have to refuse. */
static gboolean
parse_seed_hosts (ShOptions *opts, const char *name, const char *value, GError **error)
{
  g_auto (GStrv) parts = g_strsplit (value, ",", -1);
  g_autoptr (GString) all = g_string_new (opts->seed_hosts);

  for (guint i = 0; parts[i] != NULL; i++)
    {
      char *one = g_strstrip (parts[i]);

      if (one[0] == '\0')
        continue;
      if (!sh_hostname_is_valid (one, strlen (one)))
        {
          g_autofree char *q = quote (one);

          set_error (error, _ ("invalid host name '%s' for '%s'"), q, name);
          return FALSE;
        }
      if (all->len > 0)
        g_string_append_c (all, ',');
      g_string_append (all, one);
    }
  if (all->len > SH_MUX_MAX_SEEDS)
    {
      set_error (error, _ ("the names for '%s' are longer than %d bytes in all"), name,
                 SH_MUX_MAX_SEEDS);
      return FALSE;
    }
  g_free (opts->seed_hosts);
  opts->seed_hosts = all->len > 0 ? g_strdup (all->str) : NULL;
  return TRUE;
}

/* @name is the option as written ("-r" or "--remote"), for messages. */
static gboolean
apply_option (ShOptions *opts, const ShOptDef *def, const char *name, const char *value,
              GError **error)
{
  switch (def->id)
    {
    case SH_OPT_REMOTE:
      return parse_remote (opts, value, error);
    case SH_OPT_EXCLUDE:
      return add_subnet (opts->excludes, value, error);
    case SH_OPT_EXCLUDE_FROM:
      return read_exclude_file (opts, value, error);
    case SH_OPT_LISTEN:
      return parse_addr_port ("--listen", value, TRUE, &opts->listen_addr, &opts->listen_port,
                              error);
    case SH_OPT_SCOPE:
    case SH_OPT_EXCLUDE_SCOPE:
      opts->scope = def->id == SH_OPT_SCOPE ? SH_SCOPE_ONLY : SH_SCOPE_EXCLUDE;
      return TRUE;
    case SH_OPT_ATTACH:
      if (!non_empty (name, value, error))
        return FALSE;
      g_free (opts->attach);
      opts->attach = g_strdup (value);
      return TRUE;
    case SH_OPT_SOCKS:
      opts->socks = TRUE;
      return parse_addr_port ("--socks", value, FALSE, &opts->socks_addr, &opts->socks_port, error);
    case SH_OPT_SSH_CMD:
      return parse_ssh_cmd (opts, value, error);
    case SH_OPT_SERVER_CMD:
      if (!non_empty (name, value, error))
        return FALSE;
      g_free (opts->server_cmd);
      opts->server_cmd = g_strdup (value);
      return TRUE;
    case SH_OPT_PYTHON:
      return parse_python (opts, value, error);
    case SH_OPT_VERBOSE:
      opts->verbose++;
      return TRUE;
    case SH_OPT_QUIET:
      opts->verbose--;
      return TRUE;
    case SH_OPT_NO_LATENCY_CONTROL:
      opts->latency_control = FALSE;
      return TRUE;
    case SH_OPT_DAEMON:
      opts->daemon = TRUE;
      return TRUE;
    case SH_OPT_PIDFILE:
      if (!non_empty (name, value, error))
        return FALSE;
      g_free (opts->pidfile);
      opts->pidfile = g_strdup (value);
      return TRUE;
    case SH_OPT_SYSLOG:
      opts->syslog = TRUE;
      return TRUE;
    case SH_OPT_CONNECT_TIMEOUT:
      return parse_connect_timeout (opts, value, error);
    case SH_OPT_RECONNECT:
      opts->reconnect = TRUE;
      return TRUE;
    case SH_OPT_FAIL_CLOSED:
      opts->fail_closed = TRUE;
      return TRUE;
    case SH_OPT_CONTROL_FD:
      return parse_fd (name, value, &opts->control_fd, error);
    case SH_OPT_SECRET_FD:
      return parse_fd (name, value, &opts->secret_fd, error);
    case SH_OPT_SERVER:
      opts->mode = SH_MODE_SERVER;
      return TRUE;
    case SH_OPT_DNS:
      opts->dns = TRUE;
      return TRUE;
    case SH_OPT_NS_HOSTS:
      return parse_ns_hosts (opts, name, value, error);
    case SH_OPT_TO_NS:
      if (!parse_address_port (name, value, 53, &opts->to_ns, error))
        return FALSE;
      opts->has_to_ns = TRUE;
      return TRUE;
    case SH_OPT_AUTO_NETS:
      opts->auto_nets = TRUE;
      return TRUE;
    case SH_OPT_AUTO_HOSTS:
      opts->auto_hosts = TRUE;
      return TRUE;
    case SH_OPT_SEED_HOSTS:
      return parse_seed_hosts (opts, name, value, error);
    case SH_OPT_BLOCK_IPV6:
      opts->block_ipv6 = TRUE;
      return TRUE;
    case SH_OPT_TRANSPORT:
      return parse_transport (opts, value, error);
    case SH_OPT_UDP:
      opts->udp = 1;
      return TRUE;
    case SH_OPT_NO_UDP:
      opts->udp = -1;
      return TRUE;
    case SH_OPT_UDP_TIMEOUT:
      return parse_udp_timeout (opts, value, error);
    case SH_OPT_NO_CONNECT_FIDELITY:
      opts->connect_fidelity = FALSE;
      return TRUE;
    case SH_OPT_LANES:
      return parse_lanes (opts, value, error);
    case SH_OPT_HELP:
      print_usage_and_exit ();
      break;
    case SH_OPT_VERSION:
      print_version_and_exit ();
      break;
    }
  g_return_val_if_reached (FALSE);
}

static gboolean
on_positional (gpointer user, guint index, const char *arg, GError **error)
{
  ShOptions *opts = user;

  return add_subnet (opts->subnets, arg, error);
}

static gboolean
on_option (gpointer user, guint index, const ShOptDef *def, const char *name, const char *value,
           GError **error)
{
  g_autofree char *q = quote (name);

  return apply_option (user, def, q, value, error);
}

static void
on_fault (gpointer user, guint index, ShOptFault fault, const char *name, const char *cluster,
          GError **error)
{
  g_autofree char *q = quote (name);
  g_autofree char *qa = cluster != NULL ? quote (cluster) : NULL;

  if (fault == SH_OPT_FAULT_NEEDS_VALUE)
    set_error (error, _ ("option '%s' needs an argument"), q);
  else if (fault == SH_OPT_FAULT_NO_VALUE)
    set_error (error, _ ("option '%s' takes no argument"), q);
  else if (qa != NULL)
    set_error (error, _ ("unknown option '%s' in '%s'"), q, qa);
  else
    set_error (error, _ ("unknown option '%s'"), q);
}

static const ShOptVisitor cli_visitor = {
  .positional = on_positional,
  .option = on_option,
  .fault = on_fault,
};

gboolean
sh_options_parse (ShOptions *opts, int argc, char **argv, GError **error)
{
  g_autoptr (GPtrArray) args = g_ptr_array_new_with_free_func (g_free);

  g_return_val_if_fail (opts != NULL, FALSE);
  g_return_val_if_fail (argc >= 0, FALSE);
  g_return_val_if_fail (argc == 0 || argv != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  memset (opts, 0, sizeof *opts);
  opts->mode = SH_MODE_CLIENT;
  opts->subnets = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  opts->excludes = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  opts->ns_hosts = g_array_new (FALSE, TRUE, sizeof (ShOpen));
  opts->ssh_cmd = g_strdup (DEFAULT_SSH_CMD);
  opts->latency_control = TRUE;
  opts->control_fd = -1;
  opts->secret_fd = -1;
  opts->connect_timeout_ms = DEFAULT_CONNECT_TIMEOUT_S * 1000;
  opts->udp_timeout_s = DEFAULT_UDP_TIMEOUT_S;
  opts->connect_fidelity = TRUE;
  opts->lanes = DEFAULT_LANES;

  if (argc > 1 && g_str_equal (argv[1], "run"))
    {
      /* shuttle run [OPTION...] [SUBNET...] -- COMMAND [ARG...] */
      int dash = 2;

      while (dash < argc && !g_str_equal (argv[dash], "--"))
        dash++;
      if (dash + 1 >= argc)
        {
          set_error (error, "%s",
                     _ ("shuttle run: name the command after --, e.g. "
                        "shuttle run -r gw 10.0.0.0/8 -- curl http://10.1.2.3/"));
          goto fail;
        }
      opts->run_argv = g_strdupv (argv + dash + 1);
      if (dash > 2 && !expand_args (args, argv + 2, (gsize) dash - 2, 0, error))
        goto fail;
    }
  else if (argc > 1 && !expand_args (args, argv + 1, (gsize) argc - 1, 0, error))
    goto fail;
  if (!sh_opt_walk ((char **) args->pdata, args->len, &cli_visitor, opts, error))
    goto fail;

  if (opts->attach != NULL
      && (opts->run_argv == NULL || opts->remote != NULL || opts->scope != SH_SCOPE_NONE
          || opts->socks || opts->dns || opts->auto_nets || opts->auto_hosts || opts->reconnect
          || opts->daemon || opts->control_fd >= 0 || opts->mode != SH_MODE_CLIENT))
    {
      set_error (error, "%s",
                 _ ("--attach goes with shuttle run, and only with subnets, -x and -v: the "
                    "running engine has its server, rules and options already"));
      goto fail;
    }
  if (opts->attach != NULL)
    return TRUE; /* no subnets: the engine's */
  if (opts->mode == SH_MODE_CLIENT && opts->subnets->len == 0 && !opts->auto_nets && !opts->socks)
    {
      set_error (error, "%s",
                 _ ("no subnets given; name at least one, e.g. 10.0.0.0/8, use -N to "
                    "tunnel the networks the server routes, or --socks PORT"));
      goto fail;
    }
  if ((opts->ns_hosts->len > 0 || opts->has_to_ns) && !opts->dns)
    {
      set_error (error, "%s", _ ("--ns-hosts and --to-ns need --dns"));
      goto fail;
    }
  if (opts->seed_hosts != NULL && !opts->auto_hosts)
    {
      set_error (error, "%s", _ ("--seed-hosts needs -H (--auto-hosts)"));
      goto fail;
    }
  if (opts->server_cmd && opts->python)
    {
      set_error (error, "%s",
                 _ ("--server-cmd and --python exclude each other: the first runs a server "
                    "installed there, the second uploads the agent"));
      goto fail;
    }
  if (opts->transport == SH_TRANSPORT_SSH && !check_ssh_transport (opts, error))
    goto fail;
  if (opts->fail_closed && !opts->reconnect)
    {
      set_error (error, "%s",
                 _ ("--fail-closed needs --reconnect: it says what happens while the tunnel "
                    "is down, and without --reconnect shuttle exits instead"));
      goto fail;
    }
  if (opts->run_argv != NULL
      && (opts->mode != SH_MODE_CLIENT || opts->ns_hosts->len > 0 || opts->auto_hosts
          || opts->daemon || opts->control_fd >= 0))
    {
      set_error (error, "%s",
                 _ ("shuttle run takes neither --ns-hosts (its --dns captures no nameserver: "
                    "the command asks the engine), -H, --daemon, --control-fd nor --server"));
      goto fail;
    }
  if (opts->scope != SH_SCOPE_NONE && opts->run_argv == NULL)
    {
      set_error (error, "%s", _ ("--scope and --exclude-scope go with shuttle run"));
      goto fail;
    }
  if (opts->daemon && opts->pidfile == NULL)
    opts->pidfile = g_strdup (DEFAULT_PIDFILE);
  return TRUE;

fail:
  sh_options_clear (opts);
  return FALSE;
}

void
sh_options_clear (ShOptions *opts)
{
  if (opts == NULL)
    return;
  g_clear_pointer (&opts->remote, g_free);
  g_clear_pointer (&opts->remote_user, g_free);
  g_clear_pointer (&opts->remote_host, g_free);
  g_clear_pointer (&opts->subnets, g_array_unref);
  g_clear_pointer (&opts->excludes, g_array_unref);
  g_clear_pointer (&opts->listen_addr, g_free);
  g_clear_pointer (&opts->socks_addr, g_free);
  g_clear_pointer (&opts->run_argv, g_strfreev);
  g_clear_pointer (&opts->attach, g_free);
  g_clear_pointer (&opts->ssh_cmd, g_free);
  g_clear_pointer (&opts->server_cmd, g_free);
  g_clear_pointer (&opts->python, g_free);
  g_clear_pointer (&opts->pidfile, g_free);
  g_clear_pointer (&opts->ns_hosts, g_array_unref);
  g_clear_pointer (&opts->seed_hosts, g_free);
  memset (opts, 0, sizeof *opts);
}
