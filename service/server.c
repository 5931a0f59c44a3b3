/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

#include "dgramrelay.h"
#include "dnsrelay.h"
#include "hostwatch.h"
#include "lanes.h"
#include "log.h"
#include "routes.h"
#include "session.h"

typedef struct
{
  GMainLoop *loop;
  ShSession *session;
  ShDnsRelay *dns;
  ShDgramRelay *dgrams;
  ShHostWatch *hosts;
  ShLaneServer *lanes;
  ShPoll *poll;
  int status;
} Server;

/* -N: the networks this machine routes, read when asked. */
static void
on_routes_get (ShSession *session, gpointer data)
{
  g_autoptr (GArray) routes = sh_routes_read ();
  sh_session_send_routes (session, (const ShRoute *) routes->data, routes->len);
}

/* -H: the session allows one HOSTS_WATCH. */
static void
on_hosts_watch (ShSession *session, const char *seeds, gsize len, gpointer data)
{
  Server *srv = data;
  if (srv->hosts == NULL)
    srv->hosts = sh_host_watch_new (session, seeds, len);
}

static void
on_dns_query (ShSession *session, guint32 id, const ShOpen *resolver, const guint8 *msg, gsize len,
              gpointer data)
{
  Server *srv = data;
  sh_dns_relay_query (session, id, resolver, msg, len, srv->dns);
}

static void
on_dgram (ShSession *session, guint32 assoc, const ShDgram *dgram, gpointer data)
{
  Server *srv = data;
  sh_dgram_relay_dgram (session, assoc, dgram, srv->dgrams);
}

static void
on_dgram_close (ShSession *session, guint32 assoc, ShDgramCloseReason reason, int err,
                gpointer data)
{
  Server *srv = data;
  sh_dgram_relay_closed (session, assoc, reason, err, srv->dgrams);
}

static void
after_batch (gpointer data)
{
  Server *srv = data;
  if (srv->session)
    sh_session_flush (srv->session);
  /* After the session's flush, which may read frames it held back. */
  if (srv->dgrams)
    sh_dgram_relay_flush (srv->dgrams);
}

static void
on_ready (ShSession *session, const ShHello *peer, gpointer data)
{
  Server *srv = data;
  sh_info ("client %s connected (protocol %u)", peer->name, sh_session_get_version (session));
  /* More ssh channels for the client, if it wants them (lanes.h). */
  srv->lanes = sh_lane_server_new (srv->poll, session, SH_MUX_MAX_LANES - 1);
}

/* The client chose its lanes: no more connections to the port. */
static void
on_bonded (ShSession *session, guint n_lanes, gpointer data)
{
  Server *srv = data;
  sh_info ("the session runs over %u ssh channels", n_lanes);
  g_clear_pointer (&srv->lanes, sh_lane_server_free);
}

static void
on_closed (ShSession *session, const GError *error, gpointer data)
{
  Server *srv = data;
  if (error)
    {
      sh_error ("%s", error->message);
      srv->status = 1;
    }
  g_main_loop_quit (srv->loop);
}

/* Test-only knobs (HACKING.md, "Test-only environment"): a positive
 * number from the environment, or @fallback. */
static guint
test_knob (const char *name, guint fallback)
{
  const char *v = g_getenv (name);
  guint64 n;
  if (v == NULL || !g_ascii_string_to_unsigned (v, 10, 1, G_MAXUINT, &n, NULL))
    return fallback;
  return (guint) n;
}

/* Associations and channels are sockets: use what the hard limit allows. */
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

int
sh_server_run (const ShOptions *opts)
{
  Server srv = { .status = 0 };
  ShSessionConfig cfg;

  sh_session_config_init (&cfg, SH_ROLE_SERVER);
  /* Credit for the client's uploads: OpenSSH's 2 MiB window for each lane
   * the client may use (client.c grants the same for downloads). */
  cfg.channel_window = SH_LANES_SSH_WINDOW * SH_MUX_MAX_LANES;
  /* The in-flight limit toward the client comes in the client's HELLO. */
  /* An "old server" for the e2e suite: version 1 only. */
  cfg.version_max = MIN (test_knob ("SHUTTLE_TEST_PROTOCOL_MAX", SH_MUX_VERSION), SH_MUX_VERSION);
  raise_fd_limit ();

  /* stdout carries the mux: nothing else may ever be written there. */
  int in_fd = dup (STDIN_FILENO), out_fd = dup (STDOUT_FILENO);
  if (in_fd < 0 || out_fd < 0)
    {
      sh_error ("cannot use stdin/stdout: %s", g_strerror (errno));
      return 1;
    }
  int devnull = open ("/dev/null", O_RDWR | O_CLOEXEC);
  if (devnull >= 0)
    {
      dup2 (devnull, STDIN_FILENO);
      dup2 (devnull, STDOUT_FILENO);
      close (devnull);
    }

  srv.loop = g_main_loop_new (NULL, FALSE);
  g_autoptr (ShPoll) poll = sh_poll_new (after_batch, &srv);
  srv.poll = poll;
  srv.session = sh_session_new (&cfg, poll, in_fd, out_fd, on_ready, on_closed, &srv);
  srv.dns = sh_dns_relay_new (poll, srv.session);
  srv.dgrams = sh_dgram_relay_new (
      poll, srv.session, test_knob ("SHUTTLE_TEST_DGRAM_IDLE_MS", SH_MUX_DGRAM_IDLE_S * 1000),
      SH_MUX_MAX_ASSOCS);
  ShSessionExtras extras = {
    .dns_query = on_dns_query,
    .routes_get = on_routes_get,
    .hosts_watch = on_hosts_watch,
    .dgram = on_dgram,
    .dgram_close = on_dgram_close,
    .bonded = on_bonded,
  };
  sh_session_set_extras (srv.session, &extras, &srv);
  sh_session_flush (srv.session);
  g_main_loop_run (srv.loop);

  /* Before the session: both send through it. */
  g_clear_pointer (&srv.lanes, sh_lane_server_free);
  g_clear_pointer (&srv.hosts, sh_host_watch_free);
  g_clear_pointer (&srv.dns, sh_dns_relay_free);
  g_clear_pointer (&srv.dgrams, sh_dgram_relay_free);
  g_clear_pointer (&srv.session, sh_session_free);
  g_main_loop_unref (srv.loop);
  return srv.status;
}
