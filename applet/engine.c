/* SPDX-License-Identifier: GPL-2.0-or-later */
/* engine.c — a cached view of one engine's Engine1 properties. */
#include "config.h"

#include "engine.h"

#include "shuttle-dbus.h"

#define PROPS_IFACE "org.freedesktop.DBus.Properties"
/* The plugin answers a read by asking the engine (with its own 2 s limit). */
#define CALL_TIMEOUT_MS 5000

struct _ShEngine
{
  GObject parent;
  GDBusConnection *bus;
  char *bus_name;
  char *owner;
  GCancellable *cancel;
  gboolean loaded;
  char *name;
  char *uuid;
  char *server;
  char *state;
  char *failure;
  char *last_failure; /* kept when State moves on (or reads fall back) */
  gboolean loading;
  gint64 connected_since;
  char *reconnect_reason;
  gint64 reconnect_at;
  char *door;
  char **routes;
  GHashTable *host_map; /* name -> address */
  GPtrArray *hosts;     /* of ShHost, sorted; rebuilt from host_map */
  guint hosts_serial;
  guint64 bytes_sent;
  guint64 bytes_received;
  guint open_sessions;
  guint64 dgram_bytes_sent;
  guint64 dgram_bytes_received;
  guint open_flows;
  guint counters_pending; /* counter reads in flight */
};

G_DEFINE_TYPE (ShEngine, sh_engine, G_TYPE_OBJECT)

enum
{
  SIGNAL_CHANGED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void
host_free (gpointer p)
{
  ShHost *h = p;

  g_free (h->name);
  g_free (h->address);
  g_free (h);
}

static int
host_cmp (gconstpointer a, gconstpointer b)
{
  const ShHost *ha = *(ShHost *const *) a, *hb = *(ShHost *const *) b;

  return g_strcmp0 (ha->name, hb->name);
}

static void
rebuild_hosts (ShEngine *self)
{
  GHashTableIter it;
  gpointer k, v;

  g_ptr_array_set_size (self->hosts, 0);
  g_hash_table_iter_init (&it, self->host_map);
  while (g_hash_table_iter_next (&it, &k, &v))
    {
      ShHost *h = g_new0 (ShHost, 1);

      h->name = g_strdup (k);
      h->address = g_strdup (v);
      g_ptr_array_add (self->hosts, h);
    }
  g_ptr_array_sort (self->hosts, host_cmp);
  self->hosts_serial++;
}

/* (name, address) pairs into the map; @replace: the whole list, not an update. */
static void
take_hosts (ShEngine *self, GVariant *list, gboolean replace)
{
  GVariantIter it;
  const char *name, *address;

  if (replace)
    g_hash_table_remove_all (self->host_map);
  g_variant_iter_init (&it, list);
  while (g_variant_iter_next (&it, "(&s&s)", &name, &address))
    g_hash_table_insert (self->host_map, g_strdup (name), g_strdup (address));
  rebuild_hosts (self);
}

static void
remember_failure (ShEngine *self)
{
  g_free (self->last_failure);
  self->last_failure = g_strdup (self->failure);
}

static void
set_str (char **field, GVariant *v)
{
  if (!g_variant_is_of_type (v, G_VARIANT_TYPE_STRING))
    return;
  g_free (*field);
  *field = g_variant_dup_string (v, NULL);
}

/* One property by name; unknown names and wrong types are ignored (a newer
 * engine may have more). */
static void
take_property (ShEngine *self, const char *prop, GVariant *v)
{
  if (g_str_equal (prop, "Name"))
    set_str (&self->name, v);
  else if (g_str_equal (prop, "Uuid"))
    set_str (&self->uuid, v);
  else if (g_str_equal (prop, "Server"))
    set_str (&self->server, v);
  else if (g_str_equal (prop, "State"))
    set_str (&self->state, v);
  else if (g_str_equal (prop, "Failure"))
    {
      set_str (&self->failure, v);
      if (self->failure[0] != '\0')
        remember_failure (self);
    }
  else if (g_str_equal (prop, "ConnectedSince") && g_variant_is_of_type (v, G_VARIANT_TYPE_INT64))
    self->connected_since = g_variant_get_int64 (v);
  else if (g_str_equal (prop, "Door"))
    set_str (&self->door, v);
  else if (g_str_equal (prop, "ReconnectReason"))
    set_str (&self->reconnect_reason, v);
  else if (g_str_equal (prop, "ReconnectAt") && g_variant_is_of_type (v, G_VARIANT_TYPE_INT64))
    self->reconnect_at = g_variant_get_int64 (v);
  else if (g_str_equal (prop, "Routes") && g_variant_is_of_type (v, G_VARIANT_TYPE_STRING_ARRAY))
    {
      g_strfreev (self->routes);
      self->routes = g_variant_dup_strv (v, NULL);
    }
  else if (g_str_equal (prop, "Hosts") && g_variant_is_of_type (v, G_VARIANT_TYPE ("a(ss)")))
    take_hosts (self, v, TRUE);
  else if (g_str_equal (prop, "BytesSent") && g_variant_is_of_type (v, G_VARIANT_TYPE_UINT64))
    self->bytes_sent = g_variant_get_uint64 (v);
  else if (g_str_equal (prop, "BytesReceived") && g_variant_is_of_type (v, G_VARIANT_TYPE_UINT64))
    self->bytes_received = g_variant_get_uint64 (v);
  else if (g_str_equal (prop, "OpenSessions") && g_variant_is_of_type (v, G_VARIANT_TYPE_UINT32))
    self->open_sessions = g_variant_get_uint32 (v);
  else if (g_str_equal (prop, "DatagramBytesSent")
           && g_variant_is_of_type (v, G_VARIANT_TYPE_UINT64))
    self->dgram_bytes_sent = g_variant_get_uint64 (v);
  else if (g_str_equal (prop, "DatagramBytesReceived")
           && g_variant_is_of_type (v, G_VARIANT_TYPE_UINT64))
    self->dgram_bytes_received = g_variant_get_uint64 (v);
  else if (g_str_equal (prop, "OpenFlows") && g_variant_is_of_type (v, G_VARIANT_TYPE_UINT32))
    self->open_flows = g_variant_get_uint32 (v);
}

static void
take_dict (ShEngine *self, GVariant *dict)
{
  GVariantIter it;
  const char *prop;
  GVariant *v;

  g_variant_iter_init (&it, dict);
  while (g_variant_iter_next (&it, "{&sv}", &prop, &v))
    {
      take_property (self, prop, v);
      g_variant_unref (v);
    }
}

static void
call (ShEngine *self, const char *iface, const char *method, GVariant *params,
      const GVariantType *reply, GAsyncReadyCallback cb)
{
  g_dbus_connection_call (self->bus, self->owner, SH_ENGINE_PATH, iface, method, params, reply,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, self->cancel, cb, self);
}

static void
on_get_all (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autoptr (GVariant) dict = NULL;
  ShEngine *self;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = data;
  self->loading = FALSE;
  if (r == NULL)
    {
      /* Not ours to read (another user's tunnel), gone, or not there yet:
       * NetworkManager's plugin owns its name before it exports the
       * object. Stay unloaded (the lists leave such engines out); the
       * object's first signal makes us try again. */
      g_debug ("%s: %s", self->bus_name, error->message);
      g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
      return;
    }
  dict = g_variant_get_child_value (r, 0);
  take_dict (self, dict);
  g_debug ("%s: connection %s, state %s", self->bus_name, self->uuid, self->state);
  self->loaded = TRUE;
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

static void
load (ShEngine *self)
{
  if (self->loading)
    return;
  self->loading = TRUE;
  call (self, PROPS_IFACE, "GetAll", g_variant_new ("(s)", SH_ENGINE_IFACE),
        G_VARIANT_TYPE ("(a{sv})"), on_get_all);
}

void
sh_engine_handle_signal (ShEngine *self, const char *iface, const char *signal, GVariant *params)
{
  if (!self->loaded)
    load (self);
  if (g_str_equal (iface, PROPS_IFACE) && g_str_equal (signal, "PropertiesChanged")
      && (g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv}as)"))
          || g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv})"))))
    {
      g_autoptr (GVariant) which = g_variant_get_child_value (params, 0);
      g_autoptr (GVariant) changed = g_variant_get_child_value (params, 1);

      /* (sa{sv}) without the invalidated list is what engines of 0.1.0
       * send; take it as well. */
      if (!g_str_equal (g_variant_get_string (which, NULL), SH_ENGINE_IFACE))
        return;
      take_dict (self, changed);
      if (g_variant_n_children (params) == 3)
        {
          g_autoptr (GVariant) invalidated = g_variant_get_child_value (params, 2);

          /* Invalidated ones: simplest to read everything again. */
          if (g_variant_n_children (invalidated) > 0)
            load (self);
        }
    }
  else if (g_str_equal (iface, SH_ENGINE_IFACE) && g_str_equal (signal, "StateChanged")
           && g_variant_is_of_type (params, G_VARIANT_TYPE ("(ss)")))
    {
      g_free (self->state);
      g_free (self->failure);
      g_variant_get (params, "(ss)", &self->state, &self->failure);
      if (self->failure[0] != '\0')
        remember_failure (self);
    }
  else if (g_str_equal (iface, SH_ENGINE_IFACE) && g_str_equal (signal, "HostsChanged")
           && g_variant_is_of_type (params, G_VARIANT_TYPE ("(a(ss))")))
    {
      g_autoptr (GVariant) added = g_variant_get_child_value (params, 0);

      take_hosts (self, added, FALSE);
    }
  else
    return;
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

typedef struct
{
  ShEngine *self;
  const char *prop; /* static */
} CounterRead;

static void
on_counter (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autofree CounterRead *read = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autoptr (GVariant) v = NULL;
  ShEngine *self;

  /* Cancelled: the engine is being disposed, do not touch it. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  self = read->self;
  if (r != NULL)
    {
      g_variant_get (r, "(v)", &v);
      take_property (self, read->prop, v);
    }
  if (--self->counters_pending == 0)
    g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

void
sh_engine_poll_counters (ShEngine *self)
{
  static const char *const props[] = { "BytesSent",         "BytesReceived",         "OpenSessions",
                                       "DatagramBytesSent", "DatagramBytesReceived", "OpenFlows" };

  /* One round in flight at a time: a slow engine must not pile them up. */
  if (self->counters_pending > 0)
    return;
  for (guint i = 0; i < G_N_ELEMENTS (props); i++)
    {
      CounterRead *read = g_new0 (CounterRead, 1);

      read->self = self;
      read->prop = props[i];
      self->counters_pending++;
      g_dbus_connection_call (self->bus, self->owner, SH_ENGINE_PATH, PROPS_IFACE, "Get",
                              g_variant_new ("(ss)", SH_ENGINE_IFACE, props[i]),
                              G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                              CALL_TIMEOUT_MS, self->cancel, on_counter, read);
    }
}

static void
on_disconnected (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (r == NULL && !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    g_message ("Disconnect: %s", error->message);
}

void
sh_engine_disconnect (ShEngine *self)
{
  call (self, SH_ENGINE_IFACE, "Disconnect", NULL, NULL, on_disconnected);
}

ShEngine *
sh_engine_new (GDBusConnection *bus, const char *name, const char *owner)
{
  ShEngine *self = g_object_new (SH_TYPE_ENGINE, NULL);

  self->bus = g_object_ref (bus);
  self->bus_name = g_strdup (name);
  self->owner = g_strdup (owner);
  load (self);
  return self;
}

static void
sh_engine_init (ShEngine *self)
{
  self->cancel = g_cancellable_new ();
  self->name = g_strdup ("");
  self->uuid = g_strdup ("");
  self->server = g_strdup ("");
  self->state = g_strdup ("");
  self->failure = g_strdup ("");
  self->reconnect_reason = g_strdup ("");
  self->door = g_strdup ("");
  self->routes = g_new0 (char *, 1);
  self->host_map = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  self->hosts = g_ptr_array_new_with_free_func (host_free);
}

static void
sh_engine_dispose (GObject *object)
{
  ShEngine *self = SH_ENGINE (object);

  /* Replies still on their way must not reach a freed engine. */
  g_cancellable_cancel (self->cancel);
  g_clear_object (&self->bus);
  G_OBJECT_CLASS (sh_engine_parent_class)->dispose (object);
}

static void
sh_engine_finalize (GObject *object)
{
  ShEngine *self = SH_ENGINE (object);

  g_object_unref (self->cancel);
  g_free (self->bus_name);
  g_free (self->owner);
  g_free (self->name);
  g_free (self->uuid);
  g_free (self->server);
  g_free (self->state);
  g_free (self->failure);
  g_free (self->last_failure);
  g_free (self->reconnect_reason);
  g_free (self->door);
  g_strfreev (self->routes);
  g_hash_table_unref (self->host_map);
  g_ptr_array_unref (self->hosts);
  G_OBJECT_CLASS (sh_engine_parent_class)->finalize (object);
}

static void
sh_engine_class_init (ShEngineClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sh_engine_dispose;
  object_class->finalize = sh_engine_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

const char *
sh_engine_get_bus_name (ShEngine *self)
{
  return self->bus_name;
}

const char *
sh_engine_get_owner (ShEngine *self)
{
  return self->owner;
}

gboolean
sh_engine_is_managed (ShEngine *self)
{
  return g_str_has_prefix (self->bus_name, "org.freedesktop.NetworkManager.");
}

gboolean
sh_engine_is_loaded (ShEngine *self)
{
  return self->loaded;
}

const char *
sh_engine_get_name (ShEngine *self)
{
  return self->name;
}

const char *
sh_engine_get_uuid (ShEngine *self)
{
  return self->uuid;
}

const char *
sh_engine_get_server (ShEngine *self)
{
  return self->server;
}

const char *
sh_engine_get_state (ShEngine *self)
{
  return self->state;
}

const char *
sh_engine_get_failure (ShEngine *self)
{
  return self->failure;
}

const char *
sh_engine_get_last_failure (ShEngine *self)
{
  return self->last_failure;
}

gboolean
sh_engine_is_loading (ShEngine *self)
{
  return self->loading;
}

gint64
sh_engine_get_connected_since (ShEngine *self)
{
  return self->connected_since;
}

const char *
sh_engine_get_door (ShEngine *self)
{
  return self->door;
}

const char *
sh_engine_get_reconnect_reason (ShEngine *self)
{
  return self->reconnect_reason;
}

gint64
sh_engine_get_reconnect_at (ShEngine *self)
{
  return self->reconnect_at;
}

const char *const *
sh_engine_get_routes (ShEngine *self)
{
  return (const char *const *) self->routes;
}

GPtrArray *
sh_engine_get_hosts (ShEngine *self)
{
  return self->hosts;
}

guint
sh_engine_get_hosts_serial (ShEngine *self)
{
  return self->hosts_serial;
}

guint64
sh_engine_get_bytes_sent (ShEngine *self)
{
  return self->bytes_sent;
}

guint64
sh_engine_get_bytes_received (ShEngine *self)
{
  return self->bytes_received;
}

guint
sh_engine_get_open_sessions (ShEngine *self)
{
  return self->open_sessions;
}

guint64
sh_engine_get_datagram_bytes_sent (ShEngine *self)
{
  return self->dgram_bytes_sent;
}

guint64
sh_engine_get_datagram_bytes_received (ShEngine *self)
{
  return self->dgram_bytes_received;
}

guint
sh_engine_get_open_flows (ShEngine *self)
{
  return self->open_flows;
}
