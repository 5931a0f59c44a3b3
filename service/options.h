/* SPDX-License-Identifier: GPL-2.0-or-later */
/* options.h — the `shuttle` command line (sshuttle-compatible). */
#pragma once

#include <glib.h>

#include "mux.h"

G_BEGIN_DECLS

typedef enum
{
  SH_MODE_CLIENT = 0, /* the tunnel engine (default) */
  SH_MODE_SERVER,     /* --server: speak the mux on stdin/stdout */
} ShMode;

/* --transport: what carries the connections. */
typedef enum
{
  SH_TRANSPORT_AUTO = 0, /* Shuttle's server (or agent); when the server can run
                          * neither, ssh's own forwarding, once, said */
  SH_TRANSPORT_AGENT,    /* Shuttle's server (or agent) only */
  SH_TRANSPORT_SSH,      /* ssh's own forwarding (direct-tcpip) from the start */
} ShTransport;

/* --ns-hosts: at most this many nameservers. */
#define SH_OPTIONS_MAX_NS 16

typedef struct
{
  ShMode mode;

  /* -r/--remote [user@]host[:port]; all NULL/0 in local (test) mode. */
  char *remote;        /* as given, e.g. "alice@gw:2222" */
  char *remote_user;   /* NULL when not given */
  char *remote_host;   /* host name or address, brackets removed */
  guint16 remote_port; /* 0: ssh's default / ssh_config */

  GArray *subnets;  /* ShSubnet: positional arguments */
  GArray *excludes; /* ShSubnet: -x/--exclude, --exclude-from */

  /* -l/--listen [ip:]port; listen_addr NULL means loopback (127.0.0.1 and ::1).
   * listen_port 0 means "choose a free port". */
  char *listen_addr;
  guint16 listen_port;

  /* `shuttle run [OPTION...] [SUBNET...] -- COMMAND [ARG...]`: the command,
   * NULL otherwise (launch.h). */
  char **run_argv;
  /* run --attach ENGINE: no engine of our own; the command goes through the
   * door of the running engine ENGINE (a bus name, or the PID of a
   * standalone engine), attach.h. NULL otherwise. */
  char *attach;
  /* run --scope (SH_SCOPE_ONLY) or --exclude-scope (SH_SCOPE_EXCLUDE): the
   * command in its own cgroup, matched by the firewall rules (scope.h). */
  enum
  {
    SH_SCOPE_NONE,
    SH_SCOPE_ONLY,
    SH_SCOPE_EXCLUDE,
  } scope;

  /* --socks [ip:]port: the SOCKS5 endpoint (socks.h); socks_addr NULL means
   * 127.0.0.1. */
  gboolean socks;
  char *socks_addr;
  guint16 socks_port;

  char *ssh_cmd;            /* -e/--ssh-cmd, default "ssh"; split with g_shell_parse_argv() */
  char *server_cmd;         /* --server-cmd: the remote command; NULL: automatic (shuttle-server
                             * when the server has it, else the uploaded agent) */
  char *python;             /* --python: always upload the agent, run by this interpreter */
  int verbose;              /* -v repeated; -q lowers */
  gboolean latency_control; /* FALSE with --no-latency-control */
  gboolean daemon;          /* -D/--daemon */
  char *pidfile;            /* --pidfile, default "shuttle.pid" (cwd) when --daemon */
  gboolean syslog;          /* --syslog */
  guint connect_timeout_ms; /* --connect-timeout SECONDS (default 10 s) */
  gboolean reconnect;       /* --reconnect: a lost session is restored, not the end */
  gboolean fail_closed;     /* --fail-closed (needs --reconnect): while the tunnel is down
                             * the rules stay and refuse what they capture */

  /* Names and routes of the remote network (docs/protocol.md). */
  gboolean dns;              /* --dns: capture DNS to the nameservers */
  GArray *ns_hosts;          /* ShOpen (port 53): --ns-hosts, else /etc/resolv.conf's at start */
  gboolean has_to_ns;        /* --to-ns given */
  ShOpen to_ns;              /* the remote resolver; else family AF_UNSPEC (the server's own) */
  gboolean auto_nets;        /* -N/--auto-nets: also tunnel the server's routes */
  gboolean auto_hosts;       /* -H/--auto-hosts: the server's host names into /etc/hosts */
  char *seed_hosts;          /* --seed-hosts: comma-separated names, checked; NULL when none */
  gboolean block_ipv6;       /* --block-ipv6: the IPv6 leak block while IPv4 0/0 is tunnelled */
  ShTransport transport;     /* --transport auto|agent|ssh */
  int udp;                   /* UDP and ping (issue 19): 1 --udp (asked for: an error where
                              * it cannot work), -1 --no-udp, 0 default (on where it can) */
  guint udp_timeout_s;       /* --udp-timeout SECONDS (default 60; echo: at most 30) */
  gboolean connect_fidelity; /* connect() waits for the far side's (issue 25); FALSE with
                              * --no-connect-fidelity */
  guint lanes;               /* --lanes N: ssh channels for the session (bond.h), 1 ... 8 */

  /* Under NetworkManager (nm-shuttle-service starts us): -1 when not given. */
  int control_fd; /* --control-fd N: peer-to-peer D-Bus to our controller (control.h) */
  int secret_fd;  /* --secret-fd N: the ssh password/passphrase, read to EOF (askpass.h) */
} ShOptions;

/* Fills @opts from argv (argv[0] is the program name); whatever @opts held
 * before is overwritten, not freed. Expands @FILE argument files (one
 * argument per line, '#' comments, blank lines ignored, at most 8 deep),
 * --exclude-from FILE (one subnet per line). Subnets given as host names are
 * resolved (blocking); the remote host is not. A value that starts with '-'
 * must be written --opt=VALUE: "-r -v" is a missing argument.
 * On bad input returns FALSE with @opts cleared (sh_options_clear() is still
 * safe) and an @error (G_IO_ERROR_INVALID_ARGUMENT) whose message is one line
 * naming the bad part (e.g. "invalid subnet '10.0.0.300/8': '10.0.0.300' is
 * not an IPv4 address").
 * --help and --version print to stdout and exit(0) directly. */
gboolean sh_options_parse (ShOptions *opts, int argc, char **argv, GError **error);

/* Why @opts cannot run over ssh's own forwarding (--transport=ssh, or the
 * automatic fallback), one translated line; NULL when it can. */
const char *sh_options_ssh_transport_conflict (const ShOptions *opts);

/* Frees the members (not @opts itself) and zeroes @opts; safe to call twice
 * and with NULL. */
void sh_options_clear (ShOptions *opts);

G_END_DECLS
