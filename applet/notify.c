/* SPDX-License-Identifier: GPL-2.0-or-later */
/* notify.c — GNotifications for state changes. */
#include "config.h"

#include "notify.h"

#include <glib/gi18n-lib.h>

/* One notification per connection: a newer state replaces the older one
 * instead of piling up. */
static char *
id_for (const ShConn *row)
{
  return g_strdup_printf ("connection-%s", row->uuid);
}

void
sh_notify_transition (GApplication *app, const ShConn *row, ShConnState old)
{
  g_autoptr (GNotification) n = NULL;
  g_autofree char *id = id_for (row);
  g_autofree char *title = NULL;
  g_autoptr (GIcon) icon = NULL;

  switch (row->state)
    {
    case SH_CONN_CONNECTED:
      /* TRANSLATORS: %s is the connection's name */
      title = g_strdup_printf (_ ("%s connected"), row->id);
      n = g_notification_new (title);
      g_notification_set_body (n, _ ("Connections to its networks now go through the tunnel."));
      g_notification_add_button_with_target (n, _ ("Disconnect"), "app.disconnect", "s", row->uuid);
      break;
    case SH_CONN_FAILED:
      if (row->dropped)
        /* TRANSLATORS: %s is the connection's name */
        title = g_strdup_printf (_ ("%s disconnected unexpectedly"), row->id);
      else
        /* TRANSLATORS: %s is the connection's name */
        title = g_strdup_printf (_ ("%s failed to connect"), row->id);
      n = g_notification_new (title);
      if (row->failure != NULL)
        g_notification_set_body (n, row->failure);
      g_notification_set_priority (n, G_NOTIFICATION_PRIORITY_HIGH);
      g_notification_add_button_with_target (n, _ ("Reconnect"), "app.connect", "s", row->uuid);
      break;
    case SH_CONN_DISCONNECTED:
      /* Asked for by the user: only take back the "connected" message. */
      if (old == SH_CONN_CONNECTED || old == SH_CONN_DISCONNECTING)
        g_application_withdraw_notification (app, id);
      return;
    default:
      return;
    }
  icon = g_themed_icon_new (sh_label_icon (row->state));
  g_notification_set_icon (n, icon);
  g_notification_set_default_action (n, "app.status");
  g_application_send_notification (app, id, n);
}

void
sh_notify_copied (GApplication *app, const char *name, const char *address)
{
  g_autoptr (GNotification) n = NULL;
  /* TRANSLATORS: %s is an IP address */
  g_autofree char *title = g_strdup_printf (_ ("Copied %s"), address);
  /* TRANSLATORS: %s is a host name */
  g_autofree char *body = g_strdup_printf (_ ("The address of %s is on the clipboard."), name);

  n = g_notification_new (title);
  g_notification_set_body (n, body);
  g_notification_set_priority (n, G_NOTIFICATION_PRIORITY_LOW);
  g_application_send_notification (app, "copied", n);
}

void
sh_notify_no_tray (GApplication *app)
{
  g_autoptr (GNotification) n = g_notification_new (_ ("No system tray"));

  g_notification_set_body (n, _ ("This desktop shows no tray icons, so Shuttle opened its status "
                                 "window instead. On GNOME, the AppIndicator extension adds a "
                                 "tray."));
  g_application_send_notification (app, "no-tray", n);
}
