/* SPDX-License-Identifier: GPL-2.0-or-later */
/* engines.c — engine discovery on the system and session buses. */
#include "config.h"

#include "engines.h"

#include "shuttle-dbus.h"

#define NM_PREFIX "org.freedesktop.NetworkManager.shuttle.Connection_"
#define POLL_SECONDS 1

typedef struct
{
  ShEngines *owner;
  GDBusConnection *bus;
  const char *prefix;
  guint name_sub;
  guint engine_sub;
} Bus;

struct _ShEngines
{
  GObject parent;
  GCancellable *cancel;
  Bus buses[2];         /* system, session */
  GHashTable *engines;  /* unique owner name -> ShEngine (both buses) */
  GHashTable *failures; /* uuid -> last failure text */
  guint poll_source;
};

G_DEFINE_TYPE (ShEngines, sh_engines, G_TYPE_OBJECT)

enum
{
  SIGNAL_CHANGED,
  N_SIGNALS
};
static guint signals[N_SIGNALS];

static void
emit_changed (ShEngines *self)
{
  g_signal_emit (self, signals[SIGNAL_CHANGED], 0);
}

/* Unique names are per bus; the two buses' names cannot collide in practice
 * but the key says which bus anyway. */
static char *
key_for (Bus *b, const char *owner)
{
  return g_strdup_printf ("%d%s", b == &b->owner->buses[0] ? 0 : 1, owner);
}

static void
on_engine_changed (ShEngine *engine, gpointer data)
{
  ShEngines *self = data;
  const char *uuid = sh_engine_get_uuid (engine);
  const char *failure = sh_engine_get_last_failure (engine);

  /* Remember why it failed: NetworkManager stops the plugin, and with it
   * the object, right after, but the notification wants the reason. */
  if (uuid[0] != '\0' && failure != NULL)
    g_hash_table_insert (self->failures, g_strdup (uuid), g_strdup (failure));
  emit_changed (self);
}

static void
add_engine (Bus *b, const char *name, const char *owner)
{
  ShEngines *self = b->owner;
  g_autofree char *key = key_for (b, owner);
  ShEngine *engine;

  if (g_hash_table_contains (self->engines, key))
    return;
  g_debug ("engine %s (%s)", name, owner);
  engine = sh_engine_new (b->bus, name, owner);
  g_signal_connect_object (engine, "changed", G_CALLBACK (on_engine_changed), self, 0);
  g_hash_table_insert (self->engines, g_steal_pointer (&key), engine);
}

static void
remove_engine (Bus *b, const char *owner)
{
  g_autofree char *key = key_for (b, owner);

  if (g_hash_table_remove (b->owner->engines, key))
    emit_changed (b->owner);
}

static void
on_name_owner_changed (GDBusConnection *conn, const char *sender, const char *path,
                       const char *iface, const char *signal, GVariant *params, gpointer data)
{
  Bus *b = data;
  const char *name, *old_owner, *new_owner;

  g_variant_get (params, "(&s&s&s)", &name, &old_owner, &new_owner);
  if (!g_str_has_prefix (name, b->prefix))
    return;
  if (old_owner[0] != '\0')
    remove_engine (b, old_owner);
  if (new_owner[0] != '\0')
    add_engine (b, name, new_owner);
}

/* Signals from any engine object on this bus; the sender says which. */
static void
on_engine_signal (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
                  const char *signal, GVariant *params, gpointer data)
{
  Bus *b = data;
  g_autofree char *key = key_for (b, sender);
  ShEngine *engine = g_hash_table_lookup (b->owner->engines, key);

  if (engine != NULL)
    sh_engine_handle_signal (engine, iface, signal, params);
}

typedef struct
{
  Bus *bus;
  char *name;
} OwnerLookup;

static void
on_name_owner (GObject *source, GAsyncResult *res, gpointer data)
{
  OwnerLookup *l = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (r != NULL)
    {
      const char *owner;

      g_variant_get (r, "(&s)", &owner);
      add_engine (l->bus, l->name, owner);
    }
  g_free (l->name);
  g_free (l);
}

static void
on_list_names (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autofree const char **names = NULL;
  Bus *b;

  if (r == NULL)
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_warning ("ListNames: %s", error->message);
      return;
    }
  b = data;
  g_variant_get (r, "(^a&s)", &names);
  for (guint i = 0; names[i] != NULL; i++)
    {
      OwnerLookup *l;

      if (!g_str_has_prefix (names[i], b->prefix))
        continue;
      /* A name that goes before the answer comes fails the lookup; one that
       * appears meanwhile arrives through NameOwnerChanged. */
      l = g_new0 (OwnerLookup, 1);
      l->bus = b;
      l->name = g_strdup (names[i]);
      g_dbus_connection_call (b->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                              "org.freedesktop.DBus", "GetNameOwner",
                              g_variant_new ("(s)", names[i]), G_VARIANT_TYPE ("(s)"),
                              G_DBUS_CALL_FLAGS_NONE, -1, b->owner->cancel, on_name_owner, l);
    }
}

static void
on_bus (GObject *source, GAsyncResult *res, gpointer data)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *bus = g_bus_get_finish (res, &error);
  Bus *b;

  if (bus == NULL)
    {
      /* No session bus (or no system bus): that kind of engine cannot be
       * seen; the other still can. */
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_message ("%s", error->message);
      return;
    }
  b = data;
  b->bus = bus;
  /* Subscribe first, then list: a name appearing in between is seen twice,
   * and add_engine() ignores the second. */
  b->name_sub = g_dbus_connection_signal_subscribe (
      bus, "org.freedesktop.DBus", "org.freedesktop.DBus", "NameOwnerChanged",
      "/org/freedesktop/DBus", NULL, G_DBUS_SIGNAL_FLAGS_NONE, on_name_owner_changed, b, NULL);
  b->engine_sub
      = g_dbus_connection_signal_subscribe (bus, NULL, NULL, NULL, SH_ENGINE_PATH, NULL,
                                            G_DBUS_SIGNAL_FLAGS_NONE, on_engine_signal, b, NULL);
  g_dbus_connection_call (bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "ListNames", NULL, G_VARIANT_TYPE ("(as)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, b->owner->cancel, on_list_names, b);
}

ShEngines *
sh_engines_new (void)
{
  ShEngines *self = g_object_new (SH_TYPE_ENGINES, NULL);

  self->buses[0].prefix = NM_PREFIX;
  self->buses[1].prefix = SH_ENGINE_SESSION_PREFIX;
  for (guint i = 0; i < 2; i++)
    {
      self->buses[i].owner = self;
      g_bus_get (i == 0 ? G_BUS_TYPE_SYSTEM : G_BUS_TYPE_SESSION, self->cancel, on_bus,
                 &self->buses[i]);
    }
  return self;
}

GPtrArray *
sh_engines_list (ShEngines *self)
{
  GPtrArray *list = g_ptr_array_new ();
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, self->engines);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (sh_engine_is_loaded (v))
      g_ptr_array_add (list, v);
  return list;
}

ShEngine *
sh_engines_find (ShEngines *self, const char *uuid)
{
  GHashTableIter it;
  gpointer v;

  if (uuid == NULL || uuid[0] == '\0')
    return NULL;
  g_hash_table_iter_init (&it, self->engines);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (sh_engine_is_loaded (v) && sh_engine_is_managed (v)
        && g_str_equal (sh_engine_get_uuid (v), uuid))
      return v;
  return NULL;
}

const char *
sh_engines_last_failure (ShEngines *self, const char *uuid)
{
  return g_hash_table_lookup (self->failures, uuid);
}

gboolean
sh_engines_busy (ShEngines *self)
{
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, self->engines);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (sh_engine_is_loading (v))
      return TRUE;
  return FALSE;
}

void
sh_engines_forget_failure (ShEngines *self, const char *uuid)
{
  g_hash_table_remove (self->failures, uuid);
}

static gboolean
poll_counters (gpointer data)
{
  ShEngines *self = data;
  GHashTableIter it;
  gpointer v;

  g_hash_table_iter_init (&it, self->engines);
  while (g_hash_table_iter_next (&it, NULL, &v))
    if (sh_engine_is_loaded (v))
      sh_engine_poll_counters (v);
  return G_SOURCE_CONTINUE;
}

void
sh_engines_set_polling (ShEngines *self, gboolean polling)
{
  if (polling && self->poll_source == 0)
    {
      self->poll_source = g_timeout_add_seconds (POLL_SECONDS, poll_counters, self);
      poll_counters (self);
    }
  else if (!polling)
    g_clear_handle_id (&self->poll_source, g_source_remove);
}

static void
sh_engines_init (ShEngines *self)
{
  self->cancel = g_cancellable_new ();
  self->engines = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_object_unref);
  self->failures = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
}

static void
sh_engines_dispose (GObject *object)
{
  ShEngines *self = SH_ENGINES (object);

  g_cancellable_cancel (self->cancel);
  g_clear_handle_id (&self->poll_source, g_source_remove);
  for (guint i = 0; i < 2; i++)
    {
      Bus *b = &self->buses[i];

      if (b->bus == NULL)
        continue;
      g_dbus_connection_signal_unsubscribe (b->bus, b->name_sub);
      g_dbus_connection_signal_unsubscribe (b->bus, b->engine_sub);
      g_clear_object (&b->bus);
    }
  g_hash_table_remove_all (self->engines);
  G_OBJECT_CLASS (sh_engines_parent_class)->dispose (object);
}

static void
sh_engines_finalize (GObject *object)
{
  ShEngines *self = SH_ENGINES (object);

  g_object_unref (self->cancel);
  g_hash_table_unref (self->engines);
  g_hash_table_unref (self->failures);
  G_OBJECT_CLASS (sh_engines_parent_class)->finalize (object);
}

static void
sh_engines_class_init (ShEnginesClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = sh_engines_dispose;
  object_class->finalize = sh_engines_finalize;
  signals[SIGNAL_CHANGED] = g_signal_new ("changed", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}
