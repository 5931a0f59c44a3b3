/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-polkit.h — one polkit question: may this bus name do that action?
 *
 * A direct call of org.freedesktop.PolicyKit1.Authority.CheckAuthorization
 * with the subject ("system-bus-name", the caller's unique name), so polkit
 * itself looks up the caller's uid, process and session: nothing the caller
 * claims is trusted. User interaction is allowed, so an authentication agent
 * may ask for a password; the answer is awaited for a bounded time (see
 * SH_FW_POLKIT_TIMEOUT), after which the question is withdrawn. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* Seconds to wait for polkit's answer. An authentication dialog waits for a
 * person, so this is long enough to read it, fetch an administrator and type
 * a password; but finite, because each question holds a request, a call and
 * perhaps a dialog for the caller, and a caller that never answers must not
 * hold them for ever. */
#define SH_FW_POLKIT_TIMEOUT 120

/* Asks polkit, giving up after @timeout_seconds: then the question is
 * cancelled at polkit (CancelCheckAuthorization, which closes a dialog)
 * and the answer is SH_FW_ERROR_NOT_AUTHORIZED. */
void sh_fw_polkit_check_async (GDBusConnection *bus, const char *sender, const char *action_id,
                               guint timeout_seconds, GAsyncReadyCallback callback,
                               gpointer user_data);

/* TRUE when authorized. Otherwise FALSE with SH_FW_ERROR_NOT_AUTHORIZED
 * (polkit said no; the message says why) or SH_FW_ERROR_FAILED (polkit
 * could not be asked). */
gboolean sh_fw_polkit_check_finish (GAsyncResult *result, GError **error);

G_END_DECLS
