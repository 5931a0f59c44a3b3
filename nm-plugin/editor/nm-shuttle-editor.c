/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-editor.c — the Shuttle page of nm-connection-editor (GTK 3) and
 * GNOME Settings (GTK 4): one source and one .ui, compiled against either.
 *
 * Every field is checked as it is typed, with the same checks the import and
 * the service apply (nm-shuttle-data.h): a bad field gets an error icon and
 * the message as its tooltip, and the first problem is shown in words under
 * the form; update_connection() refuses the same problems with that message.
 */
#include "config.h"

#include <string.h>

#include <NetworkManager.h>
#include <gio/gio.h>
#include <glib/gi18n-lib.h>
#include <gtk/gtk.h>
#include <libnma/nma-ui-utils.h>

#include "hostkey.h"
#include "nm-shuttle-data.h"

#if GTK_CHECK_VERSION(4, 0, 0)
#define RESOURCE_UI "/io/github/shuttlevpn/editor/gtk4/shuttle-editor.ui"
#define entry_get_text(e) gtk_editable_get_text (GTK_EDITABLE (e))
#define entry_set_text(e, t) gtk_editable_set_text (GTK_EDITABLE (e), (t))
#define check_get(w) gtk_check_button_get_active (GTK_CHECK_BUTTON (w))
#define check_set(w, v) gtk_check_button_set_active (GTK_CHECK_BUTTON (w), (v))
#define toggled_signal "toggled"
#else
#define RESOURCE_UI "/io/github/shuttlevpn/editor/shuttle-editor.ui"
#define entry_get_text(e) gtk_entry_get_text (GTK_ENTRY (e))
#define entry_set_text(e, t) gtk_entry_set_text (GTK_ENTRY (e), (t))
#define check_get(w) gtk_toggle_button_get_active (GTK_TOGGLE_BUTTON (w))
#define check_set(w, v) gtk_toggle_button_set_active (GTK_TOGGLE_BUTTON (w), (v))
#define toggled_signal "toggled"
#endif

/* Entries that map one-to-one onto a vpn.data key; lists are normalised to
 * "a,b,c" on the way out. */
typedef struct
{
  const char *widget;
  const char *key;
  gboolean is_list;
} EntryKey;

static const EntryKey entry_keys[] = {
  { "host_entry", SH_NM_KEY_HOST, FALSE },
  { "user_entry", SH_NM_KEY_USER, FALSE },
  { "port_entry", SH_NM_KEY_PORT, FALSE },
  { "key_file_entry", SH_NM_KEY_KEY_FILE, FALSE },
  { "host_key_entry", SH_NM_KEY_HOST_KEY, FALSE },
  { "subnets_entry", SH_NM_KEY_SUBNETS, TRUE },
  { "excludes_entry", SH_NM_KEY_EXCLUDES, TRUE },
  { "seed_hosts_entry", SH_NM_KEY_SEED_HOSTS, TRUE },
  { "dns_domains_entry", SH_NM_KEY_DNS_DOMAINS, TRUE },
  { "to_ns_entry", SH_NM_KEY_TO_NS, FALSE },
  { "timeout_entry", SH_NM_KEY_CONNECT_TIMEOUT, FALSE },
  { "udp_timeout_entry", SH_NM_KEY_UDP_TIMEOUT, FALSE },
  { "python_entry", SH_NM_KEY_PYTHON, FALSE },
  { "local_user_entry", SH_NM_KEY_LOCAL_USER, FALSE },
};

typedef struct
{
  const char *widget;
  const char *key;
  gboolean dflt;
} CheckKey;

static const CheckKey check_keys[] = {
  { "auto_nets_check", SH_NM_KEY_AUTO_NETS, FALSE },
  { "auto_hosts_check", SH_NM_KEY_AUTO_HOSTS, FALSE },
  { "latency_check", SH_NM_KEY_LATENCY_CONTROL, TRUE },
  { "block_ipv6_check", SH_NM_KEY_BLOCK_IPV6, TRUE },
  { "fail_closed_check", SH_NM_KEY_FAIL_CLOSED, FALSE },
  { "udp_check", SH_NM_KEY_UDP, TRUE },
};

#define SHUTTLE_TYPE_EDITOR (shuttle_editor_get_type ())
G_DECLARE_FINAL_TYPE (ShuttleEditor, shuttle_editor, SHUTTLE, EDITOR, GObject)

struct _ShuttleEditor
{
  GObject parent;
  GtkBuilder *builder;
  GtkWidget *widget;
  /* The profile's VPN setting as loaded: keeps the secret flags that libnma's
   * password-storage menus write, and any vpn.data this page does not show. */
  NMSettingVpn *s_vpn;
  GPtrArray *scanned; /* ShHostKey from the last "Fetch host key" */
  GCancellable *scan_cancel;
  gboolean loading; /* no "changed" while filling the form */
};

static void shuttle_editor_interface_init (NMVpnEditorInterface *iface);

G_DEFINE_TYPE_WITH_CODE (ShuttleEditor, shuttle_editor, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (NM_TYPE_VPN_EDITOR, shuttle_editor_interface_init))

static GtkWidget *
w (ShuttleEditor *self, const char *id)
{
  GObject *o = gtk_builder_get_object (self->builder, id);

  g_return_val_if_fail (o != NULL, NULL);
  return GTK_WIDGET (o);
}

/* "10.0.0.0/8, 10.1.0.0/16  fd00::/8" -> "10.0.0.0/8,10.1.0.0/16,fd00::/8" */
static char *
normalise_list (const char *text)
{
  g_auto (GStrv) parts = g_strsplit_set (text, ", \t", -1);
  g_autoptr (GPtrArray) items = g_ptr_array_new ();

  for (guint i = 0; parts[i] != NULL; i++)
    if (parts[i][0] != '\0')
      g_ptr_array_add (items, parts[i]);
  g_ptr_array_add (items, NULL);
  return g_strjoinv (",", (char **) items->pdata);
}

static const char *
combo_id (ShuttleEditor *self, const char *id, const char *dflt)
{
  const char *v = gtk_combo_box_get_active_id (GTK_COMBO_BOX (w (self, id)));

  return v != NULL ? v : dflt;
}

/* The form as vpn.data: only keys with a value, defaults left out so a
 * profile stays as small as the user made it. Keys this page does not show
 * are carried over from the loaded profile. */
static GHashTable *
collect (ShuttleEditor *self)
{
  GHashTable *data = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  const char *auth = combo_id (self, "auth_combo", "agent");
  const char *dns = combo_id (self, "dns_combo", "none");

  for (gsize i = 0; i < G_N_ELEMENTS (entry_keys); i++)
    {
      g_autofree char *v = NULL;

      if (entry_keys[i].is_list)
        v = normalise_list (entry_get_text (w (self, entry_keys[i].widget)));
      else
        v = g_strstrip (g_strdup (entry_get_text (w (self, entry_keys[i].widget))));
      if (v[0] != '\0')
        g_hash_table_insert (data, g_strdup (entry_keys[i].key), g_steal_pointer (&v));
    }
  for (gsize i = 0; i < G_N_ELEMENTS (check_keys); i++)
    {
      gboolean on = check_get (w (self, check_keys[i].widget));

      if (on != check_keys[i].dflt)
        g_hash_table_insert (data, g_strdup (check_keys[i].key), g_strdup (on ? "yes" : "no"));
    }
  if (strcmp (auth, "agent") != 0)
    g_hash_table_insert (data, g_strdup (SH_NM_KEY_AUTH_METHOD), g_strdup (auth));
  else
    g_hash_table_remove (data, SH_NM_KEY_KEY_FILE); /* hidden, and meaningless for agent */
  if (strcmp (auth, "key") != 0)
    g_hash_table_remove (data, SH_NM_KEY_KEY_FILE);
  if (strcmp (dns, "none") != 0)
    g_hash_table_insert (data, g_strdup (SH_NM_KEY_DNS), g_strdup (dns));
  if (!check_get (w (self, "udp_check")))
    g_hash_table_remove (data, SH_NM_KEY_UDP_TIMEOUT); /* insensitive, and meaningless */
  const char *transport = combo_id (self, "transport_combo", "auto");
  if (strcmp (transport, "auto") != 0)
    g_hash_table_insert (data, g_strdup (SH_NM_KEY_TRANSPORT), g_strdup (transport));
  return data;
}

static void
set_entry_error (GtkWidget *entry, const char *message)
{
  gtk_entry_set_icon_from_icon_name (GTK_ENTRY (entry), GTK_ENTRY_ICON_SECONDARY,
                                     message != NULL ? "dialog-error-symbolic" : NULL);
  gtk_entry_set_icon_tooltip_text (GTK_ENTRY (entry), GTK_ENTRY_ICON_SECONDARY, message);
}

/* Checks the form; marks bad fields; returns the first problem (NULL: none). */
static char *
validate_form (ShuttleEditor *self)
{
  g_autoptr (GHashTable) data = collect (self);
  g_autoptr (GError) whole = NULL;
  char *first = NULL;

  for (gsize i = 0; i < G_N_ELEMENTS (entry_keys); i++)
    {
      const char *v = g_hash_table_lookup (data, entry_keys[i].key);
      g_autoptr (GError) error = NULL;

      if (v != NULL && !sh_nm_data_check_item (entry_keys[i].key, v, &error))
        {
          set_entry_error (w (self, entry_keys[i].widget), error->message);
          if (first == NULL)
            first = g_strdup (error->message);
        }
      else
        set_entry_error (w (self, entry_keys[i].widget), NULL);
    }
  if (first == NULL && !sh_nm_data_check_all (data, &whole))
    first = g_strdup (whole->message);
  gtk_label_set_text (GTK_LABEL (w (self, "error_label")), first != NULL ? first : "");
  return first;
}

/* Shows the rows that apply to the chosen method and DNS mode. */
static void
show_if (ShuttleEditor *self, const char *id, gboolean visible)
{
  GtkWidget *widget = w (self, id);

#if !GTK_CHECK_VERSION(4, 0, 0)
  /* Hosts call gtk_widget_show_all() on the page; these rows are ours. */
  gtk_widget_set_no_show_all (widget, TRUE);
#endif
  gtk_widget_set_visible (widget, visible);
}

static void
update_visibility (ShuttleEditor *self)
{
  const char *auth = combo_id (self, "auth_combo", "agent");
  gboolean key = strcmp (auth, "key") == 0;
  gboolean password = strcmp (auth, "password") == 0;
  gboolean split = strcmp (combo_id (self, "dns_combo", "none"), "split") == 0;
  gboolean dns = strcmp (combo_id (self, "dns_combo", "none"), "none") != 0;
  gboolean hosts = check_get (w (self, "auto_hosts_check"));

  show_if (self, "key_file_label", key);
  show_if (self, "key_file_entry", key);
  show_if (self, "key_file_button", key);
  show_if (self, "passphrase_label", key);
  show_if (self, "passphrase_entry", key);
  show_if (self, "password_label", password);
  show_if (self, "password_entry", password);
  gtk_widget_set_sensitive (w (self, "dns_domains_entry"), split);
  gtk_widget_set_sensitive (w (self, "to_ns_entry"), dns);
  gtk_widget_set_sensitive (w (self, "seed_hosts_entry"), hosts);
  gtk_widget_set_sensitive (w (self, "udp_timeout_entry"), check_get (w (self, "udp_check")));
}

static void
changed (ShuttleEditor *self)
{
  g_autofree char *problem = NULL;

  if (self->loading)
    return;
  update_visibility (self);
  problem = validate_form (self);
  g_signal_emit_by_name (self, "changed");
}

static void
on_changed (gpointer widget, gpointer user_data)
{
  changed (SHUTTLE_EDITOR (user_data));
}

/* ---- Fetch host key ---- */

static void
set_status (ShuttleEditor *self, const char *text)
{
  gtk_label_set_text (GTK_LABEL (w (self, "hostkey_status_label")), text);
}

static void
keyscan_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ShuttleEditor *self = user_data; /* holds a reference until here */
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;
  g_autoptr (GError) error = NULL;
  GtkComboBoxText *combo;

  if (!g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &out, &err, &error))
    {
      if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        set_status (self, error->message);
      g_object_unref (self);
      return;
    }
  gtk_widget_set_sensitive (w (self, "fetch_button"), TRUE);
  g_clear_pointer (&self->scanned, g_ptr_array_unref);
  self->scanned = sh_host_key_parse_keyscan (out != NULL ? out : "");
  combo = GTK_COMBO_BOX_TEXT (w (self, "fingerprint_combo"));
  gtk_combo_box_text_remove_all (combo);
  for (guint i = 0; i < self->scanned->len; i++)
    {
      ShHostKey *k = self->scanned->pdata[i];
      g_autofree char *text = g_strdup_printf ("%s %s", k->type, k->fingerprint);

      gtk_combo_box_text_append (combo, k->key, text);
    }
  if (self->scanned->len == 0)
    {
      /* ssh-keyscan says little on failure; its stderr's last line is the
       * most useful thing to show. */
      g_auto (GStrv) lines = g_strsplit (g_strstrip (err != NULL ? err : ""), "\n", -1);
      guint n = g_strv_length (lines);
      g_autofree char *msg
          = g_strdup_printf (_ ("The server sent no host key%s%s"),
                             n > 0 && lines[n - 1][0] ? ": " : ".", n > 0 ? lines[n - 1] : "");

      set_status (self, msg);
    }
  else
    {
      gtk_combo_box_set_active (GTK_COMBO_BOX (combo), 0);
      set_status (self, _ ("Compare the fingerprint with the one your server's administrator "
                           "gives you, then accept it."));
    }
  gtk_widget_set_sensitive (GTK_WIDGET (combo), self->scanned->len > 0);
  gtk_widget_set_sensitive (w (self, "accept_key_button"), self->scanned->len > 0);
  g_object_unref (self);
}

/* ssh-keyscan runs as the user running the editor, in the background: the
 * page stays usable, and closing it cancels the scan. */
static void
on_fetch_clicked (gpointer button, gpointer user_data)
{
  ShuttleEditor *self = user_data;
  g_autofree char *host = g_strstrip (g_strdup (entry_get_text (w (self, "host_entry"))));
  g_autofree char *port = g_strstrip (g_strdup (entry_get_text (w (self, "port_entry"))));
  g_autoptr (GError) error = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GPtrArray) argv = g_ptr_array_new ();

  if (!sh_nm_data_check_item (SH_NM_KEY_HOST, host, &error)
      || (port[0] != '\0' && !sh_nm_data_check_item (SH_NM_KEY_PORT, port, &error)))
    {
      set_status (self, error->message);
      return;
    }
  g_ptr_array_add (argv, "ssh-keyscan");
  g_ptr_array_add (argv, "-T");
  g_ptr_array_add (argv, "10");
  if (port[0] != '\0')
    {
      g_ptr_array_add (argv, "-p");
      g_ptr_array_add (argv, port);
    }
  /* The host was checked not to start with '-'; "--" makes sure anyway. */
  g_ptr_array_add (argv, "--");
  g_ptr_array_add (argv, host);
  g_ptr_array_add (argv, NULL);
  proc = g_subprocess_newv ((const char *const *) argv->pdata,
                            G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE
                                | G_SUBPROCESS_FLAGS_STDIN_INHERIT,
                            &error);
  if (proc == NULL)
    {
      g_autofree char *msg = g_strdup_printf (_ ("Cannot run ssh-keyscan: %s"), error->message);

      set_status (self, msg);
      return;
    }
  g_cancellable_cancel (self->scan_cancel);
  g_clear_object (&self->scan_cancel);
  self->scan_cancel = g_cancellable_new ();
  gtk_widget_set_sensitive (w (self, "fetch_button"), FALSE);
  set_status (self, _ ("Asking the server for its host keys…"));
  g_subprocess_communicate_utf8_async (proc, NULL, self->scan_cancel, keyscan_done,
                                       g_object_ref (self));
}

static void
on_accept_clicked (gpointer button, gpointer user_data)
{
  ShuttleEditor *self = user_data;
  const char *key = gtk_combo_box_get_active_id (GTK_COMBO_BOX (w (self, "fingerprint_combo")));
  g_autofree char *fp = NULL;
  g_autofree char *msg = NULL;

  if (key == NULL)
    return;
  fp = sh_host_key_fingerprint (key);
  entry_set_text (w (self, "host_key_entry"), key);
  msg = g_strdup_printf (_ ("Pinned %s: only a server with this key will be accepted."), fp);
  set_status (self, msg);
}

static void
show_pinned_fingerprint (ShuttleEditor *self)
{
  const char *key = entry_get_text (w (self, "host_key_entry"));
  g_autofree char *fp = key[0] != '\0' ? sh_host_key_fingerprint (key) : NULL;
  g_autofree char *msg = NULL;

  if (fp == NULL)
    return;
  msg = g_strdup_printf (_ ("Pinned: %s"), fp);
  set_status (self, msg);
}

/* ---- key file chooser ---- */

static void
chooser_response (GtkNativeDialog *dialog, int response, gpointer user_data)
{
  ShuttleEditor *self = user_data;

  if (response == GTK_RESPONSE_ACCEPT)
    {
      g_autoptr (GFile) file = gtk_file_chooser_get_file (GTK_FILE_CHOOSER (dialog));
      g_autofree char *path = file != NULL ? g_file_get_path (file) : NULL;

      if (path != NULL)
        entry_set_text (w (self, "key_file_entry"), path);
    }
  g_object_unref (dialog);
  g_object_unref (self);
}

static void
on_key_file_clicked (gpointer button, gpointer user_data)
{
  ShuttleEditor *self = user_data;
  GtkFileChooserNative *chooser;
  GtkWindow *parent;

#if GTK_CHECK_VERSION(4, 0, 0)
  parent = GTK_WINDOW (gtk_widget_get_root (self->widget));
#else
  parent = GTK_WINDOW (gtk_widget_get_toplevel (self->widget));
#endif
  chooser = gtk_file_chooser_native_new (_ ("Choose the private key"), parent,
                                         GTK_FILE_CHOOSER_ACTION_OPEN, NULL, NULL);
  {
    g_autofree char *ssh_dir = g_build_filename (g_get_home_dir (), ".ssh", NULL);
    g_autoptr (GFile) dir = g_file_new_for_path (ssh_dir);

    gtk_file_chooser_set_current_folder (GTK_FILE_CHOOSER (chooser),
#if GTK_CHECK_VERSION(4, 0, 0)
                                         dir, NULL);
#else
                                         ssh_dir);
#endif
  }
  g_signal_connect (chooser, "response", G_CALLBACK (chooser_response), g_object_ref (self));
  gtk_native_dialog_show (GTK_NATIVE_DIALOG (chooser));
}

/* ---- loading and saving ---- */

static NMSettingSecretFlags
secret_flags (NMSettingVpn *s_vpn, const char *name)
{
  NMSettingSecretFlags flags = NM_SETTING_SECRET_FLAG_NONE;

  if (s_vpn != NULL)
    nm_setting_get_secret_flags (NM_SETTING (s_vpn), name, &flags, NULL);
  return flags;
}

static void
fill_form (ShuttleEditor *self)
{
  NMSettingVpn *s = self->s_vpn;
  const char *v;

  for (gsize i = 0; i < G_N_ELEMENTS (entry_keys); i++)
    {
      v = nm_setting_vpn_get_data_item (s, entry_keys[i].key);
      if (v != NULL && entry_keys[i].is_list)
        {
          g_autofree char *pretty = NULL;
          g_auto (GStrv) parts = g_strsplit (v, ",", -1);

          pretty = g_strjoinv (", ", parts);
          entry_set_text (w (self, entry_keys[i].widget), pretty);
        }
      else
        entry_set_text (w (self, entry_keys[i].widget), v != NULL ? v : "");
    }
  for (gsize i = 0; i < G_N_ELEMENTS (check_keys); i++)
    {
      v = nm_setting_vpn_get_data_item (s, check_keys[i].key);
      check_set (w (self, check_keys[i].widget),
                 v != NULL ? strcmp (v, "yes") == 0 : check_keys[i].dflt);
    }
  v = nm_setting_vpn_get_data_item (s, SH_NM_KEY_AUTH_METHOD);
  if (!gtk_combo_box_set_active_id (GTK_COMBO_BOX (w (self, "auth_combo")), v ? v : "agent"))
    gtk_combo_box_set_active_id (GTK_COMBO_BOX (w (self, "auth_combo")), "agent");
  v = nm_setting_vpn_get_data_item (s, SH_NM_KEY_DNS);
  if (!gtk_combo_box_set_active_id (GTK_COMBO_BOX (w (self, "dns_combo")), v ? v : "none"))
    gtk_combo_box_set_active_id (GTK_COMBO_BOX (w (self, "dns_combo")), "none");
  v = nm_setting_vpn_get_data_item (s, SH_NM_KEY_TRANSPORT);
  if (!gtk_combo_box_set_active_id (GTK_COMBO_BOX (w (self, "transport_combo")), v ? v : "auto"))
    gtk_combo_box_set_active_id (GTK_COMBO_BOX (w (self, "transport_combo")), "auto");

  v = nm_setting_vpn_get_secret (s, SH_NM_SECRET_PASSWORD);
  entry_set_text (w (self, "password_entry"), v != NULL ? v : "");
  v = nm_setting_vpn_get_secret (s, SH_NM_SECRET_KEY_PASSPHRASE);
  entry_set_text (w (self, "passphrase_entry"), v != NULL ? v : "");
  gtk_entry_set_visibility (GTK_ENTRY (w (self, "password_entry")), FALSE);
  gtk_entry_set_visibility (GTK_ENTRY (w (self, "passphrase_entry")), FALSE);
  /* libnma's storage menu (this user only / all users / ask every time / not
   * required) on each secret entry; it writes the *-flags into self->s_vpn. */
  nma_utils_setup_password_storage (w (self, "password_entry"),
                                    secret_flags (s, SH_NM_SECRET_PASSWORD), NM_SETTING (s),
                                    SH_NM_SECRET_PASSWORD, FALSE, FALSE);
  nma_utils_setup_password_storage (w (self, "passphrase_entry"),
                                    secret_flags (s, SH_NM_SECRET_KEY_PASSPHRASE), NM_SETTING (s),
                                    SH_NM_SECRET_KEY_PASSPHRASE, TRUE, FALSE);
  gtk_widget_set_sensitive (w (self, "fingerprint_combo"), FALSE);
  gtk_widget_set_sensitive (w (self, "accept_key_button"), FALSE);
  show_pinned_fingerprint (self);
}

/* A secret entry's value goes into the profile only when the menu says NM
 * stores it; its flags always do. */
static void
save_secret (ShuttleEditor *self, NMSettingVpn *s_vpn, const char *entry, const char *name,
             gboolean wanted)
{
  GtkWidget *e = w (self, entry);
  NMSettingSecretFlags flags = nma_utils_menu_to_secret_flags (e);
  const char *v = entry_get_text (e);
  g_autofree char *flags_key = g_strdup_printf ("%s-flags", name);

  nm_setting_vpn_remove_secret (s_vpn, name);
  nm_setting_vpn_remove_data_item (s_vpn, flags_key);
  if (!wanted)
    return;
  if (flags != NM_SETTING_SECRET_FLAG_NONE)
    {
      g_autofree char *f = g_strdup_printf ("%u", (guint) flags);

      nm_setting_vpn_add_data_item (s_vpn, flags_key, f);
    }
  if (v[0] != '\0'
      && !(flags & (NM_SETTING_SECRET_FLAG_NOT_SAVED | NM_SETTING_SECRET_FLAG_NOT_REQUIRED)))
    nm_setting_vpn_add_secret (s_vpn, name, v);
  /* The menu belongs to the editor's copy of the setting, not the output. */
  nma_utils_update_password_storage (e, flags, NM_SETTING (self->s_vpn), name);
}

static void
add_item (gpointer key, gpointer value, gpointer user_data)
{
  nm_setting_vpn_add_data_item (user_data, key, value);
}

static gboolean
update_connection (NMVpnEditor *editor, NMConnection *connection, GError **error)
{
  ShuttleEditor *self = SHUTTLE_EDITOR (editor);
  g_autoptr (GHashTable) data = collect (self);
  g_autofree char *problem = validate_form (self);
  const char *auth = combo_id (self, "auth_combo", "agent");
  NMSettingVpn *old
      = self->s_vpn != NULL ? self->s_vpn : nm_connection_get_setting_vpn (connection);
  gboolean persistent = old != NULL && nm_setting_vpn_get_persistent (old);
  guint32 timeout = old != NULL ? nm_setting_vpn_get_timeout (old) : 0;
  g_autofree char *user_name = old != NULL ? g_strdup (nm_setting_vpn_get_user_name (old)) : NULL;
  NMSettingVpn *s_vpn;

  if (problem != NULL)
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_INVALID_PROPERTY, "%s", problem);
      return FALSE;
    }
  s_vpn = NM_SETTING_VPN (nm_setting_vpn_new ());
  /* What this page does not show survives it. "Block traffic while
   * reconnecting" means reconnecting: it turns vpn.persistent on (turning
   * it off leaves vpn.persistent as it was). */
  if (g_strcmp0 (g_hash_table_lookup (data, SH_NM_KEY_FAIL_CLOSED), "yes") == 0)
    persistent = TRUE;
  g_object_set (s_vpn, NM_SETTING_VPN_SERVICE_TYPE, SH_NM_SERVICE_TYPE, NM_SETTING_VPN_PERSISTENT,
                persistent, NM_SETTING_VPN_TIMEOUT, timeout, NM_SETTING_VPN_USER_NAME, user_name,
                NULL);
  g_hash_table_foreach (data, add_item, s_vpn);
  save_secret (self, s_vpn, "password_entry", SH_NM_SECRET_PASSWORD,
               strcmp (auth, "password") == 0);
  save_secret (self, s_vpn, "passphrase_entry", SH_NM_SECRET_KEY_PASSPHRASE,
               strcmp (auth, "key") == 0);
  nm_connection_add_setting (connection, NM_SETTING (s_vpn));
  return TRUE;
}

static GObject *
get_widget (NMVpnEditor *editor)
{
  return G_OBJECT (SHUTTLE_EDITOR (editor)->widget);
}

static void
connect_signals (ShuttleEditor *self)
{
  for (gsize i = 0; i < G_N_ELEMENTS (entry_keys); i++)
    g_signal_connect (w (self, entry_keys[i].widget), "changed", G_CALLBACK (on_changed), self);
  for (gsize i = 0; i < G_N_ELEMENTS (check_keys); i++)
    g_signal_connect (w (self, check_keys[i].widget), toggled_signal, G_CALLBACK (on_changed),
                      self);
  g_signal_connect (w (self, "auth_combo"), "changed", G_CALLBACK (on_changed), self);
  g_signal_connect (w (self, "dns_combo"), "changed", G_CALLBACK (on_changed), self);
  g_signal_connect (w (self, "transport_combo"), "changed", G_CALLBACK (on_changed), self);
  g_signal_connect (w (self, "password_entry"), "changed", G_CALLBACK (on_changed), self);
  g_signal_connect (w (self, "passphrase_entry"), "changed", G_CALLBACK (on_changed), self);
  g_signal_connect (w (self, "fetch_button"), "clicked", G_CALLBACK (on_fetch_clicked), self);
  g_signal_connect (w (self, "accept_key_button"), "clicked", G_CALLBACK (on_accept_clicked), self);
  g_signal_connect (w (self, "key_file_button"), "clicked", G_CALLBACK (on_key_file_clicked), self);
}

static void
shuttle_editor_dispose (GObject *object)
{
  ShuttleEditor *self = SHUTTLE_EDITOR (object);

  g_cancellable_cancel (self->scan_cancel);
  g_clear_object (&self->scan_cancel);
  g_clear_pointer (&self->scanned, g_ptr_array_unref);
  /* The page belongs to whoever packed it; we drop our own reference. */
  g_clear_object (&self->widget);
  g_clear_object (&self->builder);
  g_clear_object (&self->s_vpn);
  G_OBJECT_CLASS (shuttle_editor_parent_class)->dispose (object);
}

static void
shuttle_editor_init (ShuttleEditor *self)
{
}

static void
shuttle_editor_class_init (ShuttleEditorClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = shuttle_editor_dispose;
}

static void
shuttle_editor_interface_init (NMVpnEditorInterface *iface)
{
  iface->get_widget = get_widget;
  iface->update_connection = update_connection;
}

/* The factory libnm-vpn-plugin-shuttle.so looks up after dlopen(). */
G_MODULE_EXPORT NMVpnEditor *shuttle_editor_new (NMVpnEditorPlugin *plugin,
                                                 NMConnection *connection, GError **error);

G_MODULE_EXPORT NMVpnEditor *
shuttle_editor_new (NMVpnEditorPlugin *plugin, NMConnection *connection, GError **error)
{
  g_autoptr (ShuttleEditor) self = g_object_new (SHUTTLE_TYPE_EDITOR, NULL);
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);

  self->builder = gtk_builder_new ();
  gtk_builder_set_translation_domain (self->builder, GETTEXT_PACKAGE);
  if (!gtk_builder_add_from_resource (self->builder, RESOURCE_UI, error))
    return NULL;
  self->widget = g_object_ref_sink (w (self, "shuttle_page"));
  self->s_vpn = s_vpn != NULL ? NM_SETTING_VPN (nm_setting_duplicate (NM_SETTING (s_vpn)))
                              : NM_SETTING_VPN (nm_setting_vpn_new ());
  self->loading = TRUE;
  fill_form (self);
  self->loading = FALSE;
  update_visibility (self);
  g_free (validate_form (self));
  connect_signals (self);
  return NM_VPN_EDITOR (g_steal_pointer (&self));
}
