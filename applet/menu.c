/* SPDX-License-Identifier: GPL-2.0-or-later */
/* menu.c — the tray menu, rebuilt from scratch on every change: it is
 * small, and hosts read it again (dbusmenu LayoutUpdated) anyway. */
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

static void
append (GtkMenu *menu, GtkWidget *item)
{
  gtk_widget_show (item);
  gtk_menu_shell_append (GTK_MENU_SHELL (menu), item);
}

/* The state under a connection's name, not clickable. */
static void
append_state (GtkMenu *menu, const char *text)
{
  GtkWidget *item = gtk_menu_item_new_with_label (text);

  gtk_widget_set_sensitive (item, FALSE);
  append (menu, item);
}

static void
append_hosts (GtkMenu *menu, ShEngine *engine, GActionGroup *actions)
{
  GPtrArray *hosts;
  GtkWidget *item, *sub;

  if (engine == NULL)
    return;
  hosts = sh_engine_get_hosts (engine);
  item = gtk_menu_item_new_with_label (_ ("Discovered hosts"));
  sub = gtk_menu_new ();
  for (guint i = 0; i < hosts->len && i < MAX_MENU_HOSTS; i++)
    {
      ShHost *h = hosts->pdata[i];
      /* TRANSLATORS: a discovered host in the menu: name, then address */
      g_autofree char *label = g_strdup_printf (_ ("%s (%s)"), h->name, h->address);

      append (GTK_MENU (sub),
              action_item (gtk_menu_item_new_with_label (label), actions, "copy-host",
                           g_variant_new ("(ss)", h->name, h->address)));
    }
  if (hosts->len == 0)
    append_state (GTK_MENU (sub), _ ("None yet"));
  else if (hosts->len > MAX_MENU_HOSTS)
    append (GTK_MENU (sub),
            action_item (gtk_menu_item_new_with_label (_ ("All hosts…")), actions, "status", NULL));
  gtk_menu_item_set_submenu (GTK_MENU_ITEM (item), sub);
  append (menu, item);
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
append_run (GtkMenu *menu, ShEngine *engine, const char *name, GActionGroup *actions)
{
  if (engine == NULL || sh_engine_get_door (engine)[0] == '\0')
    return;
  append (menu, action_item (gtk_menu_item_new_with_label (_ ("Run a program in this tunnel…")),
                             actions, "run-program",
                             g_variant_new ("(ss)", sh_engine_get_bus_name (engine), name)));
}

static GtkWidget *
toggle_item (const char *label, gboolean active)
{
  GtkWidget *item = gtk_check_menu_item_new_with_label (label);

  /* Set before the handler is connected: this is not the user's click. */
  gtk_check_menu_item_set_active (GTK_CHECK_MENU_ITEM (item), active);
  return item;
}

gboolean
sh_menu_fill (GtkMenu *menu, ShConnections *conns, ShEngines *engines, GActionGroup *actions)
{
  gboolean ticking = FALSE;
  GPtrArray *rows = sh_connections_rows (conns);
  g_autoptr (GPtrArray) all = sh_engines_list (engines);
  g_autoptr (GList) old = gtk_container_get_children (GTK_CONTAINER (menu));
  gboolean any = FALSE;

  for (GList *l = old; l != NULL; l = l->next)
    gtk_widget_destroy (l->data);

  for (guint i = 0; i < rows->len; i++)
    {
      const ShConn *c = rows->pdata[i];
      ShEngine *engine = sh_engines_find (engines, c->uuid);
      gboolean on = c->state == SH_CONN_CONNECTING || c->state == SH_CONN_CONNECTED;
      gint64 since = engine != NULL && sh_engine_get_connected_since (engine) > 0
                         ? sh_engine_get_connected_since (engine)
                         : c->since;
      g_autofree char *state = engine_state_label (engine, c->state, since, c->failure, &ticking);
      GtkWidget *item = toggle_item (c->id, on);

      g_object_set_data_full (G_OBJECT (item), "sh-uuid", g_strdup (c->uuid), g_free);
      g_signal_connect (item, "toggled", G_CALLBACK (on_toggled), actions);
      append (menu, item);
      append_state (menu, state);
      if (c->state == SH_CONN_CONNECTED)
        {
          append_hosts (menu, engine, actions);
          append_run (menu, engine, c->id, actions);
        }
      any = TRUE;
    }

  /* Engines started by hand (`shuttle -r ...`): shown, and can be stopped. */
  for (guint i = 0; i < all->len; i++)
    {
      ShEngine *engine = all->pdata[i];
      g_autofree char *label = NULL;
      g_autofree char *state = NULL;
      GtkWidget *item;

      if (sh_engine_is_managed (engine))
        continue;
      /* TRANSLATORS: a tunnel started with the shuttle command, not through
         NetworkManager; %s is its server */
      label = g_strdup_printf (_ ("%s (started by hand)"), sh_engine_get_server (engine));
      item = toggle_item (label, TRUE);
      g_object_set_data_full (G_OBJECT (item), "sh-engine",
                              g_strdup (sh_engine_get_bus_name (engine)), g_free);
      g_signal_connect (item, "toggled", G_CALLBACK (on_toggled), actions);
      append (menu, item);
      state = engine_state_label (
          engine, sh_label_parse_engine_state (sh_engine_get_state (engine)),
          sh_engine_get_connected_since (engine), sh_engine_get_failure (engine), &ticking);
      append_state (menu, state);
      append_hosts (menu, engine, actions);
      if (g_strcmp0 (sh_engine_get_state (engine), "connected") == 0)
        append_run (menu, engine, label, actions);
      any = TRUE;
    }

  if (!any)
    append_state (menu, sh_connections_nm_running (conns) ? _ ("No Shuttle connections")
                                                          : _ ("NetworkManager is not running"));
  append (menu, gtk_separator_menu_item_new ());
  append (menu,
          action_item (gtk_menu_item_new_with_label (_ ("Status…")), actions, "status", NULL));
  append (menu, action_item (gtk_menu_item_new_with_label (_ ("Edit connections…")), actions,
                             "edit-connections", NULL));
  append (menu, gtk_separator_menu_item_new ());
  append (menu, action_item (gtk_menu_item_new_with_label (_ ("Quit")), actions, "quit", NULL));
  return ticking;
}
