/* SPDX-License-Identifier: GPL-2.0-or-later */
/* status-window.c — one page per connection in a stack with a sidebar.
 * Pages are updated in place (not rebuilt) so the counters can tick every
 * second without the search field losing its text or focus. */
#include "config.h"

#include "status-window.h"

#include <glib/gi18n-lib.h>

typedef struct
{
  char *key; /* the connection's uuid, or a standalone engine's bus name */
  gboolean standalone;
  GtkWidget *box;
  GtkWidget *icon;
  GtkWidget *title;
  GtkWidget *button;
  GtkWidget *state;
  GtkWidget *server;
  GtkWidget *routes;
  GtkWidget *traffic;
  GtkWidget *sessions;
  GtkWidget *datagrams;
  GtkWidget *search;
  GtkWidget *hosts;
  ShEngine *hosts_of; /* not a reference: only compared */
  guint hosts_serial;
} Page;

struct _ShStatusWindow
{
  GtkApplicationWindow parent;
  ShConnections *conns;
  ShEngines *engines;
  GtkWidget *stack;
  GtkWidget *empty;
  GHashTable *pages; /* key -> Page */
  guint tick;
};

G_DEFINE_TYPE (ShStatusWindow, sh_status_window, GTK_TYPE_APPLICATION_WINDOW)

static void
page_free (gpointer p)
{
  Page *page = p;

  g_free (page->key);
  g_free (page);
}

static GtkWidget *
value_label (GtkGrid *grid, int row, const char *name)
{
  GtkWidget *n = gtk_label_new (name);
  GtkWidget *v = gtk_label_new ("");

  gtk_widget_set_halign (n, GTK_ALIGN_END);
  gtk_widget_set_valign (n, GTK_ALIGN_START);
  gtk_style_context_add_class (gtk_widget_get_style_context (n), "dim-label");
  gtk_widget_set_halign (v, GTK_ALIGN_START);
  gtk_label_set_xalign (GTK_LABEL (v), 0);
  gtk_label_set_line_wrap (GTK_LABEL (v), TRUE);
  gtk_label_set_selectable (GTK_LABEL (v), TRUE);
  gtk_grid_attach (grid, n, 0, row, 1, 1);
  gtk_grid_attach (grid, v, 1, row, 1, 1);
  return v;
}

static gboolean
host_visible (GtkListBoxRow *row, gpointer data)
{
  Page *page = data;
  const char *needle = gtk_entry_get_text (GTK_ENTRY (page->search));
  const char *text = g_object_get_data (G_OBJECT (row), "sh-text");
  g_autofree char *n = NULL, *t = NULL;

  if (needle[0] == '\0')
    return TRUE;
  n = g_utf8_casefold (needle, -1);
  t = g_utf8_casefold (text, -1);
  return strstr (t, n) != NULL;
}

static void
on_search (GtkSearchEntry *entry, Page *page)
{
  gtk_list_box_invalidate_filter (GTK_LIST_BOX (page->hosts));
}

static Page *
page_new (ShStatusWindow *self, const char *key, gboolean standalone)
{
  Page *page = g_new0 (Page, 1);
  GtkWidget *header, *grid, *label, *scroll;

  page->key = g_strdup (key);
  page->standalone = standalone;
  page->box = gtk_box_new (GTK_ORIENTATION_VERTICAL, 12);
  g_object_set (page->box, "margin", 18, NULL);

  header = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
  page->icon = gtk_image_new ();
  page->title = gtk_label_new ("");
  gtk_style_context_add_class (gtk_widget_get_style_context (page->title), "title-2");
  gtk_widget_set_halign (page->title, GTK_ALIGN_START);
  gtk_widget_set_hexpand (page->title, TRUE);
  page->button = gtk_button_new ();
  gtk_box_pack_start (GTK_BOX (header), page->icon, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (header), page->title, TRUE, TRUE, 0);
  gtk_box_pack_end (GTK_BOX (header), page->button, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (page->box), header, FALSE, FALSE, 0);

  grid = gtk_grid_new ();
  gtk_grid_set_row_spacing (GTK_GRID (grid), 6);
  gtk_grid_set_column_spacing (GTK_GRID (grid), 12);
  page->state = value_label (GTK_GRID (grid), 0, _ ("State"));
  page->server = value_label (GTK_GRID (grid), 1, _ ("Server"));
  page->routes = value_label (GTK_GRID (grid), 2, _ ("Routed subnets"));
  page->traffic = value_label (GTK_GRID (grid), 3, _ ("Traffic"));
  page->sessions = value_label (GTK_GRID (grid), 4, _ ("Open connections"));
  page->datagrams = value_label (GTK_GRID (grid), 5, _ ("UDP and ping"));
  gtk_box_pack_start (GTK_BOX (page->box), grid, FALSE, FALSE, 0);

  label = gtk_label_new (_ ("Discovered hosts"));
  gtk_widget_set_halign (label, GTK_ALIGN_START);
  gtk_style_context_add_class (gtk_widget_get_style_context (label), "heading");
  gtk_box_pack_start (GTK_BOX (page->box), label, FALSE, FALSE, 0);
  page->search = gtk_search_entry_new ();
  gtk_entry_set_placeholder_text (GTK_ENTRY (page->search), _ ("Search by name or address"));
  g_signal_connect (page->search, "search-changed", G_CALLBACK (on_search), page);
  gtk_box_pack_start (GTK_BOX (page->box), page->search, FALSE, FALSE, 0);
  page->hosts = gtk_list_box_new ();
  gtk_list_box_set_selection_mode (GTK_LIST_BOX (page->hosts), GTK_SELECTION_NONE);
  gtk_list_box_set_filter_func (GTK_LIST_BOX (page->hosts), host_visible, page, NULL);
  gtk_list_box_set_placeholder (GTK_LIST_BOX (page->hosts), gtk_label_new (_ ("No hosts")));
  scroll = gtk_scrolled_window_new (NULL, NULL);
  gtk_scrolled_window_set_policy (GTK_SCROLLED_WINDOW (scroll), GTK_POLICY_NEVER,
                                  GTK_POLICY_AUTOMATIC);
  gtk_scrolled_window_set_shadow_type (GTK_SCROLLED_WINDOW (scroll), GTK_SHADOW_IN);
  gtk_widget_set_vexpand (scroll, TRUE);
  gtk_container_add (GTK_CONTAINER (scroll), page->hosts);
  gtk_box_pack_start (GTK_BOX (page->box), scroll, TRUE, TRUE, 0);

  gtk_widget_show_all (page->box);
  gtk_stack_add_named (GTK_STACK (self->stack), page->box, key);
  g_hash_table_insert (self->pages, page->key, page);
  return page;
}

static void
fill_hosts (Page *page, ShEngine *engine)
{
  g_autoptr (GList) old = gtk_container_get_children (GTK_CONTAINER (page->hosts));
  GPtrArray *hosts;

  if (engine == page->hosts_of
      && (engine == NULL || sh_engine_get_hosts_serial (engine) == page->hosts_serial))
    return;
  page->hosts_of = engine;
  for (GList *l = old; l != NULL; l = l->next)
    gtk_widget_destroy (l->data);
  if (engine == NULL)
    return;
  page->hosts_serial = sh_engine_get_hosts_serial (engine);
  hosts = sh_engine_get_hosts (engine);
  for (guint i = 0; i < hosts->len; i++)
    {
      ShHost *h = hosts->pdata[i];
      GtkWidget *row = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 12);
      GtkWidget *name = gtk_label_new (h->name);
      GtkWidget *address = gtk_label_new (h->address);
      GtkWidget *copy = gtk_button_new_from_icon_name ("edit-copy-symbolic", GTK_ICON_SIZE_BUTTON);
      GtkWidget *list_row = gtk_list_box_row_new ();

      g_object_set (row, "margin", 4, NULL);
      gtk_widget_set_halign (name, GTK_ALIGN_START);
      gtk_label_set_selectable (GTK_LABEL (address), TRUE);
      gtk_widget_set_tooltip_text (copy, _ ("Copy the address"));
      /* An icon-only button needs a name for screen readers. */
      atk_object_set_name (gtk_widget_get_accessible (copy), _ ("Copy the address"));
      gtk_actionable_set_action_name (GTK_ACTIONABLE (copy), "app.copy-host");
      gtk_actionable_set_action_target (GTK_ACTIONABLE (copy), "(ss)", h->name, h->address);
      gtk_box_pack_start (GTK_BOX (row), name, TRUE, TRUE, 0);
      gtk_box_pack_start (GTK_BOX (row), address, FALSE, FALSE, 0);
      gtk_box_pack_start (GTK_BOX (row), copy, FALSE, FALSE, 0);
      gtk_container_add (GTK_CONTAINER (list_row), row);
      g_object_set_data_full (G_OBJECT (list_row), "sh-text",
                              g_strdup_printf ("%s %s", h->name, h->address), g_free);
      gtk_widget_show_all (list_row);
      gtk_container_add (GTK_CONTAINER (page->hosts), list_row);
    }
}

static void
set_button (Page *page, const char *label, const char *action, const char *target)
{
  gtk_button_set_label (GTK_BUTTON (page->button), label);
  /* The target first: an action name without its target warns. */
  gtk_actionable_set_action_target (GTK_ACTIONABLE (page->button), "s", target);
  gtk_actionable_set_action_name (GTK_ACTIONABLE (page->button), action);
}

static void
page_update (ShStatusWindow *self, Page *page, const char *title, ShConnState state, gint64 since,
             const char *failure, ShEngine *engine)
{
  g_autofree char *text = NULL;
  gboolean live = engine != NULL && state == SH_CONN_CONNECTED;

  /* Counted down by the window's tick, as in the menu. */
  if (engine != NULL && g_strcmp0 (sh_engine_get_state (engine), "reconnecting") == 0
      && state != SH_CONN_DISCONNECTED && state != SH_CONN_DISCONNECTING)
    text = sh_label_reconnecting (sh_engine_get_reconnect_reason (engine),
                                  sh_engine_get_reconnect_at (engine), g_get_monotonic_time ());
  else
    text = sh_label_state (state, since, failure);

  gtk_container_child_set (GTK_CONTAINER (self->stack), page->box, "title", title, NULL);
  gtk_label_set_text (GTK_LABEL (page->title), title);
  gtk_image_set_from_icon_name (GTK_IMAGE (page->icon), sh_label_icon (state), GTK_ICON_SIZE_DND);
  if (state == SH_CONN_CONNECTED && since > 0)
    {
      g_autofree char *up = sh_label_duration (g_get_real_time () / G_USEC_PER_SEC - since);
      /* TRANSLATORS: the state, then how long it has been up, e.g.
         "Connected since 14:05 (up 3 min)" */
      g_autofree char *both = g_strdup_printf (_ ("%s (up %s)"), text, up);

      gtk_label_set_text (GTK_LABEL (page->state), both);
    }
  else
    gtk_label_set_text (GTK_LABEL (page->state), text);

  if (page->standalone)
    set_button (page, _ ("Disconnect"), "app.stop-engine", page->key);
  else if (state == SH_CONN_CONNECTED || state == SH_CONN_CONNECTING)
    set_button (page, _ ("Disconnect"), "app.disconnect", page->key);
  else
    set_button (page, _ ("Connect"), "app.connect", page->key);

  gtk_label_set_text (GTK_LABEL (page->server),
                      engine != NULL ? sh_engine_get_server (engine) : "—");
  if (live)
    {
      g_autofree char *routes = g_strjoinv (", ", (char **) sh_engine_get_routes (engine));
      g_autofree char *sent = g_format_size (sh_engine_get_bytes_sent (engine));
      g_autofree char *received = g_format_size (sh_engine_get_bytes_received (engine));
      /* TRANSLATORS: bytes through the tunnel, e.g. "1.2 MB sent, 30 MB received" */
      g_autofree char *traffic = g_strdup_printf (_ ("%s sent, %s received"), sent, received);
      g_autofree char *sessions = g_strdup_printf ("%u", sh_engine_get_open_sessions (engine));
      g_autofree char *dsent = g_format_size (sh_engine_get_datagram_bytes_sent (engine));
      g_autofree char *dreceived = g_format_size (sh_engine_get_datagram_bytes_received (engine));
      guint flows = sh_engine_get_open_flows (engine);
      /* TRANSLATORS: UDP and ping through the tunnel, e.g.
         "12 kB sent, 40 kB received, 3 flows" (a flow: one local program's
         UDP port or ping) */
      g_autofree char *datagrams
          = g_strdup_printf (g_dngettext (GETTEXT_PACKAGE, "%s sent, %s received, %u flow",
                                          "%s sent, %s received, %u flows", flows),
                             dsent, dreceived, flows);

      gtk_label_set_text (GTK_LABEL (page->routes), routes[0] != '\0' ? routes : "—");
      gtk_label_set_text (GTK_LABEL (page->traffic), traffic);
      gtk_label_set_text (GTK_LABEL (page->sessions), sessions);
      gtk_label_set_text (GTK_LABEL (page->datagrams), datagrams);
    }
  else
    {
      gtk_label_set_text (GTK_LABEL (page->routes), "—");
      gtk_label_set_text (GTK_LABEL (page->traffic), "—");
      gtk_label_set_text (GTK_LABEL (page->sessions), "—");
      gtk_label_set_text (GTK_LABEL (page->datagrams), "—");
    }
  fill_hosts (page, live ? engine : NULL);
}

static void
update (ShStatusWindow *self)
{
  GPtrArray *rows = sh_connections_rows (self->conns);
  g_autoptr (GPtrArray) engines = sh_engines_list (self->engines);
  g_autoptr (GHashTable) seen = g_hash_table_new (g_str_hash, g_str_equal);
  GHashTableIter it;
  gpointer k, v;

  for (guint i = 0; i < rows->len; i++)
    {
      const ShConn *c = rows->pdata[i];
      Page *page = g_hash_table_lookup (self->pages, c->uuid);
      ShEngine *engine = sh_engines_find (self->engines, c->uuid);
      gint64 since = engine != NULL && sh_engine_get_connected_since (engine) > 0
                         ? sh_engine_get_connected_since (engine)
                         : c->since;

      if (page == NULL)
        page = page_new (self, c->uuid, FALSE);
      page_update (self, page, c->id, c->state, since, c->failure, engine);
      g_hash_table_add (seen, page->key);
    }
  for (guint i = 0; i < engines->len; i++)
    {
      ShEngine *engine = engines->pdata[i];
      const char *key = sh_engine_get_bus_name (engine);
      Page *page;

      if (sh_engine_is_managed (engine))
        continue;
      page = g_hash_table_lookup (self->pages, key);
      if (page == NULL)
        page = page_new (self, key, TRUE);
      page_update (self, page, sh_engine_get_server (engine),
                   sh_label_parse_engine_state (sh_engine_get_state (engine)),
                   sh_engine_get_connected_since (engine), sh_engine_get_failure (engine), engine);
      g_hash_table_add (seen, page->key);
    }
  g_hash_table_iter_init (&it, self->pages);
  while (g_hash_table_iter_next (&it, &k, &v))
    if (!g_hash_table_contains (seen, k))
      {
        gtk_widget_destroy (((Page *) v)->box);
        g_hash_table_iter_remove (&it);
      }
  gtk_widget_set_visible (self->empty, g_hash_table_size (self->pages) == 0);
}

static gboolean
on_tick (gpointer data)
{
  /* The uptime moves even when nothing else does. */
  update (data);
  return G_SOURCE_CONTINUE;
}

static void
sh_status_window_map (GtkWidget *widget)
{
  ShStatusWindow *self = SH_STATUS_WINDOW (widget);

  GTK_WIDGET_CLASS (sh_status_window_parent_class)->map (widget);
  sh_engines_set_polling (self->engines, TRUE);
  if (self->tick == 0)
    self->tick = g_timeout_add_seconds (1, on_tick, self);
}

static void
sh_status_window_unmap (GtkWidget *widget)
{
  ShStatusWindow *self = SH_STATUS_WINDOW (widget);

  sh_engines_set_polling (self->engines, FALSE);
  g_clear_handle_id (&self->tick, g_source_remove);
  GTK_WIDGET_CLASS (sh_status_window_parent_class)->unmap (widget);
}

GtkWidget *
sh_status_window_new (GtkApplication *app, ShConnections *conns, ShEngines *engines)
{
  ShStatusWindow *self = g_object_new (SH_TYPE_STATUS_WINDOW, "application", app, NULL);

  self->conns = g_object_ref (conns);
  self->engines = g_object_ref (engines);
  g_signal_connect_object (conns, "changed", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  g_signal_connect_object (engines, "changed", G_CALLBACK (update), self, G_CONNECT_SWAPPED);
  update (self);
  return GTK_WIDGET (self);
}

static void
sh_status_window_init (ShStatusWindow *self)
{
  GtkWidget *box = gtk_box_new (GTK_ORIENTATION_HORIZONTAL, 0);
  GtkWidget *sidebar = gtk_stack_sidebar_new ();
  GtkWidget *overlay = gtk_overlay_new ();

  self->pages = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, page_free);
  gtk_window_set_title (GTK_WINDOW (self), _ ("Shuttle VPN status"));
  gtk_window_set_icon_name (GTK_WINDOW (self), "shuttle-connected");
  gtk_window_set_default_size (GTK_WINDOW (self), 760, 520);
  self->stack = gtk_stack_new ();
  gtk_stack_sidebar_set_stack (GTK_STACK_SIDEBAR (sidebar), GTK_STACK (self->stack));
  gtk_widget_set_size_request (sidebar, 180, -1);
  self->empty = gtk_label_new (_ ("No Shuttle connections yet. Add one with "
                                  "“Edit connections…” in the tray menu."));
  gtk_label_set_line_wrap (GTK_LABEL (self->empty), TRUE);
  gtk_container_add (GTK_CONTAINER (overlay), self->stack);
  gtk_overlay_add_overlay (GTK_OVERLAY (overlay), self->empty);
  gtk_box_pack_start (GTK_BOX (box), sidebar, FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), gtk_separator_new (GTK_ORIENTATION_VERTICAL), FALSE, FALSE, 0);
  gtk_box_pack_start (GTK_BOX (box), overlay, TRUE, TRUE, 0);
  gtk_widget_show_all (box);
  gtk_container_add (GTK_CONTAINER (self), box);
}

static void
sh_status_window_dispose (GObject *object)
{
  ShStatusWindow *self = SH_STATUS_WINDOW (object);

  g_clear_handle_id (&self->tick, g_source_remove);
  if (self->engines != NULL)
    sh_engines_set_polling (self->engines, FALSE);
  g_clear_object (&self->conns);
  g_clear_object (&self->engines);
  G_OBJECT_CLASS (sh_status_window_parent_class)->dispose (object);
}

static void
sh_status_window_finalize (GObject *object)
{
  ShStatusWindow *self = SH_STATUS_WINDOW (object);

  g_hash_table_unref (self->pages);
  G_OBJECT_CLASS (sh_status_window_parent_class)->finalize (object);
}

static void
sh_status_window_class_init (ShStatusWindowClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GtkWidgetClass *widget_class = GTK_WIDGET_CLASS (klass);

  object_class->dispose = sh_status_window_dispose;
  object_class->finalize = sh_status_window_finalize;
  widget_class->map = sh_status_window_map;
  widget_class->unmap = sh_status_window_unmap;
}
