/* SPDX-License-Identifier: GPL-2.0-or-later */
/* applet.c — ties the parts together: NetworkManager's connections and the
 * engines (model), the tray item and its menu (view), notifications and the
 * status window; the application's actions are what menu items, buttons
 * and notification buttons do. */
#include "config.h"

#include "applet.h"

#include "connections.h"
#include "engines.h"
#include "menu.h"
#include "notify.h"
#include "run-dialog.h"
#include "status-window.h"
#include "tray.h"

#include <glib/gi18n-lib.h>

struct _ShApplet
{
  GtkApplication parent;
  ShEngines *engines;
  ShConnections *conns;
  ShTray *tray;
  GtkWidget *menu;
  GtkWidget *window; /* weak */
  guint rebuild;
  guint tick; /* a countdown in the menu: rebuilt every second */
  gboolean started;
  gboolean status_at_start;
  gboolean told_no_tray;
};

G_DEFINE_TYPE (ShApplet, sh_applet, GTK_TYPE_APPLICATION)

static void
show_status (ShApplet *self)
{
  if (self->window == NULL)
    {
      self->window = sh_status_window_new (GTK_APPLICATION (self), self->conns, self->engines);
      g_object_add_weak_pointer (G_OBJECT (self->window), (gpointer *) &self->window);
    }
  gtk_window_present (GTK_WINDOW (self->window));
}

static void
update_icon (ShApplet *self)
{
  GPtrArray *rows = sh_connections_rows (self->conns);
  g_autofree ShConnState *states = g_new0 (ShConnState, rows->len + 1);
  ShConnState overall;

  for (guint i = 0; i < rows->len; i++)
    states[i] = ((ShConn *) rows->pdata[i])->state;
  overall = sh_label_overall (states, rows->len);
  sh_tray_set_icon (self->tray, sh_label_icon (overall), sh_label_icon_description (overall));
}

static gboolean rebuild (gpointer data);

static gboolean
tick (gpointer data)
{
  ShApplet *self = data;

  self->tick = 0;
  rebuild (self);
  return G_SOURCE_REMOVE;
}

static gboolean
rebuild (gpointer data)
{
  ShApplet *self = data;

  self->rebuild = 0;
  if (sh_menu_fill (GTK_MENU (self->menu), self->conns, self->engines, G_ACTION_GROUP (self))
      && self->tick == 0)
    self->tick = g_timeout_add_seconds (1, tick, self);
  update_icon (self);
  return G_SOURCE_REMOVE;
}

/* Several changes arrive together (NetworkManager, the engine): one
 * rebuild for all of them, from an idle. */
static void
queue_rebuild (ShApplet *self)
{
  if (self->rebuild == 0)
    self->rebuild = g_idle_add (rebuild, self);
}

static void
on_transition (ShConnections *conns, const ShConn *row, guint old, gpointer data)
{
  ShApplet *self = data;

  g_message ("%s: %s -> %s%s%s", row->id, sh_label_icon ((ShConnState) old),
             sh_label_icon (row->state), row->failure != NULL ? ": " : "",
             row->failure != NULL ? row->failure : "");
  sh_notify_transition (G_APPLICATION (self), row, (ShConnState) old);
  queue_rebuild (self);
}

static void
on_tray_host (gboolean present, gpointer data)
{
  ShApplet *self = data;

  /* Without any tray the icon would be invisible: say so, once, and show
   * the window instead. A tray that comes later gets the item anyway. */
  if (!present && !self->told_no_tray)
    {
      self->told_no_tray = TRUE;
      g_message ("no StatusNotifierWatcher on the session bus: showing the status window");
      sh_notify_no_tray (G_APPLICATION (self));
      show_status (self);
    }
}

static void
act_connect (GSimpleAction *action, GVariant *param, gpointer data)
{
  ShApplet *self = data;

  sh_connections_activate (self->conns, g_variant_get_string (param, NULL));
}

static void
act_disconnect (GSimpleAction *action, GVariant *param, gpointer data)
{
  ShApplet *self = data;

  sh_connections_deactivate (self->conns, g_variant_get_string (param, NULL));
}

static void
act_stop_engine (GSimpleAction *action, GVariant *param, gpointer data)
{
  ShApplet *self = data;
  g_autoptr (GPtrArray) all = sh_engines_list (self->engines);
  const char *name = g_variant_get_string (param, NULL);

  for (guint i = 0; i < all->len; i++)
    if (g_str_equal (sh_engine_get_bus_name (all->pdata[i]), name))
      sh_engine_disconnect (all->pdata[i]);
  /* The toggle flipped on click; put it back until the engine is gone. */
  queue_rebuild (self);
}

static void
act_copy_host (GSimpleAction *action, GVariant *param, gpointer data)
{
  ShApplet *self = data;
  const char *name, *address;
  GtkClipboard *clipboard = gtk_clipboard_get (GDK_SELECTION_CLIPBOARD);

  g_variant_get (param, "(&s&s)", &name, &address);
  gtk_clipboard_set_text (clipboard, address, -1);
  /* Let a clipboard manager keep it if we quit. */
  gtk_clipboard_store (clipboard);
  g_message ("copied %s (%s)", address, name);
  sh_notify_copied (G_APPLICATION (self), name, address);
}

static void
act_run_program (GSimpleAction *action, GVariant *param, gpointer data)
{
  const char *engine, *name;

  g_variant_get (param, "(&s&s)", &engine, &name);
  sh_run_dialog_show (GTK_APPLICATION (data), engine, name);
}

static void
act_status (GSimpleAction *action, GVariant *param, gpointer data)
{
  show_status (data);
}

static void
act_edit (GSimpleAction *action, GVariant *param, gpointer data)
{
  g_autoptr (GError) error = NULL;
  char *argv[] = { (char *) "nm-connection-editor", NULL };

  if (!g_spawn_async (NULL, argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, NULL, &error))
    {
      g_autoptr (GNotification) n = g_notification_new (_ ("Cannot open the connection editor"));

      g_notification_set_body (n, error->message);
      g_application_send_notification (G_APPLICATION (data), "editor", n);
    }
}

static gboolean
quit (gpointer data)
{
  g_application_quit (data);
  return G_SOURCE_REMOVE;
}

static void
act_quit (GSimpleAction *action, GVariant *param, gpointer data)
{
  /* From an idle: the menu's click is answered first (the tray host waits
   * for that reply). */
  g_idle_add (quit, data);
}

static const GActionEntry actions[] = {
  { "connect", act_connect, "s", NULL, NULL },
  { "disconnect", act_disconnect, "s", NULL, NULL },
  { "stop-engine", act_stop_engine, "s", NULL, NULL },
  { "copy-host", act_copy_host, "(ss)", NULL, NULL },
  { "run-program", act_run_program, "(ss)", NULL, NULL },
  { "status", act_status, NULL, NULL, NULL },
  { "edit-connections", act_edit, NULL, NULL, NULL },
  { "quit", act_quit, NULL, NULL, NULL },
};

static void
sh_applet_startup (GApplication *app)
{
  ShApplet *self = SH_APPLET (app);

  G_APPLICATION_CLASS (sh_applet_parent_class)->startup (app);
  g_action_map_add_action_entries (G_ACTION_MAP (app), actions, G_N_ELEMENTS (actions), app);
  /* No window is the normal case: the tray item keeps the applet alive. */
  g_application_hold (app);
  self->engines = sh_engines_new ();
  self->conns = sh_connections_new (self->engines);
  self->menu = g_object_ref_sink (gtk_menu_new ());
  self->tray = sh_tray_new ("shuttle-applet", _ ("Shuttle VPN"), on_tray_host, self);
  g_signal_connect_object (self->conns, "changed", G_CALLBACK (queue_rebuild), self,
                           G_CONNECT_SWAPPED);
  g_signal_connect_object (self->conns, "transition", G_CALLBACK (on_transition), self, 0);
  g_signal_connect_object (self->engines, "changed", G_CALLBACK (queue_rebuild), self,
                           G_CONNECT_SWAPPED);
  rebuild (self);
  sh_tray_set_menu (self->tray, GTK_MENU (self->menu));
}

static void
sh_applet_activate (GApplication *app)
{
  ShApplet *self = SH_APPLET (app);

  /* The first activation is the start itself (at login: tray only); any
   * later one is the user starting the applet again: show the window. */
  if (!self->started)
    {
      self->started = TRUE;
      if (!self->status_at_start)
        return;
    }
  show_status (self);
}

static int
sh_applet_handle_local_options (GApplication *app, GVariantDict *options)
{
  ShApplet *self = SH_APPLET (app);

  if (g_variant_dict_contains (options, "version"))
    {
      g_print ("shuttle-applet %s\n", PACKAGE_VERSION);
      return 0;
    }
  if (g_variant_dict_contains (options, "status"))
    self->status_at_start = TRUE;
  return -1;
}

static void
sh_applet_shutdown (GApplication *app)
{
  ShApplet *self = SH_APPLET (app);
  GDBusConnection *session = g_application_get_dbus_connection (app);

  /* Replies still queued (the Quit click's own) must leave before we exit. */
  if (session != NULL)
    g_dbus_connection_flush_sync (session, NULL, NULL);
  g_clear_handle_id (&self->rebuild, g_source_remove);
  g_clear_handle_id (&self->tick, g_source_remove);
  g_clear_pointer (&self->tray, sh_tray_free);
  if (self->window != NULL)
    gtk_widget_destroy (self->window);
  g_clear_object (&self->menu);
  g_clear_object (&self->conns);
  g_clear_object (&self->engines);
  G_APPLICATION_CLASS (sh_applet_parent_class)->shutdown (app);
}

static void
sh_applet_init (ShApplet *self)
{
  static const GOptionEntry options[] = {
    { "status", 's', 0, G_OPTION_ARG_NONE, NULL, N_ ("Open the status window"), NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, NULL, N_ ("Print the version and exit"), NULL },
    { NULL },
  };

  g_application_add_main_option_entries (G_APPLICATION (self), options);
}

static void
sh_applet_class_init (ShAppletClass *klass)
{
  GApplicationClass *app_class = G_APPLICATION_CLASS (klass);

  app_class->startup = sh_applet_startup;
  app_class->activate = sh_applet_activate;
  app_class->handle_local_options = sh_applet_handle_local_options;
  app_class->shutdown = sh_applet_shutdown;
}

ShApplet *
sh_applet_new (void)
{
  return g_object_new (SH_TYPE_APPLET, "application-id", SH_APPLET_ID, "flags",
                       G_APPLICATION_DEFAULT_FLAGS, NULL);
}
