/* SPDX-License-Identifier: GPL-2.0-or-later */
/* attach.c — shuttle run --attach (attach.h). */
#include "config.h"

#include "attach.h"

#include <glib/gi18n-lib.h>
#include <stdio.h>
#include <string.h>

#include "launch.h"
#include "shuttle-dbus.h"
#include "subnet.h"

#define NM_PREFIX "org.freedesktop.NetworkManager.shuttle."
#define CALL_TIMEOUT_MS 10000

char *
sh_attach_bus_name (const char *engine, GBusType *bus_type, GError **error)
{
  guint64 pid;

  if (g_ascii_string_to_unsigned (engine, 10, 1, G_MAXINT32, &pid, NULL))
    {
      *bus_type = G_BUS_TYPE_SESSION;
      return g_strdup_printf (SH_ENGINE_SESSION_PREFIX "%" G_GUINT64_FORMAT, pid);
    }
  if (g_str_has_prefix (engine, NM_PREFIX) && g_dbus_is_name (engine))
    {
      *bus_type = G_BUS_TYPE_SYSTEM;
      return g_strdup (engine);
    }
  if (g_str_has_prefix (engine, SH_ENGINE_SESSION_PREFIX) && g_dbus_is_name (engine))
    {
      *bus_type = G_BUS_TYPE_SESSION;
      return g_strdup (engine);
    }
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
               /* TRANSLATORS: the bus names are literal */
               _ ("--attach: %s is no engine: give the PID of a shuttle started by hand, or the "
                  "bus name the applet shows (io.github.shuttlevpn.Engine.pPID, "
                  "org.freedesktop.NetworkManager.shuttle.Connection_N)"),
               engine);
  return NULL;
}

/* Each string of the array @name of @props, parsed, appended to @out. */
static gboolean
take_subnets (GVariant *props, const char *name, GArray *out, GError **error)
{
  g_autoptr (GVariant) v = g_variant_lookup_value (props, name, G_VARIANT_TYPE_STRING_ARRAY);
  g_autofree const char **specs = NULL;

  if (v == NULL)
    return TRUE;
  specs = g_variant_get_strv (v, NULL);
  for (guint i = 0; specs[i] != NULL; i++)
    {
      ShSubnet s;
      if (!sh_subnet_parse (specs[i], &s, error))
        return FALSE;
      g_array_append_val (out, s);
    }
  return TRUE;
}

gboolean
sh_attach_read (GVariant *props, char **door_out, GArray *subnets, GArray *excludes, GError **error)
{
  const char *door = NULL, *state = NULL;

  g_variant_lookup (props, "Door", "&s", &door);
  g_variant_lookup (props, "State", "&s", &state);
  if (door == NULL || door[0] != '/')
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "%s",
                   _ ("the engine has no door for programs (an engine older than this "
                      "shuttle, or its door could not be made)"));
      return FALSE;
    }
  if (g_strcmp0 (state, "connected") != 0 && g_strcmp0 (state, "reconnecting") != 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED,
                   _ ("the engine is not connected (state: %s)"), state ? state : "?");
      return FALSE;
    }
  /* Given subnets replace the engine's routes (a part of them, say). */
  if (subnets->len == 0 && !take_subnets (props, "Routes", subnets, error))
    return FALSE;
  if (!take_subnets (props, "Excludes", excludes, error))
    return FALSE;
  if (subnets->len == 0)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "%s",
                   _ ("the engine tunnels no subnet yet"));
      return FALSE;
    }
  *door_out = g_strdup (door);
  return TRUE;
}

static GVariant *
read_engine (GBusType bus_type, const char *name, GError **error)
{
  g_autoptr (GDBusConnection) bus = g_bus_get_sync (bus_type, NULL, error);
  g_autoptr (GVariant) r = NULL;

  if (bus == NULL)
    return NULL;
  r = g_dbus_connection_call_sync (bus, name, SH_ENGINE_PATH, "org.freedesktop.DBus.Properties",
                                   "GetAll", g_variant_new ("(s)", SH_ENGINE_IFACE),
                                   G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                   CALL_TIMEOUT_MS, NULL, error);
  return r != NULL ? g_variant_get_child_value (r, 0) : NULL;
}

int
sh_attach_main (const ShOptions *opts)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GArray) subnets = g_array_new (FALSE, FALSE, sizeof (ShSubnet));
  g_autoptr (GArray) excludes = g_array_new (FALSE, FALSE, sizeof (ShSubnet));
  g_autofree char *name = NULL, *door = NULL, *path = NULL;
  g_autoptr (GVariant) props = NULL;
  g_autoptr (GSubprocess) child = NULL;
  GBusType bus_type;

  name = sh_attach_bus_name (opts->attach, &bus_type, &error);
  if (name == NULL)
    {
      fprintf (stderr, "shuttle: %s\n", error->message);
      return 2;
    }
  props = read_engine (bus_type, name, &error);
  g_array_append_vals (subnets, opts->subnets->data, opts->subnets->len);
  g_array_append_vals (excludes, opts->excludes->data, opts->excludes->len);
  if (props == NULL || !sh_attach_read (props, &door, subnets, excludes, &error))
    {
      /* TRANSLATORS: %s: the engine's bus name, then why */
      fprintf (stderr, _ ("shuttle: cannot attach to %s: %s\n"), name, error->message);
      return 1;
    }
  if (sh_launch_inspect (opts->run_argv[0], &path) == SH_EXEC_STATIC)
    fprintf (stderr,
             _ ("shuttle: warning: %s is statically linked: it never loads the preload "
                "library, so its connections do not enter the tunnel\n"),
             path);
  else if (path == NULL)
    {
      fprintf (stderr, _ ("shuttle run: %s: command not found\n"), opts->run_argv[0]);
      return 127;
    }
  child = sh_launch_spawn (opts->run_argv, door, subnets, excludes, FALSE, &error);
  if (child == NULL || !g_subprocess_wait (child, NULL, &error))
    {
      fprintf (stderr, _ ("shuttle: cannot start %s: %s\n"), opts->run_argv[0], error->message);
      return 127;
    }
  if (g_subprocess_get_if_exited (child))
    return g_subprocess_get_exit_status (child);
  return 128 + g_subprocess_get_term_sig (child);
}
