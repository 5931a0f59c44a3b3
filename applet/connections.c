/* SPDX-License-Identifier: GPL-2.0-or-later */
/* connections.c — Shuttle VPN connections and their states, from libnm. */
#include "config.h"

#include "connections.h"

#include <NetworkManager.h>

#define SHUTTLE_SERVICE "org.freedesktop.NetworkManager.shuttle"
#define ENDING_WAIT_SECONDS 2

struct _ShConnections
{
  GObject parent;
  ShEngines *engines;
  GCancellable *cancel;
  NMClient *client;
  GPtrArray *rows;     /* of ShConn, sorted by id */
  GHashTable *watched; /* NMActiveConnection / NMRemoteConnection we hold handlers on */
  GHashTable *reasons; /* uuid -> last NMActiveConnectionStateReason seen + 1 */
  GHashTable *pending; /* uuids whose activation request is in flight */
  GHashTable *ending;  /* uuid -> reason + 1: failed, waiting for the engine's words */
  guint ending_timeout;
};

G_DEFINE_TYPE (ShConnections, sh_connections, G_TYPE_OBJECT)

enum
{
  SIGNAL_CHANGED,
  SIGNAL_TRANSITION,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void refresh (ShConnections *self);

static void
conn_free (gpointer p)
{
  ShConn *c = p;

  g_free (c->uuid);
  g_free (c->id);
  g_free (c->failure);
  g_free (c);
}

static ShConn *
find_row (ShConnections *self, const char *uuid)
{
  for (guint i = 0; i < self->rows->len; i++)
    {
      ShConn *c = self->rows->pdata[i];

      if (g_str_equal (c->uuid, uuid))
        return c;
    }
  return NULL;
}

static gboolean
is_shuttle (NMConnection *connection)
{
  NMSettingVpn *vpn = nm_connection_get_setting_vpn (connection);

  return vpn != NULL && g_strcmp0 (nm_setting_vpn_get_service_type (vpn), SHUTTLE_SERVICE) == 0;
}

static NMActiveConnection *
find_active (ShConnections *self, const char *uuid)
{
  const GPtrArray *active = nm_client_get_active_connections (self->client);

  for (guint i = 0; i < active->len; i++)
    if (g_strcmp0 (nm_active_connection_get_uuid (active->pdata[i]), uuid) == 0)
      return active->pdata[i];
  return NULL;
}

/* Moves @c to @state and tells the listeners. */
static void
set_state (ShConnections *self, ShConn *c, ShConnState state)
{
  ShConnState old = c->state;

  if (old == state)
    return;
  c->state = state;
  if (state == SH_CONN_CONNECTED)
    {
      c->since = g_get_real_time () / G_USEC_PER_SEC;
      c->dropped = FALSE;
    }
  else if (state != SH_CONN_DISCONNECTING)
    c->since = 0;
  if (state != SH_CONN_FAILED)
    g_clear_pointer (&c->failure, g_free);
  g_signal_emit (self, signals[SIGNAL_TRANSITION], 0, c, (guint) old);
}

/* Marks @c failed (or dropped) for NetworkManager's @reason, in the
 * engine's own words when there are any ("the ssh server's host key does
 * not match ..." says more than a reason code). */
static void
fail (ShConnections *self, ShConn *c, guint reason)
{
  const char *why = sh_engines_last_failure (self->engines, c->uuid);

  g_hash_table_remove (self->ending, c->uuid);
  g_free (c->failure);
  c->failure = g_strdup (why != NULL ? why : sh_label_nm_reason (reason));
  c->dropped = c->state == SH_CONN_CONNECTED || c->state == SH_CONN_DISCONNECTING;
  set_state (self, c, SH_CONN_FAILED);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

/* Failures held back until the engines' reads end, or this timeout. */
static void
finish_ending (ShConnections *self, gboolean all)
{
  g_autoptr (GList) uuids = g_hash_table_get_keys (self->ending);

  for (GList *l = uuids; l != NULL; l = l->next)
    {
      ShConn *c = find_row (self, l->data);
      guint reason = GPOINTER_TO_UINT (g_hash_table_lookup (self->ending, l->data)) - 1;

      if (c == NULL)
        g_hash_table_remove (self->ending, l->data);
      else if (all || sh_engines_last_failure (self->engines, c->uuid) != NULL
               || !sh_engines_busy (self->engines))
        fail (self, c, reason);
    }
  if (g_hash_table_size (self->ending) == 0)
    g_clear_handle_id (&self->ending_timeout, g_source_remove);
}

static void
on_engines_changed (ShConnections *self)
{
  if (g_hash_table_size (self->ending) > 0)
    finish_ending (self, FALSE);
}

static gboolean
on_ending_timeout (gpointer data)
{
  ShConnections *self = data;

  self->ending_timeout = 0;
  finish_ending (self, TRUE);
  return G_SOURCE_REMOVE;
}

/* The connection is no longer active: why decides between a quiet
 * "disconnected" and a failure the user is told about. */
static void
ended (ShConnections *self, ShConn *c, guint reason)
{
  if (c->state == SH_CONN_DISCONNECTED || c->state == SH_CONN_FAILED
      || g_hash_table_contains (self->ending, c->uuid))
    return;
  if (reason == NM_ACTIVE_CONNECTION_STATE_REASON_UNKNOWN
      || reason == NM_ACTIVE_CONNECTION_STATE_REASON_NONE)
    reason = GPOINTER_TO_UINT (g_hash_table_lookup (self->reasons, c->uuid)) - 1;
  if (reason == NM_ACTIVE_CONNECTION_STATE_REASON_USER_DISCONNECTED
      || reason == NM_ACTIVE_CONNECTION_STATE_REASON_CONNECTION_REMOVED)
    {
      set_state (self, c, SH_CONN_DISCONNECTED);
      return;
    }
  /* The engine's failure signal reaches us before NetworkManager's state
   * change (the plugin sends one, then causes the other), but which
   * connection that engine belongs to may still be being read: wait for
   * the read, within limits. */
  if (sh_engines_last_failure (self->engines, c->uuid) == NULL && sh_engines_busy (self->engines))
    {
      g_hash_table_insert (self->ending, g_strdup (c->uuid), GUINT_TO_POINTER (reason + 1));
      if (self->ending_timeout == 0)
        self->ending_timeout = g_timeout_add_seconds (ENDING_WAIT_SECONDS, on_ending_timeout, self);
      return;
    }
  fail (self, c, reason);
}

static void
sync_row (ShConnections *self, ShConn *c)
{
  NMActiveConnection *ac = find_active (self, c->uuid);

  if (ac == NULL)
    {
      /* Asked for but not there yet: NetworkManager answers the request
       * once the active connection exists. */
      if (!g_hash_table_contains (self->pending, c->uuid))
        ended (self, c, NM_ACTIVE_CONNECTION_STATE_REASON_UNKNOWN);
      return;
    }
  switch (nm_active_connection_get_state (ac))
    {
    case NM_ACTIVE_CONNECTION_STATE_ACTIVATING:
      set_state (self, c, SH_CONN_CONNECTING);
      break;
    case NM_ACTIVE_CONNECTION_STATE_ACTIVATED:
      set_state (self, c, SH_CONN_CONNECTED);
      break;
    case NM_ACTIVE_CONNECTION_STATE_DEACTIVATING:
      /* A failing activation passes here too; the reason decides in ended(). */
      if (c->state == SH_CONN_CONNECTED)
        set_state (self, c, SH_CONN_DISCONNECTING);
      break;
    case NM_ACTIVE_CONNECTION_STATE_DEACTIVATED:
      ended (self, c, nm_active_connection_get_state_reason (ac));
      break;
    default:
      break;
    }
}

static void
on_active_state (NMActiveConnection *ac, guint state, guint reason, gpointer data)
{
  ShConnections *self = data;
  ShConn *c = find_row (self, nm_active_connection_get_uuid (ac));

  if (c == NULL)
    return;
  if (reason != NM_ACTIVE_CONNECTION_STATE_REASON_UNKNOWN
      && reason != NM_ACTIVE_CONNECTION_STATE_REASON_NONE)
    g_hash_table_insert (self->reasons, g_strdup (c->uuid), GUINT_TO_POINTER (reason + 1));
  if (state == NM_ACTIVE_CONNECTION_STATE_DEACTIVATED)
    ended (self, c, reason);
  else
    sync_row (self, c);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static void
on_nm_changed (gpointer data)
{
  refresh (data);
}

static void
watch (ShConnections *self, gpointer object, const char *signal, GCallback cb, GConnectFlags flags)
{
  if (g_hash_table_contains (self->watched, object))
    return;
  g_hash_table_add (self->watched, g_object_ref (object));
  g_signal_connect_object (object, signal, cb, self, flags);
}

static int
row_cmp (gconstpointer a, gconstpointer b)
{
  const ShConn *ca = *(ShConn *const *) a, *cb = *(ShConn *const *) b;

  return g_utf8_collate (ca->id, cb->id);
}

/* Rebuilds the rows from NetworkManager's lists, keeping each row's state. */
static void
refresh (ShConnections *self)
{
  const GPtrArray *all;
  const GPtrArray *active;
  g_autoptr (GPtrArray) old = self->rows;

  self->rows = g_ptr_array_new_with_free_func (conn_free);
  if (self->client == NULL)
    goto out;
  all = nm_client_get_connections (self->client);
  for (guint i = 0; i < all->len; i++)
    {
      NMConnection *connection = all->pdata[i];
      ShConn *c = NULL;

      if (!is_shuttle (connection))
        continue;
      for (guint j = 0; j < old->len; j++)
        if (g_str_equal (((ShConn *) old->pdata[j])->uuid, nm_connection_get_uuid (connection)))
          c = g_ptr_array_steal_index (old, j);
      if (c == NULL)
        {
          c = g_new0 (ShConn, 1);
          c->uuid = g_strdup (nm_connection_get_uuid (connection));
          c->state = SH_CONN_DISCONNECTED;
        }
      g_free (c->id);
      c->id = g_strdup (nm_connection_get_id (connection));
      g_ptr_array_add (self->rows, c);
      /* A renamed connection: its "changed" carries the new id. */
      watch (self, connection, "changed", G_CALLBACK (on_nm_changed), G_CONNECT_SWAPPED);
    }
  g_ptr_array_sort (self->rows, row_cmp);
  active = nm_client_get_active_connections (self->client);
  for (guint i = 0; i < active->len; i++)
    if (find_row (self, nm_active_connection_get_uuid (active->pdata[i])) != NULL)
      watch (self, active->pdata[i], "state-changed", G_CALLBACK (on_active_state), 0);
  for (guint i = 0; i < self->rows->len; i++)
    sync_row (self, self->rows->pdata[i]);
out:
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static void
on_active_removed (NMClient *client, NMActiveConnection *ac, gpointer data)
{
  ShConnections *self = data;

  g_hash_table_remove (self->watched, ac);
  refresh (self);
}

static void
on_connection_removed (NMClient *client, NMRemoteConnection *connection, gpointer data)
{
  ShConnections *self = data;

  g_hash_table_remove (self->watched, connection);
  refresh (self);
}

static void
on_client (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  NMClient *client = nm_client_new_finish (res, &error);
  ShConnections *self;

  if (client == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("NetworkManager: %s", error->message);
      return;
    }
  self = data;
  self->client = client;
  g_signal_connect_object (client, "notify::nm-running", G_CALLBACK (on_nm_changed), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (client, "connection-added", G_CALLBACK (on_nm_changed), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (client, "connection-removed", G_CALLBACK (on_connection_removed), self,
                           0);
  g_signal_connect_object (client, "active-connection-added", G_CALLBACK (on_nm_changed), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (client, "active-connection-removed", G_CALLBACK (on_active_removed),
                           self, 0);
  refresh (self);
}

ShConnections *
sh_connections_new (ShEngines *engines)
{
  ShConnections *self = g_object_new (SH_TYPE_CONNECTIONS, NULL);

  self->engines = g_object_ref (engines);
  g_signal_connect_object (engines, "changed", G_CALLBACK (on_engines_changed), self,
                           G_CONNECT_SWAPPED);
  nm_client_new_async (self->cancel, on_client, self);
  return self;
}

GPtrArray *
sh_connections_rows (ShConnections *self)
{
  return self->rows;
}

const ShConn *
sh_connections_find (ShConnections *self, const char *uuid)
{
  return find_row (self, uuid);
}

gboolean
sh_connections_nm_running (ShConnections *self)
{
  return self->client != NULL && nm_client_get_nm_running (self->client);
}

typedef struct
{
  ShConnections *self;
  char *uuid;
} Request;

static void
request_done (ShConnections *self, Request *r, GError *error)
{
  ShConn *c = find_row (self, r->uuid);

  /* A refusal (no secrets agent, not authorized, ...) is a failure the
   * user asked for and must see. */
  g_hash_table_remove (self->pending, r->uuid);
  if (c != NULL && error != NULL && c->state != SH_CONN_FAILED)
    {
      g_free (c->failure);
      c->failure = g_strdup (error->message);
      c->dropped = FALSE;
      set_state (self, c, SH_CONN_FAILED);
    }
  else if (c != NULL)
    sync_row (self, c);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
  g_free (r->uuid);
  g_free (r);
}

static void
on_activated (GObject *source, GAsyncResult *res, gpointer data)
{
  Request *r = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (NMActiveConnection) ac
      = nm_client_activate_connection_finish (NM_CLIENT (source), res, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      g_free (r->uuid);
      g_free (r);
      return;
    }
  request_done (r->self, r, ac == NULL ? error : NULL);
}

static void
on_deactivated (GObject *source, GAsyncResult *res, gpointer data)
{
  Request *r = data;
  g_autoptr (GError) error = NULL;

  if (!nm_client_deactivate_connection_finish (NM_CLIENT (source), res, &error))
    g_message ("deactivate %s: %s", r->uuid, error->message);
  g_free (r->uuid);
  g_free (r);
}

static Request *
request_new (ShConnections *self, const char *uuid)
{
  Request *r = g_new0 (Request, 1);

  r->self = self;
  r->uuid = g_strdup (uuid);
  return r;
}

void
sh_connections_activate (ShConnections *self, const char *uuid)
{
  NMRemoteConnection *connection;
  ShConn *c = find_row (self, uuid);

  if (self->client == NULL || c == NULL)
    return;
  connection = nm_client_get_connection_by_uuid (self->client, uuid);
  if (connection == NULL)
    return;
  /* A new attempt: an old failure must not be taken for this one's. */
  sh_engines_forget_failure (self->engines, uuid);
  g_hash_table_remove (self->reasons, uuid);
  g_hash_table_remove (self->ending, uuid);
  g_hash_table_add (self->pending, g_strdup (uuid));
  set_state (self, c, SH_CONN_CONNECTING);
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
  nm_client_activate_connection_async (self->client, NM_CONNECTION (connection), NULL, NULL,
                                       self->cancel, on_activated, request_new (self, uuid));
}

void
sh_connections_deactivate (ShConnections *self, const char *uuid)
{
  NMActiveConnection *ac;

  if (self->client == NULL)
    return;
  ac = find_active (self, uuid);
  if (ac == NULL)
    {
      /* Nothing to stop (it failed or ended meanwhile): only the row. */
      ShConn *c = find_row (self, uuid);

      if (c != NULL)
        set_state (self, c, SH_CONN_DISCONNECTED);
      g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
      return;
    }
  nm_client_deactivate_connection_async (self->client, ac, self->cancel, on_deactivated,
                                         request_new (self, uuid));
}

static void
sh_connections_init (ShConnections *self)
{
  self->cancel = g_cancellable_new ();
  self->rows = g_ptr_array_new_with_free_func (conn_free);
  self->watched = g_hash_table_new_full (NULL, NULL, g_object_unref, NULL);
  self->reasons = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->pending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  self->ending = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
}

static void
sh_connections_dispose (GObject *object)
{
  ShConnections *self = SH_CONNECTIONS (object);

  g_cancellable_cancel (self->cancel);
  g_clear_handle_id (&self->ending_timeout, g_source_remove);
  g_hash_table_remove_all (self->watched);
  g_clear_object (&self->client);
  g_clear_object (&self->engines);
  G_OBJECT_CLASS (sh_connections_parent_class)->dispose (object);
}

static void
sh_connections_finalize (GObject *object)
{
  ShConnections *self = SH_CONNECTIONS (object);

  g_object_unref (self->cancel);
  g_ptr_array_unref (self->rows);
  g_hash_table_unref (self->watched);
  g_hash_table_unref (self->reasons);
  g_hash_table_unref (self->pending);
  g_hash_table_unref (self->ending);
  G_OBJECT_CLASS (sh_connections_parent_class)->finalize (object);
}

static void
sh_connections_class_init (ShConnectionsClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sh_connections_dispose;
  object_class->finalize = sh_connections_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
  signals[SIGNAL_TRANSITION]
      = g_signal_new ("transition", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                      NULL, G_TYPE_NONE, 2, G_TYPE_POINTER, G_TYPE_UINT);
}
