/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "client.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <gio/gunixoutputstream.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <linux/netfilter_ipv4.h>
#include <linux/netfilter_ipv6/ip6_tables.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "askpass.h"
#include "backoff.h"
#include "bootstrap.h"
#include "dnsclient.h"
#include "control.h"
#include "firewall.h"
#include "fwclient.h"
#include "hostname.h"
#include "hosts-block.h"
#include "lanes.h"
#include "launch.h"
#include "log.h"
#include "netwatch.h"
#include "resolver.h"
#include "session.h"
#include "sshdiag.h"
#include "sshcipher.h"
#include "sshhop.h"
#include "sshlink.h"
#include "scope.h"
#include "socks.h"
#include "subnet.h"
#include "udptun.h"
#include "synqueue.h"

/* --reconnect: while no route leads to the ssh server, look again this
 * often besides rtnetlink's events (a lost event costs at most this). */
#define SH_CLIENT_NET_POLL_S 10

/* Bounds on what the server can make us do (-N, -H): the helper's own limits. */
#define SH_CLIENT_MAX_SUBNETS 1024
#define SH_CLIENT_MAX_HOSTS 4096
#define SH_CLIENT_HOSTS_DELAY_MS 300
/* --transport=ssh: forwards open at once through the ssh master. Each costs
 * us one descriptor (its control connection) and ssh about three; the
 * agent path's server allows far more channels, but a master serves all
 * of them from one process's descriptor table. */
#define SH_CLIENT_SSH_MAX_FORWARDS 4096
/* ... and the master's health checks: ssh's own keepalive to the server. */
#define SH_CLIENT_SSH_ALIVE "ServerAliveInterval=10"
#define SH_CLIENT_SSH_ALIVE_MAX "ServerAliveCountMax=3"

/* Read for the names -H must not override. */
#define SH_CLIENT_HOSTS_FILE "/etc/hosts"

typedef struct
{
  ShPollWatch watch;
  struct _Client *client;
  int fd;
  int family;
} Listener;

typedef struct _Client
{
  const ShOptions *opts;
  GMainLoop *loop;
  ShPoll *poll;
  ShSession *session;
  ShSynQueue *synq; /* NULL: connect() completes at the listener (helper path, or no queue) */
  GSubprocess *transport;
  char *server_desc;     /* for messages: "alice@gw" or "local server" */
  ShServerChoice choice; /* which server we ask for (bootstrap.h) */
  gboolean retry_agent;  /* shuttle-server spoke another protocol version */

  /* --transport=ssh (or the fallback to it): a control master carries the
   * connections, and no session runs (sshlink.h). */
  gboolean ssh_mode;
  ShSshLink *link;
  char *ctl_dir;           /* private (0700) directory of the master's socket */
  gboolean fwd_prohibited; /* ssh said the server refuses forwarding */

  /* Lanes (lanes.h): more ssh channels for the session, opened through the
   * same control master once the server offered them. */
  ShSshLink *lane_link;
  ShLaneOpener *lane_opener;
  int lane_family;
  guint lane_count;
  guint16 lane_port;
  guint8 lane_token[SH_MUX_LANE_TOKEN_LEN];

  Listener listeners[2];
  int n_listeners;
  guint16 port;

  GArray *subnets;  /* the user's subnets, plus the server's routes with -N */
  GArray *excludes; /* the user's excludes plus the ssh server itself */

  /* --dns: the nameservers whose queries we answer, and the UDP side. */
  GArray *dns_servers; /* ShSubnet, full-width */
  ShDnsClient *dns;
  ShUdpTun *udp;         /* UDP and ping: the datagram device (issue 19) */
  gboolean udp_off_said; /* "UDP and ping are off" said once */
  ShSocks *socks;        /* --socks */
  gboolean no_firewall;  /* --socks alone, or run: no rules, no helper, no polkit */

  /* shuttle run: the command, and the preload library's door to us. */
  ShSocks *door;
  char *run_dir;           /* 0700, holds the door's socket */
  ShScope *scope;          /* run --scope, --exclude-scope: the command's cgroup */
  GSubprocess *command;    /* started once the first session is up */
  int command_status;      /* how it ended (exit code, 128 + signal); -1: running or not started */
  gboolean routes_pending; /* -N: ROUTES_GET sent, firewall waits for the answer */

  /* -H: what the server found, as "address name" -> pair of strings. */
  GHashTable *hosts;
  GPtrArray *hosts_entries; /* flattened pairs for sh_fw_client_set_hosts() */
  guint hosts_timer;
  gboolean hosts_writing; /* a SetHosts is on its way */
  gboolean hosts_again;   /* names came meanwhile: write again after it */
  gboolean hosts_warned;
  gboolean hosts_wait_ready;  /* names to write once the rules are in */
  GArray *hosts_deferred;     /* DeferredHost: names that came before -N's routes */
  GHashTable *hosts_taken;    /* names /etc/hosts has outside our blocks */
  struct stat hosts_taken_st; /* ... as of this version of the file */
  char instance[16];
  ShFwClient *fw;          /* the rules: through shuttle-firewall or in process */
  GCancellable *fw_cancel; /* an apply still waiting (for polkit) when we end */
  char peer_name[SH_MUX_MAX_NAME + 1];
  gboolean ready;          /* this session is connected: rules applied */
  gboolean ever_connected; /* some session was: from then on --reconnect applies */
  gboolean listening;      /* the listeners are in the poll set */
  gboolean transport_done; /* ssh (or the local server) has exited */
  gboolean pipe_broke;     /* the session ended because its pipe did */
  int daemon_fd;           /* -D: tells the waiting parent that we are up */

  /* ssh's stderr comes to us, not to our terminal: a daemonized shuttle must
   * not keep its caller's stderr open through ssh, and messages should follow
   * our logging (terminal, then syslog). */
  ShPollWatch err_watch;
  int err_fd;
  GString *err_line;

  int status;
  char *failure;      /* why the session ended, when it failed */
  gboolean permanent; /* ... and trying again cannot help (--reconnect ends) */
  char *final_why;    /* the failure that ended a --reconnect engine */

  /* --reconnect */
  guint session_gen;      /* counts sessions: tells a stale firewall answer */
  gint64 connected_at;    /* monotonic time this session became ready */
  ShBackoff backoff;      /* backoff.h */
  guint attempt;          /* reconnect attempts since the session was lost */
  GArray *server_addrs;   /* struct sockaddr_storage: where ssh connects; empty:
                           * unknown (a proxy), never waited for */
  GPtrArray *hop_addrs;   /* the addresses excluded for ssh itself, as text: the
                           * control interface's SshAddresses */
  ShNetWatch *net_watch;  /* while no route leads to the ssh server */
  guint retry_timer;      /* the backoff delay runs */
  gboolean net_wait_said; /* "waiting for the network" logged for this wait */

  ShControl *control; /* our status for the applet: on the --control-fd peer
                       * (nm-shuttle-service) or the session bus */
  ShSshDiag ssh_diag; /* what ssh said about host keys */
  char *ciphers;      /* -c for ssh: sshcipher.h; NULL: ssh's own choice */
  guint signals[3];   /* SIGINT, SIGTERM, SIGHUP: from set-up to tear-down */
} Client;

/* ------------------------------------------------------ the ssh server */

/* `ssh -G [-p @port] -- @dest` with @prefix (ssh and its options) before it:
 * the configuration ssh would use, or NULL when that fails (not OpenSSH). */
static char *
ssh_config_of (GPtrArray *prefix, const char *dest, guint port)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();
  for (guint i = 0; i < prefix->len; i++)
    g_ptr_array_add (argv, prefix->pdata[i]);
  g_autofree char *port_str = port ? g_strdup_printf ("%u", port) : NULL;
  g_ptr_array_add (argv, "-G");
  if (port_str)
    {
      g_ptr_array_add (argv, "-p");
      g_ptr_array_add (argv, port_str);
    }
  g_ptr_array_add (argv, "--");
  g_ptr_array_add (argv, (gpointer) dest);
  g_ptr_array_add (argv, NULL);
  char *out = NULL;
  int wait_status = 0;
  if (!g_spawn_sync (NULL, (char **) argv->pdata, NULL,
                     G_SPAWN_SEARCH_PATH | G_SPAWN_STDERR_TO_DEV_NULL, NULL, NULL, &out, NULL,
                     &wait_status, NULL)
      || !g_spawn_check_wait_status (wait_status, NULL))
    g_clear_pointer (&out, g_free);
  return out;
}

/* Adds the addresses the ssh connection will use to @excludes, so the
 * tunnel never captures its own transport, even when the server lies inside a
 * tunnelled subnet. `ssh -G` applies ~/.ssh/config (HostName, Port). With a
 * ProxyJump, ssh's TCP connection goes to the first jump host: the chain is
 * followed the way ssh follows it (each hop is configured by ssh_config and
 * -F alone: ssh starts the jump with no other option of ours). The same
 * addresses, with the port, go to @addrs for --reconnect's "is there a
 * network" check, unless ssh goes through a ProxyCommand: then where it
 * connects is unknowable and @addrs stays empty. The excluded addresses, as
 * text, go to @hop_addrs (for NetworkManager's gateway route). */
static gboolean
exclude_ssh_server (const ShOptions *opts, char **ssh_argv, GArray *excludes, GArray *addrs,
                    GPtrArray *hop_addrs, char **ciphers, GError **error)
{
  /* The first hop sees all of the user's ssh options; a jump only -F. */
  g_autoptr (GPtrArray) full = g_ptr_array_new ();
  g_autoptr (GPtrArray) jump_prefix = g_ptr_array_new ();
  for (char **a = ssh_argv; *a; a++)
    {
      g_ptr_array_add (full, *a);
      if (a == ssh_argv)
        g_ptr_array_add (jump_prefix, *a);
      else if (g_str_equal (*a, "-F") && a[1])
        {
          g_ptr_array_add (jump_prefix, a[0]);
          g_ptr_array_add (jump_prefix, a[1]);
        }
      else if (g_str_has_prefix (*a, "-F") && (*a)[2])
        g_ptr_array_add (jump_prefix, *a);
    }

  g_autofree char *dest = opts->remote_user
                              ? g_strdup_printf ("%s@%s", opts->remote_user, opts->remote_host)
                              : g_strdup (opts->remote_host);
  guint want_port = opts->remote_port;
  g_autofree char *host = NULL;
  guint port = 0;
  gboolean proxied = FALSE;
  /* ssh refuses long chains itself; 8 hops stops a loop in a config. */
  for (int hop_no = 0; hop_no < 8; hop_no++)
    {
      g_autofree char *out = ssh_config_of (hop_no ? jump_prefix : full, dest, want_port);
      if (hop_no == 0)
        {
          g_autofree char *cpuinfo = NULL;
          g_file_get_contents ("/proc/cpuinfo", &cpuinfo, NULL, NULL);
          *ciphers = out ? sh_ssh_fast_ciphers (out, sh_cpu_has_aes (cpuinfo)) : NULL;
        }
      ShSshHop hop = { 0 };
      sh_ssh_hop_parse (out, &hop);
      g_autofree char *juser = NULL, *jhost = NULL;
      guint jport = 0;
      if (hop.jump && sh_ssh_jump_first (hop.jump, &juser, &jhost, &jport))
        {
          sh_info ("ssh reaches %s through the jump host %s", dest, jhost);
          g_free (dest);
          dest = juser ? g_strdup_printf ("%s@%s", juser, jhost) : g_strdup (jhost);
          want_port = jport;
          sh_ssh_hop_clear (&hop);
          continue;
        }
      if (hop.jump)
        sh_notice ("ssh's ProxyJump '%s' is not understood here: the tunnel excludes '%s' "
                   "instead; keep the real first hop out of the tunnelled subnets",
                   hop.jump, dest);
      /* not OpenSSH, or -G failed: the name as given */
      host = hop.hostname ? g_strdup (hop.hostname) : g_strdup (opts->remote_host);
      port = hop.port ? hop.port : (want_port ? want_port : 22);
      proxied = hop.via_command || hop.jump;
      if (hop.via_command)
        sh_notice ("ssh connects through a ProxyCommand: where it goes cannot be known here; "
                   "keep it out of the tunnelled subnets (-x)");
      sh_ssh_hop_clear (&hop);
      break;
    }
  if (!host)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "ssh's ProxyJump chain to '%s' is longer than 8 hops or loops",
                   opts->remote_host);
      return FALSE;
    }

  struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_ADDRCONFIG };
  struct addrinfo *res = NULL;
  int rc = getaddrinfo (host, NULL, &hints, &res);
  if (rc != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
                   "cannot resolve the ssh server '%s': %s", host, gai_strerror (rc));
      return FALSE;
    }
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next)
    {
      ShSubnet sn;
      if (!sh_subnet_from_sockaddr (ai->ai_addr, &sn))
        continue;
      sn.port_lo = sn.port_hi = port; /* only ssh's own port: other services there stay tunnelled */
      g_array_append_val (excludes, sn);
      char text[INET6_ADDRSTRLEN];
      const void *raw = ai->ai_family == AF_INET
                            ? (const void *) &((struct sockaddr_in *) ai->ai_addr)->sin_addr
                            : (const void *) &((struct sockaddr_in6 *) ai->ai_addr)->sin6_addr;
      if (inet_ntop (ai->ai_family, raw, text, sizeof text))
        g_ptr_array_add (hop_addrs, g_strdup (text));
      if (!proxied && ai->ai_addrlen <= sizeof (struct sockaddr_storage))
        {
          struct sockaddr_storage ss = { 0 };
          memcpy (&ss, ai->ai_addr, ai->ai_addrlen);
          if (ss.ss_family == AF_INET)
            ((struct sockaddr_in *) &ss)->sin_port = htons (port);
          else
            ((struct sockaddr_in6 *) &ss)->sin6_port = htons (port);
          g_array_append_val (addrs, ss);
        }
    }
  freeaddrinfo (res);
  return TRUE;
}

/* -------------------------------------------------------------- listener */

static void on_accept (ShPollWatch *w, guint32 events);

static int
listen_on (int family, const guint8 *addr, guint16 port, int *err)
{
  int fd = socket (family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    {
      *err = errno;
      return -1;
    }
  int one = 1;
  setsockopt (fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  union
  {
    struct sockaddr_in v4;
    struct sockaddr_in6 v6;
  } sa = { 0 };
  socklen_t len;
  if (family == AF_INET)
    {
      sa.v4.sin_family = AF_INET;
      sa.v4.sin_port = htons (port);
      memcpy (&sa.v4.sin_addr, addr, 4);
      len = sizeof sa.v4;
    }
  else
    {
      setsockopt (fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
      sa.v6.sin6_family = AF_INET6;
      sa.v6.sin6_port = htons (port);
      memcpy (&sa.v6.sin6_addr, addr, 16);
      len = sizeof sa.v6;
    }
  if (bind (fd, (struct sockaddr *) &sa, len) < 0 || listen (fd, 4096) < 0)
    {
      *err = errno;
      close (fd);
      return -1;
    }
  return fd;
}

static guint16
socket_port (int fd)
{
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname (fd, (struct sockaddr *) &ss, &len) < 0)
    return 0;
  return ntohs (ss.ss_family == AF_INET ? ((struct sockaddr_in *) &ss)->sin_port
                                        : ((struct sockaddr_in6 *) &ss)->sin6_port);
}

static void
add_listener (Client *c, int fd, int family)
{
  Listener *l = &c->listeners[c->n_listeners++];
  l->watch.func = on_accept;
  l->client = c;
  l->fd = fd;
  l->family = family;
}

/* Listens on 127.0.0.1 and ::1 (or the -l address) on one port: nftables'
 * redirect sends local IPv4 to 127.0.0.1 and IPv6 to ::1 at that port. */
static gboolean
setup_listeners (Client *c, GError **error)
{
  const ShOptions *o = c->opts;
  static const guint8 lo4[4] = { 127, 0, 0, 1 };
  static const guint8 lo6[16] = { [15] = 1 };
  gboolean want_v6 = o->auto_nets; /* the server's routes may well be IPv6 */
  for (guint i = 0; i < o->subnets->len; i++)
    want_v6 |= g_array_index (o->subnets, ShSubnet, i).family == AF_INET6;
  gboolean dns_v6 = FALSE;
  for (guint i = 0; c->dns_servers && i < c->dns_servers->len; i++)
    dns_v6 |= g_array_index (c->dns_servers, ShSubnet, i).family == AF_INET6;
  want_v6 |= dns_v6;

  guint8 addr[16] = { 0 };
  int family = AF_INET;
  if (o->listen_addr)
    {
      if (inet_pton (AF_INET, o->listen_addr, addr) == 1)
        family = AF_INET;
      else if (inet_pton (AF_INET6, o->listen_addr, addr) == 1)
        family = AF_INET6;
      else
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                       "invalid listen address '%s'", o->listen_addr);
          return FALSE;
        }
    }
  else
    memcpy (addr, lo4, 4);

  for (int attempt = 0; attempt < 16; attempt++)
    {
      int err = 0;
      int fd = listen_on (family, addr, o->listen_port, &err);
      if (fd < 0)
        {
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (err),
                       "cannot listen on port %u: %s", o->listen_port, g_strerror (err));
          return FALSE;
        }
      guint16 port = socket_port (fd);
      int fd6 = -1;
      if (family == AF_INET && want_v6)
        {
          fd6 = listen_on (AF_INET6, lo6, port, &err);
          if (fd6 < 0 && err == EADDRINUSE && o->listen_port == 0)
            {
              close (fd); /* the kernel's pick is taken on ::1; pick again */
              continue;
            }
          if (fd6 < 0)
            sh_error ("warning: cannot listen on [::1]:%u (%s): IPv6 connections will not be "
                      "tunnelled",
                      port, g_strerror (err));
        }
      if (c->dns_servers != NULL)
        {
          /* UDP on the same port number: the firewall then needs only one. */
          g_autoptr (GError) local = NULL;
          ShOpen resolver = { .family = AF_UNSPEC, .port = 53 };
          if (o->has_to_ns)
            resolver = o->to_ns;
          c->dns = sh_dns_client_new (c->poll, port, dns_v6, &resolver, &local);
          if (c->dns == NULL)
            {
              close (fd);
              if (fd6 >= 0)
                close (fd6);
              if (o->listen_port == 0
                  && g_error_matches (local, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE))
                continue;
              g_propagate_error (error, g_steal_pointer (&local));
              return FALSE;
            }
        }
      c->port = port;
      add_listener (c, fd, family);
      if (fd6 >= 0)
        add_listener (c, fd6, AF_INET6);
      return TRUE;
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
               "cannot find a port free on both 127.0.0.1 and ::1 (and for UDP, with --dns)");
  return FALSE;
}

static gboolean
sockaddr_to_open (const struct sockaddr_storage *ss, ShOpen *o)
{
  memset (o, 0, sizeof *o);
  o->family = ss->ss_family;
  if (ss->ss_family == AF_INET)
    {
      const struct sockaddr_in *a = (const struct sockaddr_in *) ss;
      memcpy (o->addr, &a->sin_addr, 4);
      o->port = ntohs (a->sin_port);
      return TRUE;
    }
  if (ss->ss_family == AF_INET6)
    {
      const struct sockaddr_in6 *a = (const struct sockaddr_in6 *) ss;
      memcpy (o->addr, &a->sin6_addr, 16);
      o->port = ntohs (a->sin6_port);
      return TRUE;
    }
  return FALSE;
}

/* The destination the application asked for, before nftables redirected it
 * to us. Connections that were not redirected (someone connecting to the
 * listener directly) are refused: the listener is not an open proxy. Our
 * rules never redirect loopback, so a loopback original destination means
 * the same. */
static gboolean
original_destination (int fd, int family, ShOpen *dst)
{
  struct sockaddr_storage orig, local;
  socklen_t olen = sizeof orig, llen = sizeof local;
  ShOpen here;
  static const guint8 lo6[16] = { [15] = 1 };

  int rc = family == AF_INET ? getsockopt (fd, SOL_IP, SO_ORIGINAL_DST, &orig, &olen)
                             : getsockopt (fd, SOL_IPV6, IP6T_SO_ORIGINAL_DST, &orig, &olen);
  if (rc < 0 || getsockname (fd, (struct sockaddr *) &local, &llen) < 0)
    return FALSE;
  if (!sockaddr_to_open (&orig, dst) || !sockaddr_to_open (&local, &here))
    return FALSE;
  if (dst->port == 0 || (dst->port == here.port && memcmp (dst->addr, here.addr, 16) == 0))
    return FALSE;
  if (dst->family == AF_INET ? dst->addr[0] == 127 : memcmp (dst->addr, lo6, 16) == 0)
    return FALSE;
  return TRUE;
}

static gboolean
is_dns_server (Client *c, const ShOpen *dst)
{
  for (guint i = 0; i < c->dns_servers->len; i++)
    {
      const ShSubnet *ns = &g_array_index (c->dns_servers, ShSubnet, i);
      if (ns->family == dst->family
          && memcmp (ns->addr, dst->addr, ns->family == AF_INET ? 4 : 16) == 0)
        return TRUE;
    }
  return FALSE;
}

/* An abortive close: the application sees a reset at once. */
static void
reset_fd (int fd)
{
  struct linger lg = { .l_onoff = 1, .l_linger = 0 };
  setsockopt (fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  close (fd);
}

/* Resets every connection waiting in the listeners' backlog: the tunnel
 * that would have carried them is gone. */
static void
refuse_backlog (Client *c)
{
  for (int i = 0; i < c->n_listeners; i++)
    {
      int fd;
      while (c->listeners[i].fd >= 0
             && (fd = accept4 (c->listeners[i].fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0)
        reset_fd (fd);
    }
}

/* The channel opened while the SYN of @fd waited (synqueue.h), if any:
 * the server has already connected, so the socket just joins it. */
static gboolean
bind_early_channel (Client *c, int fd, const ShOpen *dst)
{
  struct sockaddr_storage peer;
  socklen_t plen = sizeof peer;
  ShOpen src;

  if (getpeername (fd, (struct sockaddr *) &peer, &plen) < 0 || !sockaddr_to_open (&peer, &src))
    return FALSE;
  guint32 chan = sh_syn_queue_take (c->synq, &src, dst);
  return chan != 0 && sh_session_bind_channel (c->session, chan, fd);
}

/* Which session a queued SYN opens its channel on (synqueue.h). */
static ShSession *
syn_session (const ShOpen *dst, gpointer data)
{
  Client *c = data;

  if (!c->ready || c->session == NULL)
    return NULL;
  /* DNS over TCP is rewritten at the accept (on_accept). */
  if (c->dns_servers != NULL && dst->port == 53 && is_dns_server (c, dst))
    return NULL;
  return c->session;
}

static void
on_accept (ShPollWatch *w, guint32 events)
{
  Listener *l = (Listener *) w;
  Client *c = l->client;

  /* Bounded so one burst of connections cannot starve the data plane. */
  for (int i = 0; i < 64; i++)
    {
      int fd = accept4 (l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0)
        {
          if (errno == EMFILE || errno == ENFILE)
            sh_error ("out of file descriptors: new connections wait");
          return;
        }
      ShOpen dst;
      if (!original_destination (fd, l->family, &dst))
        {
          sh_info ("refused a connection that was not redirected by the firewall");
          reset_fd (fd);
          continue;
        }
      if (c->ssh_mode ? !c->ready : c->session == NULL)
        {
          /* --fail-closed while the tunnel is down: refused, never sent in
           * the clear. (A session still starting refuses it too.) */
          sh_info ("refused a connection: the tunnel is down");
          reset_fd (fd);
          continue;
        }
      if (c->dns_servers != NULL && dst.port == 53 && is_dns_server (c, &dst))
        {
          /* DNS over TCP goes to the remote resolver, like UDP does. */
          if (c->opts->has_to_ns)
            dst = c->opts->to_ns;
          else
            {
              memset (&dst, 0, sizeof dst);
              dst.family = AF_UNSPEC;
              dst.port = 53;
            }
        }
      if (c->ssh_mode)
        {
          char host[INET6_ADDRSTRLEN] = "";
          if (dst.family == AF_UNSPEC) /* cannot be: --to-ns is required */
            reset_fd (fd);
          else
            {
              inet_ntop (dst.family, dst.addr, host, sizeof host);
              sh_ssh_link_forward (c->link, fd, host, dst.port);
            }
          continue;
        }
      if (c->synq != NULL && bind_early_channel (c, fd, &dst))
        continue;
      sh_session_open_channel (c->session, fd, &dst);
    }
}

/* --------------------------------------------------------------- session */

static void
after_batch (gpointer data)
{
  Client *c = data;
  if (c->session)
    sh_session_flush (c->session);
  /* After the session's flush, which may read frames it held back. */
  if (c->udp)
    sh_udp_tun_flush (c->udp);
}

static char *
describe_subnets (GArray *subnets)
{
  GString *s = g_string_new (NULL);
  for (guint i = 0; i < subnets->len; i++)
    {
      g_autofree char *one = sh_subnet_to_string (&g_array_index (subnets, ShSubnet, i));
      g_string_append_printf (s, "%s%s", i ? ", " : "", one);
    }
  return g_string_free (s, FALSE);
}

/* @subnets as strings, for the control interface. */
static GStrv
subnets_strv (GArray *subnets)
{
  GStrv v = g_new0 (char *, subnets->len + 1);
  for (guint i = 0; i < subnets->len; i++)
    v[i] = sh_subnet_to_string (&g_array_index (subnets, ShSubnet, i));
  return v;
}

static void
daemon_ready (Client *c)
{
  if (c->daemon_fd < 0)
    return;
  if (c->opts->pidfile)
    {
      g_autofree char *pid = g_strdup_printf ("%d\n", (int) getpid ());
      g_autoptr (GError) error = NULL;
      if (!g_file_set_contents (c->opts->pidfile, pid, -1, &error))
        sh_error ("cannot write the pid file: %s", error->message);
    }
  if (write (c->daemon_fd, "0", 1) < 0)
    {
      /* the parent is gone; carry on */
    }
  close (c->daemon_fd);
  c->daemon_fd = -1;
  /* From here on nobody reads the terminal: log to syslog. */
  int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0)
    {
      dup2 (devnull, STDIN_FILENO);
      dup2 (devnull, STDOUT_FILENO);
      dup2 (devnull, STDERR_FILENO);
      close (devnull);
    }
  sh_log_to_syslog ();
}

static gboolean flush_hosts (gpointer data);
static void take_deferred_hosts (Client *c);

/* One request to apply the rules, for the session that asked. */
typedef struct
{
  Client *client;
  guint session_gen;
} ApplyRequest;

static void
on_dns_over_ssh (guint32 id, const guint8 *msg, gsize len, gpointer data)
{
  Client *c = data;
  if (c->dns)
    sh_dns_client_reply (c->dns, id, msg, len);
}

/* --dns with --transport=ssh: each query as DNS over TCP to --to-ns
 * (required there), through a forward of its own. */
static gboolean
send_dns_over_ssh (const guint8 *query, gsize len, guint32 id, gpointer data)
{
  Client *c = data;
  char host[INET6_ADDRSTRLEN] = "";
  if (c->link == NULL || !c->opts->has_to_ns
      || inet_ntop (c->opts->to_ns.family, c->opts->to_ns.addr, host, sizeof host) == NULL)
    return FALSE;
  return sh_ssh_link_dns_query (c->link, host, c->opts->to_ns.port, query, len, id, on_dns_over_ssh,
                                c);
}

static void tunnel_ready (Client *c);

/* The rules are in place. */
static void
on_firewall_applied (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autofree ApplyRequest *req = data;
  g_autoptr (GError) error = NULL;
  gboolean ok = sh_fw_client_apply_finish (req->client->fw, res, &error);

  if (!ok && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* we are shutting down: the client may be gone */
  Client *c = req->client;
  if (req->session_gen != c->session_gen)
    {
      /* The session that asked was lost while polkit or the helper
       * answered. Without --fail-closed no rules belong there meanwhile;
       * the next session applies its own. */
      if (ok && !c->opts->fail_closed && !c->ready)
        sh_fw_client_remove_rules (c->fw, NULL);
      return;
    }
  if (!ok)
    {
      c->failure = g_strdup (error->message);
      c->permanent = TRUE; /* polkit said no, or the helper cannot: so it stays */
      c->status = 1;
      g_main_loop_quit (c->loop);
      return;
    }
  tunnel_ready (c);
}

/* The session is up and the rules (if any) are in place: only now accept
 * connections. */
static void
on_command_exit (GObject *source, GAsyncResult *res, gpointer data)
{
  Client *c = data;
  GSubprocess *p = G_SUBPROCESS (source);

  if (!g_subprocess_wait_finish (p, res, NULL))
    return; /* cancelled: we are going away */
  c->command_status = g_subprocess_get_if_exited (p) ? g_subprocess_get_exit_status (p)
                                                     : 128 + g_subprocess_get_term_sig (p);
  sh_info ("run: the command ended (status %d)", c->command_status);
  c->status = 0;
  g_main_loop_quit (c->loop);
}

/* shuttle run: the command starts with the first session. */
static void
start_command (Client *c)
{
  g_autoptr (GError) error = NULL;
  const char *door = c->run_dir ? c->run_dir : "";
  g_autofree char *path = g_build_filename (door, "engine.sock", NULL);

  if (c->scope)
    c->command = sh_launch_spawn_scoped (c->opts->run_argv, sh_scope_procs (c->scope), &error);
  else
    c->command
        = sh_launch_spawn (c->opts->run_argv, path, c->subnets, c->excludes, c->opts->dns, &error);
  if (c->command == NULL)
    {
      c->failure = g_strdup_printf ("cannot start %s: %s", c->opts->run_argv[0], error->message);
      c->permanent = TRUE;
      c->command_status = 127;
      c->status = 1;
      g_main_loop_quit (c->loop);
      return;
    }
  g_subprocess_wait_async (c->command, NULL, on_command_exit, c);
}

/* UDP and ping are off for the reason @why: said once, not an error. */
static void
udp_off (Client *c, const char *why)
{
  if (c->udp_off_said)
    return;
  c->udp_off_said = TRUE;
  sh_notice ("UDP and ping are off: %s", why);
}

static void
on_dgram_opened (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autofree ApplyRequest *req = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *ifname = NULL;
  int fd = sh_fw_client_open_dgram_finish (req->client->fw, res, &ifname, &error);
  Client *c;

  if (fd < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* we are shutting down: the client may be gone */
  c = req->client;
  if (req->session_gen != c->session_gen || c->session == NULL)
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  if (fd < 0)
    {
      udp_off (c, error->message);
      return;
    }
  ShUdpTunConfig config = {
    .udp_timeout_s = c->opts->udp_timeout_s,
    .echo_timeout_s = MIN (c->opts->udp_timeout_s, 30),
    .subnets = c->subnets,
    .excludes = c->excludes,
  };
  g_clear_pointer (&c->udp, sh_udp_tun_free);
  c->udp = sh_udp_tun_new (c->poll, fd, &config);
  sh_udp_tun_attach (c->udp, c->session);
  sh_notice ("UDP and ping to the tunnelled subnets go through %s", ifname);
}

/* UDP and ping, once the rules are in: the datagram device (fwclient.h),
 * where the server and the transport can carry them. */
static void
start_udp (Client *c)
{
  if (c->opts->udp < 0 || c->no_firewall)
    return;
  if (c->ssh_mode)
    {
      udp_off (c, "ssh's own forwarding (--transport=ssh) carries only TCP");
      return;
    }
  /* The datagram device's mark rules know nothing of a cgroup: they would
   * take every program's UDP to the subnets, not only the scope's. */
  if (c->scope)
    {
      udp_off (c, "shuttle run --scope carries only TCP and DNS so far");
      return;
    }
  if (c->session == NULL)
    return;
  if (sh_session_get_version (c->session) < SH_MUX_VERSION_DGRAM)
    {
      udp_off (c, "the server is too old (it speaks protocol version 1, without datagrams)");
      return;
    }
  ApplyRequest *req = g_new (ApplyRequest, 1);
  req->client = c;
  req->session_gen = c->session_gen;
  sh_fw_client_open_dgram_async (c->fw, c->fw_cancel, on_dgram_opened, req);
}

static void
on_syn_relay_opened (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autofree ApplyRequest *req = data;
  g_autoptr (GError) error = NULL;
  int fd = sh_fw_client_open_syn_queue_finish (req->client->fw, res, &error);
  Client *c;

  if (fd < 0 && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* we are shutting down: the client may be gone */
  c = req->client;
  if (req->session_gen != c->session_gen || c->session == NULL)
    {
      if (fd >= 0)
        close (fd);
      return;
    }
  if (fd < 0)
    {
      sh_info ("connections complete at once, not when the far side's do: %s", error->message);
      return;
    }
  g_clear_pointer (&c->synq, sh_syn_queue_free);
  c->synq = sh_syn_queue_new_relay (c->poll, fd, syn_session, c);
  sh_info ("connect() answers as the far side does (SYN queue through shuttle-firewall)");
}

/* Connect fidelity through the helper: its relay (OpenSynQueue), for the
 * rules just applied. A relay the helper closed (our rules were removed
 * while the session was away) is replaced. */
static void
start_syn_relay (Client *c)
{
  if (!c->opts->connect_fidelity || c->ssh_mode || c->no_firewall
      || !sh_fw_client_uses_helper (c->fw))
    return;
  if (c->synq != NULL && sh_syn_queue_is_open (c->synq))
    return;
  g_clear_pointer (&c->synq, sh_syn_queue_free);
  ApplyRequest *req = g_new (ApplyRequest, 1);
  req->client = c;
  req->session_gen = c->session_gen;
  sh_fw_client_open_syn_queue_async (c->fw, c->opts->fail_closed, c->fw_cancel, on_syn_relay_opened,
                                     req);
}

static void
tunnel_ready (Client *c)
{
  if (!c->listening)
    for (int i = 0; i < c->n_listeners; i++)
      sh_poll_add (c->poll, c->listeners[i].fd, EPOLLIN, &c->listeners[i].watch);
  c->listening = TRUE;
  if (c->dns && c->ssh_mode)
    sh_dns_client_start_with (c->dns, send_dns_over_ssh, c);
  else if (c->dns)
    sh_dns_client_start (c->dns, c->session);
  c->ready = TRUE;
  c->connected_at = g_get_monotonic_time ();
  c->attempt = 0;
  g_auto (GStrv) routes = subnets_strv (c->subnets);
  sh_control_set_routes (c->control, (const char *const *) routes);
  sh_control_set_state (c->control, SH_CONTROL_CONNECTED, NULL);

  g_autofree char *nets = describe_subnets (c->subnets);
  sh_notice ("%s to %s (%s); tunnelling %s%s", c->ever_connected ? "reconnected" : "connected",
             c->server_desc, c->peer_name, c->subnets->len ? nets : "no subnets",
             c->dns ? ", and DNS" : "");
  if (c->socks)
    sh_notice ("SOCKS5 proxy on %s%s%s:%u",
               c->opts->socks_addr && strchr (c->opts->socks_addr, ':') ? "[" : "",
               c->opts->socks_addr ? c->opts->socks_addr : "127.0.0.1",
               c->opts->socks_addr && strchr (c->opts->socks_addr, ':') ? "]" : "",
               sh_socks_port (c->socks));
  c->ever_connected = TRUE;
  daemon_ready (c);
  if (c->opts->run_argv && c->command == NULL)
    start_command (c);
  start_udp (c);
  start_syn_relay (c);
  if (c->hosts_wait_ready)
    {
      c->hosts_wait_ready = FALSE;
      g_clear_handle_id (&c->hosts_timer, g_source_remove); /* this write takes them too */
      flush_hosts (c);
    }
}

/* Installs the rules for what we know now: the subnets (with -N, once the
 * server's routes came) and the nameservers. */
static void
apply_firewall (Client *c)
{
  if (c->subnets->len == 0 && c->dns_servers == NULL)
    {
      c->failure = g_strdup ("nothing to tunnel: no subnets were given and the server reported no "
                             "networks (-N)");
      c->permanent = TRUE;
      c->status = 1;
      g_main_loop_quit (c->loop);
      return;
    }
  if (c->no_firewall)
    {
      tunnel_ready (c);
      return;
    }
  ShFirewallSpec spec = {
    .port = c->port,
    .subnets = c->subnets,
    .excludes = c->excludes,
    .dns_servers = c->dns_servers,
    .block_ipv6 = c->opts->block_ipv6 && sh_subnet_list_leaks_ipv6 (c->subnets),
    .cgroup = c->scope ? (char *) sh_scope_nft_path (c->scope) : NULL,
    .cgroup_level = c->scope ? sh_scope_nft_level (c->scope) : 0,
    .cgroup_exclude = c->opts->scope == SH_SCOPE_EXCLUDE,
  };
  /* In process the engine binds the queue and names it in its rules;
   * through the helper, the helper binds it and relays (start_syn_relay(),
   * once the rules are in). Under --transport=ssh ssh's forwarding answers
   * no OPEN early: connections complete at the listener there, as before. */
  gboolean in_process = !sh_fw_client_uses_helper (c->fw);
  if (c->synq == NULL && c->opts->connect_fidelity && !c->ssh_mode && in_process)
    {
      g_autoptr (GError) qerr = NULL;
      c->synq = sh_syn_queue_new (c->poll, syn_session, c, &qerr);
      if (c->synq == NULL)
        sh_info ("connections complete at once, not when the far side's do: %s", qerr->message);
    }
  if (c->synq != NULL && in_process)
    {
      spec.syn_queue = sh_syn_queue_number (c->synq);
      spec.syn_fail_closed = c->opts->fail_closed;
    }
  if (c->opts->block_ipv6)
    sh_info ("IPv6 leak block %s", spec.block_ipv6 ? "on: IPv6 that the tunnel does not carry is "
                                                     "refused"
                                                   : "off: IPv4 is not fully tunnelled (0/0)");
  if (sh_log_enabled (SH_LOG_DEBUG))
    {
      g_autofree char *script = sh_firewall_render (c->instance, &spec);
      sh_debug ("firewall rules:\n%s", script);
    }
  /* Asynchronous: polkit may be asking for a password meanwhile, and the
   * session's keepalive must go on. */
  ApplyRequest *req = g_new (ApplyRequest, 1);
  req->client = c;
  req->session_gen = c->session_gen;
  sh_fw_client_apply_async (c->fw, &spec, c->fw_cancel, on_firewall_applied, req);
}

/* For the control interface's counters. */
static void
read_counters (gpointer data, ShControlCounters *n)
{
  Client *c = data;
  ShSessionStats st;
  ShUdpTunStats u;

  if (c->udp != NULL)
    {
      /* Kept across reconnects, as the device is. */
      sh_udp_tun_get_stats (c->udp, &u);
      n->datagrams_sent = u.packets_in;
      n->datagrams_received = u.packets_out;
      n->datagram_bytes_sent = u.bytes_in;
      n->datagram_bytes_received = u.bytes_out;
      n->open_flows = u.flows;
    }
  if (c->ssh_mode)
    {
      /* ssh relays the bytes: we see only how many connections it holds. */
      n->open_sessions = sh_ssh_link_n_forwards (c->link);
      return;
    }
  if (c->session == NULL)
    return;
  sh_session_get_stats (c->session, &st);
  n->bytes_sent = st.bytes_sent;
  n->bytes_received = st.bytes_received;
  n->open_sessions = st.channels_open;
}

/* -N: the server's networks join the user's subnets. */
static void
on_routes (ShSession *session, const ShFrame *routes, gpointer data)
{
  Client *c = data;
  if (!c->routes_pending)
    return; /* one answer to our one question; a second changes nothing */
  c->routes_pending = FALSE;

  gsize off = 0;
  ShRoute r;
  guint added = 0;
  while (sh_frame_next_route (routes, &off, &r))
    {
      ShSubnet sn = { .family = r.family, .prefix = r.prefix };
      memcpy (sn.addr, r.addr, sizeof sn.addr);
      gboolean known = FALSE;
      for (guint i = 0; i < c->subnets->len && !known; i++)
        {
          const ShSubnet *o = &g_array_index (c->subnets, ShSubnet, i);
          known = o->family == sn.family && o->prefix == sn.prefix && o->port_lo == 0
                  && o->port_hi == 0 && memcmp (o->addr, sn.addr, 16) == 0;
        }
      g_autofree char *text = sh_subnet_to_string (&sn);
      if (known)
        continue;
      if (c->subnets->len >= SH_CLIENT_MAX_SUBNETS)
        {
          sh_error ("warning: the server reports more than %d networks; %s and later ones are "
                    "not tunnelled",
                    SH_CLIENT_MAX_SUBNETS, text);
          break;
        }
      sh_info ("the server routes %s: tunnelling it (-N)", text);
      g_array_append_val (c->subnets, sn);
      added++;
    }
  if (added == 0 && !c->ever_connected) /* after a reconnect: none beyond those we had */
    sh_notice ("the server reported no networks beyond those given (-N)");
  take_deferred_hosts (c);
  apply_firewall (c);
}

static void
on_hosts_written (GObject *source, GAsyncResult *res, gpointer data)
{
  Client *c = data;
  g_autoptr (GError) error = NULL;

  if (!sh_fw_client_set_hosts_finish (c->fw, res, &error))
    {
      if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return; /* we are shutting down: c may be gone */
      sh_error ("cannot update /etc/hosts: %s", error->message);
    }
  c->hosts_writing = FALSE;
  if (c->hosts_again)
    {
      c->hosts_again = FALSE;
      flush_hosts (c);
    }
}

/* One write per burst of names, one at a time: each write carries the
 * whole block, so a burst that comes during a write is sent after it. */
static gboolean
flush_hosts (gpointer data)
{
  Client *c = data;
  c->hosts_timer = 0;
  sh_control_flush_hosts (c->control);
  if (!c->ready)
    {
      /* The helper accepts names only inside the subnets of the tunnel it
       * holds for us: so the rules go first. */
      c->hosts_wait_ready = TRUE;
      return G_SOURCE_REMOVE;
    }
  if (c->hosts_writing)
    {
      c->hosts_again = TRUE;
      return G_SOURCE_REMOVE;
    }
  c->hosts_writing = TRUE;
  sh_fw_client_set_hosts_async (c->fw, c->hosts_entries, c->fw_cancel, on_hosts_written, c);
  return G_SOURCE_REMOVE;
}

/* A name the server sent before -N's routes came: judged once they have. */
typedef struct
{
  int family;
  guint8 addr[16];
  char name[SH_HOSTNAME_MAX + 1];
} DeferredHost;

/* Whether /etc/hosts gives @name (lower-cased) outside our blocks; the file
 * is read again only when it changed. */
static gboolean
hosts_file_has_name (Client *c, const char *name)
{
  struct stat st = { 0 };
  g_autofree char *content = NULL;

  if (stat (SH_CLIENT_HOSTS_FILE, &st) < 0)
    return FALSE;
  if (c->hosts_taken == NULL || st.st_ino != c->hosts_taken_st.st_ino
      || st.st_size != c->hosts_taken_st.st_size
      || st.st_mtim.tv_sec != c->hosts_taken_st.st_mtim.tv_sec
      || st.st_mtim.tv_nsec != c->hosts_taken_st.st_mtim.tv_nsec)
    {
      g_clear_pointer (&c->hosts_taken, g_hash_table_unref);
      if (st.st_size > SH_HOSTS_FILE_READ_MAX
          || !g_file_get_contents (SH_CLIENT_HOSTS_FILE, &content, NULL, NULL))
        return FALSE;
      c->hosts_taken = sh_hosts_names_outside_blocks (content);
      c->hosts_taken_st = st;
    }
  return g_hash_table_contains (c->hosts_taken, name);
}

/* Takes one name into our hosts block, when it may go there: the server
 * must not name hosts outside the tunnel (github.com, the distro mirror) or
 * override what the local /etc/hosts says (localhost, the admin's names). */
static void
take_host (Client *c, int family, const guint8 *bin, const char *name)
{
  char addr[INET6_ADDRSTRLEN];
  g_autofree char *lower = g_ascii_strdown (name, -1);

  inet_ntop (family, bin, addr, sizeof addr);
  if (!sh_subnet_list_covers_address (c->subnets, family, bin))
    {
      sh_info ("ignored host %s (%s) from the server: the address is not tunnelled", name, addr);
      return;
    }
  if (hosts_file_has_name (c, lower))
    {
      sh_info ("ignored host %s (%s) from the server: %s has this name already", name, addr,
               SH_CLIENT_HOSTS_FILE);
      return;
    }
  g_autofree char *key = g_strdup_printf ("%s %s", addr, name);
  if (g_hash_table_contains (c->hosts, key))
    return;
  if (g_hash_table_size (c->hosts) >= SH_CLIENT_MAX_HOSTS)
    {
      if (!c->hosts_warned)
        sh_error ("warning: the server reports more than %d host names; ignoring the rest",
                  SH_CLIENT_MAX_HOSTS);
      c->hosts_warned = TRUE;
      return;
    }
  g_hash_table_add (c->hosts, g_steal_pointer (&key));
  sh_info ("host %s is %s (-H)", name, addr);
  sh_control_add_host (c->control, name, addr);
  g_ptr_array_add (c->hosts_entries, g_strdup (addr));
  g_ptr_array_add (c->hosts_entries, g_strdup (name));
  /* Names come in bursts: write the file once per burst. */
  if (c->hosts_timer == 0)
    c->hosts_timer = g_timeout_add (SH_CLIENT_HOSTS_DELAY_MS, flush_hosts, c);
}

/* -N: the routes are known now, so the names that waited for them can be
 * judged. */
static void
take_deferred_hosts (Client *c)
{
  for (guint i = 0; i < c->hosts_deferred->len; i++)
    {
      const DeferredHost *d = &g_array_index (c->hosts_deferred, DeferredHost, i);

      take_host (c, d->family, d->addr, d->name);
    }
  g_array_set_size (c->hosts_deferred, 0);
}

/* -H: one name the server found. It can only ever become a line of our own
 * hosts block, and only if it is a plain host name. */
static void
on_host (ShSession *session, const ShHost *host, gpointer data)
{
  Client *c = data;

  if (!sh_hostname_is_valid (host->name, host->name_len))
    {
      sh_debug ("ignored a host name from the server that is not a valid host name");
      return;
    }
  /* The server's own loopback names (its /etc/hosts has "localhost") mean
   * nothing here, and would shadow ours. */
  static const guint8 v6_loopback[16] = { [15] = 1 };
  if ((host->family == AF_INET && host->addr[0] == 127)
      || (host->family == AF_INET6 && memcmp (host->addr, v6_loopback, 16) == 0))
    return;
  if (c->routes_pending)
    {
      DeferredHost d = { .family = host->family };

      if (c->hosts_deferred->len >= SH_CLIENT_MAX_HOSTS)
        return;
      memcpy (d.addr, host->addr, sizeof d.addr);
      memcpy (d.name, host->name, host->name_len);
      g_array_append_val (c->hosts_deferred, d);
      return;
    }
  g_autofree char *name = g_strndup (host->name, host->name_len);
  take_host (c, host->family, host->addr, name);
}

static void
on_dns_reply (ShSession *session, guint32 id, const guint8 *msg, gsize len, gpointer data)
{
  Client *c = data;
  if (c->socks && sh_socks_dns_reply (c->socks, id, msg, len))
    return;
  if (c->door && sh_socks_dns_reply (c->door, id, msg, len))
    return;
  if (c->dns)
    sh_dns_client_reply (c->dns, id, msg, len);
}

static void
on_dgram (ShSession *session, guint32 assoc, const ShDgram *dgram, gpointer data)
{
  Client *c = data;
  if (c->udp)
    sh_udp_tun_dgram (c->udp, assoc, dgram);
}

static void
on_dgram_close (ShSession *session, guint32 assoc, ShDgramCloseReason reason, int err,
                gpointer data)
{
  Client *c = data;
  if (c->udp)
    sh_udp_tun_dgram_close (c->udp, assoc, reason, err);
}

/* ------------------------------------------------------------------ lanes */

static void
on_lanes_done (const int *fds, guint32 mask, gpointer data)
{
  Client *c = data;
  g_clear_pointer (&c->lane_opener, sh_lane_opener_free);
  if (mask == 1)
    sh_info ("lanes: none could be opened; the session stays on one ssh channel");
  sh_session_bond (c->session, fds, mask);
}

static void remove_ctl_dir (Client *c);

static void
on_lane_link_ready (ShSshLink *link, gpointer data)
{
  Client *c = data;
  remove_ctl_dir (c); /* the link holds the socket from now on */
  c->lane_opener = sh_lane_opener_new (c->poll, link, c->lane_family, c->lane_port, c->lane_token,
                                       c->lane_count, on_lanes_done, c);
}

/* The master's control socket failed: the session goes on with the lanes
 * it has (each forward keeps its own control connection). */
static void
on_lane_link_lost (ShSshLink *link, const char *why, gpointer data)
{
  sh_info ("lanes: %s", why);
}

static void
on_lanes_offered (ShSession *session, int family, guint count, guint16 port, const guint8 *token,
                  gpointer data)
{
  Client *c = data;
  guint want = c->opts->lanes - 1;
  if (want == 0 || (c->opts->remote && c->ctl_dir == NULL))
    return;
  c->lane_family = family;
  c->lane_count = MIN (want, count);
  c->lane_port = port;
  memcpy (c->lane_token, token, sizeof c->lane_token);
  if (!c->opts->remote)
    {
      /* Test mode: the server runs here; no ssh in between. */
      c->lane_opener = sh_lane_opener_new (c->poll, NULL, family, port, token, c->lane_count,
                                           on_lanes_done, c);
      return;
    }
  g_autofree char *ctl = g_build_filename (c->ctl_dir, "ctl", NULL);
  c->lane_link
      = sh_ssh_link_new (c->poll, ctl, SH_MUX_MAX_LANES, on_lane_link_ready, on_lane_link_lost, c);
}

static void
on_bonded (ShSession *session, guint n_lanes, gpointer data)
{
  sh_info ("the session runs over %u ssh channels", n_lanes);
}

/* Before the session goes: the lanes are its sockets' other ends. */
static void
drop_lanes (Client *c)
{
  g_clear_pointer (&c->lane_opener, sh_lane_opener_free);
  g_clear_pointer (&c->lane_link, sh_ssh_link_free);
}

static void
on_ready (ShSession *session, const ShHello *peer, gpointer data)
{
  Client *c = data;
  const ShOptions *o = c->opts;

  g_strlcpy (c->peer_name, peer->name, sizeof c->peer_name);
  ShSessionExtras extras = {
    .dns_reply = on_dns_reply,
    .routes = on_routes,
    .host = on_host,
    .dgram = on_dgram,
    .dgram_close = on_dgram_close,
    .lanes = on_lanes_offered,
    .bonded = on_bonded,
  };
  sh_session_set_extras (session, &extras, c);
  if (c->socks)
    sh_socks_set_session (c->socks, session);
  if (c->door)
    sh_socks_set_session (c->door, session);
  if (c->no_firewall && !o->auto_nets)
    {
      tunnel_ready (c);
      return;
    }
  if (o->auto_hosts)
    sh_session_send_hosts_watch (session, o->seed_hosts);
  if (o->auto_nets)
    {
      /* The rules wait for the routes: then they go in once, complete. */
      sh_info ("asking the server for its networks (-N)");
      c->routes_pending = TRUE;
      sh_session_send_routes_get (session);
      return;
    }
  apply_firewall (c);
}

static void
on_closed (ShSession *session, const GError *error, gpointer data)
{
  Client *c = data;
  c->status = 1;
  if (c->socks)
    sh_socks_set_session (c->socks, NULL);
  if (c->door)
    sh_socks_set_session (c->door, NULL);
  /* An installed shuttle-server of another version: the agent we carry
   * always speaks ours. */
  if (c->choice == SH_SERVER_AUTO && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
    {
      sh_notice ("%s; uploading the Python agent instead", error->message);
      c->retry_agent = TRUE;
      g_main_loop_quit (c->loop);
      return;
    }
  /* A server of another protocol version stays one. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED))
    c->permanent = TRUE;
  if (error && !c->failure)
    c->failure = g_strdup (error->message);
  c->pipe_broke = !error || g_error_matches (error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE);
  g_main_loop_quit (c->loop);
}

static gboolean
on_signal (gpointer data)
{
  Client *c = data;
  sh_info ("signal received, shutting down");
  c->status = 0;
  g_main_loop_quit (c->loop);
  return G_SOURCE_CONTINUE;
}

static void
on_transport_exit (GObject *source, GAsyncResult *res, gpointer data)
{
  Client *c = data;
  g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
  c->transport_done = TRUE;
  /* The pipe's EOF usually tells us first; this covers an ssh that exits
   * while something else still holds its stdout open. */
  if (g_main_loop_is_running (c->loop))
    {
      c->status = 1;
      g_main_loop_quit (c->loop);
    }
}

/* Runs the main context until the transport has exited, at most @ms. */
static void
wait_transport (Client *c, int ms)
{
  gint64 end = g_get_monotonic_time () + (gint64) ms * 1000;
  while (!c->transport_done && g_get_monotonic_time () < end)
    {
      if (!g_main_context_iteration (NULL, FALSE))
        g_usleep (5000);
    }
}

/* Why the transport ended, for the one line the user reads. */
static char *
explain_transport_end (Client *c)
{
  GSubprocess *p = c->transport;
  if (!p)
    return g_strdup (c->failure ? c->failure : "the session ended");

  /* When the pipe broke, ssh's exit status explains why: give it a moment.
   * A reason of our own (the firewall, a protocol error) says it all. */
  if (!c->failure || c->pipe_broke)
    wait_transport (c, 1000);
  if (!c->transport_done)
    {
      const char *what = c->failure ? c->failure : _ ("the connection closed");
      if (!c->ready)
        return g_strdup (what);
      /* TRANSLATORS: why a tunnel dropped; %s says how */
      return g_strdup_printf (_ ("the ssh session ended unexpectedly: %s"), what);
    }
  gboolean ssh = c->opts->remote != NULL;
  g_autofree char *how = NULL;
  if (g_subprocess_get_if_exited (p))
    {
      int st = g_subprocess_get_exit_status (p);
      char *why
          = c->ready || c->ssh_mode ? NULL : sh_bootstrap_explain_exit (c->opts, c->choice, st);
      if (why)
        {
          c->permanent = TRUE; /* the server lacks what we need: it will tomorrow too */
          return why;
        }
      how = g_strdup_printf (
          ssh ? _ ("ssh exited with status %d") : _ ("the local server exited with status %d"), st);
    }
  else if (g_subprocess_get_if_signaled (p))
    how = g_strdup_printf (ssh ? _ ("ssh was killed by signal %d")
                               : _ ("the local server was killed by signal %d"),
                           g_subprocess_get_term_sig (p));
  else
    how = g_strdup (ssh ? _ ("ssh closed the connection")
                        : _ ("the local server closed the connection"));
  if (c->failure)
    {
      char *more = g_strdup_printf ("%s; %s", how, c->failure);
      g_free (how);
      how = more;
    }

  if (!c->ready && c->ssh_mode)
    /* TRANSLATORS: %s: the ssh server, then how ssh ended */
    return g_strdup_printf (_ ("could not set up ssh's forwarding to %s: %s"), c->server_desc, how);
  if (!c->ready)
    /* TRANSLATORS: %s: the ssh server, then how ssh ended */
    return g_strdup_printf (_ ("could not start the server on %s: %s"), c->server_desc, how);
  return g_strdup_printf (ssh ? _ ("the ssh session ended unexpectedly: %s")
                              : _ ("the local session ended unexpectedly: %s"),
                          how);
}

/* One line of ssh's stderr. In ssh mode, a channel that could not open is
 * an ordinary refused connection (said as such), and "administratively
 * prohibited" is the server refusing forwarding altogether. */
static void
relay_stderr_line (Client *c, const char *line)
{
  if ((c->ssh_mode || c->lane_link) && strstr (line, ": open failed: ") != NULL)
    {
      if (strstr (line, "administratively prohibited") != NULL)
        c->fwd_prohibited = TRUE;
      sh_info ("%s", line);
      return;
    }
  sh_error ("%s", line);
  sh_ssh_diag_feed (&c->ssh_diag, line);
}

/* Relays ssh's (and the remote server's) stderr line by line. */
static void
drain_transport_stderr (Client *c)
{
  char buf[4096];
  ssize_t n = -1;
  while (c->err_fd >= 0 && (n = read (c->err_fd, buf, sizeof buf)) > 0)
    {
      for (ssize_t i = 0; i < n; i++)
        {
          if (buf[i] == '\n' || c->err_line->len >= 1024)
            {
              if (c->err_line->len > 0)
                relay_stderr_line (c, c->err_line->str);
              g_string_truncate (c->err_line, 0);
            }
          if (buf[i] != '\n' && buf[i] != '\r')
            g_string_append_c (c->err_line, buf[i]);
        }
    }
  if (c->err_fd >= 0 && n == 0)
    {
      if (c->err_line->len > 0)
        relay_stderr_line (c, c->err_line->str);
      g_string_truncate (c->err_line, 0);
      sh_poll_remove (c->poll, c->err_fd);
      close (c->err_fd);
      c->err_fd = -1;
    }
}

static void
on_transport_stderr (ShPollWatch *w, guint32 events)
{
  drain_transport_stderr (G_STRUCT_MEMBER_P (w, -G_STRUCT_OFFSET (Client, err_watch)));
}

/* ssh must not outlive us: a master with -N reads nothing, and after a
 * SIGKILL would go on holding the ssh connection. A session's ssh ends with
 * its pipe, but the one of an agent attempt that auto has just given up on
 * may still be talking to the server. SIGKILL, not SIGTERM: on SIGTERM ssh
 * says goodbye to the server first and waits (up to ServerAliveInterval ×
 * CountMax) until its output buffer has drained, which a stalled transfer
 * can make take 30 s. A parent already gone before prctl() would never
 * send the signal: then the child does not start at all. */
static void
ssh_child_setup (gpointer data)
{
  prctl (PR_SET_PDEATHSIG, SIGKILL);
  if (getppid () != (pid_t) GPOINTER_TO_INT (data))
    _exit (127);
}

static gboolean
start_transport (Client *c, char **ssh_argv, int *in_fd, int *out_fd, GError **error)
{
  const ShOptions *o = c->opts;
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);

  if (o->remote)
    {
      for (char **a = ssh_argv; *a; a++)
        g_ptr_array_add (argv, g_strdup (*a));
      if (c->ciphers)
        {
          g_ptr_array_add (argv, g_strdup ("-c"));
          g_ptr_array_add (argv, g_strdup (c->ciphers));
        }
      if (o->remote_port)
        {
          g_ptr_array_add (argv, g_strdup ("-p"));
          g_ptr_array_add (argv, g_strdup_printf ("%u", o->remote_port));
        }
      if (c->ssh_mode)
        {
          /* A control master on our private socket, running nothing on the
           * server (-N). The user's own -o in --ssh-cmd come first and so
           * win; ours beat ssh_config. LogLevel INFO: ssh says why a channel
           * could not open ("administratively prohibited"). */
          static const char *const master[] = { "-N", "-M",
                                                "-o", "ControlPersist=no",
                                                "-o", "LogLevel=INFO",
                                                "-o", SH_CLIENT_SSH_ALIVE,
                                                "-o", SH_CLIENT_SSH_ALIVE_MAX,
                                                "-S" };
          for (gsize i = 0; i < G_N_ELEMENTS (master); i++)
            g_ptr_array_add (argv, g_strdup (master[i]));
          g_ptr_array_add (argv, g_build_filename (c->ctl_dir, "ctl", NULL));
        }
      else if (c->ctl_dir)
        {
          /* A control master too, for the lanes (lanes.h): they are more
           * channels of this same ssh connection. */
          static const char *const master[] = { "-M", "-o", "ControlPersist=no", "-S" };
          for (gsize i = 0; i < G_N_ELEMENTS (master); i++)
            g_ptr_array_add (argv, g_strdup (master[i]));
          g_ptr_array_add (argv, g_build_filename (c->ctl_dir, "ctl", NULL));
        }
      /* "--" so a host name can never be taken for an ssh option. */
      g_ptr_array_add (argv, g_strdup ("--"));
      g_ptr_array_add (argv, o->remote_user
                                 ? g_strdup_printf ("%s@%s", o->remote_user, o->remote_host)
                                 : g_strdup (o->remote_host));
      if (!c->ssh_mode)
        g_ptr_array_add (argv, sh_bootstrap_remote_command (o, c->choice));
    }
  else
    {
      /* Test mode: the server is this very program (or, with --python, the
       * agent), run locally. */
      g_autofree char *self = g_file_read_link ("/proc/self/exe", NULL);
      g_auto (GStrv) local = sh_bootstrap_local_argv (o, c->choice, self ? self : "shuttle");
      for (char **a = local; *a; a++)
        g_ptr_array_add (argv, g_strdup (*a));
    }
  g_ptr_array_add (argv, NULL);

  if (sh_log_enabled (SH_LOG_INFO))
    {
      g_autofree char *line = g_strjoinv (" ", (char **) argv->pdata);
      sh_info ("starting: %s", line);
    }
  g_autoptr (GSubprocessLauncher) launcher
      = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                   | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_set_child_setup (launcher, ssh_child_setup, GINT_TO_POINTER (getpid ()),
                                         NULL);
  c->transport = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, error);
  if (!c->transport)
    return FALSE;

  /* The session owns the pipe ends from here on. */
  GUnixOutputStream *in = G_UNIX_OUTPUT_STREAM (g_subprocess_get_stdin_pipe (c->transport));
  GUnixInputStream *out = G_UNIX_INPUT_STREAM (g_subprocess_get_stdout_pipe (c->transport));
  g_unix_output_stream_set_close_fd (in, FALSE);
  g_unix_input_stream_set_close_fd (out, FALSE);
  *out_fd = g_unix_output_stream_get_fd (in);
  *in_fd = g_unix_input_stream_get_fd (out);
  GUnixInputStream *err = G_UNIX_INPUT_STREAM (g_subprocess_get_stderr_pipe (c->transport));
  g_unix_input_stream_set_close_fd (err, FALSE);
  c->err_fd = g_unix_input_stream_get_fd (err);
  fcntl (c->err_fd, F_SETFL, fcntl (c->err_fd, F_GETFL) | O_NONBLOCK);
  c->err_watch.func = on_transport_stderr;
  sh_poll_add (c->poll, c->err_fd, EPOLLIN, &c->err_watch);
  g_subprocess_wait_async (c->transport, NULL, on_transport_exit, c);
  return TRUE;
}

static void
stop_transport (Client *c)
{
  if (!c->transport)
    return;
  if (!c->transport_done)
    {
      g_subprocess_send_signal (c->transport, SIGTERM);
      wait_transport (c, 1000);
    }
  if (!c->transport_done)
    {
      g_subprocess_force_exit (c->transport);
      wait_transport (c, 5000);
    }
}

/* Ends the transport and forgets it, so that another can start. */
static void
reset_transport (Client *c)
{
  stop_transport (c);
  drain_transport_stderr (c);
  if (c->err_fd >= 0)
    {
      sh_poll_remove (c->poll, c->err_fd);
      close (c->err_fd);
      c->err_fd = -1;
    }
  g_string_truncate (c->err_line, 0);
  g_clear_object (&c->transport);
  c->transport_done = FALSE;
  c->pipe_broke = FALSE;
  g_clear_pointer (&c->failure, g_free);
  sh_ssh_diag_clear (&c->ssh_diag);
}

/* ------------------------------------------------------------ --reconnect */

/* Why the session (or the attempt) ended, in one line; sets c->permanent
 * when trying again cannot help. */
static char *
transport_end_reason (Client *c)
{
  g_autofree char *why = explain_transport_end (c);
  drain_transport_stderr (c);
  char *ssh_why = sh_ssh_diag_explain (&c->ssh_diag);
  if (ssh_why != NULL)
    {
      /* A host key that does not match, a login refused: not the network,
       * and retrying a refused login can lock the account. */
      c->permanent = TRUE;
      return ssh_why;
    }
  return g_steal_pointer (&why);
}

/* Ends the wait for the next attempt once a route leads to the ssh server;
 * until then, waits for rtnetlink (or the poll) to say something changed. */
static void
on_network_changed (gpointer watch, gpointer data)
{
  Client *c = data;
  int err = 0;

  if (!sh_net_routable ((const struct sockaddr_storage *) (gpointer) c->server_addrs->data,
                        c->server_addrs->len, &err))
    {
      if (!c->net_wait_said)
        {
          /* TRANSLATORS: why a tunnel is not back yet; %s: the ssh server,
             then the system's reason ("Network is unreachable") */
          g_autofree char *why = g_strdup_printf (
              _ ("no route to %s (%s): waiting for the network"), c->server_desc, g_strerror (err));
          sh_notice ("%s", why);
          sh_control_set_reconnecting (c->control, why, 0);
        }
      c->net_wait_said = TRUE;
      if (c->net_watch == NULL)
        c->net_watch = sh_net_watch_new (SH_CLIENT_NET_POLL_S, on_network_changed, c);
      return;
    }
  if (c->net_wait_said)
    sh_notice ("the network is back");
  g_main_loop_quit (c->loop);
}

static gboolean
on_retry_timer (gpointer data)
{
  Client *c = data;
  c->retry_timer = 0;
  on_network_changed (NULL, c);
  return G_SOURCE_REMOVE;
}

/* The session, or an attempt to restore it, ended and --reconnect is on.
 * Resets what it carried, takes the rules away unless --fail-closed, and
 * starts the backoff delay. FALSE when trying again cannot help: then
 * c->final_why says why the engine ends. */
static gboolean
session_lost (Client *c)
{
  gboolean was_up = c->ready;

  /* The connections it carried are reset, not left hanging; so is what
   * waits in the backlog. */
  if (c->dns)
    sh_dns_client_detach (c->dns);
  if (c->udp)
    sh_udp_tun_detach (c->udp);
  if (c->synq != NULL)
    sh_syn_queue_reset (c->synq);
  drop_lanes (c);
  g_clear_pointer (&c->session, sh_session_free);
  g_clear_pointer (&c->link, sh_ssh_link_free);
  refuse_backlog (c);
  c->routes_pending = FALSE;

  g_autofree char *why = transport_end_reason (c); /* reads c->ready */
  c->ready = FALSE;
  if (c->permanent)
    {
      c->final_why = g_steal_pointer (&why);
      return FALSE;
    }
  if (was_up)
    sh_backoff_session_ended (&c->backoff, g_get_monotonic_time () - c->connected_at);
  guint delay = sh_backoff_next (&c->backoff);
  if (was_up)
    sh_notice ("connection lost: %s; reconnecting in %u s", why, delay);
  else
    sh_notice ("attempt %u failed: %s; next attempt in %u s", c->attempt, why, delay);
  /* The applet counts down to the timer below (the same clock). */
  sh_control_set_reconnecting (c->control, why,
                               g_get_monotonic_time () + (gint64) delay * G_USEC_PER_SEC);

  if (!c->opts->fail_closed && c->fw)
    {
      g_autoptr (GError) error = NULL;
      gboolean had_rules = was_up;
      if (!sh_fw_client_remove_rules (c->fw, &error))
        sh_error ("cannot remove the firewall rules: %s", error->message);
      else if (had_rules)
        sh_notice ("firewall rules removed until the tunnel is back: traffic to the tunnelled "
                   "subnets takes the normal route meanwhile");
    }
  else if (was_up)
    sh_notice ("firewall rules kept (--fail-closed): connections to the tunnelled subnets are "
               "refused, and captured DNS answered SERVFAIL, until the tunnel is back");
  reset_transport (c);
  c->retry_timer = g_timeout_add (delay * 1000, on_retry_timer, c);
  return TRUE;
}

/* Runs the main loop through the backoff delay and, when no route leads to
 * the ssh server, until one does. FALSE when a signal (or Disconnect)
 * ended the engine meanwhile. */
static gboolean
wait_to_reconnect (Client *c)
{
  c->net_wait_said = FALSE;
  if (c->status != 0) /* a signal handled while the session was taken down ends it */
    g_main_loop_run (c->loop);
  g_clear_handle_id (&c->retry_timer, g_source_remove);
  g_clear_pointer (&c->net_watch, sh_net_watch_free);
  if (c->status == 0)
    return FALSE;
  c->attempt++;
  sh_notice ("reconnecting to %s (attempt %u)", c->server_desc, c->attempt);
  sh_control_set_reconnecting (c->control, NULL, 0); /* under way: nothing to count down */
  return TRUE;
}

/* -D: the parent waits until the tunnel is up (or failed) and exits with the
 * matching status; the child carries on in its own session. */
static int
daemonize (void)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    return -1;
  pid_t pid = fork ();
  if (pid < 0)
    return -1;
  if (pid > 0)
    {
      close (p[1]);
      char ok = 0;
      ssize_t n;
      do
        n = read (p[0], &ok, 1);
      while (n < 0 && errno == EINTR);
      _exit (n == 1 && ok == '0' ? 0 : 1);
    }
  close (p[0]);
  setsid ();
  return p[1];
}

static void
raise_fd_limit (void)
{
  struct rlimit rl;
  if (getrlimit (RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max)
    {
      rl.rlim_cur = rl.rlim_max;
      setrlimit (RLIMIT_NOFILE, &rl);
    }
}

/* ------------------------------------------------ set-up, run, tear-down */

/* What client_free() releases, whatever set-up reached. */
static void
client_init (Client *c)
{
  const ShOptions *opts = c->opts;
  c->subnets = g_array_new (FALSE, FALSE, sizeof (ShSubnet));
  g_array_append_vals (c->subnets, opts->subnets->data, opts->subnets->len);
  c->excludes = g_array_new (FALSE, FALSE, sizeof (ShSubnet));
  g_array_append_vals (c->excludes, opts->excludes->data, opts->excludes->len);
  c->server_addrs = g_array_new (FALSE, FALSE, sizeof (struct sockaddr_storage));
  c->hop_addrs = g_ptr_array_new_null_terminated (2, g_free, TRUE);
  sh_backoff_init (&c->backoff);
  c->hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  c->hosts_deferred = g_array_new (FALSE, FALSE, sizeof (DeferredHost));
  c->hosts_entries = g_ptr_array_new_with_free_func (g_free);
}

/* --dns: the nameservers whose queries we capture, as they are now: a
 * resolv.conf rewritten while we run (DHCP, a VPN) is not followed. */
static gboolean
set_up_dns (Client *c)
{
  const ShOptions *opts = c->opts;
  g_autoptr (GArray) ns = g_array_new (FALSE, TRUE, sizeof (ShOpen));
  if (opts->ns_hosts->len > 0)
    g_array_append_vals (ns, opts->ns_hosts->data, opts->ns_hosts->len);
  else
    {
      g_autofree char *text = NULL;
      if (g_file_get_contents ("/etc/resolv.conf", &text, NULL, NULL))
        sh_resolver_parse_all (text, 53, ns);
    }
  if (ns->len == 0)
    {
      sh_error ("--dns: /etc/resolv.conf names no nameserver; name them with --ns-hosts");
      c->status = 2;
      return FALSE;
    }
  c->dns_servers = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  for (guint i = 0; i < ns->len && c->dns_servers->len < SH_OPTIONS_MAX_NS; i++)
    {
      const ShOpen *o = &g_array_index (ns, ShOpen, i);
      ShSubnet sn = { .family = o->family, .prefix = o->family == AF_INET ? 32 : 128 };
      memcpy (sn.addr, o->addr, 16);
      g_autofree char *text = sh_subnet_to_string (&sn);
      sh_info ("capturing DNS to %s", text);
      g_array_append_val (c->dns_servers, sn);
    }
  return TRUE;
}

/* The ssh command, and the ssh server kept out of the tunnel. */
static gboolean
set_up_server (Client *c, char ***ssh_argv, GError **error)
{
  const ShOptions *opts = c->opts;
  if (!opts->remote)
    {
      c->server_desc = g_strdup ("the local server (test mode)");
      return TRUE;
    }
  if (!g_shell_parse_argv (opts->ssh_cmd, NULL, ssh_argv, error))
    {
      sh_error ("invalid --ssh-cmd '%s': %s", opts->ssh_cmd, (*error)->message);
      c->status = 2;
      return FALSE;
    }
  if (!exclude_ssh_server (opts, *ssh_argv, c->excludes, c->server_addrs, c->hop_addrs, &c->ciphers,
                           error))
    {
      sh_error ("%s", (*error)->message);
      c->status = 2;
      return FALSE;
    }
  c->server_desc = g_strdup (opts->remote);
  return TRUE;
}

/* Our status for the applet or NetworkManager, and the way to the firewall;
 * clears what crashed instances left. After daemonize(): the bus
 * connection's thread would not survive fork. */
static gboolean
set_up_control (Client *c, GError **error)
{
  const ShOptions *opts = c->opts;
  g_snprintf (c->instance, sizeof c->instance, "%d", (int) getpid ());
  /* Our status: to our controller under NetworkManager, else on the
   * user's session bus for the applet (when there is one). */
  c->control = sh_control_new (opts->control_fd, opts->control_fd < 0, on_signal, c, error);
  if (c->control == NULL)
    {
      sh_error ("cannot set up the control connection: %s", (*error)->message);
      return FALSE;
    }
  g_auto (GStrv) excludes = subnets_strv (opts->excludes);
  sh_control_set_info (c->control, opts->remote ? opts->remote : "",
                       (const char *const *) excludes);
  sh_control_set_ssh_addresses (c->control, (const char *const *) c->hop_addrs->pdata);
  sh_control_set_counters_func (c->control, read_counters, c);
  sh_control_set_state (c->control, SH_CONTROL_CONNECTING, NULL);
  if (opts->control_fd >= 0)
    /* The server's questions (a one-time code) go to our controller. */
    sh_askpass_set_peer (sh_control_get_connection (c->control));
  if (c->no_firewall)
    {
      sh_info ("no firewall rules: only %s enters the tunnel",
               opts->run_argv ? "the command (the preload library)" : "the SOCKS5 proxy");
      return TRUE;
    }
  if (opts->control_fd >= 0)
    /* Under NetworkManager: the rules go through our controller. */
    c->fw = sh_fw_client_new_for_peer (c->instance, sh_control_get_connection (c->control));
  else
    c->fw = sh_fw_client_new (c->instance, error);
  c->fw_cancel = g_cancellable_new ();
  if (!c->fw)
    {
      sh_error ("%s", (*error)->message);
      return FALSE;
    }
  sh_info ("firewall rules go %s", opts->control_fd >= 0 ? "through our controller"
                                   : sh_fw_client_uses_helper (c->fw)
                                       ? "through shuttle-firewall on the system bus"
                                       : "to nftables directly (no firewall helper)");
  int swept = sh_fw_client_sweep (c->fw, error);
  if (swept < 0)
    {
      sh_error ("cannot set up the firewall: %s", (*error)->message);
      return FALSE;
    }
  if (swept > 0)
    sh_notice ("removed firewall rules or /etc/hosts entries left by %d shuttle instance%s that no "
               "longer run%s",
               swept, swept == 1 ? "" : "s", "");
  return TRUE;
}

/* --socks: the endpoint, refusing nothing but warning about an address
 * other hosts can reach (the uid check still applies to local ones). */
static gboolean
set_up_socks (Client *c, GError **error)
{
  const ShOptions *opts = c->opts;
  ShOpen resolver = { .family = AF_UNSPEC, .port = 53 };
  guint8 a[16];

  if (opts->has_to_ns)
    resolver = opts->to_ns;
  c->socks = sh_socks_new (c->poll, opts->socks_addr, opts->socks_port, &resolver, error);
  if (c->socks == NULL)
    {
      sh_error ("%s", (*error)->message);
      c->status = 2;
      return FALSE;
    }
  if (opts->socks_addr && !(inet_pton (AF_INET, opts->socks_addr, a) == 1 && a[0] == 127)
      && !(inet_pton (AF_INET6, opts->socks_addr, a) == 1
           && memcmp (a, in6addr_loopback.s6_addr, 16) == 0))
    sh_error ("warning: the SOCKS5 proxy listens on %s, which is not a loopback address: other "
              "hosts can reach it, and their connections are refused only because their "
              "sockets are not found on this host",
              opts->socks_addr);
  return TRUE;
}

/* shuttle run: is the command one the preload library can reach? Said
 * before anything starts; the command runs anyway (a static program may
 * not need the tunnel, or its children may be dynamic). */
static gboolean
check_command (Client *c)
{
  const char *cmd = c->opts->run_argv[0];
  g_autofree char *path = NULL;
  ShExecKind kind = sh_launch_inspect (cmd, &path);

  if (path == NULL)
    {
      sh_error ("shuttle run: %s: command not found", cmd);
      c->status = 127;
      return FALSE;
    }
  if (kind == SH_EXEC_STATIC)
    sh_error ("warning: %s is statically linked: it never loads the preload library, so its "
              "connections do not enter the tunnel. Use --socks PORT with a program that can use "
              "a SOCKS5 proxy, or the full tunnel (shuttle without run, with the firewall helper)",
              path);
  else
    {
      struct stat st;

      if (stat (path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)))
        sh_error ("warning: %s is setuid or setgid: the loader ignores LD_PRELOAD for it, so its "
                  "connections do not enter the tunnel",
                  path);
    }
  return TRUE;
}

/* The preload library's way to us (shuttle run, and run --attach), a Unix
 * socket in a directory only we can enter. */
static gboolean
set_up_door (Client *c, GError **error)
{
  c->run_dir = g_dir_make_tmp ("shuttle-run-XXXXXX", error);
  if (c->run_dir == NULL)
    {
      sh_error ("%s", (*error)->message);
      return FALSE;
    }
  g_autofree char *path = g_build_filename (c->run_dir, "engine.sock", NULL);
  ShOpen resolver = { .family = AF_UNSPEC, .port = 53 };

  if (c->opts->has_to_ns)
    resolver = c->opts->to_ns;
  /* --dns: the command's getaddrinfo() asks us, and we ask the far side. */
  c->door = sh_socks_new_unix (c->poll, path, c->opts->dns ? &resolver : NULL, error);
  if (c->door == NULL)
    {
      sh_error ("%s", (*error)->message);
      return FALSE;
    }
  sh_control_set_door (c->control, path);
  return TRUE;
}

/* Everything before the first session. On failure it has said why and
 * c->status says how to exit. */
static gboolean
client_set_up (Client *c, char ***ssh_argv, GError **error)
{
  const ShOptions *opts = c->opts;
  gboolean preload = opts->run_argv != NULL && opts->scope == SH_SCOPE_NONE;
  c->no_firewall = preload
                   || (opts->socks && opts->subnets->len == 0 && !opts->auto_nets && !opts->dns
                       && !opts->auto_hosts);
  if (preload && !check_command (c))
    return FALSE;
  if (opts->scope != SH_SCOPE_NONE)
    {
      c->scope = sh_scope_new (error);
      if (c->scope == NULL)
        {
          sh_error ("%s", (*error)->message);
          c->status = 2;
          return FALSE;
        }
      sh_info ("run: the command's cgroup is %s (level %u)%s", sh_scope_nft_path (c->scope),
               sh_scope_nft_level (c->scope),
               opts->scope == SH_SCOPE_EXCLUDE ? ", kept out of the tunnel" : "");
    }
  /* run --dns captures nothing: the preload library asks the door. */
  if (opts->dns && !preload && !set_up_dns (c))
    return FALSE;
  if (!set_up_server (c, ssh_argv, error))
    return FALSE;
  if (opts->daemon)
    {
      c->daemon_fd = daemonize ();
      if (c->daemon_fd < 0)
        {
          sh_error ("cannot daemonize: %s", g_strerror (errno));
          return FALSE;
        }
    }
  if (!set_up_control (c, error))
    return FALSE;

  c->loop = g_main_loop_new (NULL, FALSE);
  c->err_line = g_string_new (NULL);
  c->poll = sh_poll_new (after_batch, c);
  if (!c->no_firewall && !setup_listeners (c, error))
    {
      sh_error ("%s", (*error)->message);
      return FALSE;
    }
  if (opts->socks && !set_up_socks (c, error))
    return FALSE;
  /* Every engine has the door, not only run's: shuttle run --attach (and
   * the applet) start programs through it. Only our uid gets in. Without
   * it only run itself cannot go on. */
  if (!set_up_door (c, error) && preload)
    return FALSE;
  g_clear_error (error);
  c->signals[0] = g_unix_signal_add (SIGINT, on_signal, c);
  c->signals[1] = g_unix_signal_add (SIGTERM, on_signal, c);
  c->signals[2] = g_unix_signal_add (SIGHUP, on_signal, c);
  return TRUE;
}

/* Kept until the end of tear-down, as before the split: without a source
 * for it, SIGINT or SIGTERM would kill us while the rules are removed. */
static void
remove_signals (Client *c)
{
  for (guint i = 0; i < G_N_ELEMENTS (c->signals); i++)
    g_clear_handle_id (&c->signals[i], g_source_remove);
}

/* --transport=ssh: the master answers, and ssh has said what the server
 * thinks of forwarding (the link's probe). */
static void remove_ctl_dir (Client *c);

static void
on_link_ready (ShSshLink *link, gpointer data)
{
  Client *c = data;
  remove_ctl_dir (c);         /* the link holds the socket from now on */
  drain_transport_stderr (c); /* ssh wrote why before it answered */
  if (c->fwd_prohibited)
    {
      c->failure = g_strdup_printf (
          "%s does not allow TCP forwarding (sshd_config AllowTcpForwarding no, or "
          "no-port-forwarding/restrict or a PermitOpen list in authorized_keys), which "
          "--transport=ssh needs: allow it for this account, or use --transport=agent",
          c->server_desc);
      c->permanent = TRUE;
      c->status = 1;
      g_main_loop_quit (c->loop);
      return;
    }
  g_strlcpy (c->peer_name, "ssh's own forwarding", sizeof c->peer_name);
  apply_firewall (c);
}

static void
on_link_lost (ShSshLink *link, const char *why, gpointer data)
{
  Client *c = data;
  if (!c->failure)
    c->failure = g_strdup (why);
  c->status = 1;
  g_main_loop_quit (c->loop);
}

#define SH_CLIENT_CTL_PREFIX "shuttle-ssh-"

/* Directories of masters whose engine was killed while ssh was logging in
 * (afterwards the link holds the socket and the directory is gone): named
 * after the engine's pid, removed once no such process runs. */
static void
sweep_ctl_dirs (void)
{
  const char *tmp = g_get_tmp_dir ();
  g_autoptr (GDir) dir = g_dir_open (tmp, 0, NULL);
  const char *name;
  while (dir && (name = g_dir_read_name (dir)))
    {
      if (!g_str_has_prefix (name, SH_CLIENT_CTL_PREFIX))
        continue;
      char *end;
      gulong pid = strtoul (name + strlen (SH_CLIENT_CTL_PREFIX), &end, 10);
      if (*end != '-' || pid == 0 || pid > G_MAXINT)
        continue;
      if (kill ((pid_t) pid, 0) == 0 || errno != ESRCH)
        continue; /* it runs (perhaps as another user) */
      g_autofree char *path = g_build_filename (tmp, name, NULL);
      struct stat st;
      if (lstat (path, &st) < 0 || !S_ISDIR (st.st_mode) || st.st_uid != geteuid ())
        continue;
      g_autofree char *ctl = g_build_filename (path, "ctl", NULL);
      unlink (ctl);
      rmdir (path);
    }
}

static void
remove_ctl_dir (Client *c)
{
  if (!c->ctl_dir)
    return;
  g_autofree char *ctl = g_build_filename (c->ctl_dir, "ctl", NULL);
  unlink (ctl);
  rmdir (c->ctl_dir);
  g_clear_pointer (&c->ctl_dir, g_free);
}

/* The master's private (0700) directory, a new one per session: the link
 * holds the socket once the master is up, and on_link_ready() removes both. */
static gboolean
make_ctl_dir (Client *c, GError **error)
{
  remove_ctl_dir (c);
  sweep_ctl_dirs ();
  g_autofree char *tmpl = g_strdup_printf (SH_CLIENT_CTL_PREFIX "%d-XXXXXX", (int) getpid ());
  c->ctl_dir = g_dir_make_tmp (tmpl, error); /* mode 0700 */
  return c->ctl_dir != NULL;
}

/* Starts ssh (or the local server) and a session over it; in ssh mode, the
 * control master and the link to it. */
static gboolean
start_session (Client *c, char **ssh_argv, GBytes *agent, GError **error)
{
  int in_fd = -1, out_fd = -1;
  if (c->ssh_mode)
    {
      if (!make_ctl_dir (c, error))
        return FALSE;
      g_autofree char *ctl = g_build_filename (c->ctl_dir, "ctl", NULL);
      if (!start_transport (c, ssh_argv, &in_fd, &out_fd, error))
        return FALSE;
      close (in_fd); /* -N: ssh reads and writes nothing there */
      close (out_fd);
      c->session_gen++;
      c->link = sh_ssh_link_new (c->poll, ctl, SH_CLIENT_SSH_MAX_FORWARDS, on_link_ready,
                                 on_link_lost, c);
      return TRUE;
    }
  if (c->opts->remote && c->opts->lanes > 1 && !make_ctl_dir (c, error))
    return FALSE;
  if (!start_transport (c, ssh_argv, &in_fd, &out_fd, error))
    return FALSE;
  ShSessionConfig cfg;
  sh_session_config_init (&cfg, SH_ROLE_CLIENT);
  cfg.connect_timeout_ms = c->opts->connect_timeout_ms;
  /* A download's credit covers what the lanes' windows let through. */
  cfg.channel_window = SH_LANES_SSH_WINDOW * c->opts->lanes;
  /* Version 3 adds only lanes, and a version-3 server offers them to every
   * version-3 client: a loopback listener on the server for 15 s that a
   * client without lanes would never use. */
  if (c->opts->lanes <= 1)
    cfg.version_max = SH_MUX_VERSION_LANES - 1;
  if (!c->opts->latency_control)
    cfg.inflight_limit = 0;
  cfg.bootstrap = c->choice == SH_SERVER_CMD ? NULL : agent;
  c->session_gen++;
  c->session = sh_session_new (&cfg, c->poll, in_fd, out_fd, on_ready, on_closed, c);
  sh_session_flush (c->session);
  return TRUE;
}

/* --transport=auto: the first session ended before its handshake because
 * the server ran no server of ours (command="/bin/false", a nologin shell,
 * no python), and ssh itself logged in fine: then ssh's own forwarding may
 * carry the tunnel, unless the options need a server. */
static gboolean
may_fall_back (Client *c)
{
  const ShOptions *opts = c->opts;
  if (opts->transport != SH_TRANSPORT_AUTO || c->ssh_mode || c->ever_connected || c->ready
      || !opts->remote || opts->server_cmd || opts->python)
    return FALSE;
  wait_transport (c, 1000);
  drain_transport_stderr (c);
  if (!c->transport_done || !g_subprocess_get_if_exited (c->transport)
      || g_subprocess_get_exit_status (c->transport) == 255)
    return FALSE; /* killed, or ssh's own failure (login, network): not the server's program */
  g_autofree char *ssh_why = sh_ssh_diag_explain (&c->ssh_diag);
  if (ssh_why != NULL)
    return FALSE;
  const char *conflict = sh_options_ssh_transport_conflict (opts);
  if (conflict != NULL)
    {
      sh_notice ("not falling back to ssh's own forwarding: %s", conflict);
      return FALSE;
    }
  return TRUE;
}

/* Runs sessions until the engine ends: a signal, a failure, or --reconnect
 * giving up. Returns FALSE when a transport could not even start: then
 * there is nothing to tear down beyond what client_free() does. */
static gboolean
client_run (Client *c, char **ssh_argv, GError **error)
{
  const ShOptions *opts = c->opts;
  c->choice = sh_bootstrap_choice (opts);
  c->ssh_mode = opts->transport == SH_TRANSPORT_SSH;
  g_autoptr (GBytes) agent = sh_bootstrap_agent_payload ();
  for (;;)
    {
      if (!start_session (c, ssh_argv, agent, error))
        {
          sh_error ("cannot start %s: %s", opts->remote ? "ssh" : "the local server",
                    (*error)->message);
          remove_signals (c);
          return FALSE;
        }
      c->status = 1;
      g_main_loop_run (c->loop);
      if (c->retry_agent)
        {
          /* Once more, the same way but with the agent (one more ssh login). */
          c->retry_agent = FALSE;
          c->choice = SH_SERVER_AGENT;
          drop_lanes (c);
          g_clear_pointer (&c->session, sh_session_free);
          reset_transport (c);
          continue;
        }
      if (c->status != 0 && may_fall_back (c))
        {
          sh_notice ("%s cannot run Shuttle's server (%s); carrying the tunnel over ssh's own "
                     "TCP forwarding instead (--transport=ssh)",
                     c->server_desc, c->failure ? c->failure : "ssh ended");
          drop_lanes (c);
          g_clear_pointer (&c->session, sh_session_free);
          reset_transport (c);
          c->ssh_mode = TRUE;
          continue;
        }
      /* The very first session failing ends the engine even with
       * --reconnect: a typo in the host name should not loop. */
      if (c->status == 0 || !opts->reconnect || !c->ever_connected)
        return TRUE;
      if (!session_lost (c) || !wait_to_reconnect (c))
        return TRUE;
    }
}

/* Tear down in the order that loses nothing. The tunnel's connections
 * are reset, and the listeners closed (which resets what waits in their
 * backlog), while the rules still exist: once the last nat chain is gone
 * the kernel no longer translates the replies of redirected connections,
 * and applications would wait forever for an end that cannot reach them.
 * A connection attempt in between is refused, never sent in the clear.
 * Under --transport=ssh the ssh master holds the connections' sockets
 * (we passed them): it too must end before the rules do. Closing our end
 * of its control connections is not enough, the master closes the sockets
 * in its own time (seen: an application left hanging after a SIGTERM). */
static void
client_tear_down (Client *c)
{
  g_autoptr (GError) fw_error = NULL;
  g_clear_pointer (&c->udp, sh_udp_tun_free);
  g_clear_pointer (&c->dns, sh_dns_client_free);
  g_clear_pointer (&c->socks, sh_socks_free);
  g_clear_pointer (&c->door, sh_socks_free);
  drop_lanes (c);
  g_clear_pointer (&c->session, sh_session_free);
  g_clear_pointer (&c->link, sh_ssh_link_free);
  for (int i = 0; i < c->n_listeners; i++)
    {
      sh_poll_remove (c->poll, c->listeners[i].fd);
      close (c->listeners[i].fd);
      c->listeners[i].fd = -1;
    }
  /* (On a failure ssh's own exit status explains it, below: not ours.) */
  if (c->ssh_mode && c->status == 0)
    stop_transport (c);
  g_cancellable_cancel (c->fw_cancel);
  if (c->fw && !sh_fw_client_remove (c->fw, &fw_error))
    sh_error ("cannot remove the firewall rules: %s", fw_error->message);
  g_clear_pointer (&c->synq, sh_syn_queue_free);
  g_clear_handle_id (&c->hosts_timer, g_source_remove);
  g_clear_error (&fw_error);
  if (c->opts->auto_hosts && c->hosts_entries->len > 0)
    {
      g_ptr_array_set_size (c->hosts_entries, 0);
      if (!sh_fw_client_set_hosts (c->fw, c->hosts_entries, &fw_error))
        sh_error ("cannot remove our names from /etc/hosts: %s", fw_error->message);
    }

  if (c->status != 0 && c->final_why)
    {
      sh_error ("cannot reconnect: %s", c->final_why);
      sh_control_set_state (c->control, SH_CONTROL_FAILED, c->final_why);
    }
  else if (c->status != 0)
    {
      g_autofree char *why = explain_transport_end (c);
      drain_transport_stderr (c);
      g_autofree char *ssh_why = sh_ssh_diag_explain (&c->ssh_diag);
      sh_error ("%s", ssh_why ? ssh_why : why);
      sh_control_set_state (c->control, SH_CONTROL_FAILED, ssh_why ? ssh_why : why);
    }
  remove_signals (c);
  stop_transport (c);
}

/* Releases whatever set-up reached; @error: why set-up failed, if it did. */
static void
client_free (Client *c, const GError *error)
{
  if (c->fw)
    sh_fw_client_remove (c->fw, NULL); /* nothing applied: nothing done */
  g_clear_pointer (&c->fw, sh_fw_client_free);
  if (c->status != 0 && c->loop == NULL)
    sh_control_set_state (c->control, SH_CONTROL_FAILED,
                          error ? error->message : "the engine could not start");
  g_clear_pointer (&c->control, sh_control_free);
  sh_ssh_diag_clear (&c->ssh_diag);
  g_clear_object (&c->fw_cancel);
  for (int i = 0; i < c->n_listeners; i++)
    if (c->listeners[i].fd >= 0)
      close (c->listeners[i].fd);
  if (c->daemon_fd < 0 && c->opts->daemon && c->opts->pidfile && c->ever_connected)
    unlink (c->opts->pidfile);
  if (c->daemon_fd >= 0)
    close (c->daemon_fd); /* the waiting parent exits 1 */
  if (c->err_fd >= 0)
    close (c->err_fd);
  if (c->err_line)
    g_string_free (c->err_line, TRUE);
  g_clear_object (&c->transport);
  g_clear_pointer (&c->link, sh_ssh_link_free);
  remove_ctl_dir (c);
  g_clear_handle_id (&c->hosts_timer, g_source_remove);
  g_clear_pointer (&c->udp, sh_udp_tun_free);
  g_clear_pointer (&c->dns, sh_dns_client_free);
  g_clear_pointer (&c->socks, sh_socks_free);
  g_clear_pointer (&c->door, sh_socks_free);
  g_clear_pointer (&c->scope, sh_scope_free);
  if (c->run_dir)
    rmdir (c->run_dir);
  g_free (c->run_dir);
  g_clear_object (&c->command);
  g_clear_pointer (&c->poll, sh_poll_free);
  g_clear_pointer (&c->loop, g_main_loop_unref);
  g_array_unref (c->subnets);
  g_array_unref (c->excludes);
  g_array_unref (c->server_addrs);
  g_ptr_array_unref (c->hop_addrs);
  g_clear_pointer (&c->dns_servers, g_array_unref);
  g_hash_table_unref (c->hosts);
  g_array_unref (c->hosts_deferred);
  g_clear_pointer (&c->hosts_taken, g_hash_table_unref);
  g_ptr_array_unref (c->hosts_entries);
  g_free (c->server_desc);
  g_free (c->ciphers);
  g_free (c->failure);
  g_free (c->final_why);
}

int
sh_client_run (const ShOptions *opts)
{
  g_autoptr (GError) error = NULL;
  Client c = { .opts = opts, .daemon_fd = -1, .err_fd = -1, .status = 1, .command_status = -1 };
  g_auto (GStrv) ssh_argv = NULL;

  /* Thousands of connections each need a descriptor. */
  raise_fd_limit ();
  client_init (&c);
  if (client_set_up (&c, &ssh_argv, &error) && client_run (&c, ssh_argv, &error))
    client_tear_down (&c);
  client_free (&c, error);
  /* shuttle run: the command's status is ours. */
  return c.command_status >= 0 ? c.command_status : c.status;
}
