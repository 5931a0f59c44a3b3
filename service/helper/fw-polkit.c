/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-polkit.c — CheckAuthorization over D-Bus, without libpolkit: one call
 * does not justify another library in a root process. */
#include "config.h"

#include "fw-polkit.h"

#include "fw-request.h"

/* CheckAuthorizationFlags: AllowUserInteraction */
#define POLKIT_ALLOW_USER_INTERACTION 1u

typedef struct
{
  char *action_id;
  char *cancellation_id;
  guint timeout;
} Question;

static void
question_free (gpointer data)
{
  Question *q = data;

  g_free (q->action_id);
  g_free (q->cancellation_id);
  g_free (q);
}

static void
on_reply (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  Question *q = g_task_get_task_data (task);
  const char *action_id = q->action_id;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) details = NULL;
  gboolean authorized, challenge;
  const char *dismissed = NULL;

  reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), result, &error);
  if (reply == NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT))
    {
      /* polkit would otherwise keep the question (and its dialog) open. */
      g_dbus_connection_call (G_DBUS_CONNECTION (source), "org.freedesktop.PolicyKit1",
                              "/org/freedesktop/PolicyKit1/Authority",
                              "org.freedesktop.PolicyKit1.Authority", "CancelCheckAuthorization",
                              g_variant_new ("(s)", q->cancellation_id), NULL,
                              G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL, NULL);
      g_task_return_new_error (task, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED,
                               "no answer about %s within %u s (nobody authenticated)", action_id,
                               q->timeout);
      return;
    }
  if (reply == NULL)
    {
      g_autofree char *remote = g_dbus_error_get_remote_error (error);

      g_dbus_error_strip_remote_error (error);
      g_task_return_new_error (task, SH_FW_ERROR, SH_FW_ERROR_FAILED,
                               "cannot ask polkit about %s: %s%s%s%s", action_id, error->message,
                               remote != NULL ? " (" : "", remote != NULL ? remote : "",
                               remote != NULL ? ")" : "");
      return;
    }
  g_variant_get (reply, "((bb@a{ss}))", &authorized, &challenge, &details);
  if (authorized)
    {
      g_task_return_boolean (task, TRUE);
      return;
    }
  g_variant_lookup (details, "polkit.dismissed", "&s", &dismissed);
  if (dismissed != NULL && g_strcmp0 (dismissed, "true") == 0)
    g_task_return_new_error (task, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED,
                             "authentication for %s was dismissed", action_id);
  else if (challenge)
    g_task_return_new_error (task, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED,
                             "%s needs authentication and no authentication agent answered "
                             "(see polkit/50-shuttle.rules.example to allow a group without one)",
                             action_id);
  else
    g_task_return_new_error (task, SH_FW_ERROR, SH_FW_ERROR_NOT_AUTHORIZED,
                             "the polkit policy does not allow %s for this user", action_id);
}

void
sh_fw_polkit_check_async (GDBusConnection *bus, const char *sender, const char *action_id,
                          guint timeout_seconds, GAsyncReadyCallback callback, gpointer user_data)
{
  static guint64 serial;
  GTask *task = g_task_new (NULL, NULL, callback, user_data);
  Question *q = g_new0 (Question, 1);
  GVariantBuilder subject, details;

  q->action_id = g_strdup (action_id);
  /* Unique among this helper's questions, as polkit requires. */
  q->cancellation_id = g_strdup_printf ("shuttle-firewall-%" G_GUINT64_FORMAT, ++serial);
  q->timeout = timeout_seconds;
  g_task_set_task_data (task, q, question_free);
  g_variant_builder_init (&subject, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&subject, "{sv}", "name", g_variant_new_string (sender));
  g_variant_builder_init (&details, G_VARIANT_TYPE ("a{ss}"));
  g_dbus_connection_call (
      bus, "org.freedesktop.PolicyKit1", "/org/freedesktop/PolicyKit1/Authority",
      "org.freedesktop.PolicyKit1.Authority", "CheckAuthorization",
      g_variant_new ("((sa{sv})sa{ss}us)", "system-bus-name", &subject, action_id, &details,
                     POLKIT_ALLOW_USER_INTERACTION, q->cancellation_id),
      G_VARIANT_TYPE ("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE,
      (int) MIN (timeout_seconds, 86400u) * 1000, NULL, on_reply, task);
}

gboolean
sh_fw_polkit_check_finish (GAsyncResult *result, GError **error)
{
  return g_task_propagate_boolean (G_TASK (result), error);
}
