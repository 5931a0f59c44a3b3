/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-polkit.h — one polkit question: may this bus name do that action?
 *
 * A direct call of org.freedesktop.PolicyKit1.Authority.CheckAuthorization
 * with the subject ("system-bus-name", the caller's unique name), so polkit
 * itself looks up the caller's uid, process and session: nothing the caller
 * claims is trusted. User interaction is allowed, so an authentication agent
 * may ask for a password; the answer can take as long as the user does. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

void sh_fw_polkit_check_async (GDBusConnection *bus, const char *sender, const char *action_id,
                               GAsyncReadyCallback callback, gpointer user_data);

/* TRUE when authorized. Otherwise FALSE with SH_FW_ERROR_NOT_AUTHORIZED
 * (polkit said no; the message says why) or SH_FW_ERROR_FAILED (polkit
 * could not be asked). */
gboolean sh_fw_polkit_check_finish (GAsyncResult *result, GError **error);

G_END_DECLS
