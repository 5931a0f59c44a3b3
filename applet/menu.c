/* SPDX-License-Identifier: GPL-2.0-or-later */
/* menu.c — the tray menu, updated in place while its items stay the same
 * (see Fill below), rebuilt when they change. */
#include "config.h"

#include "menu.h"

#include <glib/gi18n-lib.h>

/* How many hosts the submenu shows; the status window has them all. */
#define MAX_MENU_HOSTS 30

static void
on_item_activate (GtkMenuItem *item, GActionGroup *actions)
{
  const char *action = g_object_get_data (G_OBJECT (item), "sh-action");
  GVariant *target = g_object_get_data (G_OBJECT (item), "sh-target");

  g_action_group_activate_action (actions, action, target);
}

/* An item that activates @action (with @target, floating or NULL). */
static GtkWidget *
action_item (GtkWidget *item, GActionGroup *actions, const char *action, GVariant *target)
{
  g_object_set_data (G_OBJECT (item), "sh-action", (gpointer) action);
  if (target != NULL)
    g_object_set_data_full (G_OBJECT (item), "sh-target", g_variant_ref_sink (target),
                            (GDestroyNotify) g_variant_unref);
  g_signal_connect (item, "activate", G_CALLBACK (on_item_activate), actions);
  return item;
}

static void
on_toggled (GtkCheckMenuItem *item, GActionGroup *actions)
{
  const char *uuid = g_object_get_data (G_OBJECT (item), "sh-uuid");
  const char *engine = g_object_get_data (G_OBJECT (item), "sh-engine");

  if (engine != NULL)
    g_action_group_activate_action (actions, "stop-engine", g_variant_new_string (engine));
  else
    g_action_group_activate_action (
        actions, gtk_check_menu_item_get_active (item) ? "connect" : "disconnect",
        g_variant_new_string (uuid));
}

/* Filling the menu. A fill first walks the items already there and
 * updates them in place (labels, check marks, a hosts submenu): the tray
 * host keeps every item's id, and an open menu does not flicker or lose the
 * user's place with each second of a countdown. Only when the items
 * themselves change (a connection came or went, hosts appeared) does a
 * second walk build them anew. Each item carries a key naming what it
 * stands for, so that the first walk can tell. */
typedef struct
{
  GtkMenu *menu;
  GActionGroup *actions;
  GList *at; /* the next of the menu's items to update */
  gboolean build;
  gboolean differs; /* the update walk met an item it cannot update */
} Fill;

/* The next item if it is @key's, during the update walk; else NULL (and
 * during that walk the fill now differs). */
static GtkWidget *
next_item (Fill *f, const char *key)
{
  GtkWidget *item;

  if (f->build || f->differs)
    return NULL;
  item = f->at != NULL ? f->at->data : NULL;
  if (item == NULL || g_strcmp0 (g_object_get_data (G_OBJECT (item), "sh-key"), key) != 0)
    {
      f->differs = TRUE;
      return NULL;
    }
  f->at = f->at->next;
  return item;
}

static void
append (Fill *f, GtkWidget *item, const char *key)
{
  g_object_set_data_full (G_OBJECT (item), "sh-key", g_strdup (key), g_free);
  gtk_widget_show (item);
  gtk_menu_shell_append (GTK_MENU_SHELL (f->menu), item);
}

/* A line of text, not clickable (the state under a connection's name). */
static void
put_state (Fill *f, const char *key, const char *text)
{
  GtkWidget *item = next_item (f, key);

  if (item != NULL)
    {
      if (g_strcmp0 (gtk_menu_item_get_label (GTK_MENU_ITEM (item)), text) != 0)
        gtk_menu_item_set_label (GTK_MENU_ITEM (item), text);
      return;
    }
  if (!f->build)
    return;
  item = gtk_menu_item_new_with_label (text);
  gtk_widget_set_sensitive (item, FALSE);
  append (f, item, key);
}

static void
put_action (Fill *f, const char *key, const char *label, const char *action, GVariant *target)
{
  GtkWidget *item = next_item (f, key);

  if (item != NULL || !f->build)
    {
      /* The target is part of the key; the label is fixed per key. */
      if (target != NULL)
        g_variant_unref (g_variant_ref_sink (target));
      return;
    }
  append (f, action_item (gtk_menu_item_new_with_label (label), f->actions, action, target), key);
}

static void
put_separator (Fill *f, const char *key)
{
  if (next_item (f, key) == NULL && f->build)
    append (f, gtk_separator_menu_item_new (), key);
}

/* A connection's check item: its label and mark follow the state; @uuid
 * (a NetworkManager connection) or @engine (a standalone engine's bus
 * name) says what a click acts on. */
static void
put_toggle (Fill *f, const char *key, const char *label, gboolean active, const char *uuid,
            const char *engine)
{
  GtkWidget *item = next_item (f, key);

  if (item == NULL && !f->build)
    return;
  if (item == NULL)
    {
      item = gtk_check_menu_item_new_with_label (label);
      /* Set before the handler is connected: this is not the user's click. */
      gtk_check_menu_item_set_active (GTK_CHECK_MENU_ITEM (item), active);
      g_object_set_data_full (G_OBJECT (item), uuid != NULL ? "sh-uuid" : "sh-engine",
                              g_strdup (uuid != NULL ? uuid : engine), g_free);
      g_signal_connect (item, "toggled", G_CALLBACK (on_toggled), f->actions);
      append (f, item, key);
      return;
    }
  if (g_strcmp0 (gtk_menu_item_get_label (GTK_MENU_ITEM (item)), label) != 0)
    gtk_menu_item_set_label (GTK_MENU_ITEM (item), label);
  if (gtk_check_menu_item_get_active (GTK_CHECK_MENU_ITEM (item)) != active)
    {
      g_signal_handlers_block_by_func (item, on_toggled, f->actions);
      gtk_check_menu_item_set_active (GTK_CHECK_MENU_ITEM (item), active);
      g_signal_handlers_unblock_by_func (item, on_toggled, f->actions);
    }
}

/* The "Discovered hosts" submenu of @engine. Its entries are made anew
 * when the hosts changed, the item holding them stays. */
static void
put_hosts (Fill *f, const char *key, ShEngine *engine)
{
  GPtrArray *hosts = sh_engine_get_hosts (engine);
  g_autoptr (GString) seen = g_string_new (NULL);
  GtkWidget *item = next_item (f, key), *sub;

  if (item == NULL && !f->build)
    return;
  for (guint i = 0; i < hosts->len && i < MAX_MENU_HOSTS; i++)
    g_string_append_printf (seen, "%s\n%s\n", ((ShHost *) hosts->pdata[i])->name,
                            ((ShHost *) hosts->pdata[i])->address);
  g_string_append_printf (seen, "%u", hosts->len);
  if (item == NULL)
    {
      item = gtk_menu_item_new_with_label (_ ("Discovered hosts"));
      append (f, item, key);
    }
  else if (g_strcmp0 (g_object_get_data (G_OBJECT (item), "sh-hosts"), seen->str) == 0)
    return;
  g_object_set_data_full (G_OBJECT (item), "sh-hosts", g_strdup (seen->str), g_free);

  sub = gtk_menu_new ();
  for (guint i = 0; i < hosts->len && i < MAX_MENU_HOSTS; i++)
    {
      ShHost *h = hosts->pdata[i];
      /* TRANSLATORS: a discovered host in the menu: name, then address */
      g_autofree char *label = g_strdup_printf (_ ("%s (%s)"), h->name, h->address);
      GtkWidget *host = action_item (gtk_menu_item_new_with_label (label), f->actions, "copy-host",
                                     g_variant_new ("(ss)", h->name, h->address));

      gtk_widget_show (host);
      gtk_menu_shell_append (GTK_MENU_SHELL (sub), host);
    }
  if (hosts->len == 0 || hosts->len > MAX_MENU_HOSTS)
    {
      GtkWidget *last = hosts->len == 0
                            ? gtk_menu_item_new_with_label (_ ("None yet"))
                            : action_item (gtk_menu_item_new_with_label (_ ("All hosts…")),
                                           f->actions, "status", NULL);

      gtk_widget_set_sensitive (last, hosts->len != 0);
      gtk_widget_show (last);
      gtk_menu_shell_append (GTK_MENU_SHELL (sub), last);
    }
  gtk_menu_item_set_submenu (GTK_MENU_ITEM (item), sub);
}

/* The line under an engine's connection: "Reconnecting in 4 s — why" while
 * it reconnects, else @state's words. *@ticking: set when a countdown is
 * shown. */
static char *
engine_state_label (ShEngine *engine, ShConnState state, gint64 since, const char *failure,
                    gboolean *ticking)
{
  if (engine != NULL && g_strcmp0 (sh_engine_get_state (engine), "reconnecting") == 0
      && state != SH_CONN_DISCONNECTING && state != SH_CONN_DISCONNECTED)
    {
      gint64 now = g_get_monotonic_time ();
      gint64 at = sh_engine_get_reconnect_at (engine);

      if (at > now)
        *ticking = TRUE;
      return sh_label_reconnecting (sh_engine_get_reconnect_reason (engine), at, now);
    }
  return sh_label_state (state, since, failure);
}

/* "Run a program in this tunnel…" for an engine that has a door. */
static void
put_run (Fill *f, const char *key, ShEngine *engine, const char *name)
{
  if (engine == NULL || sh_engine_get_door (engine)[0] == '\0')
    return;
  /* Its target is part of the key: a new engine or name makes a new item. */
  g_autofree char *k = g_strdup_printf ("%s\n%s\n%s", key, sh_engine_get_bus_name (engine), name);
  put_action (f, k, _ ("Run a program in this tunnel…"), "run-program",
              g_variant_new ("(ss)", sh_engine_get_bus_name (engine), name));
}

/* One walk over what the menu shows. */
static gboolean
fill (Fill *f, ShConnections *conns, ShEngines *engines)
{
  gboolean ticking = FALSE;
  GPtrArray *rows = sh_connections_rows (conns);
  g_autoptr (GPtrArray) all = sh_engines_list (engines);
  gboolean any = FALSE;

  for (guint i = 0; i < rows->len; i++)
    {
      const ShConn *c = rows->pdata[i];
      ShEngine *engine = sh_engines_find (engines, c->uuid);
      gboolean on = c->state == SH_CONN_CONNECTING || c->state == SH_CONN_CONNECTED;
      gint64 since = engine != NULL && sh_engine_get_connected_since (engine) > 0
                         ? sh_engine_get_connected_since (engine)
                         : c->since;
      g_autofree char *state = engine_state_label (engine, c->state, since, c->failure, &ticking);
      g_autofree char *key = g_strconcat ("conn\n", c->uuid, NULL);
      g_autofree char *key_state = g_strconcat ("state\n", c->uuid, NULL);
      g_autofree char *key_hosts = g_strconcat ("hosts\n", c->uuid, NULL);

      put_toggle (f, key, c->id, on, c->uuid, NULL);
      put_state (f, key_state, state);
      if (c->state == SH_CONN_CONNECTED && engine != NULL)
        {
          put_hosts (f, key_hosts, engine);
          put_run (f, key, engine, c->id);
        }
      any = TRUE;
    }

  /* Engines started by hand (`shuttle -r ...`): shown, and can be stopped. */
  for (guint i = 0; i < all->len; i++)
    {
      ShEngine *engine = all->pdata[i];
      const char *bus = sh_engine_get_bus_name (engine);

      if (sh_engine_is_managed (engine))
        continue;
      /* TRANSLATORS: a tunnel started with the shuttle command, not through
         NetworkManager; %s is its server */
      g_autofree char *label
          = g_strdup_printf (_ ("%s (started by hand)"), sh_engine_get_server (engine));
      g_autofree char *state = engine_state_label (
          engine, sh_label_parse_engine_state (sh_engine_get_state (engine)),
          sh_engine_get_connected_since (engine), sh_engine_get_failure (engine), &ticking);
      g_autofree char *key = g_strconcat ("engine\n", bus, NULL);
      g_autofree char *key_state = g_strconcat ("engine-state\n", bus, NULL);
      g_autofree char *key_hosts = g_strconcat ("engine-hosts\n", bus, NULL);

      put_toggle (f, key, label, TRUE, NULL, bus);
      put_state (f, key_state, state);
      put_hosts (f, key_hosts, engine);
      if (g_strcmp0 (sh_engine_get_state (engine), "connected") == 0)
        put_run (f, key, engine, label);
      any = TRUE;
    }

  if (!any)
    put_state (f, "none",
               sh_connections_nm_running (conns) ? _ ("No Shuttle connections")
                                                 : _ ("NetworkManager is not running"));
  put_separator (f, "separator\n1");
  put_action (f, "status", _ ("Status…"), "status", NULL);
  put_action (f, "edit-connections", _ ("Edit connections…"), "edit-connections", NULL);
  put_separator (f, "separator\n2");
  put_action (f, "quit", _ ("Quit"), "quit", NULL);
  if (!f->build && f->at != NULL)
    f->differs = TRUE; /* items left over */
  return ticking;
}

gboolean
sh_menu_fill (GtkMenu *menu, ShConnections *conns, ShEngines *engines, GActionGroup *actions)
{
  g_autoptr (GList) items = gtk_container_get_children (GTK_CONTAINER (menu));
  Fill f = { .menu = menu, .actions = actions, .at = items };
  gboolean ticking = fill (&f, conns, engines);

  if (items != NULL && !f.differs)
    return ticking;
  for (GList *l = items; l != NULL; l = l->next)
    gtk_widget_destroy (l->data);
  f = (Fill){ .menu = menu, .actions = actions, .build = TRUE };
  return fill (&f, conns, engines);
}
