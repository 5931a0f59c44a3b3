/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-editor-plugin.c — libnm-vpn-plugin-shuttle.so, the part of the
 * plugin that libnm clients (nmcli, nm-connection-editor, GNOME Settings)
 * load by the .name file's [libnm] plugin= path.
 *
 * It links no GTK: nmcli imports and exports through it in processes that
 * have no display. The editor page lives in a separate library that
 * get_editor() dlopens next to this one, picking the GTK 3 or GTK 4 build by
 * which GTK the host process already has loaded (two GTK majors in one
 * process abort).
 */
#include "config.h"

#include "nm-shuttle-editor-plugin.h"

#include <dlfcn.h>
#include <string.h>

#include <gio/gio.h>
#include <glib/gi18n-lib.h>

#include "import-export.h"
#include "nm-shuttle-data.h"

#define EDITOR_LIB_GTK3 "libnm-vpn-plugin-shuttle-editor.so"
#define EDITOR_LIB_GTK4 "libnm-gtk4-vpn-plugin-shuttle-editor.so"
#define EDITOR_FACTORY "shuttle_editor_new"

/* A profile file is a few hundred bytes; refuse to read anything huge. */
#define IMPORT_MAX_BYTES (256 * 1024)

enum
{
  PROP_0,
  PROP_NAME,
  PROP_DESCRIPTION,
  PROP_SERVICE,
};

struct _ShuttleEditorPlugin
{
  GObject parent;
};

static void shuttle_editor_plugin_interface_init (NMVpnEditorPluginInterface *iface);

G_DEFINE_TYPE_WITH_CODE (ShuttleEditorPlugin, shuttle_editor_plugin, G_TYPE_OBJECT,
                         G_IMPLEMENT_INTERFACE (NM_TYPE_VPN_EDITOR_PLUGIN,
                                                shuttle_editor_plugin_interface_init))

/* ---- import / export ---- */

static gboolean
read_limited (const char *path, char **out, GError **error)
{
  g_autofree char *text = NULL;
  gsize len = 0;

  if (!g_file_get_contents (path, &text, &len, error))
    return FALSE;
  if (len > IMPORT_MAX_BYTES)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, _ ("%s: larger than %d bytes"), path,
                   IMPORT_MAX_BYTES);
      return FALSE;
    }
  if (memchr (text, '\0', len) != NULL || !g_utf8_validate (text, (gssize) len, NULL))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA,
                   _ ("%s: not a text file (NUL byte or invalid UTF-8)"), path);
      return FALSE;
    }
  *out = g_steal_pointer (&text);
  return TRUE;
}

/* "work.conf" -> "work": the connection's name, as the other VPN plugins do. */
static char *
name_from_path (const char *path)
{
  g_autofree char *base = g_path_get_basename (path);
  char *dot = strrchr (base, '.');

  if (dot != NULL && dot != base)
    *dot = '\0';
  return g_steal_pointer (&base);
}

NMConnection *
shuttle_import_file (const char *path, GError **error)
{
  g_autofree char *text = NULL;
  g_autofree char *base = g_path_get_basename (path);
  g_autofree char *id = name_from_path (path);
  g_autofree char *uuid = NULL;
  g_autoptr (GHashTable) data = NULL;
  g_autoptr (GError) local_error = NULL;
  NMConnection *connection;
  NMSettingConnection *s_con;
  NMSettingVpn *s_vpn;
  const char *local_user;
  GHashTableIter it;
  gpointer key, value;

  if (!read_limited (path, &text, error))
    return NULL;
  data = sh_nm_import_parse (text, base, sh_nm_data_check_item, error);
  if (data == NULL)
    return NULL;
  /* Whole-profile rules (a host, subnets unless auto-nets...) name no line. */
  if (!sh_nm_data_check_all (data, &local_error))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_DATA, "%s: %s", base,
                   local_error->message);
      return NULL;
    }

  local_user = g_hash_table_lookup (data, SH_NM_KEY_LOCAL_USER);
  connection = nm_simple_connection_new ();
  s_con = NM_SETTING_CONNECTION (nm_setting_connection_new ());
  uuid = nm_utils_uuid_generate ();
  g_object_set (s_con, NM_SETTING_CONNECTION_ID, id, NM_SETTING_CONNECTION_UUID, uuid,
                NM_SETTING_CONNECTION_TYPE, NM_SETTING_VPN_SETTING_NAME, NULL);
  /* The engine runs as the profile's owner with that user's ssh keys; an
   * imported profile without local-user, or naming the importing user, is
   * that user's (a system-wide one would need the administrator's
   * nm-users.conf). Root gets no such default: the engine never runs as
   * root. */
  if (geteuid () != 0 && (local_user == NULL || g_str_equal (local_user, g_get_user_name ())))
    nm_setting_connection_add_permission (s_con, "user", g_get_user_name (), NULL);
  nm_connection_add_setting (connection, NM_SETTING (s_con));

  s_vpn = NM_SETTING_VPN (nm_setting_vpn_new ());
  g_object_set (s_vpn, NM_SETTING_VPN_SERVICE_TYPE, SH_NM_SERVICE_TYPE, NULL);
  g_hash_table_iter_init (&it, data);
  while (g_hash_table_iter_next (&it, &key, &value))
    nm_setting_vpn_add_data_item (s_vpn, key, value);
  nm_connection_add_setting (connection, NM_SETTING (s_vpn));
  return connection;
}

/* vpn.data as a plain table, for the validator and the formatter. */
static void
copy_item (const char *key, const char *value, gpointer user_data)
{
  g_hash_table_insert (user_data, g_strdup (key), g_strdup (value));
}

gboolean
shuttle_export_file (const char *path, NMConnection *connection, GError **error)
{
  NMSettingVpn *s_vpn = nm_connection_get_setting_vpn (connection);
  g_autoptr (GHashTable) data = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_autofree char *text = NULL;

  if (s_vpn == NULL || g_strcmp0 (nm_setting_vpn_get_service_type (s_vpn), SH_NM_SERVICE_TYPE) != 0)
    {
      g_set_error (error, NM_CONNECTION_ERROR, NM_CONNECTION_ERROR_INVALID_SETTING, "%s",
                   _ ("not a Shuttle VPN connection"));
      return FALSE;
    }
  nm_setting_vpn_foreach_data_item (s_vpn, copy_item, data);
  if (!sh_nm_data_check_all (data, error))
    return FALSE;
  text = sh_nm_export_format (data, nm_connection_get_id (connection));
  return g_file_set_contents (path, text, -1, error);
}

static NMConnection *
import_from_file (NMVpnEditorPlugin *plugin, const char *path, GError **error)
{
  return shuttle_import_file (path, error);
}

static gboolean
export_to_file (NMVpnEditorPlugin *plugin, const char *path, NMConnection *connection,
                GError **error)
{
  return shuttle_export_file (path, connection, error);
}

static char *
get_suggested_filename (NMVpnEditorPlugin *plugin, NMConnection *connection)
{
  const char *id = nm_connection_get_id (connection);
  g_autofree char *safe = g_strdup (id != NULL && id[0] != '\0' ? id : "shuttle");

  g_strdelimit (safe, "/\\ \t\r\n:", '_');
  return g_strconcat (safe, ".conf", NULL);
}

static NMVpnEditorPluginCapability
get_capabilities (NMVpnEditorPlugin *plugin)
{
  return NM_VPN_EDITOR_PLUGIN_CAPABILITY_IMPORT | NM_VPN_EDITOR_PLUGIN_CAPABILITY_EXPORT;
}

/* ---- the editor, loaded on demand ---- */

typedef NMVpnEditor *(*EditorFactory) (NMVpnEditorPlugin *plugin, NMConnection *connection,
                                       GError **error);

/* The editor libraries are installed next to this one; find our own file
 * through a symbol of ours, not through a compiled-in path, so a build tree
 * works as well as an installed tree. */
static char *
editor_path (const char *file, GError **error)
{
  Dl_info info;
  g_autofree char *dir = NULL;

  if (dladdr ((void *) shuttle_import_file, &info) == 0 || info.dli_fname == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "%s",
                   _ ("cannot locate the Shuttle VPN plugin library"));
      return NULL;
    }
  dir = g_path_get_dirname (info.dli_fname);
  return g_build_filename (dir, file, NULL);
}

static NMVpnEditor *
get_editor (NMVpnEditorPlugin *plugin, NMConnection *connection, GError **error)
{
  static void *module;
  static EditorFactory factory;
  /* gtk_container_add exists in GTK 3 only: if the host has GTK 3 loaded,
   * use the GTK 3 editor; otherwise (GTK 4, e.g. GNOME Settings) the GTK 4 one. */
  gboolean gtk3 = dlsym (RTLD_DEFAULT, "gtk_container_add") != NULL;

  if (factory == NULL)
    {
      g_autofree char *path = editor_path (gtk3 ? EDITOR_LIB_GTK3 : EDITOR_LIB_GTK4, error);

      if (path == NULL)
        return NULL;
      /* Kept loaded for the process's lifetime: it registers GTypes. */
      module = dlopen (path, RTLD_LAZY | RTLD_LOCAL);
      if (module == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("cannot load %s: %s"), path,
                       dlerror ());
          return NULL;
        }
      factory = (EditorFactory) dlsym (module, EDITOR_FACTORY);
      if (factory == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, _ ("%s has no %s()"), path,
                       EDITOR_FACTORY);
          return NULL;
        }
    }
  return factory (plugin, connection, error);
}

/* ---- GObject ---- */

static void
get_property (GObject *object, guint prop_id, GValue *value, GParamSpec *pspec)
{
  switch (prop_id)
    {
    case PROP_NAME:
      g_value_set_string (value, _ ("Shuttle (VPN over ssh)"));
      break;
    case PROP_DESCRIPTION:
      g_value_set_string (value,
                          _ ("Reach a network through any server you can log in to with ssh; "
                             "nothing to install on the server."));
      break;
    case PROP_SERVICE:
      g_value_set_string (value, SH_NM_SERVICE_TYPE);
      break;
    default:
      G_OBJECT_WARN_INVALID_PROPERTY_ID (object, prop_id, pspec);
      break;
    }
}

static void
shuttle_editor_plugin_init (ShuttleEditorPlugin *plugin)
{
}

static void
shuttle_editor_plugin_class_init (ShuttleEditorPluginClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->get_property = get_property;
  g_object_class_override_property (object_class, PROP_NAME, NM_VPN_EDITOR_PLUGIN_NAME);
  g_object_class_override_property (object_class, PROP_DESCRIPTION,
                                    NM_VPN_EDITOR_PLUGIN_DESCRIPTION);
  g_object_class_override_property (object_class, PROP_SERVICE, NM_VPN_EDITOR_PLUGIN_SERVICE);
}

static void
shuttle_editor_plugin_interface_init (NMVpnEditorPluginInterface *iface)
{
  iface->get_editor = get_editor;
  iface->get_capabilities = get_capabilities;
  iface->import_from_file = import_from_file;
  iface->export_to_file = export_to_file;
  iface->get_suggested_filename = get_suggested_filename;
}

G_MODULE_EXPORT NMVpnEditorPlugin *
nm_vpn_editor_plugin_factory (GError **error)
{
  bindtextdomain (GETTEXT_PACKAGE, LOCALEDIR);
  bind_textdomain_codeset (GETTEXT_PACKAGE, "UTF-8");
  return g_object_new (SHUTTLE_TYPE_EDITOR_PLUGIN, NULL);
}
