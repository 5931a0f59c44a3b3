/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-editor-plugin.h — the NMVpnEditorPlugin of libnm-vpn-plugin-shuttle.so. */
#pragma once

#include <NetworkManager.h>

#include "nm-shuttle-data.h"

G_BEGIN_DECLS

#define SHUTTLE_TYPE_EDITOR_PLUGIN (shuttle_editor_plugin_get_type ())
G_DECLARE_FINAL_TYPE (ShuttleEditorPlugin, shuttle_editor_plugin, SHUTTLE, EDITOR_PLUGIN, GObject)

/* Reads an sshuttle argument file into a new connection (id from the file
 * name, vpn.data checked against the contract). NULL with @error naming the
 * file and line on failure. */
NMConnection *shuttle_import_file (const char *path, GError **error);

/* Writes @connection's vpn.data to @path as an argument file; fails when the
 * data does not pass the contract's checks. */
gboolean shuttle_export_file (const char *path, NMConnection *connection, GError **error);

G_END_DECLS
