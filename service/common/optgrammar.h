/* SPDX-License-Identifier: GPL-2.0-or-later */
/* optgrammar.h — the `shuttle` option grammar, the one both readers of it
 * share: the engine's command line and @FILE arguments (options.c) and the
 * NetworkManager import of sshuttle argument files
 * (nm-plugin/properties/import-export.c).
 *
 * One table says, per option, how it is written, whether it takes a value,
 * what it sets and what NetworkManager makes of it; one walker splits
 * arguments into options, values and positional arguments. Adding an option
 * is a row here plus its effect in options.c (and, for a profile key that is
 * not a plain value, in import-export.c).
 *
 * Pure: strings in, callbacks out; no I/O, no messages of its own (each
 * reader words its errors), so both readers keep their own wording. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* What an option sets: options.c has one effect per id. */
typedef enum
{
  SH_OPT_REMOTE,
  SH_OPT_EXCLUDE,
  SH_OPT_EXCLUDE_FROM,
  SH_OPT_LISTEN,
  SH_OPT_SOCKS,
  SH_OPT_SCOPE,
  SH_OPT_EXCLUDE_SCOPE,
  SH_OPT_ATTACH,
  SH_OPT_SSH_CMD,
  SH_OPT_SERVER_CMD,
  SH_OPT_PYTHON,
  SH_OPT_VERBOSE,
  SH_OPT_QUIET,
  SH_OPT_NO_LATENCY_CONTROL,
  SH_OPT_DAEMON,
  SH_OPT_PIDFILE,
  SH_OPT_SYSLOG,
  SH_OPT_CONNECT_TIMEOUT,
  SH_OPT_RECONNECT,
  SH_OPT_FAIL_CLOSED,
  SH_OPT_CONTROL_FD,
  SH_OPT_SECRET_FD,
  SH_OPT_SERVER,
  SH_OPT_DNS,
  SH_OPT_NS_HOSTS,
  SH_OPT_TO_NS,
  SH_OPT_AUTO_NETS,
  SH_OPT_AUTO_HOSTS,
  SH_OPT_SEED_HOSTS,
  SH_OPT_BLOCK_IPV6,
  SH_OPT_TRANSPORT,
  SH_OPT_UDP,
  SH_OPT_NO_UDP,
  SH_OPT_UDP_TIMEOUT,
  SH_OPT_NO_CONNECT_FIDELITY,
  SH_OPT_LANES,
  SH_OPT_HELP,
  SH_OPT_VERSION,
} ShOptId;

/* How a profile import treats an option. */
typedef enum
{
  SH_OPT_NM_KEY,     /* sets vpn.data nm_key to nm_value, or to the option's value */
  SH_OPT_NM_LIST,    /* adds its comma-separated value to the list key nm_key */
  SH_OPT_NM_SPECIAL, /* import-export.c maps it (-r: host/user/port; -e: key-file) */
  SH_OPT_NM_IGNORED, /* means something only to a CLI run: accepted and dropped */
  SH_OPT_NM_REFUSED, /* cannot be said in a profile: an error */
  SH_OPT_NM_UNKNOWN, /* internal to a CLI run: an import reads it as an unknown option */
} ShOptNm;

typedef struct
{
  const char *long_name; /* without "--" */
  char short_name;       /* '\0': long form only */
  gboolean has_arg;
  ShOptId id;
  ShOptNm nm;
  const char *nm_key;   /* vpn.data key for SH_OPT_NM_KEY and SH_OPT_NM_LIST */
  const char *nm_value; /* SH_OPT_NM_KEY: the fixed value; NULL: the option's */
} ShOptDef;

/* The whole table, @n_out rows. */
const ShOptDef *sh_opt_defs (gsize *n_out);

/* Faults of syntax; the walk stops at the first. */
typedef enum
{
  SH_OPT_FAULT_UNKNOWN,     /* no such option */
  SH_OPT_FAULT_NEEDS_VALUE, /* takes a value and none follows */
  SH_OPT_FAULT_NO_VALUE,    /* "--dns=x": takes none */
} ShOptFault;

typedef struct
{
  /* When TRUE, rows marked SH_OPT_NM_UNKNOWN do not exist (a profile import). */
  gboolean profile;
  /* A positional argument: everything not starting with '-', "-" itself,
   * and all after "--". */
  gboolean (*positional) (gpointer user, guint index, const char *arg, GError **error);
  /* An option and its value (NULL when it takes none). @name is the option
   * as written, "--remote" or "-r", for messages. */
  gboolean (*option) (gpointer user, guint index, const ShOptDef *def, const char *name,
                      const char *value, GError **error);
  /* Must set @error. @cluster is the whole argument when @name was one of
   * several short options written together ("-vZ"), else NULL. */
  void (*fault) (gpointer user, guint index, ShOptFault fault, const char *name,
                 const char *cluster, GError **error);
} ShOptVisitor;

/* Walks @args in order, calling @visitor for each positional argument and
 * option; @index is the argument the option is written in (its value may be
 * the next one). Forms: "--name", "--name=VALUE", "--name VALUE", "-r VALUE",
 * "-rVALUE", clusters "-vD" and "-vr VALUE". A separate value that itself
 * looks like an option ("-r -v") is a missing value: a value starting with
 * '-' must be written --name=VALUE or -rVALUE. Returns FALSE at the first
 * callback that does, or after @visitor->fault. */
gboolean sh_opt_walk (char **args, guint n_args, const ShOptVisitor *visitor, gpointer user,
                      GError **error);

/* One line of an argument file, as `shuttle @FILE` reads it: trimmed in
 * place; a blank line or one starting with '#' gives no argument; a line
 * starting with '-' that has a blank is an option and its value ("-r host");
 * any other line is one argument. Returns how many of @out (pointers into
 * @line) it set: 0, 1 or 2. */
guint sh_opt_split_line (char *line, char *out[2]);

/* What can be wrong with a remote's brackets. */
typedef enum
{
  SH_OPT_REMOTE_OK,
  SH_OPT_REMOTE_NO_CLOSE,    /* "[fd00::1" */
  SH_OPT_REMOTE_AFTER_CLOSE, /* "[fd00::1]x" */
} ShOptRemoteFault;

/* Splits -r's value, [user@]host[:port], [user@][v6addr][:port] or a bare
 * IPv6 host (more than one colon, no brackets, so no port), at the last '@'.
 * Sets @user (NULL when there is no '@'; may be empty) and @host (may be
 * empty) to new strings and @port to a pointer into @value (NULL: none; may
 * be empty). Nothing is set on a fault. Checking the parts is the caller's. */
ShOptRemoteFault sh_opt_split_remote (const char *value, char **user, char **host,
                                      const char **port);

G_END_DECLS
