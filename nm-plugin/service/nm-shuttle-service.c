/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-service — the NetworkManager VPN service plugin for Shuttle.
 *
 * NetworkManager starts it (as root) per connection. On Connect it validates
 * vpn.data against the whitelist (nm-plugin/shared/), resolves who the
 * engine runs as, makes the connection's own link (tun) and stub address,
 * and starts `shuttle` as that user with:
 *   --control-fd 3  a socketpair: peer-to-peer D-Bus. The engine reports its
 *                   state (io.github.shuttlevpn.Engine1); we export
 *                   io.github.shuttlevpn.Firewall1 to it, check each request
 *                   against the profile and forward it to shuttle-firewall
 *                   (nm-shuttle-fwproxy.c)
 *   --secret-fd 4   a pipe holding the password or key passphrase, when the
 *                   profile has one (service/askpass.h says how ssh gets it)
 * On the same connection we serve io.github.shuttlevpn.Prompt1: the server's
 * other questions (a one-time code) go to the user through NetworkManager's
 * secret agent, and the answer back to the engine, stored nowhere.
 * When the engine says "connected" we report Config and Ip4Config/Ip6Config.
 * When it ends we reconnect (vpn.persistent) or fail with its reason.
 */
#include "config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <locale.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <NetworkManager.h>
#include <glib-unix.h>
#include <glib/gi18n-lib.h>
#include <glib/gstdio.h>

#include "hostkey.h"
#include "nm-shuttle-data.h"
#include "nm-shuttle-export.h"
#include "nm-shuttle-fwproxy.h"
#include "nm-shuttle-link.h"
#include "nm-shuttle-user.h"
#include "prompt-iface.h"
#include "shuttle-dbus.h"

#define NM_BUS_NAME "org.freedesktop.NetworkManager"
#define NM_DBUS_SERVICE_SHUTTLE SH_NM_SERVICE_TYPE
#define RUN_DIR "/run/nm-shuttle"
/* NetworkManager gives up on a plugin after 60 s; we give up first, with a
 * reason. */
#define CONNECT_TIMEOUT_S 50
#define BACKOFF_MAX_S 30

#define SH_TYPE_NM_PLUGIN (sh_nm_plugin_get_type ())
G_DECLARE_FINAL_TYPE (ShNmPlugin, sh_nm_plugin, SH, NM_PLUGIN, NMVpnServicePlugin)

struct _ShNmPlugin
{
  NMVpnServicePlugin parent;

  char *label;   /* "nm<N>" from our bus name: unique among running plugins */
  guint seed;    /* N: where the stub addresses start */
  gboolean busy; /* between Connect and the end of the tear-down */
  gboolean stopping;

  char *name; /* the connection's id, for messages */
  ShNmProfile *profile;
  gboolean persistent;
  uid_t uid;
  gid_t gid;
  gboolean system_wide; /* no owner: no ssh-agent is handed over */
  char *user;
  char *home;
  gid_t *groups;
  int n_groups;
  char *secret;
  gsize secret_len;
  char *rundir;
  char *known_hosts;
  gboolean interactive; /* ConnectInteractive: we may ask through the agent */
  char *offered_key;    /* an unknown server's key, awaiting the user's answer */
  guint ask_idle;
  guint prompt_reg;                /* Prompt1 on the engine's connection */
  GDBusMethodInvocation *question; /* the server's question, awaiting the user */
  char *answer_name;               /* the secret its answer comes in */

  ShNmLink link;
  guint32 stub4;
  struct in6_addr stub6;
  gboolean has_ip6;
  GVariant *gateway; /* u (IPv4) or ay (IPv6): where ssh connects (on_ssh_addresses) */

  GCancellable *cancel; /* peer set-up, calls to the engine: per engine run */
  GPid engine;
  guint child_watch;
  GDBusConnection *peer;
  guint state_sub;
  ShNmFwProxy *fw;
  ShNmExport *export; /* the engine's status on the system bus, for the applet */
  gboolean engine_connected;
  gboolean ever_connected;
  char *engine_failure;
  char *ac_path;   /* our VPN active connection in NetworkManager */
  guint ac_sub;    /* its VpnStateChanged */
  guint nm_reason; /* the reason of its last change to failed or disconnected */
  guint connect_timer;
  guint retry_timer; /* the engine's next start: the first, or after a backoff */
  guint backoff_s;
};

G_DEFINE_TYPE (ShNmPlugin, sh_nm_plugin, NM_TYPE_VPN_SERVICE_PLUGIN)

static GMainLoop *main_loop;

static void teardown (ShNmPlugin *self);
static void start_engine (ShNmPlugin *self);
static void drop_question (ShNmPlugin *self, const char *why);

/* ------------------------------------------------------------ helpers */

static void
wipe_secret (ShNmPlugin *self)
{
  if (self->secret != NULL)
    explicit_bzero (self->secret, self->secret_len);
  g_clear_pointer (&self->secret, g_free);
  self->secret_len = 0;
}

/* Fails the connection with @reason; NetworkManager logs our message. */
static void
fail (ShNmPlugin *self, NMVpnPluginFailure reason, const char *msg)
{
  if (self->stopping || !self->busy)
    return;
  g_warning ("%s: %s", self->name ? self->name : "connection", msg);
  nm_vpn_service_plugin_failure (NM_VPN_SERVICE_PLUGIN (self), reason);
  nm_vpn_service_plugin_disconnect (NM_VPN_SERVICE_PLUGIN (self), NULL);
}

static GHashTable *
vpn_data (NMSettingVpn *s_vpn)
{
  GHashTable *t = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  guint n = 0;
  const char **keys = nm_setting_vpn_get_data_keys (s_vpn, &n);

  for (guint i = 0; i < n; i++)
    g_hash_table_insert (t, g_strdup (keys[i]),
                         g_strdup (nm_setting_vpn_get_data_item (s_vpn, keys[i])));
  g_free (keys);
  return t;
}

static ShNmProfile *
profile_of (NMConnection *connection, GError **error)
{
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);
  g_autoptr (GHashTable) data = NULL;
  g_autoptr (GError) local = NULL;
  ShNmProfile *p;

  if (s_vpn == NULL)
    {
      g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_INVALID_CONNECTION,
                           _ ("the connection has no VPN setting"));
      return NULL;
    }
  data = vpn_data (s_vpn);
  p = sh_nm_profile_new (data, &local);
  if (p == NULL)
    g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                 _ ("invalid Shuttle profile: %s"), local->message);
  return p;
}

/* The administrator's allow-list, or NULL (nobody) when it is absent or
 * cannot be trusted: a file anyone but root could write would let them
 * choose whose ssh identity a system-wide profile uses. *@note says why it
 * was ignored. */
static char **
allowed_users (const char *path, char **note)
{
  g_autofree char *dir = g_path_get_dirname (path);
  g_autofree char *text = NULL;
  g_autoptr (GError) error = NULL;
  struct stat st;
  char **names;
  int fd;
  gsize len = 0;

  *note = NULL;
  fd = open (path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0)
    {
      /* Absent: nobody is allowed, and that is no news. */
      if (errno != ENOENT)
        {
          /* TRANSLATORS: a configuration file that was not used, and why */
          *note = g_strdup_printf (_ ("ignored: %s: %s"), path, g_strerror (errno));
          g_warning ("%s", *note);
        }
      return NULL;
    }
  if (fstat (fd, &st) < 0)
    error = g_error_new (G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", path,
                         g_strerror (errno));
  else if (sh_nm_admin_file_check (path, st.st_uid, st.st_mode, FALSE, &error)
           && st.st_size > SH_NM_USERS_FILE_MAX)
    error = g_error_new (G_FILE_ERROR, G_FILE_ERROR_FAILED, _ ("%s is larger than %d bytes"), path,
                         SH_NM_USERS_FILE_MAX);
  if (error == NULL && stat (dir, &st) < 0)
    error = g_error_new (G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", dir,
                         g_strerror (errno));
  if (error == NULL)
    sh_nm_admin_file_check (dir, st.st_uid, st.st_mode, TRUE, &error);
  if (error == NULL)
    {
      text = g_malloc0 (SH_NM_USERS_FILE_MAX + 1);
      ssize_t n = read (fd, text, SH_NM_USERS_FILE_MAX);
      if (n < 0)
        error = g_error_new (G_FILE_ERROR, g_file_error_from_errno (errno), "%s: %s", path,
                             g_strerror (errno));
      len = n > 0 ? (gsize) n : 0;
    }
  close (fd);
  if (error == NULL)
    {
      text[len] = '\0';
      names = sh_nm_allowed_users_parse (text, &error);
      if (names != NULL)
        return names;
      g_prefix_error (&error, "%s: ", path);
    }
  *note = g_strdup_printf (_ ("ignored: %s"), error->message);
  g_warning ("%s", *note);
  return NULL;
}

static const char *
users_file (void)
{
  /* Set by whoever starts us (root): test harnesses, like NM_SHUTTLE_ENGINE. */
  const char *e = g_getenv ("NM_SHUTTLE_USERS_FILE");
  return e != NULL && e[0] == '/' ? e : SH_NM_USERS_FILE;
}

/* Who the engine runs as (nm-shuttle-user.h has the rule): the profile's
 * owner, or for a system-wide profile (*@system_wide) an account the
 * administrator allowed. Never root, never a system account: the engine
 * parses bytes from the network, and runs with this account's ssh
 * identity. */
static struct passwd *
local_user_of (NMConnection *connection, const ShNmProfile *p, gboolean *system_wide,
               GError **error)
{
  NMSettingConnection *s_con = nm_connection_get_setting_connection (connection);
  g_autoptr (GPtrArray) owners = g_ptr_array_new ();
  g_autoptr (GError) local = NULL;
  g_autofree char *login_defs = NULL;
  g_autofree char *note = NULL;
  g_auto (GStrv) allowed = NULL;
  const char *name;
  struct passwd *pw;
  ShNmAccount account;

  for (guint i = 0; s_con && i < nm_setting_connection_get_num_permissions (s_con); i++)
    {
      const char *type = NULL, *item = NULL;
      if (nm_setting_connection_get_permission (s_con, i, &type, &item, NULL)
          && g_strcmp0 (type, "user") == 0)
        g_ptr_array_add (owners, (gpointer) item);
    }
  g_ptr_array_add (owners, NULL);
  name = sh_nm_engine_user_name ((const char *const *) owners->pdata, p->local_user, system_wide,
                                 &local);
  if (name == NULL)
    goto refused;
  errno = 0;
  pw = getpwnam (name);
  if (pw == NULL)
    {
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                   _ ("no local user '%s'"), name);
      return NULL;
    }
  g_file_get_contents (SH_NM_LOGIN_DEFS, &login_defs, NULL, NULL);
  if (*system_wide)
    allowed = allowed_users (users_file (), &note);
  account.name = pw->pw_name;
  account.uid = pw->pw_uid;
  account.shell = pw->pw_shell;
  if (sh_nm_engine_user_check (&account, *system_wide, sh_nm_login_defs_uid_min (login_defs),
                               (const char *const *) allowed, users_file (), &local))
    return pw;
  if (note != NULL && g_error_matches (local, SH_NM_USER_ERROR, SH_NM_USER_ERROR_NOT_ALLOWED))
    {
      /* TRANSLATORS: the reason the account was refused; then why the
       * administrator's allow-list file was not used */
      g_autofree char *m = g_strdup_printf (_ ("%s; the file was %s"), local->message, note);
      g_free (local->message);
      local->message = g_steal_pointer (&m);
    }

refused:
  g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                       local->message);
  return NULL;
}

static gboolean
set_user (ShNmPlugin *self, struct passwd *pw, GError **error)
{
  int n = 64;

  self->uid = pw->pw_uid;
  self->gid = pw->pw_gid;
  self->user = g_strdup (pw->pw_name);
  self->home = g_strdup (pw->pw_dir);
  /* Computed here: initgroups() is not safe between fork and exec. */
  self->groups = g_new (gid_t, n);
  if (getgrouplist (pw->pw_name, pw->pw_gid, self->groups, &n) < 0)
    {
      self->groups = g_renew (gid_t, self->groups, n);
      if (getgrouplist (pw->pw_name, pw->pw_gid, self->groups, &n) < 0)
        {
          g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_LAUNCH_FAILED,
                       _ ("cannot list the groups of '%s'"), pw->pw_name);
          return FALSE;
        }
    }
  self->n_groups = n;
  return TRUE;
}

/* Runs in the child between fork and exec: async-signal-safe calls only. */
static void
drop_privileges (gpointer data)
{
  ShNmPlugin *self = data;

  if (setgroups (self->n_groups, self->groups) < 0 || setgid (self->gid) < 0
      || setuid (self->uid) < 0 || setuid (0) == 0)
    _exit (126);
  if (chdir (self->home) < 0 && chdir ("/") < 0)
    _exit (126);
}

/* ssh-agent: only a socket the user owns, never one root found elsewhere. */
static char *
agent_socket (ShNmPlugin *self)
{
  static const char *const names[]
      = { "openssh_agent", "gcr/ssh", "keyring/ssh", "ssh-agent.socket" };
  for (guint i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_strdup_printf ("/run/user/%u/%s", (unsigned) self->uid, names[i]);
      struct stat st;
      if (lstat (path, &st) == 0 && S_ISSOCK (st.st_mode) && st.st_uid == self->uid)
        return g_steal_pointer (&path);
    }
  return NULL;
}

static void
env_add (GStrvBuilder *b, const char *name, const char *value)
{
  g_autofree char *kv = g_strconcat (name, "=", value, NULL);
  g_strv_builder_add (b, kv);
}

static char **
engine_env (ShNmPlugin *self)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();
  g_autofree char *runtime = g_strdup_printf ("/run/user/%u", (unsigned) self->uid);
  g_autofree char *agent = agent_socket (self);
  struct stat st;

  /* A clean environment: nothing of root's or NetworkManager's. (GLib 2.74
   * has no g_strv_builder_take.) */
  env_add (b, "HOME", self->home);
  env_add (b, "USER", self->user);
  env_add (b, "LOGNAME", self->user);
  g_strv_builder_add (b, "PATH=/usr/local/bin:/usr/bin:/bin");
  g_strv_builder_add (b, "LANG=C.UTF-8");
  if (stat (runtime, &st) == 0 && S_ISDIR (st.st_mode) && st.st_uid == self->uid)
    env_add (b, "XDG_RUNTIME_DIR", runtime);
  /* A system-wide profile runs as an account the administrator allowed, but
   * whoever activates it is not that account: its agent stays its own. */
  if (agent != NULL && self->profile->auth != SH_NM_AUTH_PASSWORD && !self->system_wide)
    env_add (b, "SSH_AUTH_SOCK", agent);
  return g_strv_builder_end (b);
}

static const char *
engine_program (void)
{
  /* Set by whoever starts us (root): test harnesses, a build tree. */
  const char *e = g_getenv ("NM_SHUTTLE_ENGINE");
  return e != NULL && e[0] == '/' ? e : SHUTTLE_BINDIR "/shuttle";
}

/* ------------------------------------------------------ configuration */

static GVariant *
config_variant (ShNmPlugin *self)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_CONFIG_EXT_GATEWAY, self->gateway);
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_CONFIG_TUNDEV,
                         g_variant_new_string (self->link.name));
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_CONFIG_HAS_IP4, g_variant_new_boolean (TRUE));
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_CONFIG_HAS_IP6,
                         g_variant_new_boolean (self->has_ip6));
  /* With vpn.persistent, this is what makes NetworkManager keep the
   * connection when its base device goes away (a change of network), when
   * it sleeps and with networking off, rather than disconnecting us: the
   * kill switch's guard holds through them because of it (NM's
   * nm-vpn-connection.c, device_state_changed; docs/nm-vpn-data.md). */
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_CAN_PERSIST, g_variant_new_boolean (TRUE));
  return g_variant_builder_end (&b);
}

static GVariant *
domains_variant (ShNmPlugin *self)
{
  g_autoptr (GStrvBuilder) b = g_strv_builder_new ();

  g_strv_builder_addv (b, (const char **) self->profile->dns_domains);
  /* "~." routes every query to this connection's DNS (NM's notation). */
  if (self->profile->dns == SH_NM_DNS_FULL)
    g_strv_builder_add (b, "~.");
  g_auto (GStrv) all = g_strv_builder_end (b);
  return g_variant_new_strv ((const char *const *) all, -1);
}

/* @decoy: the same but for its prefix, sent before the real one after a
 * reconnect: NetworkManager (>= 1.36) can stay "activating" when the
 * Ip4Config that follows STARTING equals the previous one. */
static GVariant *
ip4_variant (ShNmPlugin *self, gboolean decoy)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_IP4_CONFIG_ADDRESS,
                         g_variant_new_uint32 (self->stub4));
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_IP4_CONFIG_PREFIX,
                         g_variant_new_uint32 (decoy ? 31 : 32));
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_IP4_CONFIG_NEVER_DEFAULT,
                         g_variant_new_boolean (TRUE));
  if (self->profile->dns != SH_NM_DNS_NONE)
    {
      g_variant_builder_add (
          &b, "{sv}", NM_VPN_PLUGIN_IP4_CONFIG_DNS,
          g_variant_new_fixed_array (G_VARIANT_TYPE_UINT32, &self->stub4, 1, sizeof (guint32)));
      g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_IP4_CONFIG_DOMAINS, domains_variant (self));
    }
  return g_variant_builder_end (&b);
}

static GVariant *
ip6_variant (ShNmPlugin *self, gboolean decoy)
{
  GVariantBuilder b;
  GVariant *addr
      = g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, self->stub6.s6_addr, 16, sizeof (guint8));

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_IP6_CONFIG_ADDRESS, addr);
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_IP6_CONFIG_PREFIX,
                         g_variant_new_uint32 (decoy ? 127 : 128));
  g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_IP6_CONFIG_NEVER_DEFAULT,
                         g_variant_new_boolean (TRUE));
  if (self->profile->dns != SH_NM_DNS_NONE)
    {
      GVariantBuilder dns;
      g_variant_builder_init (&dns, G_VARIANT_TYPE ("aay"));
      g_variant_builder_add_value (
          &dns, g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, self->stub6.s6_addr, 16, 1));
      g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_IP6_CONFIG_DNS,
                             g_variant_builder_end (&dns));
      g_variant_builder_add (&b, "{sv}", NM_VPN_PLUGIN_IP6_CONFIG_DOMAINS, domains_variant (self));
    }
  return g_variant_builder_end (&b);
}

static void
report_config (ShNmPlugin *self)
{
  NMVpnServicePlugin *plugin = NM_VPN_SERVICE_PLUGIN (self);

  nm_vpn_service_plugin_set_config (plugin, config_variant (self));
  if (self->ever_connected)
    {
      nm_vpn_service_plugin_set_ip4_config (plugin, ip4_variant (self, TRUE));
      if (self->has_ip6)
        nm_vpn_service_plugin_set_ip6_config (plugin, ip6_variant (self, TRUE));
    }
  nm_vpn_service_plugin_set_ip4_config (plugin, ip4_variant (self, FALSE));
  if (self->has_ip6)
    nm_vpn_service_plugin_set_ip6_config (plugin, ip6_variant (self, FALSE));
}

/* ---------------------------------------------------------- the engine */

static void
stop_engine (ShNmPlugin *self)
{
  g_cancellable_cancel (self->cancel);
  g_clear_object (&self->cancel);
  g_clear_handle_id (&self->connect_timer, g_source_remove);
  if (self->state_sub != 0)
    g_dbus_connection_signal_unsubscribe (self->peer, self->state_sub);
  self->state_sub = 0;
  sh_nm_export_set_engine (self->export, NULL);
  drop_question (self, "the connection ends");
  if (self->prompt_reg != 0)
    g_dbus_connection_unregister_object (self->peer, self->prompt_reg);
  self->prompt_reg = 0;
  /* Rules first, so nothing is captured by a tunnel that is going. */
  g_clear_pointer (&self->fw, sh_nm_fw_proxy_free);
  if (self->engine > 0)
    {
      int status;
      g_clear_handle_id (&self->child_watch, g_source_remove);
      kill (self->engine, SIGTERM);
      /* Short: the engine removes nothing itself here (we did). */
      for (int i = 0; i < 30 && waitpid (self->engine, &status, WNOHANG) == 0; i++)
        g_usleep (100 * 1000);
      if (waitpid (self->engine, &status, WNOHANG) == 0)
        {
          kill (self->engine, SIGKILL);
          waitpid (self->engine, &status, 0);
        }
      g_spawn_close_pid (self->engine);
      self->engine = 0;
    }
  if (self->peer != NULL)
    g_dbus_connection_close (self->peer, NULL, NULL, NULL);
  g_clear_object (&self->peer);
  self->engine_connected = FALSE;
}

static gboolean
on_retry (gpointer data)
{
  ShNmPlugin *self = data;

  self->retry_timer = 0;
  sh_nm_export_set_reconnecting (self->export, NULL, 0); /* under way */
  start_engine (self);
  return G_SOURCE_REMOVE;
}

static NMVpnPluginFailure
failure_reason (const char *msg)
{
  if (msg != NULL
      && (strstr (msg, "host key") != NULL || strstr (msg, "Permission denied") != NULL
          || strstr (msg, "authentication") != NULL))
    return NM_VPN_PLUGIN_FAILURE_LOGIN_FAILED;
  return NM_VPN_PLUGIN_FAILURE_CONNECT_FAILED;
}

static char *known_fingerprints (ShNmPlugin *self);

static void
engine_ended (ShNmPlugin *self, const char *how)
{
  g_autofree char *why = self->engine_failure ? g_strdup (self->engine_failure) : g_strdup (how);
  gboolean was_connected = self->engine_connected;

  stop_engine (self);
  g_clear_pointer (&self->engine_failure, g_free);
  if (self->stopping || !self->busy)
    return;
  /* A refused login or a host key that does not match is not the network:
   * trying again cannot help, and retrying a refused login can lock the
   * account. The user is told (NetworkManager's LOGIN_FAILED, and the
   * reason in its log). */
  if (self->persistent && self->ever_connected
      && failure_reason (why) != NM_VPN_PLUGIN_FAILURE_LOGIN_FAILED)
    {
      /* STARTED -> STARTING: NetworkManager keeps the connection while we
       * try again, with a growing pause. */
      self->backoff_s = was_connected ? 1 : CLAMP (self->backoff_s * 2, 1, BACKOFF_MAX_S);
      g_message ("%s: the tunnel went down (%s); reconnecting in %u s", self->name, why,
                 self->backoff_s);
      g_object_set (self, NM_VPN_SERVICE_PLUGIN_STATE, NM_VPN_SERVICE_STATE_STARTING, NULL);
      self->retry_timer = g_timeout_add_seconds (self->backoff_s, on_retry, self);
      /* The applet counts down to it (about: the timer is in whole seconds). */
      sh_nm_export_set_reconnecting (
          self->export, why, g_get_monotonic_time () + (gint64) self->backoff_s * G_USEC_PER_SEC);
      return;
    }
  if (strstr (why, "host key verification failed") != NULL)
    {
      /* ssh names the key it was offered; the user needs the one trusted
       * too, to tell a re-installed server from someone in between. */
      g_autofree char *known = known_fingerprints (self);
      if (known != NULL)
        {
          char *more = g_strdup_printf (
              /* TRANSLATORS: after ssh's reason; %s: server, fingerprints (SHA256:...) */
              _ ("%s; the key trusted for %s is %s (if the server's key really changed, fetch "
                 "the new one in the editor and compare it with what its administrator says)"),
              why, self->profile->host, known);
          g_free (why);
          why = more;
        }
    }
  fail (self, failure_reason (why), why);
}

static void
on_engine_exit (GPid pid, int status, gpointer data)
{
  ShNmPlugin *self = data;
  g_autofree char *how = NULL;

  self->child_watch = 0;
  g_spawn_close_pid (pid);
  self->engine = 0;
  if (WIFEXITED (status) && WEXITSTATUS (status) == 126)
    how = g_strdup_printf (_ ("cannot run the tunnel as user '%s'"), self->user);
  else if (WIFEXITED (status) && WEXITSTATUS (status) == 2)
    how = g_strdup (_ ("the engine refused its arguments (see the log)"));
  else if (WIFEXITED (status))
    /* TRANSLATORS: the tunnel engine's exit status */
    how = g_strdup_printf (_ ("the tunnel ended (status %d)"), WEXITSTATUS (status));
  else
    how = g_strdup_printf (_ ("the tunnel was killed by signal %d"), WTERMSIG (status));
  engine_ended (self, how);
}

/* NetworkManager's VPN gateway (the route it keeps to it outside the VPN):
 * where ssh's own connection goes. Only the engine knows that: with a
 * ProxyJump in the user's ~/.ssh/config it is the first jump host, and the
 * profile's host may be an alias nobody but ssh (as the user) resolves. IPv4
 * first: it is what NetworkManager's gateway route uses most. */
static void
on_ssh_addresses (GObject *src, GAsyncResult *res, gpointer data)
{
  ShNmPlugin *self = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (src), res, &error);
  g_autoptr (GVariant) v = NULL;
  g_autofree const char **addrs = NULL;
  g_autoptr (GInetAddress) pick = NULL;
  g_autofree char *at = NULL;

  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  if (!self->engine_connected)
    return; /* lost meanwhile: the next "connected" asks again */
  if (reply != NULL)
    {
      g_variant_get (reply, "(v)", &v);
      if (g_variant_is_of_type (v, G_VARIANT_TYPE_STRING_ARRAY))
        addrs = g_variant_get_strv (v, NULL);
    }
  for (int want4 = 1; want4 >= 0 && pick == NULL; want4--)
    for (const char **a = addrs; a != NULL && *a != NULL && pick == NULL; a++)
      {
        g_autoptr (GInetAddress) ia = g_inet_address_new_from_string (*a);
        if (ia != NULL && (g_inet_address_get_family (ia) == G_SOCKET_FAMILY_IPV4) == want4)
          pick = g_steal_pointer (&ia);
      }
  if (pick == NULL)
    {
      g_autofree char *msg
          /* TRANSLATORS: %s is the ssh server as the profile names it */
          = g_strdup_printf (_ ("the tunnel engine did not say where ssh connects for %s"),
                             self->profile->host);
      engine_ended (self, msg);
      return;
    }
  g_clear_pointer (&self->gateway, g_variant_unref);
  if (g_inet_address_get_family (pick) == G_SOCKET_FAMILY_IPV4)
    {
      guint32 a;
      memcpy (&a, g_inet_address_to_bytes (pick), 4);
      self->gateway = g_variant_ref_sink (g_variant_new_uint32 (a));
    }
  else
    self->gateway = g_variant_ref_sink (
        g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, g_inet_address_to_bytes (pick), 16, 1));
  at = g_inet_address_to_string (pick);
  g_message ("%s: ssh connects to %s (the VPN gateway)", self->name, at);
  report_config (self);
  self->ever_connected = TRUE;
}

static void
on_engine_state (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
                 const char *signal, GVariant *params, gpointer data)
{
  ShNmPlugin *self = data;
  const char *state, *failure;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(ss)")))
    return;
  g_variant_get (params, "(&s&s)", &state, &failure);
  if (g_str_equal (state, "connected") && !self->engine_connected)
    {
      self->engine_connected = TRUE;
      self->backoff_s = 0;
      g_clear_handle_id (&self->connect_timer, g_source_remove);
      g_message ("%s: tunnel up through %s", self->name, self->profile->host);
      /* NetworkManager's configuration waits for the gateway: the engine
       * knows it, the profile may not (on_ssh_addresses). */
      g_dbus_connection_call (conn, NULL, SH_ENGINE_PATH, "org.freedesktop.DBus.Properties", "Get",
                              g_variant_new ("(ss)", SH_ENGINE_IFACE, "SshAddresses"),
                              G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, 10000, self->cancel,
                              on_ssh_addresses, self);
    }
  else if (g_str_equal (state, "reconnecting") && self->engine_connected)
    {
      /* fail-closed: the engine reconnects itself, its rules kept (the
       * guard). NetworkManager shows the connection as connecting until
       * "connected" comes again, then gets its configuration anew. */
      self->engine_connected = FALSE;
      g_message ("%s: the tunnel went down%s%s; the engine reconnects, its rules kept", self->name,
                 failure[0] ? ": " : "", failure);
      g_object_set (self, NM_VPN_SERVICE_PLUGIN_STATE, NM_VPN_SERVICE_STATE_STARTING, NULL);
    }
  else if (g_str_equal (state, "failed") && failure[0] != '\0')
    {
      g_free (self->engine_failure);
      self->engine_failure = g_strdup (failure);
    }
}

static void
on_peer_closed (GDBusConnection *conn, gboolean vanished, GError *error, gpointer data)
{
  /* The engine's exit (child watch) says the rest. */
}

/* Answers a waiting question with an error (the user cancelled, the
 * connection ends). */
static void
drop_question (ShNmPlugin *self, const char *why)
{
  if (self->question != NULL)
    g_dbus_method_invocation_return_error_literal (g_steal_pointer (&self->question), G_DBUS_ERROR,
                                                   G_DBUS_ERROR_FAILED, why);
  g_clear_pointer (&self->answer_name, g_free);
}

/* io.github.shuttlevpn.Prompt1.Ask from our engine: its ssh asks what is
 * not the stored password (a one-time code). The user answers through
 * NetworkManager's secret agent; real_new_secrets() returns the answer. */
static void
on_prompt_call (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
                const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer data)
{
  ShNmPlugin *self = data;
  const char *raw = NULL;
  g_autofree char *text = NULL, *hint = NULL, *msg = NULL;

  g_variant_get (params, "(&s)", &raw);
  text = sh_nm_prompt_clean (raw);
  if (!self->busy || self->stopping || self->question != NULL || self->offered_key != NULL)
    {
      g_dbus_method_invocation_return_error_literal (inv, G_DBUS_ERROR, G_DBUS_ERROR_FAILED,
                                                     "another question is waiting");
      return;
    }
  if (!self->interactive)
    {
      g_autofree char *why = g_strdup_printf (
          /* TRANSLATORS: %s: the ssh server, then its question (e.g. for a one-time code) */
          _ ("the server %s asks “%s”, and nobody can be asked. Connect interactively (from the "
             "desktop, or nmcli --ask)"),
          self->profile->host, text);
      g_warning ("%s: %s", self->name, why);
      g_dbus_method_invocation_return_error_literal (inv, G_DBUS_ERROR, G_DBUS_ERROR_FAILED, why);
      return;
    }
  if (self->ever_connected)
    {
      /* NetworkManager takes questions only while it activates; asking on
       * a reconnect would leave ssh waiting for an answer that never
       * comes. */
      g_autofree char *why = g_strdup_printf (
          /* TRANSLATORS: %s: the ssh server, then its question (e.g. for a one-time code) */
          _ ("the server %s asks “%s” again to reconnect, and nothing can be asked once the "
             "connection was up: connect again"),
          self->profile->host, text);
      g_warning ("%s: %s", self->name, why);
      g_dbus_method_invocation_return_error_literal (inv, G_DBUS_ERROR, G_DBUS_ERROR_FAILED, why);
      return;
    }
  self->question = inv;
  self->answer_name
      = g_strdup_printf (SH_NM_SECRET_ANSWER "%08x%08x", g_random_int (), g_random_int ());
  hint = g_strconcat (SH_NM_HINT_PROMPT, text, NULL);
  const char *hints[] = { self->answer_name, hint, NULL };
  /* TRANSLATORS: %s: the ssh server, then its question as it words it */
  msg = g_strdup_printf (_ ("The server %s asks: %s"), self->profile->host, text);
  /* The user takes their time; our own deadline starts again after the
   * answer. */
  g_clear_handle_id (&self->connect_timer, g_source_remove);
  g_message ("%s: the server asks a question; asking the user", self->name);
  nm_vpn_service_plugin_secrets_required (NM_VPN_SERVICE_PLUGIN (self), msg, hints);
}

static const GDBusInterfaceVTable prompt_vtable = { on_prompt_call, NULL, NULL, { 0 } };

static void
on_peer_ready (GObject *src, GAsyncResult *res, gpointer data)
{
  ShNmPlugin *self = data;
  g_autoptr (GError) error = NULL;
  GDBusConnection *peer = g_dbus_connection_new_finish (res, &error);
  ShNmFwPolicy policy = { 0 };

  if (peer == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_autofree char *msg
              = g_strdup_printf ("cannot talk to the tunnel engine: %s", error->message);
          engine_ended (self, msg);
        }
      return;
    }
  self->peer = peer;
  sh_nm_export_set_engine (self->export, peer);
  g_dbus_connection_set_exit_on_close (peer, FALSE);
  g_signal_connect (peer, "closed", G_CALLBACK (on_peer_closed), self);
  self->state_sub = g_dbus_connection_signal_subscribe (
      peer, NULL, SH_ENGINE_IFACE, "StateChanged", SH_ENGINE_PATH, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
      on_engine_state, self, NULL);
  self->prompt_reg = g_dbus_connection_register_object (
      peer, SH_PROMPT_PATH, (GDBusInterfaceInfo *) &sh_prompt_prompt1_interface, &prompt_vtable,
      self, NULL, NULL);
  policy.profile = self->profile;
  policy.engine_uid = self->uid;
  policy.stub4 = self->stub4;
  policy.have_stub6 = self->has_ip6;
  policy.stub6 = self->stub6;
  policy.label = self->label;
  self->fw = sh_nm_fw_proxy_new (
      peer, nm_vpn_service_plugin_get_connection (NM_VPN_SERVICE_PLUGIN (self)), &policy, &error);
  if (self->fw == NULL)
    {
      g_autofree char *msg = g_strdup_printf ("cannot serve the firewall: %s", error->message);
      engine_ended (self, msg);
    }
}

static gboolean
on_connect_timeout (gpointer data)
{
  ShNmPlugin *self = data;
  g_autofree char *msg = g_strdup_printf ("no tunnel after %d s (is %s reachable?)",
                                          CONNECT_TIMEOUT_S, self->profile->host);
  self->connect_timer = 0;
  self->persistent = self->persistent && self->ever_connected;
  g_free (self->engine_failure);
  self->engine_failure = g_steal_pointer (&msg);
  engine_ended (self, self->engine_failure);
  return G_SOURCE_REMOVE;
}

/* Who is at the other end is settled by construction: a socketpair whose
 * other end only our engine got. Credentials cannot say more (SO_PEERCRED
 * of a socketpair names its creator, root, whoever holds it now), so the
 * handshake is ANONYMOUS, and nothing else is accepted. */
static gboolean
allow_mechanism (GDBusAuthObserver *o, const char *mechanism, gpointer data)
{
  return g_str_equal (mechanism, "ANONYMOUS");
}

static void
start_engine (ShNmPlugin *self)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_auto (GStrv) env = engine_env (self);
  g_auto (GStrv) args = NULL;
  int sv[2] = { -1, -1 }, sp[2] = { -1, -1 };
  int src[2], dst[2];
  gsize n_fds = 1;
  char stub[INET_ADDRSTRLEN];
  ShNmEngineContext ctx = { .known_hosts_file = self->known_hosts,
                            .have_secret = self->secret != NULL,
                            .dns_stub = inet_ntop (AF_INET, &self->stub4, stub, sizeof stub),
                            .persistent = self->persistent };

  if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
    {
      engine_ended (self, "cannot create the control socket");
      return;
    }
  g_ptr_array_add (argv, g_strdup (engine_program ()));
  g_ptr_array_add (argv, g_strdup ("--control-fd=3"));
  src[0] = sv[1];
  dst[0] = 3;
  if (self->secret != NULL)
    {
      /* A pipe holds far more than SH_NM_SECRET_MAX (Connect refused a
       * longer secret): written before the engine even starts, so nothing
       * waits on anyone. */
      if (!g_unix_open_pipe (sp, FD_CLOEXEC, NULL)
          || write (sp[1], self->secret, self->secret_len) != (ssize_t) self->secret_len)
        {
          close (sv[0]);
          close (sv[1]);
          engine_ended (self, "cannot pass the secret to the engine");
          return;
        }
      close (sp[1]);
      g_ptr_array_add (argv, g_strdup ("--secret-fd=4"));
      src[1] = sp[0];
      dst[1] = 4;
      n_fds = 2;
    }
  args = sh_nm_profile_engine_args (self->profile, &ctx);
  for (char **a = args; *a; a++)
    g_ptr_array_add (argv, g_strdup (*a));
  g_ptr_array_add (argv, NULL);

  if (!g_spawn_async_with_pipes_and_fds (
          NULL, (const char *const *) argv->pdata, (const char *const *) env,
          G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, drop_privileges, self, -1, -1,
          -1, src, dst, n_fds, &self->engine, NULL, NULL, NULL, &error))
    {
      g_autofree char *msg = g_strdup_printf ("cannot start the engine: %s", error->message);
      close (sv[0]);
      close (sv[1]);
      if (sp[0] >= 0)
        close (sp[0]);
      engine_ended (self, msg);
      return;
    }
  close (sv[1]);
  if (sp[0] >= 0)
    close (sp[0]);
  g_message ("%s: engine started as '%s' (pid %d)", self->name, self->user, (int) self->engine);
  self->child_watch = g_child_watch_add (self->engine, on_engine_exit, self);
  self->connect_timer = g_timeout_add_seconds (CONNECT_TIMEOUT_S, on_connect_timeout, self);

  self->cancel = g_cancellable_new ();
  g_autoptr (GSocket) sock = g_socket_new_from_fd (sv[0], &error);
  if (sock == NULL)
    {
      close (sv[0]);
      engine_ended (self, "cannot use the control socket");
      return;
    }
  g_autoptr (GSocketConnection) stream = g_socket_connection_factory_create_connection (sock);
  g_autofree char *guid = g_dbus_generate_guid ();
  g_autoptr (GDBusAuthObserver) observer = g_dbus_auth_observer_new ();
  g_signal_connect (observer, "allow-mechanism", G_CALLBACK (allow_mechanism), self);
  g_dbus_connection_new (G_IO_STREAM (stream), guid,
                         G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_SERVER
                             | G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_ALLOW_ANONYMOUS,
                         observer, self->cancel, on_peer_ready, self);
}

/* The engine's first start: after our Connect reply (or the answer about a
 * host key), so that a failure reaches NetworkManager as one. */
static gboolean
on_start (gpointer data)
{
  ShNmPlugin *self = data;

  self->retry_timer = 0;
  start_engine (self);
  return G_SOURCE_REMOVE;
}

/* ------------------------------------------------------------- NM calls */

/* The known_hosts the engine's ssh trusts: the pinned key only. */
static gboolean
write_pinned (ShNmPlugin *self, GError **error)
{
  g_autoptr (GError) local = NULL;
  g_autofree char *line = sh_nm_host_key_known_hosts_line (self->profile->host_key);

  g_free (self->known_hosts);
  self->known_hosts = g_build_filename (self->rundir, "known_hosts", NULL);
  if (!g_file_set_contents_full (self->known_hosts, line, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0644,
                                 &local))
    {
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_LAUNCH_FAILED,
                   _ ("cannot write the pinned host key: %s"), local->message);
      return FALSE;
    }
  return TRUE;
}

static gboolean
prepare_rundir (ShNmPlugin *self, GError **error)
{
  /* Root's, world-readable: the engine only reads the pinned key. */
  if (g_mkdir_with_parents (RUN_DIR, 0755) < 0)
    {
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_LAUNCH_FAILED,
                   _ ("cannot create %s: %s"), RUN_DIR, g_strerror (errno));
      return FALSE;
    }
  self->rundir = g_build_filename (RUN_DIR, self->label, NULL);
  if (g_mkdir (self->rundir, 0755) < 0 && errno != EEXIST)
    {
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_LAUNCH_FAILED,
                   _ ("cannot create %s: %s"), self->rundir, g_strerror (errno));
      return FALSE;
    }
  return self->profile->host_key == NULL || write_pinned (self, error);
}

static gboolean
disconnect_idle (gpointer data)
{
  nm_vpn_service_plugin_disconnect (data, NULL);
  return G_SOURCE_REMOVE;
}

/* Disconnect through the re-exported object: later, out of its handler. */
static gboolean
on_export_disconnect (gpointer data)
{
  g_idle_add_full (G_PRIORITY_DEFAULT, disconnect_idle, g_object_ref (data), g_object_unref);
  return G_SOURCE_REMOVE;
}

static gboolean
export_status (ShNmPlugin *self, NMConnection *connection, GError **error)
{
  const ShNmProfile *p = self->profile;
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, error);
  g_autofree char *port = p->port ? g_strdup_printf (":%u", p->port) : g_strdup ("");
  g_autofree char *server
      = g_strdup_printf ("%s%s%s%s", p->user ? p->user : "", p->user ? "@" : "", p->host, port);

  if (bus == NULL)
    return FALSE;
  self->export = sh_nm_export_new (bus, self->uid, self->name, nm_connection_get_uuid (connection),
                                   server, on_export_disconnect, self, error);
  return self->export != NULL;
}

/* ----------------------------------------------- several tunnels at once */

#define NM_PATH "/org/freedesktop/NetworkManager"
#define NM_IFACE_ACTIVE "org.freedesktop.NetworkManager.Connection.Active"
#define NM_IFACE_SETTINGS_CONN "org.freedesktop.NetworkManager.Settings.Connection"
#define NM_CALL_TIMEOUT_MS 5000

static GVariant *
nm_call (GDBusConnection *bus, const char *path, const char *iface, const char *method,
         GVariant *args, const char *reply_type)
{
  return g_dbus_connection_call_sync (bus, NM_BUS_NAME, path, iface, method, args,
                                      G_VARIANT_TYPE (reply_type), G_DBUS_CALL_FLAGS_NONE,
                                      NM_CALL_TIMEOUT_MS, NULL, NULL);
}

/* Whether the profile @permissions (connection.permissions, "user:NAME:")
 * let @user see it: NetworkManager shows a profile to everyone when it has
 * none, else to the users it names. */
static gboolean
visible_to (const char *const *permissions, const char *user)
{
  g_autofree char *entry = g_strdup_printf ("user:%s:", user);

  if (permissions == NULL || permissions[0] == NULL)
    return TRUE;
  /* "user:NAME:" on the bus; "user:NAME" in older keyfiles */
  for (const char *const *p = permissions; *p != NULL; p++)
    if (g_str_equal (*p, entry)
        || (strncmp (*p, entry, strlen (entry) - 1) == 0 && (*p)[strlen (entry) - 1] == '\0'))
      return TRUE;
  return FALSE;
}

/* The other Shuttle connections NetworkManager is activating or runs now:
 * does one of them tunnel what this profile would? Two sets of rules would
 * claim the same traffic, and which one wins would depend on table order,
 * so the second is refused, naming the first. Only when this profile's
 * user may see the other profile (one of theirs, or system-wide) is it
 * named: otherwise its name and subnets are another user's business, and
 * the message says only that another user's connection tunnels them. The
 * plugin asks NetworkManager (as root it reads every profile); the helper
 * knows every table too, but not which profile or user they belong to.
 * Profiles with auto-nets=yes declare no subnets in advance and are not
 * compared. When NetworkManager does not answer, nothing is refused. */
static gboolean
check_overlap (ShNmPlugin *self, NMConnection *connection, GError **error)
{
  GDBusConnection *bus = nm_vpn_service_plugin_get_connection (NM_VPN_SERVICE_PLUGIN (self));
  const char *uuid = nm_connection_get_uuid (connection);
  g_autoptr (GVariant) prop = NULL, actives = NULL;
  GVariantIter it;
  const char *path;

  if (self->profile->auto_nets || bus == NULL)
    return TRUE;
  prop = nm_call (bus, NM_PATH, "org.freedesktop.DBus.Properties", "Get",
                  g_variant_new ("(ss)", "org.freedesktop.NetworkManager", "ActiveConnections"),
                  "(v)");
  if (prop == NULL)
    return TRUE;
  g_variant_get (prop, "(v)", &actives);
  if (!g_variant_is_of_type (actives, G_VARIANT_TYPE ("ao")))
    return TRUE;
  g_variant_iter_init (&it, actives);
  while (g_variant_iter_next (&it, "&o", &path))
    {
      g_autoptr (GVariant) all = nm_call (bus, path, "org.freedesktop.DBus.Properties", "GetAll",
                                          g_variant_new ("(s)", NM_IFACE_ACTIVE), "(a{sv})");
      g_autoptr (GVariant) props = NULL, settings = NULL, s_all = NULL, s_vpn = NULL, s_con = NULL,
                           data = NULL;
      g_autoptr (GHashTable) table = NULL;
      g_autoptr (ShNmProfile) other = NULL;
      g_autofree char *ours = NULL, *theirs = NULL;
      g_autofree const char **perms = NULL;
      const char *other_uuid = NULL, *conn_path = NULL, *type = NULL, *id = NULL;
      gboolean vpn = FALSE;
      guint32 st = 0;

      if (all == NULL)
        continue;
      props = g_variant_get_child_value (all, 0);
      g_variant_lookup (props, "Vpn", "b", &vpn);
      g_variant_lookup (props, "Uuid", "&s", &other_uuid);
      g_variant_lookup (props, "Connection", "&o", &conn_path);
      g_variant_lookup (props, "State", "u", &st);
      /* NM_ACTIVE_CONNECTION_STATE_ACTIVATING (1) or _ACTIVATED (2) */
      if (!vpn || conn_path == NULL || g_strcmp0 (other_uuid, uuid) == 0 || st < 1 || st > 2)
        continue;
      s_all = nm_call (bus, conn_path, NM_IFACE_SETTINGS_CONN, "GetSettings", NULL, "(a{sa{sv}})");
      if (s_all == NULL)
        continue;
      settings = g_variant_get_child_value (s_all, 0);
      s_vpn
          = g_variant_lookup_value (settings, NM_SETTING_VPN_SETTING_NAME, G_VARIANT_TYPE_VARDICT);
      s_con = g_variant_lookup_value (settings, NM_SETTING_CONNECTION_SETTING_NAME,
                                      G_VARIANT_TYPE_VARDICT);
      if (s_vpn == NULL || s_con == NULL
          || !g_variant_lookup (s_vpn, NM_SETTING_VPN_SERVICE_TYPE, "&s", &type)
          || g_strcmp0 (type, NM_DBUS_SERVICE_SHUTTLE) != 0)
        continue;
      data = g_variant_lookup_value (s_vpn, NM_SETTING_VPN_DATA, G_VARIANT_TYPE ("a{ss}"));
      if (data == NULL)
        continue;
      table = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
      {
        GVariantIter di;
        const char *k, *v;
        g_variant_iter_init (&di, data);
        while (g_variant_iter_next (&di, "{&s&s}", &k, &v))
          g_hash_table_insert (table, g_strdup (k), g_strdup (v));
      }
      other = sh_nm_profile_new (table, NULL);
      if (other == NULL
          || !sh_nm_subnets_overlap ((const char *const *) self->profile->subnets,
                                     (const char *const *) self->profile->excludes,
                                     (const char *const *) other->subnets,
                                     (const char *const *) other->excludes, &ours, &theirs))
        continue;
      g_variant_lookup (s_con, NM_SETTING_CONNECTION_ID, "&s", &id);
      g_variant_lookup (s_con, NM_SETTING_CONNECTION_PERMISSIONS, "^a&s", &perms);
      if (visible_to (perms, self->user))
        g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                     /* TRANSLATORS: refusing a second VPN connection: %s are subnets, then
                        the name of the connection that already tunnels them */
                     _ ("the subnet %s overlaps %s of the active Shuttle connection '%s': "
                        "disconnect it first, or change the subnets or excludes of one of them"),
                     ours, theirs, id ? id : other_uuid);
      else
        g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                     /* TRANSLATORS: refusing a second VPN connection; %s is a subnet */
                     _ ("the subnet %s overlaps what an active Shuttle connection of another "
                        "user tunnels"),
                     ours);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------ why NetworkManager ends us
 *
 * Disconnect says nothing about why. The VPN connection's VpnStateChanged,
 * which NetworkManager sends just before it (nm-vpn-connection.c,
 * _set_vpn_state: the signal, then the call), carries the reason: 2
 * (USER_DISCONNECTED) for `nmcli connection down` and the user's toggle,
 * 11 for a deleted profile (our own ends, such as Disconnect from the
 * status object, come with none: we disconnect before NM knows), 3
 * (DEVICE_DISCONNECTED) when the base device went away — which NetworkManager
 * does not do to a vpn.persistent connection of ours (we declare
 * can-persist): it keeps it, activating, until the engine is back. The
 * reason goes into the log; a fail-closed connection ended for the network
 * says that its guard goes with it. */

static void
on_vpn_state (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
              const char *signal, GVariant *params, gpointer data)
{
  ShNmPlugin *self = data;
  guint32 state, reason;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(uu)")))
    return;
  g_variant_get (params, "(uu)", &state, &reason);
  if (state == NM_VPN_CONNECTION_STATE_FAILED || state == NM_VPN_CONNECTION_STATE_DISCONNECTED)
    self->nm_reason = reason;
}

/* Our VPN active connection (the one activating this profile), and its
 * state changes from now on. */
static void
watch_activation (ShNmPlugin *self, const char *uuid)
{
  GDBusConnection *bus = nm_vpn_service_plugin_get_connection (NM_VPN_SERVICE_PLUGIN (self));
  g_autoptr (GVariant) prop = NULL, actives = NULL;
  GVariantIter it;
  const char *path;

  prop = nm_call (bus, NM_PATH, SH_DBUS_PROPERTIES_IFACE, "Get",
                  g_variant_new ("(ss)", "org.freedesktop.NetworkManager", "ActiveConnections"),
                  "(v)");
  if (prop == NULL)
    return;
  g_variant_get (prop, "(v)", &actives);
  if (!g_variant_is_of_type (actives, G_VARIANT_TYPE ("ao")))
    return;
  g_variant_iter_init (&it, actives);
  while (self->ac_path == NULL && g_variant_iter_next (&it, "&o", &path))
    {
      g_autoptr (GVariant) all = nm_call (bus, path, SH_DBUS_PROPERTIES_IFACE, "GetAll",
                                          g_variant_new ("(s)", NM_IFACE_ACTIVE), "(a{sv})");
      g_autoptr (GVariant) props = NULL;
      const char *other = NULL;
      gboolean vpn = FALSE;
      guint32 st = 0;

      if (all == NULL)
        continue;
      props = g_variant_get_child_value (all, 0);
      g_variant_lookup (props, "Vpn", "b", &vpn);
      g_variant_lookup (props, "Uuid", "&s", &other);
      g_variant_lookup (props, "State", "u", &st);
      if (vpn && g_strcmp0 (other, uuid) == 0 && st == NM_ACTIVE_CONNECTION_STATE_ACTIVATING)
        self->ac_path = g_strdup (path);
    }
  if (self->ac_path != NULL)
    self->ac_sub = g_dbus_connection_signal_subscribe (
        bus, NM_BUS_NAME, "org.freedesktop.NetworkManager.VPN.Connection", "VpnStateChanged",
        self->ac_path, NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_vpn_state, self, NULL);
}

static void
unwatch_activation (ShNmPlugin *self)
{
  if (self->ac_sub != 0)
    g_dbus_connection_signal_unsubscribe (
        nm_vpn_service_plugin_get_connection (NM_VPN_SERVICE_PLUGIN (self)), self->ac_sub);
  self->ac_sub = 0;
  g_clear_pointer (&self->ac_path, g_free);
  self->nm_reason = 0;
}

/* ---------------------------------------------- an unknown server's key */

/* How known_hosts names the server: "host", or "[host]:port". */
static char *
known_hosts_name (const ShNmProfile *p)
{
  if (p->port != 0 && p->port != 22)
    return g_strdup_printf ("[%s]:%u", p->host, p->port);
  return g_strdup (p->host);
}

/* Whether ssh, as the engine's user, would know the server already: an
 * entry for it in the user's or the system's known_hosts (whatever key it
 * holds: a different one is ssh's to refuse, never ours to offer). Asked
 * as the user (ssh-keygen -F): root does not read the user's files. */
static gboolean
host_known_to_user (ShNmPlugin *self)
{
  g_autofree char *name = known_hosts_name (self->profile);
  g_autofree char *k1 = g_build_filename (self->home, ".ssh", "known_hosts", NULL);
  g_autofree char *k2 = g_build_filename (self->home, ".ssh", "known_hosts2", NULL);
  const char *files[] = { k1, k2, "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2" };
  g_auto (GStrv) env = engine_env (self);

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      const char *argv[] = { "ssh-keygen", "-F", name, "-f", files[i], NULL };
      int status = 0;

      if (g_spawn_sync (NULL, (char **) argv, env,
                        G_SPAWN_SEARCH_PATH_FROM_ENVP | G_SPAWN_STDOUT_TO_DEV_NULL
                            | G_SPAWN_STDERR_TO_DEV_NULL,
                        drop_privileges, self, NULL, NULL, &status, NULL)
          && g_spawn_check_wait_status (status, NULL))
        return TRUE;
    }
  return FALSE;
}

/* The fingerprints the engine's ssh trusts for the server: the pinned key,
 * else what ssh-keygen -l -F finds in the user's and the system's
 * known_hosts (run as the user). NULL when none. */
static char *
known_fingerprints (ShNmPlugin *self)
{
  g_autofree char *name = NULL, *k1 = NULL, *k2 = NULL;
  g_autoptr (GString) found = g_string_new (NULL);
  g_auto (GStrv) env = NULL;

  if (self->profile == NULL)
    return NULL;
  if (self->profile->host_key != NULL)
    return sh_host_key_fingerprint (self->profile->host_key);
  if (self->home == NULL)
    return NULL;
  name = known_hosts_name (self->profile);
  k1 = g_build_filename (self->home, ".ssh", "known_hosts", NULL);
  k2 = g_build_filename (self->home, ".ssh", "known_hosts2", NULL);
  env = engine_env (self);
  const char *files[] = { k1, k2, "/etc/ssh/ssh_known_hosts", "/etc/ssh/ssh_known_hosts2" };
  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      const char *argv[] = { "ssh-keygen", "-l", "-F", name, "-f", files[i], NULL };
      g_autofree char *out = NULL;
      g_auto (GStrv) words = NULL;

      if (!g_spawn_sync (NULL, (char **) argv, env,
                         G_SPAWN_SEARCH_PATH_FROM_ENVP | G_SPAWN_STDERR_TO_DEV_NULL,
                         drop_privileges, self, &out, NULL, NULL, NULL)
          || out == NULL)
        continue;
      words = g_strsplit_set (out, " \t\n", -1);
      for (char **w = words; *w != NULL && found->len < 400; w++)
        if (g_str_has_prefix (*w, "SHA256:") && strlen (*w) <= 50
            && strspn (*w + 7, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                   == strlen (*w + 7)
            && strstr (found->str, *w) == NULL)
          g_string_append_printf (found, "%s%s", found->len ? ", " : "", *w);
    }
  return found->len ? g_strdup (found->str) : NULL;
}

/* The server's host key, as ssh would most likely be offered it (ed25519,
 * else ECDSA, else RSA): ssh-keyscan runs as the engine's user, root only
 * reads its printed lines through the strict parser of hostkey.c. */
static ShHostKey *
scan_host_key (ShNmPlugin *self, GError **error)
{
  static const char *const order[]
      = { "ssh-ed25519",         "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
          "ecdsa-sha2-nistp521", "rsa-sha2-512",        "ssh-rsa" };
  g_autofree char *port = g_strdup_printf ("%u", self->profile->port ? self->profile->port : 22);
  const char *argv[]
      = { "ssh-keyscan",       "-T", "5", "-p", port, "-t", "ed25519,ecdsa,rsa", "--",
          self->profile->host, NULL };
  g_auto (GStrv) env = engine_env (self);
  g_autofree char *out = NULL;
  g_autoptr (GPtrArray) keys = NULL;

  if (!g_spawn_sync (NULL, (char **) argv, env,
                     G_SPAWN_SEARCH_PATH_FROM_ENVP | G_SPAWN_STDERR_TO_DEV_NULL, drop_privileges,
                     self, &out, NULL, NULL, NULL))
    out = g_strdup ("");
  keys = sh_host_key_parse_keyscan (out);
  for (guint o = 0; o < G_N_ELEMENTS (order); o++)
    for (guint i = 0; i < keys->len; i++)
      if (g_str_equal (((ShHostKey *) keys->pdata[i])->type, order[o]))
        return g_ptr_array_steal_index (keys, i);
  if (keys->len > 0)
    return g_ptr_array_steal_index (keys, 0);
  g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_LAUNCH_FAILED,
               /* TRANSLATORS: %s is the ssh server */
               _ ("cannot get the host key of %s to show it (is it reachable?)"),
               self->profile->host);
  return NULL;
}

/* Asks through NetworkManager's secret agent (the auth dialog, or nmcli
 * --ask): the key itself travels in a hint, so what the user accepts is
 * what is pinned, whatever the network says later. */
static gboolean
ask_host_key (gpointer data)
{
  ShNmPlugin *self = data;
  g_autofree char *hint = g_strconcat (SH_NM_HINT_HOST_KEY, self->offered_key, NULL);
  g_autofree char *secret = sh_host_key_accept_secret (self->offered_key);
  const char *hints[] = { secret, hint, NULL };
  g_autofree char *fp = sh_host_key_fingerprint (self->offered_key);
  g_autofree char *msg = g_strdup_printf (
      /* TRANSLATORS: %s: the ssh server, its key fingerprint (SHA256:...) */
      _ ("The server %s is not known. Its host key has the fingerprint %s. Trust this key?"),
      self->profile->host, fp);

  self->ask_idle = 0;
  g_message ("%s: %s has the unknown host key %s; asking the user", self->name, self->profile->host,
             fp);
  nm_vpn_service_plugin_secrets_required (NM_VPN_SERVICE_PLUGIN (self), msg, hints);
  return G_SOURCE_REMOVE;
}

static GVariant *
nm_call_e (GDBusConnection *bus, GError **error, const char *path, const char *iface,
           const char *method, GVariant *args, const char *reply_type)
{
  if (error != NULL && *error != NULL)
    return NULL;
  return g_dbus_connection_call_sync (bus, NM_BUS_NAME, path, iface, method, args,
                                      G_VARIANT_TYPE (reply_type), G_DBUS_CALL_FLAGS_NONE,
                                      NM_CALL_TIMEOUT_MS, NULL, error);
}

/* Whether the profile belongs to the engine's user alone. */
static gboolean
owned_by_user (ShNmPlugin *self, NMConnection *connection)
{
  NMSettingConnection *s_con = nm_connection_get_setting_connection (connection);
  const char *perm_user = NULL;

  return s_con != NULL && nm_setting_connection_get_num_permissions (s_con) == 1
         && nm_setting_connection_get_permission (s_con, 0, NULL, &perm_user, NULL)
         && g_strcmp0 (perm_user, self->user) == 0;
}

/* After an answer: NetworkManager keeps what an agent returns for a secret
 * without flags, so the answer would be stored in the profile (and nmcli
 * would pre-fill it, unseen, next time). It is taken out again; with @pin,
 * the accepted key goes into vpn.data host-key, so that the next
 * connection checks it without asking. Pinning is only for a profile that
 * belongs to the engine's user alone: accepting a key for a profile others
 * use too is not one user's call, and then the key holds for this
 * connection only. */
static void
update_profile (ShNmPlugin *self, NMConnection *connection, gboolean pin)
{
  GDBusConnection *bus = nm_vpn_service_plugin_get_connection (NM_VPN_SERVICE_PLUGIN (self));
  g_autoptr (GVariant) path_v = NULL, all = NULL, settings = NULL, sec = NULL, reply = NULL;
  g_autoptr (NMConnection) copy = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) answers = g_ptr_array_new_with_free_func (g_free);
  const char *path;
  NMSettingVpn *s_vpn;
  const char **keys;
  guint n = 0;

  if (pin && !owned_by_user (self, connection))
    {
      g_message ("%s: the host key is trusted for this connection only (the profile is not "
                 "'%s''s alone)",
                 self->name, self->user);
      pin = FALSE;
    }
  path_v = nm_call_e (bus, &error, "/org/freedesktop/NetworkManager/Settings",
                      "org.freedesktop.NetworkManager.Settings", "GetConnectionByUuid",
                      g_variant_new ("(s)", nm_connection_get_uuid (connection)), "(o)");
  if (path_v == NULL)
    goto failed;
  g_variant_get (path_v, "(&o)", &path);
  all = nm_call_e (bus, &error, path, NM_IFACE_SETTINGS_CONN, "GetSettings", NULL, "(a{sa{sv}})");
  if (all == NULL)
    goto failed;
  settings = g_variant_get_child_value (all, 0);
  copy = nm_simple_connection_new_from_dbus (settings, &error);
  if (copy == NULL || (s_vpn = nm_connection_get_setting_vpn (copy)) == NULL)
    goto failed;
  /* The secrets NetworkManager handed us are what it holds for the
   * profile (root has no agent to read them back with GetSecrets). */
  sec = nm_connection_to_dbus (connection, NM_CONNECTION_SERIALIZE_ONLY_SECRETS);
  if (sec != NULL)
    {
      g_variant_ref_sink (sec);
      g_autoptr (GVariant) vpn_sec
          = g_variant_lookup_value (sec, NM_SETTING_VPN_SETTING_NAME, G_VARIANT_TYPE_VARDICT);
      if (vpn_sec != NULL
          && !nm_connection_update_secrets (copy, NM_SETTING_VPN_SETTING_NAME, vpn_sec, &error))
        goto failed;
    }
  keys = nm_setting_vpn_get_secret_keys (s_vpn, &n);
  for (guint i = 0; i < n; i++)
    if (g_str_has_prefix (keys[i], SH_NM_SECRET_HOST_KEY_ACCEPT)
        || g_str_has_prefix (keys[i], SH_NM_SECRET_ANSWER))
      g_ptr_array_add (answers, g_strdup (keys[i]));
  g_free (keys);
  for (guint i = 0; i < answers->len; i++)
    nm_setting_vpn_remove_secret (s_vpn, answers->pdata[i]);
  if (answers->len > 0 && nm_setting_vpn_get_num_secrets (s_vpn) == 0)
    {
      /* Update keeps the stored secrets when it is given none. */
      g_autoptr (GVariant) r
          = nm_call_e (bus, &error, path, NM_IFACE_SETTINGS_CONN, "ClearSecrets", NULL, "()");
      if (r == NULL)
        goto failed;
    }
  if (!pin && (answers->len == 0 || nm_setting_vpn_get_num_secrets (s_vpn) == 0))
    return;
  if (pin)
    nm_setting_vpn_add_data_item (s_vpn, SH_NM_KEY_HOST_KEY, self->profile->host_key);
  /* 0x1 to disk, 0x40 no reapply: the running connection already uses the
   * key. With secrets given, they replace the stored ones. */
  reply = g_dbus_connection_call_sync (
      bus, NM_BUS_NAME, path, NM_IFACE_SETTINGS_CONN, "Update2",
      g_variant_new ("(@a{sa{sv}}u@a{sv})",
                     nm_connection_to_dbus (copy, NM_CONNECTION_SERIALIZE_ALL), 0x1 | 0x40,
                     g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0)),
      G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NONE, NM_CALL_TIMEOUT_MS, NULL, &error);
  if (reply == NULL)
    goto failed;
  if (pin)
    g_message ("%s: host key pinned in the profile", self->name);
  return;

failed:
  g_warning ("%s: cannot update the profile%s%s", self->name, error ? ": " : "",
             error ? error->message : "");
}

/* The user's answer to the server's question: to the engine, and out of
 * the profile (NetworkManager keeps what an agent returns). */
static gboolean
answer_question (ShNmPlugin *self, NMConnection *connection, GError **error)
{
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);
  const char *given = s_vpn ? nm_setting_vpn_get_secret (s_vpn, self->answer_name) : NULL;
  g_autofree char *answer = given ? g_strdup (given) : NULL;

  update_profile (self, connection, FALSE);
  if (answer == NULL || strchr (answer, '\n') != NULL || strlen (answer) > SH_NM_SECRET_MAX)
    {
      g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                           _ ("the server's question was not answered"));
      drop_question (self, (*error)->message);
      g_warning ("%s: %s", self->name, (*error)->message);
      if (answer != NULL)
        explicit_bzero (answer, strlen (answer));
      return FALSE;
    }
  g_message ("%s: the user answered the server's question", self->name);
  g_dbus_method_invocation_return_value (g_steal_pointer (&self->question),
                                         g_variant_new ("(s)", answer));
  explicit_bzero (answer, strlen (answer));
  g_clear_pointer (&self->answer_name, g_free);
  if (self->connect_timer == 0 && !self->engine_connected)
    self->connect_timer = g_timeout_add_seconds (CONNECT_TIMEOUT_S, on_connect_timeout, self);
  return TRUE;
}

static gboolean
real_new_secrets (NMVpnServicePlugin *plugin, NMConnection *connection, GError **error)
{
  ShNmPlugin *self = SH_NM_PLUGIN (plugin);
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);
  g_autofree char *secret = NULL;
  g_autofree char *a = NULL;
  const char *answer = NULL;

  if (self->busy && self->question != NULL)
    return answer_question (self, connection, error);
  if (!self->busy || self->offered_key == NULL)
    {
      g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_WRONG_STATE,
                           _ ("no question is waiting for an answer"));
      return FALSE;
    }
  secret = sh_host_key_accept_secret (self->offered_key);
  if (s_vpn != NULL)
    answer = nm_setting_vpn_get_secret (s_vpn, secret);
  a = answer ? g_strstrip (g_strdup (answer)) : NULL;
  if (a == NULL || g_ascii_strcasecmp (a, "yes") != 0)
    {
      update_profile (self, connection, FALSE);
      g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                   /* TRANSLATORS: %s is the ssh server */
                   _ ("the host key of %s was not accepted"), self->profile->host);
      g_warning ("%s: %s", self->name, (*error)->message);
      return FALSE;
    }
  g_free (self->profile->host_key);
  self->profile->host_key = g_steal_pointer (&self->offered_key);
  if (!write_pinned (self, error))
    return FALSE;
  g_message ("%s: the user trusts the host key of %s", self->name, self->profile->host);
  update_profile (self, connection, TRUE);
  self->retry_timer = g_idle_add (on_start, self);
  return TRUE;
}

static gboolean
real_connect (NMVpnServicePlugin *plugin, NMConnection *connection, GError **error)
{
  ShNmPlugin *self = SH_NM_PLUGIN (plugin);
  NMSettingVpn *s_vpn;
  struct passwd *pw;
  const char *secret = NULL;

  if (self->busy)
    {
      g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_WRONG_STATE,
                           _ ("this plugin instance already runs a connection"));
      return FALSE;
    }
  self->profile = profile_of (connection, error);
  if (self->profile == NULL)
    goto failed;
  s_vpn = nm_connection_get_setting_vpn (connection);
  self->name = g_strdup (nm_connection_get_id (connection));
  self->persistent = nm_setting_vpn_get_persistent (s_vpn);
  pw = local_user_of (connection, self->profile, &self->system_wide, error);
  if (pw == NULL || !set_user (self, pw, error))
    goto failed;
  if (!check_overlap (self, connection, error))
    goto failed;
  watch_activation (self, nm_connection_get_uuid (connection));
  if (self->profile->host_key == NULL && !host_known_to_user (self))
    {
      g_autoptr (ShHostKey) key = NULL;

      if (!self->interactive)
        {
          g_set_error (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_LAUNCH_FAILED,
                       /* TRANSLATORS: %s is the ssh server */
                       _ ("the server %s is not known: its host key is neither pinned in the "
                          "profile nor in your known_hosts. Connect interactively (from the "
                          "desktop, or nmcli --ask) to check its fingerprint, or fetch the key "
                          "in the editor"),
                       self->profile->host);
          goto failed;
        }
      key = scan_host_key (self, error);
      if (key == NULL)
        goto failed;
      self->offered_key = g_strdup (key->key);
    }
  if (self->profile->auth == SH_NM_AUTH_PASSWORD)
    {
      secret = nm_setting_vpn_get_secret (s_vpn, SH_NM_SECRET_PASSWORD);
      if (secret == NULL || secret[0] == '\0')
        {
          g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                               _ ("the profile uses a password, and none was given"));
          goto failed;
        }
    }
  else if (self->profile->auth == SH_NM_AUTH_KEY)
    secret = nm_setting_vpn_get_secret (s_vpn, SH_NM_SECRET_KEY_PASSPHRASE);
  if (secret != NULL && secret[0] != '\0')
    {
      g_autoptr (GError) local = NULL;
      /* Written to a pipe before the engine runs: capped, so that the write
       * can never block NetworkManager's plugin. */
      if (!sh_nm_secret_check (self->profile->auth == SH_NM_AUTH_PASSWORD
                                   ? SH_NM_SECRET_PASSWORD
                                   : SH_NM_SECRET_KEY_PASSPHRASE,
                               strlen (secret), &local))
        {
          g_set_error_literal (error, NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_BAD_ARGUMENTS,
                               local->message);
          goto failed;
        }
      self->secret_len = strlen (secret);
      self->secret = g_strndup (secret, self->secret_len);
    }
  if (!prepare_rundir (self, error))
    goto failed;
  if (!sh_nm_link_open (&self->link, error))
    goto failed;
  self->stub4 = sh_nm_stub_address4 (self->seed);
  for (char **s = self->profile->subnets; *s; s++)
    if (strchr (*s, ':') != NULL)
      self->has_ip6 = TRUE;
  if (self->has_ip6)
    sh_nm_stub_address6 (self->seed, &self->stub6);

  if (!export_status (self, connection, error))
    goto failed;

  self->busy = TRUE;
  self->stopping = FALSE;
  self->ever_connected = FALSE;
  g_message ("%s: connecting to %s as local user '%s' on link %s", self->name, self->profile->host,
             self->user, self->link.name);
  if (self->offered_key != NULL)
    {
      /* After our Connect reply: NetworkManager then takes the request. */
      self->ask_idle = g_idle_add (ask_host_key, self);
      return TRUE;
    }
  self->retry_timer = g_idle_add (on_start, self);
  return TRUE;

failed:
  if (error != NULL && *error != NULL && (*error)->domain != NM_VPN_PLUGIN_ERROR)
    {
      GError *e = *error;
      *error
          = g_error_new (NM_VPN_PLUGIN_ERROR, NM_VPN_PLUGIN_ERROR_LAUNCH_FAILED, "%s", e->message);
      g_error_free (e);
    }
  g_warning ("%s: %s", nm_connection_get_id (connection),
             error && *error ? (*error)->message : "failed");
  teardown (self);
  return FALSE;
}

/* Whether @key_file needs a passphrase, found out as the user (root never
 * reads the user's files): ssh-keygen -y with an empty one fails then. */
static gboolean
key_is_encrypted (ShNmPlugin *self, const char *key_file)
{
  const char *argv[] = { "ssh-keygen", "-y", "-P", "", "-f", key_file, NULL };
  g_auto (GStrv) env = engine_env (self);
  int status = 0;

  if (!g_spawn_sync (NULL, (char **) argv, env,
                     G_SPAWN_SEARCH_PATH_FROM_ENVP | G_SPAWN_STDOUT_TO_DEV_NULL
                         | G_SPAWN_STDERR_TO_DEV_NULL,
                     drop_privileges, self, NULL, NULL, &status, NULL))
    return FALSE;
  return !g_spawn_check_wait_status (status, NULL);
}

static gboolean
real_connect_interactive (NMVpnServicePlugin *plugin, NMConnection *connection, GVariant *details,
                          GError **error)
{
  ShNmPlugin *self = SH_NM_PLUGIN (plugin);

  self->interactive = !self->busy;
  return real_connect (plugin, connection, error);
}

static gboolean
real_need_secrets (NMVpnServicePlugin *plugin, NMConnection *connection, const char **setting_name,
                   GError **error)
{
  ShNmPlugin *self = SH_NM_PLUGIN (plugin);
  g_autoptr (ShNmProfile) p = profile_of (connection, error);
  NMSettingVpn *s_vpn;
  const char *key;
  guint flags;

  if (p == NULL)
    return FALSE;
  s_vpn = nm_connection_get_setting_vpn (connection);
  if (p->auth == SH_NM_AUTH_PASSWORD)
    {
      key = SH_NM_SECRET_PASSWORD;
      flags = p->password_flags;
    }
  else if (p->auth == SH_NM_AUTH_KEY)
    {
      key = SH_NM_SECRET_KEY_PASSPHRASE;
      flags = p->key_passphrase_flags;
    }
  else
    return FALSE;
  if (nm_setting_vpn_get_secret (s_vpn, key) != NULL
      || (flags & NM_SETTING_SECRET_FLAG_NOT_REQUIRED))
    return FALSE;
  if (p->auth == SH_NM_AUTH_KEY)
    {
      gboolean system_wide = FALSE;
      struct passwd *pw = local_user_of (connection, p, &system_wide, NULL);
      gboolean encrypted;

      if (pw == NULL || self->busy)
        return FALSE; /* Connect reports the problem */
      /* borrow the user fields for the check only */
      ShNmProfile *saved = self->profile;
      self->profile = p;
      self->system_wide = system_wide;
      if (!set_user (self, pw, NULL))
        encrypted = FALSE;
      else
        encrypted = key_is_encrypted (self, p->key_file);
      self->profile = saved;
      g_clear_pointer (&self->user, g_free);
      g_clear_pointer (&self->home, g_free);
      g_clear_pointer (&self->groups, g_free);
      if (!encrypted)
        return FALSE;
    }
  *setting_name = NM_SETTING_VPN_SETTING_NAME;
  return TRUE;
}

static void
teardown (ShNmPlugin *self)
{
  self->stopping = TRUE;
  unwatch_activation (self);
  g_clear_handle_id (&self->retry_timer, g_source_remove);
  stop_engine (self);
  g_clear_pointer (&self->export, sh_nm_export_free);
  sh_nm_link_close (&self->link);
  if (self->known_hosts)
    g_unlink (self->known_hosts);
  if (self->rundir)
    g_rmdir (self->rundir);
  g_clear_pointer (&self->known_hosts, g_free);
  g_clear_pointer (&self->rundir, g_free);
  g_clear_handle_id (&self->ask_idle, g_source_remove);
  g_clear_pointer (&self->offered_key, g_free);
  self->interactive = FALSE;
  wipe_secret (self);
  g_clear_pointer (&self->profile, sh_nm_profile_free);
  g_clear_pointer (&self->gateway, g_variant_unref);
  g_clear_pointer (&self->engine_failure, g_free);
  g_clear_pointer (&self->name, g_free);
  g_clear_pointer (&self->user, g_free);
  g_clear_pointer (&self->home, g_free);
  g_clear_pointer (&self->groups, g_free);
  self->has_ip6 = FALSE;
  self->system_wide = FALSE;
  self->busy = FALSE;
}

static gboolean
real_disconnect (NMVpnServicePlugin *plugin, GError **error)
{
  ShNmPlugin *self = SH_NM_PLUGIN (plugin);

  if (self->name != NULL && self->nm_reason == 0)
    g_message ("%s: disconnecting", self->name);
  else if (self->name != NULL && sh_nm_reason_is_network_loss (self->nm_reason)
           && self->profile != NULL && self->profile->fail_closed)
    /* Not seen with vpn.persistent (see above); said, should a
     * NetworkManager do it. */
    g_warning ("%s: NetworkManager disconnects because the network went away (reason %u): "
               "the kill switch's rules go with the connection",
               self->name, self->nm_reason);
  else if (self->name != NULL)
    g_message ("%s: disconnecting (NetworkManager's reason %u)", self->name, self->nm_reason);
  teardown (self);
  return TRUE;
}

/* ------------------------------------------------------------- object */

static void
sh_nm_plugin_init (ShNmPlugin *self)
{
  self->link.fd = -1;
}

static void
sh_nm_plugin_dispose (GObject *object)
{
  teardown (SH_NM_PLUGIN (object));
  G_OBJECT_CLASS (sh_nm_plugin_parent_class)->dispose (object);
}

static void
sh_nm_plugin_finalize (GObject *object)
{
  g_free (SH_NM_PLUGIN (object)->label);
  G_OBJECT_CLASS (sh_nm_plugin_parent_class)->finalize (object);
}

static void
sh_nm_plugin_class_init (ShNmPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  NMVpnServicePluginClass *plugin_class = NM_VPN_SERVICE_PLUGIN_CLASS (klass);

  object_class->dispose = sh_nm_plugin_dispose;
  object_class->finalize = sh_nm_plugin_finalize;
  plugin_class->connect = real_connect;
  plugin_class->connect_interactive = real_connect_interactive;
  plugin_class->need_secrets = real_need_secrets;
  plugin_class->new_secrets = real_new_secrets;
  plugin_class->disconnect = real_disconnect;
}

/* --------------------------------------------------------------- main */

static void
on_quit (NMVpnServicePlugin *plugin, gpointer data)
{
  g_main_loop_quit (main_loop);
}

static void
on_nm_vanished (GDBusConnection *bus, const char *name, gpointer data)
{
  ShNmPlugin *self = data;

  /* NetworkManager sends no Disconnect when it stops or restarts: without
   * it nobody would take the tunnel down. */
  g_message ("NetworkManager left the bus; tearing down");
  teardown (self);
  g_main_loop_quit (main_loop);
}

static gboolean
on_signal (gpointer data)
{
  teardown (data);
  g_main_loop_quit (main_loop);
  return G_SOURCE_REMOVE;
}

int
main (int argc, char **argv)
{
  g_autofree char *bus_name = NULL;
  gboolean debug = FALSE;
  g_autoptr (GError) error = NULL;
  const GOptionEntry entries[] = {
    { "bus-name", 0, 0, G_OPTION_ARG_STRING, &bus_name, "D-Bus name to own", "NAME" },
    { "debug", 0, 0, G_OPTION_ARG_NONE, &debug, "Do not watch the caller (for testing)", NULL },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- Shuttle NetworkManager VPN service");
  ShNmPlugin *self;
  const char *conn;
  guint watch;

  /* Our Connect errors are the reason NetworkManager logs and nmcli
   * shows: in the system's language. */
  setlocale (LC_ALL, "");
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  textdomain (GETTEXT_PACKAGE);
  signal (SIGPIPE, SIG_IGN);
  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("nm-shuttle-service: %s\n", error->message);
      return 2;
    }
  if (bus_name == NULL)
    bus_name = g_strdup (NM_DBUS_SERVICE_SHUTTLE);
  if (!g_dbus_is_name (bus_name) || !g_str_has_prefix (bus_name, NM_DBUS_SERVICE_SHUTTLE))
    {
      g_printerr ("nm-shuttle-service: invalid --bus-name\n");
      return 2;
    }

  self = g_initable_new (SH_TYPE_NM_PLUGIN, NULL, &error, NM_VPN_SERVICE_PLUGIN_DBUS_SERVICE_NAME,
                         bus_name, NM_VPN_SERVICE_PLUGIN_DBUS_WATCH_PEER, !debug, NULL);
  if (self == NULL)
    {
      g_printerr ("nm-shuttle-service: %s\n", error->message);
      return 1;
    }
  /* ".Connection_N": one plugin per connection; N keeps labels and stub
   * addresses apart. */
  conn = strstr (bus_name, ".Connection_");
  self->seed = conn ? (guint) g_ascii_strtoull (conn + strlen (".Connection_"), NULL, 10) : 0;
  self->label = g_strdup_printf ("nm%u", self->seed);

  main_loop = g_main_loop_new (NULL, FALSE);
  g_signal_connect (self, "quit", G_CALLBACK (on_quit), NULL);
  watch = g_bus_watch_name_on_connection (
      nm_vpn_service_plugin_get_connection (NM_VPN_SERVICE_PLUGIN (self)), NM_BUS_NAME,
      G_BUS_NAME_WATCHER_FLAGS_NONE, NULL, debug ? NULL : on_nm_vanished, self, NULL);
  g_unix_signal_add (SIGTERM, on_signal, self);
  g_unix_signal_add (SIGINT, on_signal, self);
  g_main_loop_run (main_loop);

  g_bus_unwatch_name (watch);
  teardown (self);
  /* A failed Connect stops the plugin at once (libnm emits "quit"): its
   * error reply, the reason NetworkManager logs, is still in GDBus's queue. */
  g_dbus_connection_flush_sync (nm_vpn_service_plugin_get_connection (NM_VPN_SERVICE_PLUGIN (self)),
                                NULL, NULL);
  g_object_unref (self);
  g_main_loop_unref (main_loop);
  return 0;
}
