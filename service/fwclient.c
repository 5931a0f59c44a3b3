/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fwclient.c — the engine's firewall rules, through shuttle-firewall or in
 * process. The helper's interface: data/io.github.shuttlevpn.Firewall1.xml. */
#include "config.h"

#include "fwclient.h"

#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib/gi18n-lib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fw-dgram.h"
#include "fw-watch.h"
#include "hosts-block.h"
#include "log.h"
#include "shuttle-dbus.h"

/* Where -H names go without the helper (a root engine without a bus). */
#define HOSTS_FILE "/etc/hosts"

static char *sweep_hosts (const char *content, gpointer data, GError **error);

/* Long enough for a person to type a password into a polkit agent. */
#define HELPER_TIMEOUT_MS (5 * 60 * 1000)

struct _ShFwClient
{
  char *label;
  GDBusConnection *bus; /* NULL: in process */
  const char *dest;     /* SH_FW_BUS_NAME; NULL on a peer-to-peer connection */
  gboolean applied;
  gboolean hosts_set;
  ShFwWatch *watch; /* restarts the helper, while we use it on the system bus */
  /* in process: the last spec applied (its arrays shared), and the
   * datagram device's slot (-1: none) and name */
  ShFirewallSpec spec;
  int dgram_slot;
  char *dgram_ifname;
};

/* What the helper must not forget (fw-watch.h). */
static gboolean
holds_something (gpointer data)
{
  ShFwClient *c = data;
  return c->applied || c->hosts_set;
}

/* In process, nobody would remove our rules and names if we were killed
 * (SIGKILL, OOM) until the next root start swept them. So a watchdog, this
 * program run again as "shuttle-cleanup" (a fresh exec: this process may
 * have threads, and only exec is safe after fork then), waits on a pipe
 * whose write end only we hold; at our end, however it came, the pipe
 * reports EOF and the watchdog sweeps the tables and hosts blocks of
 * instances that no longer run, ours among them. After a clean exit it
 * finds nothing to do. */
static void
start_watchdog (void)
{
  int p[2];
  if (pipe2 (p, O_CLOEXEC) < 0)
    return;
  /* Our pid as its argument: only so that ps shows whose it is. */
  g_autofree char *self = g_strdup_printf ("%d", (int) getpid ());
  const char *argv[] = { "/proc/self/exe", "shuttle-cleanup", self, NULL };
  int src[] = { p[0] }, dst[] = { 3 };
  g_autoptr (GError) error = NULL;
  if (!g_spawn_async_with_pipes_and_fds (
          NULL, argv, NULL,
          /* our child (no double fork), seen under us in pstree; it
           * exits only after us, so it never becomes our zombie */
          G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_FILE_AND_ARGV_ZERO | G_SPAWN_STDIN_FROM_DEV_NULL
              | G_SPAWN_STDOUT_TO_DEV_NULL | G_SPAWN_STDERR_TO_DEV_NULL,
          NULL, NULL, -1, -1, -1, src, dst, 1, NULL, NULL, NULL, NULL, &error))
    {
      sh_error ("no cleanup watchdog (rules would outlive a killed engine): %s", error->message);
      close (p[1]);
    }
  /* p[1] stays open, close-on-exec, for as long as we live. The watchdog
   * has /dev/null for output: it must not hold a caller's pipe (a test's,
   * or the starting process's of --daemon) open past our end. */
  close (p[0]);
}

int
sh_fw_watchdog_main (const char *engine)
{
  /* A Ctrl-C or a stop signal to our process group is for the engine; the
   * watchdog ends by itself right after the engine. */
  signal (SIGINT, SIG_IGN);
  signal (SIGTERM, SIG_IGN);
  signal (SIGHUP, SIG_IGN);
  prctl (PR_SET_NAME, "shuttle-cleanup"); /* comm would be "exe" */
  char b[64];
  ssize_t n;
  while ((n = read (3, b, sizeof b)) > 0 || (n < 0 && errno == EINTR))
    ;
  /* The engine's files close before it is a zombie: until then the sweep
   * would take it for alive. A few milliseconds; 2 s at most. */
  guint64 pid = 0;
  g_ascii_string_to_unsigned (engine, 10, 1, G_MAXINT32, &pid, NULL);
  g_autofree char *owner = pid != 0 ? sh_firewall_owner_record (pid) : NULL;
  for (int i = 0; owner != NULL && i < 200 && sh_firewall_owner_alive (pid, owner); i++)
    g_usleep (10000);
  g_autoptr (GError) error = NULL;
  if (sh_fw_sweep_in_process (&error) < 0)
    {
      g_printerr ("shuttle-cleanup: %s\n", error->message);
      return 1;
    }
  return 0;
}

/* Whether shuttle-firewall runs or can be started on @bus. */
static gboolean
helper_available (GDBusConnection *bus, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariantIter) names = NULL;
  const char *name;
  gboolean has = FALSE;

  reply = g_dbus_connection_call_sync (
      bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "NameHasOwner",
      g_variant_new ("(s)", SH_FW_BUS_NAME), G_VARIANT_TYPE ("(b)"), G_DBUS_CALL_FLAGS_NONE, -1,
      NULL, error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(b)", &has);
  if (has)
    return TRUE;
  g_clear_pointer (&reply, g_variant_unref);
  reply = g_dbus_connection_call_sync (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "ListActivatableNames", NULL,
                                       G_VARIANT_TYPE ("(as)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL,
                                       error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(as)", &names);
  while (g_variant_iter_next (names, "&s", &name))
    if (g_str_equal (name, SH_FW_BUS_NAME))
      return TRUE;
  /* TRANSLATORS: the program's name, then its bus name */
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND,
               _ ("%s (%s) is not installed on the system bus"), "shuttle-firewall",
               SH_FW_BUS_NAME);
  return FALSE;
}

ShFwClient *
sh_fw_client_new (const char *label, GError **error)
{
  g_autoptr (ShFwClient) c = g_new0 (ShFwClient, 1);
  g_autoptr (GError) local = NULL;
  g_autoptr (GDBusConnection) bus = NULL;

  c->dgram_slot = -1;
  c->label = g_strdup (label);
  bus = g_bus_get_sync (G_BUS_TYPE_SYSTEM, NULL, &local);
  if (bus != NULL && helper_available (bus, &local))
    {
      c->bus = g_steal_pointer (&bus);
      c->dest = SH_FW_BUS_NAME;
      c->watch = sh_fw_watch_new (c->bus, holds_something, NULL, c);
      return g_steal_pointer (&c);
    }
  /* Root can do it itself; that is what containers and routers without a
   * system bus need. */
  if (geteuid () == 0)
    {
      start_watchdog ();
      return g_steal_pointer (&c);
    }

  g_dbus_error_strip_remote_error (local);
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("cannot reach the firewall helper: %s"),
               local->message);
  return NULL;
}

ShFwClient *
sh_fw_client_new_for_peer (const char *label, GDBusConnection *peer)
{
  ShFwClient *c = g_new0 (ShFwClient, 1);
  c->dgram_slot = -1;

  c->label = g_strdup (label);
  c->bus = g_object_ref (peer);
  return c;
}

gboolean
sh_fw_client_uses_helper (const ShFwClient *c)
{
  return c->bus != NULL;
}

int
sh_fw_client_sweep (ShFwClient *c, GError **error)
{
  if (c->bus != NULL)
    return 0;
  return sh_fw_sweep_in_process (error);
}

int
sh_fw_sweep_in_process (GError **error)
{
  int hosts = 0;
  if (g_file_test (HOSTS_FILE, G_FILE_TEST_EXISTS))
    sh_hosts_file_edit (HOSTS_FILE, sweep_hosts, &hosts, NULL); /* best effort */
  int tables = sh_firewall_sweep (error);
  /* The device of a dead engine went with its descriptor; its rules did
   * not. Best effort, as for the hosts file. */
  int dgrams = sh_fw_dgram_sweep_orphans (NULL);
  return tables < 0 ? -1 : MAX (MAX (tables, hosts), dgrams);
}

/* Turns a helper error into the one sentence the user reads. */
static void
helper_error (GError **error, GError *remote)
{
  g_autofree char *name = g_dbus_error_get_remote_error (remote);

  g_dbus_error_strip_remote_error (remote);
  if (g_strcmp0 (name, SH_FW_ERROR_PREFIX "NotAuthorized") == 0)
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                 _ ("not authorized to change the firewall: %s"), remote->message);
  else if (name != NULL && g_str_has_prefix (name, SH_FW_ERROR_PREFIX))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("cannot set up the firewall: %s"),
                 remote->message);
  else
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("cannot reach the firewall helper: %s"),
                 remote->message);
}

static gboolean
call_helper (ShFwClient *c, const char *method, GVariant *args, const GVariantType *reply_type,
             GVariant **reply, GError **error)
{
  g_autoptr (GError) remote = NULL;
  GVariant *r;

  r = g_dbus_connection_call_sync (c->bus, c->dest, SH_FW_OBJECT_PATH, SH_FW_IFACE, method, args,
                                   reply_type, G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                                   HELPER_TIMEOUT_MS, NULL, &remote);
  if (r == NULL)
    {
      helper_error (error, remote);
      return FALSE;
    }
  if (reply != NULL)
    *reply = r;
  else
    g_variant_unref (r);
  return TRUE;
}

/* The end of an asynchronous call to the helper; the task's data, when not
 * NULL, is a flag set on success. */
static void
call_done (GObject *bus, GAsyncResult *res, gpointer data)
{
  g_autoptr (GTask) task = data;
  gboolean *done = g_task_get_task_data (task);
  g_autoptr (GError) remote = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (bus), res, &remote);
  GError *error = NULL;

  if (r != NULL)
    {
      if (done != NULL)
        *done = TRUE;
      g_task_return_boolean (task, TRUE);
      return;
    }
  if (g_error_matches (remote, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    error = g_steal_pointer (&remote);
  else
    helper_error (&error, remote);
  g_task_return_error (task, error);
}

static void
remember_spec (ShFwClient *c, const ShFirewallSpec *spec)
{
  sh_fw_spec_clear (&c->spec);
  sh_fw_spec_copy (&c->spec, spec);
  c->spec.dgram_mark = 0;
  c->spec.dgram_ifname[0] = '\0';
}

/* In process: takes the datagram device's rules away (the device, if our
 * descriptor still holds it, too). */
static void
drop_dgram_in_process (ShFwClient *c)
{
  if (c->dgram_slot < 0)
    return;
  sh_fw_dgram_remove ((guint) c->dgram_slot, c->dgram_ifname, NULL);
  c->dgram_slot = -1;
  g_clear_pointer (&c->dgram_ifname, g_free);
}

typedef struct
{
  int fd;
  char *ifname;
} DgramResult;

static void
dgram_result_free (gpointer data)
{
  DgramResult *r = data;

  if (r->fd >= 0)
    close (r->fd);
  g_free (r->ifname);
  g_free (r);
}

static DgramResult *
open_dgram_in_process (ShFwClient *c, GError **error)
{
  g_autofree char *owner = NULL;
  g_autofree char *alias = NULL;
  g_autofree char *ifname = NULL;
  g_autoptr (GError) local = NULL;
  ShFirewallSpec marked;
  DgramResult *r;
  guint64 pid = 0;
  guint slot;
  int fd;

  if (!c->applied)
    {
      g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no rules applied yet");
      return NULL;
    }
  drop_dgram_in_process (c);
  g_ascii_string_to_unsigned (c->label, 10, 1, G_MAXINT32, &pid, NULL);
  owner = pid != 0 ? sh_firewall_owner_record (pid) : NULL;
  alias = g_strdup_printf ("shuttle %s", owner != NULL ? owner : c->label);
  fd = sh_fw_dgram_open_any (getuid (), alias, &slot, &ifname, error);
  if (fd < 0)
    return NULL;
  marked = c->spec;
  marked.dgram_mark = sh_fw_dgram_mark (slot);
  g_strlcpy (marked.dgram_ifname, ifname, sizeof marked.dgram_ifname);
  if (!sh_firewall_apply (c->label, &marked, &local))
    {
      close (fd);
      sh_fw_dgram_remove (slot, ifname, NULL);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("cannot set up the firewall: %s"),
                   local->message);
      return NULL;
    }
  c->dgram_slot = (int) slot;
  c->dgram_ifname = g_strdup (ifname);
  r = g_new0 (DgramResult, 1);
  r->fd = fd;
  r->ifname = g_steal_pointer (&ifname);
  return r;
}

static void
open_dgram_done (GObject *bus, GAsyncResult *res, gpointer data)
{
  g_autoptr (GTask) task = data;
  g_autoptr (GError) remote = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) r = NULL;
  GError *error = NULL;
  DgramResult *out;
  gint32 handle;
  const char *ifname;

  r = g_dbus_connection_call_with_unix_fd_list_finish (G_DBUS_CONNECTION (bus), &fds, res, &remote);
  if (r == NULL)
    {
      if (g_error_matches (remote, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        error = g_steal_pointer (&remote);
      else
        helper_error (&error, remote);
      g_task_return_error (task, error);
      return;
    }
  g_variant_get (r, "(h&s)", &handle, &ifname);
  out = g_new0 (DgramResult, 1);
  out->fd = fds != NULL ? g_unix_fd_list_get (fds, handle, &error) : -1;
  if (out->fd < 0)
    {
      dgram_result_free (out);
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                               "the firewall helper passed no device");
      g_clear_error (&error);
      return;
    }
  out->ifname = g_strdup (ifname);
  g_task_return_pointer (task, out, dgram_result_free);
}

void
sh_fw_client_open_dgram_async (ShFwClient *c, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, data);

  if (c->bus == NULL)
    {
      GError *error = NULL;
      DgramResult *r = open_dgram_in_process (c, &error);

      if (r != NULL)
        g_task_return_pointer (task, r, dgram_result_free);
      else
        g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  g_dbus_connection_call_with_unix_fd_list (
      c->bus, c->dest, SH_FW_OBJECT_PATH, SH_FW_IFACE, "OpenDatagramTunnel",
      g_variant_new ("(s@a{sv})", c->label,
                     sh_fw_encode_options (&(ShFirewallSpec){ 0 }, SH_FW_UID_NONE)),
      G_VARIANT_TYPE ("(hs)"), G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, HELPER_TIMEOUT_MS,
      NULL, cancellable, open_dgram_done, task);
}

int
sh_fw_client_open_dgram_finish (ShFwClient *c, GAsyncResult *res, char **ifname, GError **error)
{
  DgramResult *r = g_task_propagate_pointer (G_TASK (res), error);
  int fd;

  if (r == NULL)
    return -1;
  fd = r->fd;
  r->fd = -1;
  *ifname = g_steal_pointer (&r->ifname);
  dgram_result_free (r);
  return fd;
}

static void
open_synq_done (GObject *bus, GAsyncResult *res, gpointer data)
{
  g_autoptr (GTask) task = data;
  g_autoptr (GError) remote = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) r = NULL;
  GError *error = NULL;
  gint32 handle;
  int fd;

  r = g_dbus_connection_call_with_unix_fd_list_finish (G_DBUS_CONNECTION (bus), &fds, res, &remote);
  if (r == NULL)
    {
      if (g_error_matches (remote, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        error = g_steal_pointer (&remote);
      else
        helper_error (&error, remote);
      g_task_return_error (task, error);
      return;
    }
  g_variant_get (r, "(h)", &handle);
  fd = fds != NULL ? g_unix_fd_list_get (fds, handle, NULL) : -1;
  if (fd < 0)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                               "the firewall helper passed no relay");
      return;
    }
  g_task_return_int (task, fd);
}

void
sh_fw_client_open_syn_queue_async (ShFwClient *c, gboolean fail_closed, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, data);

  if (c->bus == NULL)
    {
      g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED,
                               "in process the engine binds its queue itself");
      g_object_unref (task);
      return;
    }
  g_dbus_connection_call_with_unix_fd_list (
      c->bus, c->dest, SH_FW_OBJECT_PATH, SH_FW_IFACE, "OpenSynQueue",
      g_variant_new ("(s@a{sv})", c->label,
                     sh_fw_encode_options (&(ShFirewallSpec){ .syn_fail_closed = fail_closed },
                                           SH_FW_UID_NONE)),
      G_VARIANT_TYPE ("(h)"), G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, HELPER_TIMEOUT_MS,
      NULL, cancellable, open_synq_done, task);
}

int
sh_fw_client_open_syn_queue_finish (ShFwClient *c, GAsyncResult *res, GError **error)
{
  gssize fd = g_task_propagate_int (G_TASK (res), error);

  return fd < 0 ? -1 : (int) fd;
}

void
sh_fw_client_apply_async (ShFwClient *c, const ShFirewallSpec *spec, GCancellable *cancellable,
                          GAsyncReadyCallback callback, gpointer data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, data);
  g_task_set_task_data (task, &c->applied, NULL);

  if (c->bus == NULL)
    {
      g_autoptr (GError) local = NULL;
      ShFirewallSpec marked = *spec;

      marked.dgram_mark = c->dgram_slot >= 0 ? sh_fw_dgram_mark ((guint) c->dgram_slot) : 0;
      if (c->dgram_ifname != NULL)
        g_strlcpy (marked.dgram_ifname, c->dgram_ifname, sizeof marked.dgram_ifname);
      if (sh_firewall_apply (c->label, &marked, &local))
        {
          remember_spec (c, spec);
          c->applied = TRUE;
          g_task_return_boolean (task, TRUE);
        }
      else
        g_task_return_new_error (task, G_IO_ERROR, G_IO_ERROR_FAILED,
                                 _ ("cannot set up the firewall: %s"), local->message);
      g_object_unref (task);
      return;
    }
  g_dbus_connection_call (c->bus, c->dest, SH_FW_OBJECT_PATH, SH_FW_IFACE, "ApplyTunnel",
                          sh_fw_encode_tunnel (c->label, spec, SH_FW_UID_NONE),
                          G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION,
                          HELPER_TIMEOUT_MS, cancellable, call_done, task);
}

gboolean
sh_fw_client_apply_finish (ShFwClient *c, GAsyncResult *res, GError **error)
{
  return g_task_propagate_boolean (G_TASK (res), error);
}

gboolean
sh_fw_client_remove_rules (ShFwClient *c, GError **error)
{
  if (!c->applied)
    return TRUE;
  c->applied = FALSE;
  if (c->bus == NULL)
    {
      drop_dgram_in_process (c);
      return sh_firewall_remove (c->label, error);
    }
  if (c->dest == NULL)
    {
      /* Our controller removes the rules itself when it stops us, and may
       * have withdrawn its Firewall1 object first: nothing left to do. */
      g_autoptr (GError) local = NULL;
      if (call_helper (c, "RemoveTunnel", g_variant_new ("(s)", c->label), NULL, NULL, &local))
        return TRUE;
      if (strstr (local->message, "does not exist") != NULL)
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  return call_helper (c, "RemoveTunnel", g_variant_new ("(s)", c->label), NULL, NULL, error);
}

gboolean
sh_fw_client_remove (ShFwClient *c, GError **error)
{
  gboolean ok = TRUE;

  if (c->hosts_set && c->bus != NULL)
    ok = call_helper (c, "RemoveHosts", g_variant_new ("(s)", c->label), NULL, NULL, error);
  c->hosts_set = FALSE;
  return sh_fw_client_remove_rules (c, ok ? error : NULL) && ok;
}

typedef struct
{
  const char *id;
  const char *note;
  GPtrArray *lines; /* "address name"; empty: remove the block */
} HostsEdit;

static char *
edit_hosts (const char *content, gpointer data, GError **error)
{
  HostsEdit *e = data;
  if (e->lines->len == 0)
    return sh_hosts_block_remove (content, e->id);
  return sh_hosts_block_set (content, e->id, e->note, e->lines);
}

/* The block of a root engine without the helper is "p<pid>", its note the
 * owner's record: a later engine's sweep can tell when its owner is gone,
 * even when the pid runs something else by then. */
static gboolean
set_hosts_in_process (ShFwClient *c, const GPtrArray *entries, GError **error)
{
  g_autofree char *id = g_strdup_printf ("p%s", c->label);
  guint64 pid = 0;
  g_ascii_string_to_unsigned (c->label, 10, 1, G_MAXINT32, &pid, NULL);
  g_autofree char *owner = pid != 0 ? sh_firewall_owner_record (pid) : NULL;
  g_autofree char *note = g_strdup_printf ("shuttle %s", owner != NULL ? owner : c->label);
  g_autoptr (GPtrArray) lines = g_ptr_array_new_with_free_func (g_free);
  HostsEdit e = { id, note, lines };
  g_autoptr (GError) local = NULL;

  for (guint i = 0; i + 1 < entries->len; i += 2)
    g_ptr_array_add (lines, g_strdup_printf ("%s %s", (const char *) g_ptr_array_index (entries, i),
                                             (const char *) g_ptr_array_index (entries, i + 1)));
  if (!sh_hosts_file_edit (HOSTS_FILE, edit_hosts, &e, &local))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("cannot edit %s: %s"), HOSTS_FILE,
                   local->message);
      return FALSE;
    }
  return TRUE;
}

/* Removes the hosts blocks "p<pid>" of engines that no longer run. */
static char *
sweep_hosts (const char *content, gpointer data, GError **error)
{
  g_autoptr (GHashTable) blocks = sh_hosts_block_list (content);
  g_autofree char *text = g_strdup (content);
  GHashTableIter it;
  gpointer id, note;

  g_hash_table_iter_init (&it, blocks);
  while (g_hash_table_iter_next (&it, &id, &note))
    {
      guint64 pid;
      const char *name = id;
      if (name[0] != 'p' || !g_ascii_string_to_unsigned (name + 1, 10, 1, G_MAXINT32, &pid, NULL)
          || sh_firewall_owner_alive (pid, note))
        continue;
      char *next = sh_hosts_block_remove (text, name);
      g_free (text);
      text = next;
      (*(int *) data)++;
    }
  return g_steal_pointer (&text);
}

static GVariant *
hosts_args (ShFwClient *c, const GPtrArray *entries)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a(ss)"));
  for (guint i = 0; i + 1 < entries->len; i += 2)
    g_variant_builder_add (&b, "(ss)", (const char *) g_ptr_array_index (entries, i),
                           (const char *) g_ptr_array_index (entries, i + 1));
  return g_variant_new ("(sa(ss))", c->label, &b);
}

gboolean
sh_fw_client_set_hosts (ShFwClient *c, const GPtrArray *entries, GError **error)
{
  if (c->bus == NULL)
    {
      if (!set_hosts_in_process (c, entries, error))
        return FALSE;
      c->hosts_set = entries->len > 0;
      return TRUE;
    }
  if (!call_helper (c, "SetHosts", hosts_args (c, entries), NULL, NULL, error))
    return FALSE;
  c->hosts_set = entries->len > 0;
  return TRUE;
}

void
sh_fw_client_set_hosts_async (ShFwClient *c, const GPtrArray *entries, GCancellable *cancellable,
                              GAsyncReadyCallback callback, gpointer data)
{
  GTask *task = g_task_new (NULL, cancellable, callback, data);

  if (c->bus == NULL)
    {
      GError *error = NULL;
      if (sh_fw_client_set_hosts (c, entries, &error))
        g_task_return_boolean (task, TRUE);
      else
        g_task_return_error (task, error);
      g_object_unref (task);
      return;
    }
  /* Set before the answer: whatever happens to this call, the block is
   * removed at the end (sh_fw_client_remove). */
  if (entries->len > 0)
    c->hosts_set = TRUE;
  g_dbus_connection_call (c->bus, c->dest, SH_FW_OBJECT_PATH, SH_FW_IFACE, "SetHosts",
                          hosts_args (c, entries), NULL,
                          G_DBUS_CALL_FLAGS_ALLOW_INTERACTIVE_AUTHORIZATION, HELPER_TIMEOUT_MS,
                          cancellable, call_done, task);
}

gboolean
sh_fw_client_set_hosts_finish (ShFwClient *c, GAsyncResult *res, GError **error)
{
  return g_task_propagate_boolean (G_TASK (res), error);
}

void
sh_fw_client_free (ShFwClient *c)
{
  if (c == NULL)
    return;
  g_clear_pointer (&c->watch, sh_fw_watch_free);
  g_clear_object (&c->bus);
  sh_fw_spec_clear (&c->spec);
  g_free (c->dgram_ifname);
  g_free (c->label);
  g_free (c);
}
