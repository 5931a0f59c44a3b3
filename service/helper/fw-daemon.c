/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-daemon.c — the io.github.shuttlevpn.Firewall1 object.
 *
 * Ownership is recorded where it survives the helper: in each table's
 * comment and on each hosts block's begin line ("owner=:1.42 bus=<bus id>
 * uid=1000"), so a restarted helper adopts what live callers hold and sweeps
 * the rest. The bus id matters: a new bus daemon hands out the same unique
 * names again. Table names are "shuttle-c<a>_<b>-<label>" for owner ":a.b",
 * so a caller's labels can never collide with another caller's. */
#include "config.h"

#include "fw-daemon.h"
#include "fw-dgram.h"
#include "fw-synrelay.h"

#include <gio/gunixfdlist.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "firewall.h"
#include "fw-polkit.h"
#include "fw-request.h"
#include "fw-sockowner.h"
#include "hosts-block.h"
#include "shuttle-firewall-iface.h"
#include "subnet.h"

#define ACTION_FIREWALL "io.github.shuttlevpn.firewall"
#define ACTION_HOSTS "io.github.shuttlevpn.hosts"
#define COMMENT_PREFIX "shuttle-firewall "
/* Each CheckAuthorization in flight is a request, a D-Bus call and perhaps
 * an authentication dialog held for the caller: one uid may not pile them
 * up. Eight leaves room for an engine, the plugin and a retry or two. */
#define POLKIT_PENDING_PER_UID 8
#define DROPPED_LOGGED 8 /* SetHosts entries dropped: how many are logged one by one */
/* OpenSynQueue: SYNs one relay holds for its engine at once (the kernel's
 * queue holds as many; beyond, SYNs pass), and relays per uid (the uid a
 * request is for), each a queue, a socket pair and up to 4096 ids. */
#define SYNQ_PENDING_MAX 4096
#define SYNQ_PER_UID 16

typedef struct
{
  ShFwDaemon *daemon;
  char *name;  /* unique bus name */
  char *token; /* "c1_42" */
  guint uid;
  guint32 for_uid; /* SH_FW_UID_NONE, or the uid a root owner last applied for */
  guint watch;
  GHashTable *tables; /* labels */
  GHashTable *hosts;  /* labels */
  GHashTable *routed; /* label -> GArray of ShSubnet: what each tunnel carries */
  GHashTable *specs;  /* label -> ShFirewallSpec *: the last applied, for OpenDatagramTunnel */
  GHashTable *dgrams; /* label -> Dgram *: the datagram device of the tunnel */
  GHashTable *synqs;  /* label -> SynQ *: the tunnel's SYN relay */
} Owner;

/* One tunnel's SYN relay (OpenSynQueue, fw-synrelay.h). */
typedef struct
{
  Owner *owner;
  char *label;
  guint32 uid; /* the uid it is for (SYNQ_PER_UID) */
  gboolean fail_closed;
  ShFwSynRelay *relay;
} SynQ;

/* One tunnel's datagram device (fw-dgram.h): its slot and name. */
typedef struct
{
  guint slot;
  char *ifname;
} Dgram;

struct _ShFwDaemon
{
  GDBusConnection *bus;
  char *bus_id;
  char *hosts_path;
  guint idle_seconds;
  GSourceFunc on_idle;
  gpointer on_idle_data;
  guint idle_source;
  guint registration;
  gulong closed_handler;
  guint pending;                     /* requests waiting for the bus or polkit */
  GHashTable *polkit_by_uid;         /* uid -> number of CheckAuthorization in flight */
  guint polkit_timeout;              /* seconds */
  GHashTable *owners;                /* unique name -> Owner */
  gboolean slots[SH_FW_DGRAM_SLOTS]; /* datagram slots in use */
};

typedef enum
{
  REQUEST_APPLY,
  REQUEST_HOSTS,
  REQUEST_DGRAM,
  REQUEST_SYNQ,
} RequestKind;

typedef struct
{
  ShFwDaemon *daemon;
  GDBusMethodInvocation *invocation;
  RequestKind kind;
  char *label;
  ShFirewallSpec spec;
  GPtrArray *lines;
  guint uid;             /* of the caller */
  guint32 on_behalf_of;  /* SH_FW_UID_NONE, or the uid a root caller asks for */
  gboolean polkit_asked; /* counted in polkit_by_uid */
  gboolean fail_closed;  /* OpenSynQueue's option */
} Request;

/* ------------------------------------------------------------- idle exit */

static gboolean
on_idle_timeout (gpointer data)
{
  ShFwDaemon *d = data;

  d->idle_source = 0;
  g_message ("idle for %u s with no rules held: exiting", d->idle_seconds);
  d->on_idle (d->on_idle_data);
  return G_SOURCE_REMOVE;
}

/* Arms the idle timer when nothing is held or in flight, disarms it otherwise. */
static void
update_idle (ShFwDaemon *d)
{
  gboolean idle = d->pending == 0 && g_hash_table_size (d->owners) == 0;

  if (idle && d->idle_source == 0 && d->idle_seconds > 0 && d->on_idle != NULL)
    d->idle_source = g_timeout_add_seconds (d->idle_seconds, on_idle_timeout, d);
  else if (!idle && d->idle_source != 0)
    g_clear_handle_id (&d->idle_source, g_source_remove);
}

/* ---------------------------------------------------------------- owners */

static char *
owner_note (ShFwDaemon *d, const Owner *o)
{
  return g_strdup_printf ("owner=%s bus=%s uid=%u", o->name, d->bus_id, o->uid);
}

static char *
table_name (const Owner *o, const char *label)
{
  return g_strdup_printf ("%s-%s", o->token, label);
}

static gboolean remove_hosts_block (ShFwDaemon *d, const char *id, GError **error);

static void
spec_free (gpointer data)
{
  ShFirewallSpec *spec = data;

  sh_fw_spec_clear (spec);
  g_free (spec);
}

/* A copy of @spec that spec_free() may free on its own. */
static ShFirewallSpec *
spec_copy (const ShFirewallSpec *spec)
{
  ShFirewallSpec *copy = g_new0 (ShFirewallSpec, 1);

  sh_fw_spec_copy (copy, spec);
  return copy;
}

/* Takes away @o's datagram device for @label, if any: its rules, its
 * device if the engine still holds it, its slot. */
static void
owner_drop_dgram (Owner *o, const char *label, const char *why)
{
  ShFwDaemon *d = o->daemon;
  Dgram *g = g_hash_table_lookup (o->dgrams, label);
  g_autoptr (GError) error = NULL;

  if (g == NULL)
    return;
  if (sh_fw_dgram_remove (g->slot, g->ifname, &error))
    g_message ("uid %u (%s) %s: removed datagram device %s and its rules (table %u)", o->uid,
               o->name, why, g->ifname, sh_fw_dgram_mark (g->slot));
  else
    g_message ("uid %u (%s) %s: cannot remove datagram device %s: %s", o->uid, o->name, why,
               g->ifname, error->message);
  d->slots[g->slot] = FALSE;
  g_hash_table_remove (o->dgrams, label);
}

static void
dgram_free (gpointer data)
{
  Dgram *g = data;

  g_free (g->ifname);
  g_free (g);
}

static void
synq_free (gpointer data)
{
  SynQ *q = data;

  if (q->relay != NULL)
    g_message ("uid %u (%s): SYN queue %u of %s closed (%" G_GUINT64_FORMAT
               " SYNs relayed, %" G_GUINT64_FORMAT " records from the engine refused)",
               q->uid, q->owner->name, sh_fw_syn_relay_number (q->relay), q->label,
               sh_fw_syn_relay_passed (q->relay), sh_fw_syn_relay_refused (q->relay));
  g_clear_pointer (&q->relay, sh_fw_syn_relay_free);
  g_free (q->label);
  g_free (q);
}

/* What the stored tunnel @label of @o becomes in the kernel: @spec with the
 * mark of its datagram device and the queue of its SYN relay, if any. */
static void
owner_dress_spec (Owner *o, const char *label, ShFirewallSpec *spec)
{
  Dgram *dgram = g_hash_table_lookup (o->dgrams, label);
  SynQ *synq = g_hash_table_lookup (o->synqs, label);

  spec->dgram_mark = dgram != NULL ? sh_fw_dgram_mark (dgram->slot) : 0;
  spec->dgram_ifname[0] = '\0';
  if (dgram != NULL)
    g_strlcpy (spec->dgram_ifname, dgram->ifname, sizeof spec->dgram_ifname);
  spec->syn_queue = synq != NULL ? sh_fw_syn_relay_number (synq->relay) : 0;
  spec->syn_fail_closed = synq != NULL && synq->fail_closed;
}

/* Removes everything @o holds and forgets it. */
static void
owner_release (Owner *o, const char *why)
{
  ShFwDaemon *d = o->daemon;
  GHashTableIter it;
  const char *label;

  /* The queues first (their waiting SYNs pass, or with fail-closed are
   * dropped), then the rules: without them the device gets nothing more. */
  g_hash_table_remove_all (o->synqs);
  while (g_hash_table_size (o->dgrams) > 0)
    {
      GList *labels = g_hash_table_get_keys (o->dgrams);
      g_autofree char *first = g_strdup (labels->data);

      g_list_free (labels);
      owner_drop_dgram (o, first, why);
    }
  g_hash_table_iter_init (&it, o->tables);
  while (g_hash_table_iter_next (&it, (gpointer *) &label, NULL))
    {
      g_autofree char *name = table_name (o, label);
      g_autoptr (GError) error = NULL;

      if (sh_firewall_remove_owned (name, &error))
        g_message ("uid %u (%s) %s: removed table inet shuttle-%s", o->uid, o->name, why, name);
      else
        g_message ("uid %u (%s) %s: cannot remove table inet shuttle-%s: %s", o->uid, o->name, why,
                   name, error->message);
    }
  g_hash_table_iter_init (&it, o->hosts);
  while (g_hash_table_iter_next (&it, (gpointer *) &label, NULL))
    {
      g_autofree char *id = table_name (o, label);
      g_autoptr (GError) error = NULL;

      if (remove_hosts_block (d, id, &error))
        g_message ("uid %u (%s) %s: removed hosts block %s", o->uid, o->name, why, id);
      else
        g_message ("uid %u (%s) %s: cannot remove hosts block %s: %s", o->uid, o->name, why, id,
                   error->message);
    }
  g_hash_table_remove (d->owners, o->name);
  update_idle (d);
}

static void
on_name_vanished (GDBusConnection *bus, const char *name, gpointer user_data)
{
  Owner *o = user_data;

  owner_release (o, "left the bus");
}

static void
owner_free (gpointer data)
{
  Owner *o = data;

  if (o->watch != 0)
    g_bus_unwatch_name (o->watch);
  g_hash_table_unref (o->tables);
  g_hash_table_unref (o->hosts);
  g_hash_table_unref (o->routed);
  g_hash_table_unref (o->specs);
  g_hash_table_unref (o->synqs);
  g_hash_table_unref (o->dgrams);
  g_free (o->name);
  g_free (o->token);
  g_free (o);
}

/* The record of @name, created (and watched) when missing. The watch reports
 * a name that is already gone at once, so a caller that died while polkit
 * was thinking is cleaned up as soon as the main loop runs. */
static Owner *
owner_get (ShFwDaemon *d, const char *name, const char *token, guint uid)
{
  Owner *o = g_hash_table_lookup (d->owners, name);

  if (o != NULL)
    return o;
  o = g_new0 (Owner, 1);
  o->daemon = d;
  o->name = g_strdup (name);
  o->token = g_strdup (token);
  o->uid = uid;
  o->for_uid = SH_FW_UID_NONE;
  o->tables = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  o->hosts = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  o->routed
      = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_array_unref);
  o->specs = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, spec_free);
  o->dgrams = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, dgram_free);
  o->synqs = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, synq_free);
  g_hash_table_insert (d->owners, o->name, o);
  o->watch = g_bus_watch_name_on_connection (d->bus, name, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                             on_name_vanished, o, NULL);
  update_idle (d);
  return o;
}

static void
owner_forget_if_empty (Owner *o)
{
  ShFwDaemon *d = o->daemon;

  if (g_hash_table_size (o->tables) == 0 && g_hash_table_size (o->hosts) == 0
      && g_hash_table_size (o->dgrams) == 0 && g_hash_table_size (o->synqs) == 0)
    {
      g_hash_table_remove (d->owners, o->name);
      update_idle (d);
    }
}

/* How the logs name who asked: "uid 1000 (:1.42)", or for a root caller
 * acting for a user (the NetworkManager plugin for the engine it runs)
 * "uid 1000 via uid 0 (:1.42)", so the real requester is on record. */
static char *
who (guint uid, guint32 for_uid, const char *name)
{
  if (for_uid == SH_FW_UID_NONE)
    return g_strdup_printf ("uid %u (%s)", uid, name);
  return g_strdup_printf ("uid %u via uid %u (%s)", for_uid, uid, name);
}

/* Remembers the subnets of @o's tunnel @label (NULL: it is gone): the
 * addresses its hosts entries may have. */
static void
owner_set_routed (Owner *o, const char *label, GArray *subnets)
{
  if (subnets == NULL)
    g_hash_table_remove (o->routed, label);
  else
    g_hash_table_insert (o->routed, g_strdup (label), g_array_ref (subnets));
}

/* The subnets of all of @o's tunnels: a new array. */
static GArray *
owner_routed (const Owner *o)
{
  GArray *all = g_array_new (FALSE, FALSE, sizeof (ShSubnet));
  GHashTableIter it;
  GArray *one;

  g_hash_table_iter_init (&it, o->routed);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &one))
    g_array_append_vals (all, one->data, one->len);
  return all;
}

/* ----------------------------------------------------------------- hosts */

static char *
edit_remove (const char *content, gpointer id, GError **error)
{
  return sh_hosts_block_remove (content, id);
}

static gboolean parse_note (const char *note, char **owner, char **bus_id, guint *uid);

/* A SetHosts: what to write is decided with the file in hand, under its
 * lock, since the names it already has and the blocks of the caller's uid
 * count. */
typedef struct
{
  const char *id;
  const char *note;
  const GPtrArray *lines; /* as the caller sent them */
  const GArray *subnets;  /* of the caller's tunnels */
  guint uid;
  GPtrArray *dropped; /* out: "<line>: <reason>" */
  guint written;      /* out: entries now in the block */
} SetHostsEdit;

/* Refuses a block that would take @uid over the caps; @id is the block
 * being written, with @entries lines. */
static gboolean
check_uid_caps (const char *content, const char *id, guint uid, guint entries, GError **error)
{
  g_autoptr (GHashTable) blocks = sh_hosts_block_list (content);
  GHashTableIter it;
  const char *other, *note;
  guint n_blocks = 1, n_entries = entries;

  g_hash_table_iter_init (&it, blocks);
  while (g_hash_table_iter_next (&it, (gpointer *) &other, (gpointer *) &note))
    {
      g_autofree char *owner = NULL;
      g_autofree char *bus_id = NULL;
      g_autoptr (GPtrArray) held = NULL;
      guint block_uid;

      if (g_str_equal (other, id) || !parse_note (note, &owner, &bus_id, &block_uid)
          || block_uid != uid)
        continue;
      held = sh_hosts_block_get (content, other);
      n_blocks++;
      n_entries += held->len;
    }
  if (n_blocks > SH_FW_HOSTS_BLOCKS_PER_UID || n_entries > SH_FW_HOSTS_ENTRIES_PER_UID)
    {
      g_set_error (error, SH_FW_ERROR, SH_FW_ERROR_FAILED,
                   "uid %u would hold %u host entries in %u blocks (at most %d in %d)", uid,
                   n_entries, n_blocks, SH_FW_HOSTS_ENTRIES_PER_UID, SH_FW_HOSTS_BLOCKS_PER_UID);
      return FALSE;
    }
  return TRUE;
}

static char *
edit_set_hosts (const char *content, gpointer data, GError **error)
{
  SetHostsEdit *e = data;
  g_autoptr (GHashTable) taken = sh_hosts_names_outside_blocks (content);
  g_autoptr (GPtrArray) held = sh_hosts_block_get (content, e->id);
  g_autoptr (GPtrArray) kept = sh_fw_filter_hosts (e->lines, e->subnets, taken, held, e->dropped);

  e->written = kept->len;
  /* An empty list is a removal: a block is never left empty. */
  if (kept->len == 0)
    return sh_hosts_block_remove (content, e->id);
  if (!check_uid_caps (content, e->id, e->uid, kept->len, error))
    return NULL;
  return sh_hosts_block_set (content, e->id, e->note, kept);
}

static gboolean
remove_hosts_block (ShFwDaemon *d, const char *id, GError **error)
{
  return sh_hosts_file_edit (d->hosts_path, edit_remove, (gpointer) id, error);
}

/* --------------------------------------------------------------- actions */

static void
return_error (GDBusMethodInvocation *invocation, GError *error)
{
  if (error->domain == SH_FW_ERROR)
    g_dbus_method_invocation_return_gerror (invocation, error);
  else
    g_dbus_method_invocation_return_error (invocation, SH_FW_ERROR, SH_FW_ERROR_FAILED, "%s",
                                           error->message);
}

/* The redirect must reach only the requester: the port is a loopback
 * listener of the uid the request is for (the caller's own, or the one a
 * root caller names), over UDP too when DNS is captured, since DNS goes to
 * the same port. Checked just before applying, after polkit, so a listener
 * that changed while a password was typed is seen. */
static gboolean
check_ports (const Request *r, GError **error)
{
  guint32 uid = r->on_behalf_of != SH_FW_UID_NONE ? r->on_behalf_of : r->uid;

  if (!sh_fw_port_check (IPPROTO_TCP, r->spec.port, uid, error))
    return FALSE;
  /* shuttle run --scope: the cgroup is the requester's own. */
  if (r->spec.cgroup != NULL
      && !sh_firewall_check_cgroup (r->spec.cgroup, r->spec.cgroup_level, uid, error))
    return FALSE;
  return r->spec.dns_servers == NULL || r->spec.dns_servers->len == 0
         || sh_fw_port_check (IPPROTO_UDP, r->spec.port, uid, error);
}

static void
do_apply (Request *r)
{
  ShFwDaemon *d = r->daemon;
  const char *sender = g_dbus_method_invocation_get_sender (r->invocation);
  g_autofree char *token = sh_fw_owner_token (sender);
  g_autofree char *requester = who (r->uid, r->on_behalf_of, sender);
  g_autofree char *name = NULL;
  g_autofree char *note = NULL;
  g_autofree char *comment = NULL;
  g_autofree char *table = NULL;
  g_autoptr (GError) error = NULL;
  Owner *o;

  if (!check_ports (r, &error))
    {
      g_message ("%s: ApplyTunnel refused: %s", requester, error->message);
      return_error (r->invocation, error);
      return;
    }
  o = owner_get (d, sender, token, r->uid);
  name = table_name (o, r->label);
  note = owner_note (d, o);
  comment = g_strconcat (COMMENT_PREFIX, note, NULL);
  /* A tunnel that has its datagram device keeps marking for it, one with
   * a SYN relay keeps queueing. */
  owner_dress_spec (o, r->label, &r->spec);
  if (!sh_firewall_apply_owned (name, comment, &r->spec, &error))
    {
      g_message ("%s: applying table inet shuttle-%s failed: %s", requester, name, error->message);
      owner_forget_if_empty (o);
      return_error (r->invocation, error);
      return;
    }
  g_hash_table_add (o->tables, g_strdup (r->label));
  o->for_uid = r->on_behalf_of;
  owner_set_routed (o, r->label, r->spec.subnets);
  g_hash_table_insert (o->specs, g_strdup (r->label), spec_copy (&r->spec));
  g_message ("%s: applied table inet shuttle-%s (port %u, %u subnets, %u excludes)", requester,
             name, r->spec.port, r->spec.subnets->len, r->spec.excludes->len);
  table = g_strdup_printf ("inet shuttle-%s", name);
  g_dbus_method_invocation_return_value (r->invocation, g_variant_new ("(s)", table));
}

static void
do_set_hosts (Request *r)
{
  ShFwDaemon *d = r->daemon;
  const char *sender = g_dbus_method_invocation_get_sender (r->invocation);
  g_autofree char *token = sh_fw_owner_token (sender);
  g_autoptr (GError) error = NULL;
  Owner *o = owner_get (d, sender, token, r->uid);
  g_autofree char *id = table_name (o, r->label);
  g_autofree char *note = owner_note (d, o);
  g_autofree char *requester = who (o->uid, o->for_uid, sender);
  g_autoptr (GArray) subnets = owner_routed (o);
  g_autoptr (GPtrArray) dropped = g_ptr_array_new_with_free_func (g_free);
  SetHostsEdit e = {
    .id = id, .note = note, .lines = r->lines, .subnets = subnets, .uid = o->uid, .dropped = dropped
  };

  if (!sh_hosts_file_edit (d->hosts_path, edit_set_hosts, &e, &error))
    {
      g_message ("%s: writing hosts block %s failed: %s", requester, id, error->message);
      owner_forget_if_empty (o);
      return_error (r->invocation, error);
      return;
    }
  /* Dropped, not refused: the list is the ssh server's, and one bad name
   * must not cost the good ones. A few lines tell why; a caller sending
   * thousands does not get to fill the journal. */
  for (guint i = 0; i < MIN (dropped->len, DROPPED_LOGGED); i++)
    g_message ("%s: hosts block %s: dropped %s", requester, id,
               (const char *) g_ptr_array_index (dropped, i));
  if (dropped->len > DROPPED_LOGGED)
    g_message ("%s: hosts block %s: dropped %u more", requester, id, dropped->len - DROPPED_LOGGED);
  if (e.written > 0)
    g_hash_table_add (o->hosts, g_strdup (r->label));
  else
    g_hash_table_remove (o->hosts, r->label);
  g_message ("%s: hosts block %s now has %u entries", requester, id, e.written);
  owner_forget_if_empty (o);
  g_dbus_method_invocation_return_value (r->invocation, NULL);
}

static gboolean
free_slot (ShFwDaemon *d, guint *slot)
{
  for (guint i = 0; i < SH_FW_DGRAM_SLOTS; i++)
    if (!d->slots[i])
      {
        *slot = i;
        return TRUE;
      }
  return FALSE;
}

/* OpenDatagramTunnel: the tun device for the caller's tunnel @label, the
 * rules that route the tunnel's marked packets into it, and the table
 * applied again with the mark. Either all of it is in place and the only
 * descriptor of the device goes to the caller, or nothing is. */
static void
do_open_dgram (Request *r)
{
  ShFwDaemon *d = r->daemon;
  const char *sender = g_dbus_method_invocation_get_sender (r->invocation);
  g_autofree char *requester = who (r->uid, r->on_behalf_of, sender);
  guint32 uid = r->on_behalf_of != SH_FW_UID_NONE ? r->on_behalf_of : r->uid;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  g_autofree char *note = NULL;
  g_autofree char *alias = NULL;
  g_autofree char *comment = NULL;
  g_autofree char *ifname = NULL;
  ShFirewallSpec *spec;
  ShFirewallSpec marked;
  Dgram *g;
  Owner *o = g_hash_table_lookup (d->owners, sender);
  guint slot;
  int fd;

  spec = o != NULL ? g_hash_table_lookup (o->specs, r->label) : NULL;
  if (spec == NULL)
    {
      g_dbus_method_invocation_return_error (r->invocation, SH_FW_ERROR, SH_FW_ERROR_NOT_FOUND,
                                             "this caller applied no tunnel labelled “%s”",
                                             r->label);
      return;
    }
  /* A second call replaces the device: the engine reconnected. */
  owner_drop_dgram (o, r->label, "asked again");
  if (!free_slot (d, &slot))
    {
      g_message ("%s: no datagram slot free", requester);
      g_dbus_method_invocation_return_error (r->invocation, SH_FW_ERROR, SH_FW_ERROR_FAILED,
                                             "all %d datagram devices are in use",
                                             SH_FW_DGRAM_SLOTS);
      return;
    }
  name = table_name (o, r->label);
  note = owner_note (d, o);
  alias = g_strdup_printf (COMMENT_PREFIX "%s label=%s slot=%u", note, r->label, slot);
  fd = sh_fw_dgram_open (slot, uid, alias, &ifname, &error);
  if (fd < 0)
    {
      g_message ("%s: datagram device for %s failed: %s", requester, name, error->message);
      return_error (r->invocation, error);
      return;
    }
  marked = *spec;
  owner_dress_spec (o, r->label, &marked);
  marked.dgram_mark = sh_fw_dgram_mark (slot);
  g_strlcpy (marked.dgram_ifname, ifname, sizeof marked.dgram_ifname);
  comment = g_strconcat (COMMENT_PREFIX, note, NULL);
  if (!sh_firewall_apply_owned (name, comment, &marked, &error))
    {
      g_message ("%s: marking for %s failed: %s", requester, ifname, error->message);
      close (fd);
      sh_fw_dgram_remove (slot, ifname, NULL);
      return_error (r->invocation, error);
      return;
    }
  g = g_new0 (Dgram, 1);
  g->slot = slot;
  g->ifname = g_strdup (ifname);
  d->slots[slot] = TRUE;
  g_hash_table_insert (o->dgrams, g_strdup (r->label), g);
  fds = g_unix_fd_list_new ();
  if (g_unix_fd_list_append (fds, fd, &error) < 0)
    {
      close (fd);
      owner_drop_dgram (o, r->label, "could not pass the device");
      return_error (r->invocation, error);
      return;
    }
  /* The helper keeps no descriptor: the device lives as long as the
   * engine's. */
  close (fd);
  g_message ("%s: datagram device %s for table inet shuttle-%s (mark and table %u)", requester,
             ifname, name, marked.dgram_mark);
  g_dbus_method_invocation_return_value_with_unix_fd_list (r->invocation,
                                                           g_variant_new ("(hs)", 0, ifname), fds);
}

/* Applies @o's stored tunnel @label again as it is now (after its SYN
 * relay came or went). */
static gboolean
owner_reapply (Owner *o, const char *label, GError **error)
{
  ShFirewallSpec *spec = g_hash_table_lookup (o->specs, label);
  g_autofree char *name = table_name (o, label);
  g_autofree char *note = owner_note (o->daemon, o);
  g_autofree char *comment = g_strconcat (COMMENT_PREFIX, note, NULL);
  ShFirewallSpec dressed;

  if (spec == NULL || !g_hash_table_contains (o->tables, label))
    return TRUE; /* the tunnel is gone already, and its chains with it */
  dressed = *spec;
  owner_dress_spec (o, label, &dressed);
  return sh_firewall_apply_owned (name, comment, &dressed, error);
}

/* The engine's end of a relay hung up (it closed it, or died): the queue
 * goes, and without fail-closed its chains too, so that SYNs go straight
 * to the redirect again. With fail-closed they stay, and the unbound queue
 * drops SYNs until the table goes (RemoveTunnel, or the owner leaving the
 * bus). */
static void
on_relay_closed (ShFwSynRelay *relay, gpointer data)
{
  SynQ *q = data;
  Owner *o = q->owner;
  g_autofree char *label = g_strdup (q->label);
  gboolean fail_closed = q->fail_closed;
  g_autoptr (GError) error = NULL;

  g_message ("uid %u (%s): the engine hung up the SYN queue of %s", q->uid, o->name, label);
  g_hash_table_remove (o->synqs, label); /* frees q and the relay */
  if (!fail_closed && !owner_reapply (o, label, &error))
    g_message ("uid %u (%s): cannot remove the SYN chains of %s: %s", o->uid, o->name, label,
               error->message);
  owner_forget_if_empty (o);
}

/* Relays held for @uid over all callers. */
static guint
synqs_of_uid (ShFwDaemon *d, guint32 uid)
{
  GHashTableIter it, jt;
  Owner *o;
  SynQ *q;
  guint n = 0;

  g_hash_table_iter_init (&it, d->owners);
  while (g_hash_table_iter_next (&it, NULL, (gpointer *) &o))
    {
      g_hash_table_iter_init (&jt, o->synqs);
      while (g_hash_table_iter_next (&jt, NULL, (gpointer *) &q))
        n += q->uid == uid;
    }
  return n;
}

/* OpenSynQueue: a netfilter queue for the first SYNs of the caller's
 * tunnel @label, its chains in the tunnel's table, and the caller's end of
 * the relay (fw-synrelay.h). Either all is in place or nothing is. */
static void
do_open_synq (Request *r)
{
  ShFwDaemon *d = r->daemon;
  const char *sender = g_dbus_method_invocation_get_sender (r->invocation);
  g_autofree char *requester = who (r->uid, r->on_behalf_of, sender);
  guint32 uid = r->on_behalf_of != SH_FW_UID_NONE ? r->on_behalf_of : r->uid;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *name = NULL;
  Owner *o = g_hash_table_lookup (d->owners, sender);
  SynQ *q;
  int efd = -1;

  if (o == NULL || g_hash_table_lookup (o->specs, r->label) == NULL)
    {
      g_dbus_method_invocation_return_error (r->invocation, SH_FW_ERROR, SH_FW_ERROR_NOT_FOUND,
                                             "this caller applied no tunnel labelled “%s”",
                                             r->label);
      return;
    }
  /* A second call replaces the relay: the engine reconnected. */
  g_hash_table_remove (o->synqs, r->label);
  if (synqs_of_uid (d, uid) >= SYNQ_PER_UID)
    {
      g_message ("%s: OpenSynQueue refused: uid %u holds %d SYN queues", requester, uid,
                 SYNQ_PER_UID);
      g_dbus_method_invocation_return_error (r->invocation, SH_FW_ERROR, SH_FW_ERROR_FAILED,
                                             "uid %u holds %d SYN queues already (at most %d)", uid,
                                             SYNQ_PER_UID, SYNQ_PER_UID);
      return;
    }
  q = g_new0 (SynQ, 1);
  q->owner = o;
  q->label = g_strdup (r->label);
  q->uid = uid;
  q->fail_closed = r->fail_closed;
  q->relay
      = sh_fw_syn_relay_new (SYNQ_PENDING_MAX, r->fail_closed, on_relay_closed, q, &efd, &error);
  if (q->relay == NULL)
    {
      synq_free (q);
      g_message ("%s: OpenSynQueue failed: %s", requester, error->message);
      return_error (r->invocation, error);
      return;
    }
  g_hash_table_insert (o->synqs, q->label, q);
  name = table_name (o, r->label);
  fds = g_unix_fd_list_new ();
  if (!owner_reapply (o, r->label, &error) || g_unix_fd_list_append (fds, efd, &error) < 0)
    {
      g_message ("%s: SYN queue for %s failed: %s", requester, name, error->message);
      close (efd);
      g_hash_table_remove (o->synqs, r->label);
      owner_reapply (o, r->label, NULL);
      return_error (r->invocation, error);
      return;
    }
  /* The caller's end goes with the reply only: when it closes (or its
   * process dies) the relay hears of it at once. */
  close (efd);
  g_message ("%s: SYN queue %u%s for table inet shuttle-%s", requester,
             sh_fw_syn_relay_number (q->relay), q->fail_closed ? " (fail-closed)" : "", name);
  g_dbus_method_invocation_return_value_with_unix_fd_list (r->invocation, g_variant_new ("(h)", 0),
                                                           fds);
}

/* Takes @r out of its uid's count of polkit questions in flight. */
static void
polkit_done (Request *r)
{
  ShFwDaemon *d = r->daemon;
  gpointer key = GUINT_TO_POINTER (r->uid);
  guint count = GPOINTER_TO_UINT (g_hash_table_lookup (d->polkit_by_uid, key));

  if (!r->polkit_asked)
    return;
  r->polkit_asked = FALSE;
  if (count <= 1)
    g_hash_table_remove (d->polkit_by_uid, key);
  else
    g_hash_table_insert (d->polkit_by_uid, key, GUINT_TO_POINTER (count - 1));
}

static void
request_free (Request *r)
{
  ShFwDaemon *d = r->daemon;

  polkit_done (r);

  d->pending--;
  update_idle (d);
  g_object_unref (r->invocation);
  g_free (r->label);
  sh_fw_spec_clear (&r->spec);
  g_clear_pointer (&r->lines, g_ptr_array_unref);
  g_free (r);
}

static void
request_act (Request *r)
{
  if (r->kind == REQUEST_APPLY)
    do_apply (r);
  else if (r->kind == REQUEST_DGRAM)
    do_open_dgram (r);
  else if (r->kind == REQUEST_SYNQ)
    do_open_synq (r);
  else
    do_set_hosts (r);
  request_free (r);
}

static void
on_authorized (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Request *r = user_data;
  g_autoptr (GError) error = NULL;

  polkit_done (r);
  if (!sh_fw_polkit_check_finish (result, &error))
    {
      g_autofree char *requester
          = who (r->uid, r->on_behalf_of, g_dbus_method_invocation_get_sender (r->invocation));

      g_message ("%s: refused: %s", requester, error->message);
      return_error (r->invocation, error);
      request_free (r);
      return;
    }
  request_act (r);
}

static void refuse_request (Request *r, const char *format, ...) G_GNUC_PRINTF (2, 3);

/* Answers NotAuthorized, logs it and frees @r. */
static void
refuse_request (Request *r, const char *format, ...)
{
  const char *sender = g_dbus_method_invocation_get_sender (r->invocation);
  g_autofree char *requester = who (r->uid, r->on_behalf_of, sender);
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_message ("%s: refused: %s", requester, message);
  g_dbus_method_invocation_return_error_literal (r->invocation, SH_FW_ERROR,
                                                 SH_FW_ERROR_NOT_AUTHORIZED, message);
  request_free (r);
}

static void
on_caller_uid (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Request *r = user_data;
  ShFwDaemon *d = r->daemon;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  guint count;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_dbus_method_invocation_return_error (r->invocation, SH_FW_ERROR, SH_FW_ERROR_FAILED,
                                             "cannot identify the caller: %s", error->message);
      request_free (r);
      return;
    }
  g_variant_get (reply, "(u)", &r->uid);
  /* Only root may ask for another uid: the NetworkManager plugin runs the
   * engine as the profile's user and forwards its requests as root. */
  if (r->on_behalf_of != SH_FW_UID_NONE && r->uid != 0)
    {
      refuse_request (r, "only root may use the option “on-behalf-of-uid”");
      return;
    }
  /* Root could change the firewall itself; asking polkit would only add a
   * way to fail. */
  if (r->uid == 0)
    {
      request_act (r);
      return;
    }
  count = GPOINTER_TO_UINT (g_hash_table_lookup (d->polkit_by_uid, GUINT_TO_POINTER (r->uid)));
  if (count >= POLKIT_PENDING_PER_UID)
    {
      refuse_request (r,
                      "uid %u already has %u requests waiting for authorization (at most %u): "
                      "answer or cancel those first",
                      r->uid, count, POLKIT_PENDING_PER_UID);
      return;
    }
  g_hash_table_insert (d->polkit_by_uid, GUINT_TO_POINTER (r->uid), GUINT_TO_POINTER (count + 1));
  r->polkit_asked = TRUE;
  sh_fw_polkit_check_async (d->bus, g_dbus_method_invocation_get_sender (r->invocation),
                            r->kind == REQUEST_HOSTS ? ACTION_HOSTS : ACTION_FIREWALL,
                            d->polkit_timeout, on_authorized, r);
}

/* Starts the uid lookup and polkit check for a validated request. */
static void
request_start (ShFwDaemon *d, GDBusMethodInvocation *invocation, Request *r)
{
  r->daemon = d;
  r->invocation = g_object_ref (invocation);
  d->pending++;
  update_idle (d);
  g_dbus_connection_call (d->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "GetConnectionUnixUser",
                          g_variant_new ("(s)", g_dbus_method_invocation_get_sender (invocation)),
                          G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, on_caller_uid,
                          r);
}

/* Removal needs no polkit: it only takes away what this caller was allowed
 * to add, and it must work when polkit is unavailable. */
static void
handle_remove (ShFwDaemon *d, GDBusMethodInvocation *invocation, gboolean hosts)
{
  const char *sender = g_dbus_method_invocation_get_sender (invocation);
  g_autofree char *label = NULL;
  g_autofree char *name = NULL;
  g_autoptr (GError) error = NULL;
  Owner *o;
  gboolean ok;

  if (!sh_fw_parse_label (g_dbus_method_invocation_get_parameters (invocation), &label, &error))
    {
      return_error (invocation, error);
      return;
    }
  o = g_hash_table_lookup (d->owners, sender);
  if (o == NULL || !g_hash_table_contains (hosts ? o->hosts : o->tables, label))
    {
      g_dbus_method_invocation_return_error (invocation, SH_FW_ERROR, SH_FW_ERROR_NOT_FOUND,
                                             "this caller holds no %s labelled “%s”",
                                             hosts ? "hosts block" : "table", label);
      return;
    }
  name = table_name (o, label);
  ok = hosts ? remove_hosts_block (d, name, &error) : sh_firewall_remove_owned (name, &error);
  if (!ok)
    {
      g_message ("uid %u (%s): removing %s %s failed: %s", o->uid, sender,
                 hosts ? "hosts block" : "table", name, error->message);
      return_error (invocation, error);
      return;
    }
  g_message ("uid %u (%s): removed %s%s", o->uid, sender,
             hosts ? "hosts block " : "table inet shuttle-", name);
  g_hash_table_remove (hosts ? o->hosts : o->tables, label);
  if (!hosts)
    {
      owner_set_routed (o, label, NULL);
      g_hash_table_remove (o->specs, label);
      g_hash_table_remove (o->synqs, label);
      owner_drop_dgram (o, label, "removed its tunnel");
    }
  owner_forget_if_empty (o);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
method_call (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *invocation,
             gpointer user_data)
{
  ShFwDaemon *d = user_data;
  g_autoptr (GError) error = NULL;
  g_autofree char *token = sh_fw_owner_token (sender);
  Request *r;

  if (token == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, SH_FW_ERROR, SH_FW_ERROR_FAILED,
                                             "unexpected caller name %s", sender);
      return;
    }
  if (g_str_equal (method, "RemoveTunnel") || g_str_equal (method, "RemoveHosts"))
    {
      handle_remove (d, invocation, g_str_equal (method, "RemoveHosts"));
      return;
    }

  r = g_new0 (Request, 1);
  r->on_behalf_of = SH_FW_UID_NONE;
  if (g_str_equal (method, "ApplyTunnel"))
    {
      r->kind = REQUEST_APPLY;
      if (!sh_fw_parse_tunnel (params, &r->label, &r->spec, &r->on_behalf_of, &error))
        goto invalid;
    }
  else if (g_str_equal (method, "OpenDatagramTunnel"))
    {
      r->kind = REQUEST_DGRAM;
      if (!sh_fw_parse_dgram (params, &r->label, &r->on_behalf_of, &error))
        goto invalid;
    }
  else if (g_str_equal (method, "OpenSynQueue"))
    {
      r->kind = REQUEST_SYNQ;
      if (!sh_fw_parse_synq (params, &r->label, &r->on_behalf_of, &r->fail_closed, &error))
        goto invalid;
    }
  else if (g_str_equal (method, "SetHosts"))
    {
      r->kind = REQUEST_HOSTS;
      if (!sh_fw_parse_hosts (params, &r->label, &r->lines, &error))
        goto invalid;
    }
  else
    {
      g_set_error (&error, SH_FW_ERROR, SH_FW_ERROR_INVALID_ARGS, "unknown method %s", method);
      goto invalid;
    }
  request_start (d, invocation, r);
  return;

invalid:
  g_message ("%s: %s refused: %s", sender, method, error->message);
  g_free (r);
  return_error (invocation, error);
}

static GVariant *
get_property (GDBusConnection *bus, const char *sender, const char *path, const char *iface,
              const char *property, GError **error, gpointer user_data)
{
  return g_variant_new_string (PACKAGE_VERSION);
}

static const GDBusInterfaceVTable vtable = {
  .method_call = method_call,
  .get_property = get_property,
};

/* ------------------------------------------------------------------ sweep */

/* Reads "owner=<name> bus=<id> uid=<n>". */
static gboolean
parse_note (const char *note, char **owner, char **bus_id, guint *uid)
{
  g_auto (GStrv) words = g_strsplit (note, " ", -1);
  guint64 value;

  if (g_strv_length (words) != 3 || !g_str_has_prefix (words[0], "owner=")
      || !g_str_has_prefix (words[1], "bus=") || !g_str_has_prefix (words[2], "uid=")
      || !g_ascii_string_to_unsigned (words[2] + 4, 10, 0, G_MAXUINT32, &value, NULL))
    return FALSE;
  *owner = g_strdup (words[0] + 6);
  *bus_id = g_strdup (words[1] + 4);
  *uid = (guint) value;
  return TRUE;
}

static gboolean
name_has_owner (ShFwDaemon *d, const char *name)
{
  g_autoptr (GVariant) reply = NULL;
  gboolean has = FALSE;

  reply = g_dbus_connection_call_sync (d->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "NameHasOwner",
                                       g_variant_new ("(s)", name), G_VARIANT_TYPE ("(b)"),
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(b)", &has);
  return has;
}

/* For one table or block "<token>-<label>" with @note: the owner to adopt it
 * for, or NULL when it is stale. *@label points into @id. */
static Owner *
live_owner (ShFwDaemon *d, const char *id, const char *note, const char **label)
{
  g_autofree char *owner = NULL;
  g_autofree char *bus_id = NULL;
  g_autofree char *token = NULL;
  guint uid;

  if (!parse_note (note, &owner, &bus_id, &uid))
    return NULL;
  token = sh_fw_owner_token (owner);
  if (token == NULL || !g_str_has_prefix (id, token) || id[strlen (token)] != '-'
      || !sh_fw_label_is_valid (id + strlen (token) + 1))
    return NULL;
  if (!g_str_equal (bus_id, d->bus_id) || !name_has_owner (d, owner))
    return NULL;
  *label = id + strlen (token) + 1;
  return owner_get (d, owner, token, uid);
}

static char *
edit_sweep (const char *content, gpointer data, GError **error)
{
  GPtrArray *stale = data;
  char *text = g_strdup (content);

  for (guint i = 0; i < stale->len; i++)
    {
      char *next = sh_hosts_block_remove (text, g_ptr_array_index (stale, i));
      g_free (text);
      text = next;
    }
  return text;
}

/* The datagram devices and rules: a device whose alias names a live owner
 * is adopted with its slot; the other devices and every rule of a slot not
 * adopted go. */
static gboolean
sweep_dgrams (ShFwDaemon *d, GError **error)
{
  g_autoptr (GHashTable) slots = NULL;
  g_autoptr (GHashTable) devices = NULL;
  GHashTableIter it;
  const char *ifname, *alias;
  gpointer key;

  if (!sh_fw_dgram_list (COMMENT_PREFIX, &slots, &devices, error))
    return FALSE;
  g_hash_table_iter_init (&it, devices);
  while (g_hash_table_iter_next (&it, (gpointer *) &ifname, (gpointer *) &alias))
    {
      g_auto (GStrv) words = g_strsplit (alias + strlen (COMMENT_PREFIX), " ", -1);
      guint n = g_strv_length (words);
      g_autofree char *note = NULL;
      g_autofree char *id = NULL;
      const char *label = NULL;
      guint64 slot;
      Owner *o = NULL;

      if (n == 5 && g_str_has_prefix (words[3], "label=") && g_str_has_prefix (words[4], "slot=")
          && g_ascii_string_to_unsigned (words[4] + 5, 10, 0, SH_FW_DGRAM_SLOTS - 1, &slot, NULL)
          && !d->slots[slot])
        {
          g_autofree char *owner = NULL;
          g_autofree char *bus_id = NULL;
          guint uid;

          note = g_strjoin (" ", words[0], words[1], words[2], NULL);
          if (parse_note (note, &owner, &bus_id, &uid))
            {
              g_autofree char *token = sh_fw_owner_token (owner);

              if (token != NULL)
                {
                  id = g_strdup_printf ("%s-%s", token, words[3] + 6);
                  o = live_owner (d, id, note, &label);
                }
            }
        }
      if (o != NULL)
        {
          Dgram *g = g_new0 (Dgram, 1);

          g->slot = (guint) slot;
          g->ifname = g_strdup (ifname);
          d->slots[slot] = TRUE;
          g_hash_table_insert (o->dgrams, g_strdup (label), g);
          g_message ("adopted datagram device %s of uid %u (%s)", ifname, o->uid, o->name);
        }
      else if (sh_fw_dgram_remove (SH_FW_DGRAM_SLOTS, ifname, error))
        g_message ("swept stale datagram device %s (%s)", ifname, alias);
      else
        return FALSE;
    }
  g_hash_table_iter_init (&it, slots);
  while (g_hash_table_iter_next (&it, &key, NULL))
    {
      guint slot = GPOINTER_TO_UINT (key) - 1;

      if (d->slots[slot])
        continue;
      if (!sh_fw_dgram_remove (slot, NULL, error))
        return FALSE;
      g_message ("swept stale datagram rules of table %u", sh_fw_dgram_mark (slot));
    }
  return TRUE;
}

static gboolean
sweep (ShFwDaemon *d, GError **error)
{
  g_autoptr (GHashTable) tables = sh_firewall_list_owned ("c", error);
  g_autoptr (GHashTable) blocks = NULL;
  g_autoptr (GPtrArray) stale = g_ptr_array_new ();
  g_autofree char *content = NULL;
  GHashTableIter it;
  const char *id, *comment;

  if (tables == NULL || !sweep_dgrams (d, error))
    return FALSE;
  g_hash_table_iter_init (&it, tables);
  while (g_hash_table_iter_next (&it, (gpointer *) &id, (gpointer *) &comment))
    {
      const char *label;
      Owner *o;

      /* Not ours: some other tool's "shuttle-c..." table. */
      if (!g_str_has_prefix (comment, COMMENT_PREFIX))
        continue;
      o = live_owner (d, id, comment + strlen (COMMENT_PREFIX), &label);
      if (o != NULL)
        {
          g_autoptr (GError) local = NULL;

          g_hash_table_add (o->tables, g_strdup (label));
          g_message ("adopted table inet shuttle-%s of uid %u (%s)", id, o->uid, o->name);
          /* Its SYN queue was the dead helper's: without a reader the chains
           * would drop (fail-closed) or needlessly queue every new SYN.
           * Connections complete at the listener until the engine opens a
           * queue again. */
          if (!sh_firewall_drop_syn_owned (id, &local))
            g_message ("cannot drop the SYN chains of inet shuttle-%s: %s", id, local->message);
        }
      else if (sh_firewall_remove_owned (id, error))
        g_message ("swept stale table inet shuttle-%s (%s)", id, comment);
      else
        return FALSE;
    }

  /* A missing hosts file holds no blocks; it is not ours to create. */
  if (!g_file_get_contents (d->hosts_path, &content, NULL, NULL))
    return TRUE;
  blocks = sh_hosts_block_list (content);
  g_hash_table_iter_init (&it, blocks);
  while (g_hash_table_iter_next (&it, (gpointer *) &id, (gpointer *) &comment))
    {
      const char *label;
      Owner *o = live_owner (d, id, comment, &label);

      if (o != NULL)
        {
          g_hash_table_add (o->hosts, g_strdup (label));
          g_message ("adopted hosts block %s of uid %u (%s)", id, o->uid, o->name);
        }
      else
        g_ptr_array_add (stale, (gpointer) id);
    }
  if (stale->len > 0)
    {
      g_autoptr (GError) local = NULL;

      /* Not fatal: a hosts file the helper cannot edit must not keep it
       * from serving the firewall for everyone. */
      if (sh_hosts_file_edit (d->hosts_path, edit_sweep, stale, &local))
        g_message ("swept %u stale hosts block(s) from %s", stale->len, d->hosts_path);
      else
        g_message ("cannot sweep %u stale hosts block(s) from %s: %s", stale->len, d->hosts_path,
                   local->message);
    }
  return TRUE;
}

/* ------------------------------------------------------- sweep at boot */

static char *
edit_remove_all (const char *content, gpointer data, GError **error)
{
  g_autoptr (GHashTable) blocks = sh_hosts_block_list (content);

  *(guint *) data = g_hash_table_size (blocks);
  return sh_hosts_block_remove_all (content);
}

gboolean
sh_fw_sweep_hosts_at_boot (const char *hosts_path, guint *removed, GError **error)
{
  *removed = 0;
  /* A missing hosts file holds no blocks; it is not ours to create. */
  if (!g_file_test (hosts_path, G_FILE_TEST_EXISTS))
    return TRUE;
  return sh_hosts_file_edit (hosts_path, edit_remove_all, removed, error);
}

/* -------------------------------------------------------------- lifetime */

/* Without the bus nobody can ask for removal and no vanishing owner can be
 * noticed: drop everything and stop. */
static void
on_bus_closed (GDBusConnection *bus, gboolean remote_peer_vanished, GError *error,
               gpointer user_data)
{
  ShFwDaemon *d = user_data;
  g_message ("lost the system bus: removing all rules");
  while (g_hash_table_size (d->owners) > 0)
    {
      GList *owners = g_hash_table_get_values (d->owners);

      owner_release (owners->data, "lost with the bus");
      g_list_free (owners);
    }
  if (d->on_idle != NULL)
    d->on_idle (d->on_idle_data);
}

ShFwDaemon *
sh_fw_daemon_new (GDBusConnection *bus, const ShFwDaemonConfig *config, GError **error)
{
  g_autoptr (ShFwDaemon) d = g_new0 (ShFwDaemon, 1);
  g_autoptr (GVariant) reply = NULL;

  d->bus = g_object_ref (bus);
  d->hosts_path = g_strdup (config->hosts_path);
  d->idle_seconds = config->idle_seconds;
  d->polkit_timeout = config->polkit_timeout > 0 ? config->polkit_timeout : SH_FW_POLKIT_TIMEOUT;
  d->polkit_by_uid = g_hash_table_new (g_direct_hash, g_direct_equal);
  d->on_idle = config->on_idle;
  d->on_idle_data = config->on_idle_data;
  d->owners = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, owner_free);

  reply = g_dbus_connection_call_sync (
      bus, "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus", "GetId", NULL,
      G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NONE, -1, NULL, error);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(s)", &d->bus_id);
  if (!sweep (d, error))
    return NULL;

  d->registration = g_dbus_connection_register_object (
      bus, SH_FW_OBJECT_PATH, (GDBusInterfaceInfo *) &sh_fw_firewall1_interface, &vtable, d, NULL,
      error);
  if (d->registration == 0)
    return NULL;
  g_dbus_connection_set_exit_on_close (bus, FALSE);
  d->closed_handler = g_signal_connect (bus, "closed", G_CALLBACK (on_bus_closed), d);
  update_idle (d);
  return g_steal_pointer (&d);
}

void
sh_fw_daemon_free (ShFwDaemon *d)
{
  if (d == NULL)
    return;
  g_clear_handle_id (&d->idle_source, g_source_remove);
  if (d->registration != 0)
    g_dbus_connection_unregister_object (d->bus, d->registration);
  g_clear_signal_handler (&d->closed_handler, d->bus);
  g_clear_pointer (&d->owners, g_hash_table_unref);
  g_clear_pointer (&d->polkit_by_uid, g_hash_table_unref);
  g_clear_object (&d->bus);
  g_free (d->bus_id);
  g_free (d->hosts_path);
  g_free (d);
}
