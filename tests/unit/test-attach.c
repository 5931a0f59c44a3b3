/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Unit tests of attach.c's pure parts: which engine --attach names, and
 * what it takes from the engine's properties. */
#include "config.h"

#include <glib.h>
#include <sys/socket.h>

#include "attach.h"
#include "subnet.h"

static void
test_bus_name (void)
{
  g_autoptr (GError) error = NULL;
  GBusType type = G_BUS_TYPE_NONE;
  g_autofree char *by_pid = sh_attach_bus_name ("4242", &type, &error);
  g_autofree char *nm = NULL, *session = NULL, *bad = NULL, *zero = NULL, *other = NULL;

  g_assert_no_error (error);
  g_assert_cmpstr (by_pid, ==, "io.github.shuttlevpn.Engine.p4242");
  g_assert_cmpint (type, ==, G_BUS_TYPE_SESSION);
  nm = sh_attach_bus_name ("org.freedesktop.NetworkManager.shuttle.Connection_3", &type, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (nm, ==, "org.freedesktop.NetworkManager.shuttle.Connection_3");
  g_assert_cmpint (type, ==, G_BUS_TYPE_SYSTEM);
  session = sh_attach_bus_name ("io.github.shuttlevpn.Engine.p17", &type, &error);
  g_assert_no_error (error);
  g_assert_cmpint (type, ==, G_BUS_TYPE_SESSION);
  /* another service's name, a PID of 0, garbage: never asked */
  other = sh_attach_bus_name ("org.freedesktop.NetworkManager", &type, &error);
  g_assert_null (other);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT);
  g_clear_error (&error);
  zero = sh_attach_bus_name ("0", &type, &error);
  g_assert_null (zero);
  g_clear_error (&error);
  bad = sh_attach_bus_name ("org.freedesktop.NetworkManager.shuttle.", &type, &error);
  g_assert_null (bad);
  g_assert_true (g_str_has_prefix (error->message, "--attach: "));
}

static GVariant *
props (const char *state, const char *door, const char *const *routes, const char *const *excl)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", "State", g_variant_new_string (state));
  if (door != NULL)
    g_variant_builder_add (&b, "{sv}", "Door", g_variant_new_string (door));
  g_variant_builder_add (&b, "{sv}", "Routes", g_variant_new_strv (routes, -1));
  g_variant_builder_add (&b, "{sv}", "Excludes", g_variant_new_strv (excl, -1));
  return g_variant_ref_sink (g_variant_builder_end (&b));
}

static void
test_read (void)
{
  static const char *const routes[] = { "10.1.0.0/16", "fd00::/64", "10.9.9.9/32:80-90", NULL };
  static const char *const excl[] = { "10.1.2.0/24", NULL };
  static const char *const none[] = { NULL };
  static const char *const broken[] = { "10.0.0.300/8", NULL };
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) ok = props ("connected", "/tmp/shuttle-run-x/engine.sock", routes, excl);
  g_autoptr (GVariant) down = props ("connecting", "/tmp/d/engine.sock", routes, excl);
  g_autoptr (GVariant) old = props ("connected", NULL, routes, excl);
  g_autoptr (GVariant) relative = props ("connected", "engine.sock", routes, excl);
  g_autoptr (GVariant) empty = props ("reconnecting", "/tmp/d/engine.sock", none, none);
  g_autoptr (GVariant) bad = props ("connected", "/tmp/d/engine.sock", broken, none);
  g_autoptr (GArray) subnets = g_array_new (FALSE, FALSE, sizeof (ShSubnet));
  g_autoptr (GArray) excludes = g_array_new (FALSE, FALSE, sizeof (ShSubnet));
  g_autofree char *door = NULL, *nodoor = NULL;
  ShSubnet given;

  g_assert_true (sh_attach_read (ok, &door, subnets, excludes, &error));
  g_assert_no_error (error);
  g_assert_cmpstr (door, ==, "/tmp/shuttle-run-x/engine.sock");
  g_assert_cmpuint (subnets->len, ==, 3);
  g_assert_cmpuint (excludes->len, ==, 1);
  g_assert_cmpint (g_array_index (subnets, ShSubnet, 1).family, ==, AF_INET6);
  g_assert_cmpint (g_array_index (subnets, ShSubnet, 2).port_lo, ==, 80);

  /* subnets given on the command line replace the engine's routes */
  g_array_set_size (subnets, 0);
  g_array_set_size (excludes, 0);
  g_assert_true (sh_subnet_parse ("10.1.5.0/24", &given, NULL));
  g_array_append_val (subnets, given);
  g_clear_pointer (&door, g_free);
  g_assert_true (sh_attach_read (ok, &door, subnets, excludes, &error));
  g_assert_cmpuint (subnets->len, ==, 1);

  g_array_set_size (subnets, 0);
  g_assert_false (sh_attach_read (down, &nodoor, subnets, excludes, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);
  g_assert_false (sh_attach_read (old, &nodoor, subnets, excludes, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_assert_false (sh_attach_read (relative, &nodoor, subnets, excludes, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED);
  g_clear_error (&error);
  g_assert_false (sh_attach_read (empty, &nodoor, subnets, excludes, &error));
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED);
  g_clear_error (&error);
  g_assert_false (sh_attach_read (bad, &nodoor, subnets, excludes, &error));
  g_assert_nonnull (error);
  g_assert_null (nodoor);
}

int
main (int argc, char **argv)
{
  g_setenv ("LANGUAGE", "C", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/attach/bus-name", test_bus_name);
  g_test_add_func ("/attach/read", test_read);
  return g_test_run ();
}
