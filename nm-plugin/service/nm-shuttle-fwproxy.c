/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "nm-shuttle-fwproxy.h"

#include <arpa/inet.h>
#include <string.h>

#include "backoff.h"
#include "shuttle-firewall-iface.h"
#include "subnet.h"

#define FW_NAME "io.github.shuttlevpn.Firewall1"
#define FW_PATH "/io/github/shuttlevpn/Firewall1"
#define FW_IFACE "io.github.shuttlevpn.Firewall1"
#define FW_ERROR FW_IFACE ".Error."
#define FW_TIMEOUT_MS 30000

struct _ShNmFwProxy
{
  GDBusConnection *peer;
  GDBusConnection *bus;
  ShNmFwPolicy policy;
  char *label;
  GArray *allowed; /* ShSubnet: the profile's subnets */
  guint registration;
  GCancellable *cancel; /* calls in flight when we go */
  gboolean applied;
  gboolean requested; /* an apply was forwarded: it may land after we cancel */
  gboolean hosts_set;
  guint helper_watch;
  guint restart_source;
  guint restart_ms;    /* the delay before the next re-activation */
  gint64 restarted_at; /* monotonic time of the last one, 0: none */
};

/* As in the engine's fwclient.c: a helper that is killed while it holds our
 * rules is started again (after sh_backoff_helper_restart_ms()), so that it
 * adopts them and removes them when we
 * go; otherwise a plugin killed after the helper would leave them behind. */
static gboolean
restart_helper (gpointer data)
{
  ShNmFwProxy *p = data;

  p->restart_source = 0;
  p->restarted_at = g_get_monotonic_time ();
  if (!p->applied && !p->requested && !p->hosts_set)
    return G_SOURCE_REMOVE;
  g_message ("the firewall helper left while holding this connection's rules: starting it again");
  g_dbus_connection_call (p->bus, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                          "org.freedesktop.DBus", "StartServiceByName",
                          g_variant_new ("(su)", FW_NAME, 0u), G_VARIANT_TYPE ("(u)"),
                          G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL, NULL);
  return G_SOURCE_REMOVE;
}

static void
on_helper_vanished (GDBusConnection *bus, const char *name, gpointer data)
{
  ShNmFwProxy *p = data;

  if ((p->applied || p->requested || p->hosts_set) && p->restart_source == 0)
    {
      gint64 since = p->restarted_at ? g_get_monotonic_time () - p->restarted_at : -1;
      p->restart_ms = sh_backoff_helper_restart_ms (p->restart_ms, since);
      p->restart_source = g_timeout_add (p->restart_ms, restart_helper, p);
    }
}

static gboolean
within (const ShSubnet *in, const ShSubnet *outer)
{
  int bytes = in->family == AF_INET ? 4 : 16;

  if (in->family != outer->family || in->prefix < outer->prefix)
    return FALSE;
  for (int bit = 0; bit < outer->prefix && bit / 8 < bytes; bit++)
    {
      guint8 m = 0x80 >> (bit % 8);
      if ((in->addr[bit / 8] & m) != (outer->addr[bit / 8] & m))
        return FALSE;
    }
  if (outer->port_lo == 0 && outer->port_hi == 0)
    return TRUE;
  return in->port_lo != 0 && in->port_lo >= outer->port_lo && in->port_hi <= outer->port_hi;
}

static gboolean refuse (GError **error, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

static gboolean
refuse (GError **error, const char *fmt, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, fmt);
  msg = g_strdup_vprintf (fmt, ap);
  va_end (ap);
  g_set_error_literal (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, msg);
  return FALSE;
}

static GArray *
profile_subnets (const ShNmProfile *p)
{
  GArray *a = g_array_new (FALSE, TRUE, sizeof (ShSubnet));

  for (char **s = p->subnets; *s; s++)
    {
      ShSubnet sn;
      if (sh_subnet_parse (*s, &sn, NULL))
        g_array_append_val (a, sn);
    }
  return a;
}

gboolean
sh_nm_fw_check_apply (const ShNmFwPolicy *policy, guint16 port, GVariant *subnets, GVariant *dns,
                      GVariant *options, GError **error)
{
  g_autoptr (GArray) requested = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  gboolean block_ipv6 = FALSE;
  g_autoptr (GArray) allowed = profile_subnets (policy->profile);
  g_autoptr (GVariant) named
      = options != NULL ? g_variant_lookup_value (options, "on-behalf-of-uid", NULL) : NULL;
  GVariantIter it;
  guint8 family, prefix;
  guint16 lo, hi;
  GVariant *addr;

  /* The uid is ours to name (sh_nm_fw_forward_options()), never the
   * engine's. */
  if (named != NULL)
    return refuse (error, "the engine may not name a uid (on-behalf-of-uid)");

  g_variant_iter_init (&it, subnets);
  while (g_variant_iter_next (&it, "(y@ayyqq)", &family, &addr, &prefix, &lo, &hi))
    {
      g_autoptr (GVariant) owned = addr;
      gsize n = 0;
      const guint8 *bytes = g_variant_get_fixed_array (addr, &n, 1);
      ShSubnet sn = {
        .family = family == 4 ? AF_INET : AF_INET6, .prefix = prefix, .port_lo = lo, .port_hi = hi
      };
      gboolean ok = FALSE;

      if ((family != 4 || n != 4) && (family != 6 || n != 16))
        return refuse (error, "malformed subnet");
      memcpy (sn.addr, bytes, n);
      g_array_append_val (requested, sn);
      if (policy->profile->auto_nets)
        continue; /* the server's routes decide; the helper still validates */
      for (guint i = 0; i < allowed->len && !ok; i++)
        ok = within (&sn, &g_array_index (allowed, ShSubnet, i));
      if (!ok)
        {
          g_autofree char *s = sh_subnet_to_string (&sn);
          return refuse (error, "subnet %s is not in the profile", s);
        }
    }

  g_variant_iter_init (&it, dns);
  while (g_variant_iter_next (&it, "(y@ay)", &family, &addr))
    {
      g_autoptr (GVariant) owned = addr;
      gsize n = 0;
      const guint8 *bytes = g_variant_get_fixed_array (addr, &n, 1);
      gboolean ok = policy->profile->dns != SH_NM_DNS_NONE
                    && ((family == 4 && n == 4 && memcmp (bytes, &policy->stub4, 4) == 0)
                        || (family == 6 && n == 16 && policy->have_stub6
                            && memcmp (bytes, &policy->stub6, 16) == 0));
      if (!ok)
        return refuse (error, "DNS capture is allowed only for the connection's stub address");
    }

  /* The leak block is the profile's to switch off, not the engine's: a full
   * IPv4 tunnel without it is refused. */
  if (options != NULL)
    g_variant_lookup (options, "block-ipv6", "b", &block_ipv6);
  if (policy->profile->block_ipv6 && sh_subnet_list_leaks_ipv6 (requested) && !block_ipv6)
    return refuse (error, "the profile blocks IPv6 leaks (block-ipv6) but the request for IPv4 "
                          "0/0 does not");
  return TRUE;
}

GVariant *
sh_nm_fw_forward_options (GVariant *options, uid_t engine_uid)
{
  GVariantBuilder b;
  GVariantIter it;
  const char *key;
  GVariant *value;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  if (options != NULL)
    {
      g_variant_iter_init (&it, options);
      while (g_variant_iter_next (&it, "{&sv}", &key, &value))
        {
          if (!g_str_equal (key, "on-behalf-of-uid"))
            g_variant_builder_add (&b, "{sv}", key, value);
          g_variant_unref (value);
        }
    }
  g_variant_builder_add (&b, "{sv}", "on-behalf-of-uid", g_variant_new_uint32 (engine_uid));
  return g_variant_builder_end (&b);
}

typedef struct
{
  ShNmFwProxy *proxy;
  GDBusMethodInvocation *inv;
  int kind; /* 0 apply, 1 remove, 2 set hosts, 3 remove hosts */
  gboolean hosts_nonempty;
} Call;

static void
forwarded (GObject *src, GAsyncResult *res, gpointer data)
{
  Call *call = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_finish (G_DBUS_CONNECTION (src), res, &error);

  if (r == NULL)
    g_dbus_method_invocation_return_gerror (call->inv, error);
  else
    {
      /* Not cancelled, so the proxy is still there. */
      switch (call->kind)
        {
        case 0:
          call->proxy->applied = TRUE;
          break;
        case 1:
          call->proxy->applied = FALSE;
          break;
        case 2:
          call->proxy->hosts_set = call->hosts_nonempty;
          break;
        default:
          call->proxy->hosts_set = FALSE;
        }
      g_dbus_method_invocation_return_value (call->inv, g_steal_pointer (&r));
    }
  g_free (call);
}

static void
method_call (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
             const char *method, GVariant *params, GDBusMethodInvocation *inv, gpointer data)
{
  ShNmFwProxy *p = data;
  g_autoptr (GError) error = NULL;
  Call *call = g_new0 (Call, 1);
  GVariant *args;
  const GVariantType *reply = NULL;

  call->proxy = p;
  call->inv = inv;
  if (g_str_equal (method, "ApplyTunnel"))
    {
      const char *label;
      guint16 port;
      g_autoptr (GVariant) subnets = NULL, excludes = NULL, dns = NULL, options = NULL;

      g_variant_get (params, "(&sq@a(yayyqq)@a(yayyqq)@a(yay)@a{sv})", &label, &port, &subnets,
                     &excludes, &dns, &options);
      if (!sh_nm_fw_check_apply (&p->policy, port, subnets, dns, options, &error))
        {
          g_message ("refused the engine's firewall request: %s", error->message);
          g_dbus_method_invocation_return_dbus_error (inv, FW_ERROR "NotAuthorized",
                                                      error->message);
          g_free (call);
          return;
        }
      call->kind = 0;
      p->requested = TRUE;
      reply = G_VARIANT_TYPE ("(s)");
      args
          = g_variant_new ("(sq@a(yayyqq)@a(yayyqq)@a(yay)@a{sv})", p->label, port, subnets,
                           excludes, dns, sh_nm_fw_forward_options (options, p->policy.engine_uid));
    }
  else if (g_str_equal (method, "RemoveTunnel"))
    {
      call->kind = 1;
      args = g_variant_new ("(s)", p->label);
    }
  else if (g_str_equal (method, "SetHosts") || g_str_equal (method, "RemoveHosts"))
    {
      if (!p->policy.profile->auto_hosts)
        {
          g_dbus_method_invocation_return_dbus_error (
              inv, FW_ERROR "NotAuthorized", "the profile does not allow hosts (auto-hosts=no)");
          g_free (call);
          return;
        }
      if (g_str_equal (method, "SetHosts"))
        {
          g_autoptr (GVariant) entries = g_variant_get_child_value (params, 1);
          call->kind = 2;
          call->hosts_nonempty = g_variant_n_children (entries) > 0;
          args = g_variant_new ("(s@a(ss))", p->label, entries);
        }
      else
        {
          call->kind = 3;
          args = g_variant_new ("(s)", p->label);
        }
    }
  else
    {
      g_dbus_method_invocation_return_dbus_error (inv, "org.freedesktop.DBus.Error.UnknownMethod",
                                                  "no such method");
      g_free (call);
      return;
    }
  /* As root: the helper asks no polkit, checks the port against the
   * engine's uid we name, and logs that uid; the tables belong to our bus
   * name. */
  g_dbus_connection_call (p->bus, FW_NAME, FW_PATH, FW_IFACE, method, args, reply,
                          G_DBUS_CALL_FLAGS_NONE, FW_TIMEOUT_MS, p->cancel, forwarded, call);
}

static GVariant *
get_property (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
              const char *name, GError **error, gpointer data)
{
  return g_variant_new_string (PACKAGE_VERSION);
}

static const GDBusInterfaceVTable vtable = { method_call, get_property, NULL };

ShNmFwProxy *
sh_nm_fw_proxy_new (GDBusConnection *peer, GDBusConnection *system_bus, const ShNmFwPolicy *policy,
                    GError **error)
{
  ShNmFwProxy *p = g_new0 (ShNmFwProxy, 1);

  p->peer = g_object_ref (peer);
  p->cancel = g_cancellable_new ();
  p->bus = g_object_ref (system_bus);
  p->policy = *policy;
  p->label = g_strdup (policy->label);
  p->policy.label = p->label;
  p->registration = g_dbus_connection_register_object (
      peer, FW_PATH, (GDBusInterfaceInfo *) &sh_fw_firewall1_interface, &vtable, p, NULL, error);
  if (p->registration == 0)
    {
      sh_nm_fw_proxy_free (p);
      return NULL;
    }
  p->helper_watch = g_bus_watch_name_on_connection (p->bus, FW_NAME, G_BUS_NAME_WATCHER_FLAGS_NONE,
                                                    NULL, on_helper_vanished, p, NULL);
  return p;
}

gboolean
sh_nm_fw_proxy_applied (ShNmFwProxy *p)
{
  return p->applied;
}

static void
remove_sync (ShNmFwProxy *p, const char *method)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) r = g_dbus_connection_call_sync (
      p->bus, FW_NAME, FW_PATH, FW_IFACE, method, g_variant_new ("(s)", p->label), NULL,
      G_DBUS_CALL_FLAGS_NONE, FW_TIMEOUT_MS, NULL, &error);
  g_autofree char *name = r == NULL ? g_dbus_error_get_remote_error (error) : NULL;

  if (r == NULL && g_strcmp0 (name, FW_ERROR "NotFound") != 0)
    g_warning ("cannot remove the connection's firewall state (%s): %s", method, error->message);
}

void
sh_nm_fw_proxy_free (ShNmFwProxy *p)
{
  if (p == NULL)
    return;
  if (p->registration != 0)
    g_dbus_connection_unregister_object (p->peer, p->registration);
  if (p->helper_watch != 0)
    g_bus_unwatch_name (p->helper_watch);
  g_clear_handle_id (&p->restart_source, g_source_remove);
  g_cancellable_cancel (p->cancel);
  g_clear_object (&p->cancel);
  if (p->applied || p->requested)
    remove_sync (p, "RemoveTunnel");
  if (p->hosts_set)
    remove_sync (p, "RemoveHosts");
  g_clear_object (&p->peer);
  g_clear_object (&p->bus);
  g_free (p->label);
  g_free (p);
}
