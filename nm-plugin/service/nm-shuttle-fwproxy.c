/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include <gio/gunixfdlist.h>

#include "nm-shuttle-fwproxy.h"

#include <arpa/inet.h>
#include <string.h>

#include "fw-watch.h"
#include "fw-wire.h"
#include "shuttle-dbus.h"
#include "shuttle-firewall-iface.h"
#include "subnet.h"

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
  ShFwWatch *watch;
};

/* As for the engine's rules (fw-watch.h): otherwise a plugin killed after
 * the helper would leave them behind. */
static gboolean
holds_something (gpointer data)
{
  ShNmFwProxy *p = data;
  return p->applied || p->requested || p->hosts_set;
}

static void
restarting (gpointer data, gpointer unused)
{
  g_message ("the firewall helper left while holding this connection's rules: starting it again");
}

/* Whether all that @in names lies in @outer, addresses and ports. */
static gboolean
within (const ShSubnet *in, const ShSubnet *outer)
{
  ShSubnet net = *outer;

  net.port_lo = net.port_hi = 0;
  if (in->prefix < outer->prefix || !sh_subnet_contains (&net, in->family, in->addr, 0))
    return FALSE;
  if (outer->port_lo == 0 && outer->port_hi == 0)
    return TRUE;
  return in->port_lo != 0 && in->port_lo >= outer->port_lo && in->port_hi <= outer->port_hi;
}

#define refuse(error, ...)                                                                         \
  (g_set_error (error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED, __VA_ARGS__), FALSE)

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

/* One decoded ApplyTunnel request against @policy; @named is the
 * on-behalf-of-uid the engine gave, SH_FW_UID_NONE when none. */
static gboolean
check_spec (const ShNmFwPolicy *policy, const ShFirewallSpec *spec, guint32 named, GError **error)
{
  g_autoptr (GArray) allowed = profile_subnets (policy->profile);

  /* The uid is ours to name (sh_nm_fw_rewrite_apply()), never the
   * engine's. */
  if (named != SH_FW_UID_NONE)
    return refuse (error, "the engine may not name a uid (on-behalf-of-uid)");

  /* With auto-nets=yes the server's routes decide; the helper still
   * validates. */
  for (guint i = 0; !policy->profile->auto_nets && i < spec->subnets->len; i++)
    {
      const ShSubnet *sn = &g_array_index (spec->subnets, ShSubnet, i);
      gboolean ok = FALSE;

      for (guint j = 0; j < allowed->len && !ok; j++)
        ok = within (sn, &g_array_index (allowed, ShSubnet, j));
      if (!ok)
        {
          g_autofree char *s = sh_subnet_to_string (sn);
          return refuse (error, "subnet %s is not in the profile", s);
        }
    }

  for (guint i = 0; i < spec->dns_servers->len; i++)
    {
      const ShSubnet *d = &g_array_index (spec->dns_servers, ShSubnet, i);
      gboolean ok = policy->profile->dns != SH_NM_DNS_NONE
                    && ((d->family == AF_INET && memcmp (d->addr, &policy->stub4, 4) == 0)
                        || (d->family == AF_INET6 && policy->have_stub6
                            && memcmp (d->addr, &policy->stub6, 16) == 0));
      if (!ok)
        return refuse (error, "DNS capture is allowed only for the connection's stub address");
    }

  /* The leak block is the profile's to switch off, not the engine's: a full
   * IPv4 tunnel without it is refused. */
  if (policy->profile->block_ipv6 && sh_subnet_list_leaks_ipv6 (spec->subnets) && !spec->block_ipv6)
    return refuse (error, "the profile blocks IPv6 leaks (block-ipv6) but the request for IPv4 "
                          "0/0 does not");
  return TRUE;
}

GVariant *
sh_nm_fw_rewrite_apply (const ShNmFwPolicy *policy, GVariant *params, GError **error)
{
  g_autofree char *label = NULL;
  ShFirewallSpec spec = { 0 };
  guint32 named = SH_FW_UID_NONE;
  GVariant *out = NULL;

  if (sh_fw_parse_tunnel (params, &label, &spec, &named, error)
      && check_spec (policy, &spec, named, error))
    out = sh_fw_encode_tunnel (policy->label, &spec, policy->engine_uid);
  sh_fw_spec_clear (&spec);
  return out;
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

typedef struct
{
  ShNmFwProxy *proxy;
  GDBusMethodInvocation *inv;
} DgramCall;

static void
dgram_forwarded (GObject *src, GAsyncResult *res, gpointer data)
{
  DgramCall *call = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  GVariant *r = g_dbus_connection_call_with_unix_fd_list_finish (G_DBUS_CONNECTION (src), &fds, res,
                                                                 &error);

  if (r == NULL)
    g_dbus_method_invocation_return_gerror (call->inv, error);
  else
    g_dbus_method_invocation_return_value_with_unix_fd_list (call->inv, r, fds);
  g_free (call);
}

/* The datagram device for the engine: only for a profile that carries UDP,
 * for our label and the engine's uid; the descriptor is passed on and not
 * kept (the helper's reply list closes with this call). */
static void
open_dgram (ShNmFwProxy *p, GDBusMethodInvocation *inv)
{
  DgramCall *call;
  GVariant *args;

  if (!p->policy.profile->udp)
    {
      g_dbus_method_invocation_return_dbus_error (inv, SH_FW_ERROR_PREFIX "NotAuthorized",
                                                  "the profile does not carry UDP (udp=no)");
      return;
    }
  call = g_new0 (DgramCall, 1);
  call->proxy = p;
  call->inv = inv;
  args = g_variant_new ("(s@a{sv})", p->label,
                        sh_fw_encode_options (&(ShFirewallSpec){ 0 }, p->policy.engine_uid));
  g_dbus_connection_call_with_unix_fd_list (p->bus, SH_FW_BUS_NAME, SH_FW_OBJECT_PATH, SH_FW_IFACE,
                                            "OpenDatagramTunnel", args, G_VARIANT_TYPE ("(hs)"),
                                            G_DBUS_CALL_FLAGS_NONE, FW_TIMEOUT_MS, NULL, p->cancel,
                                            dgram_forwarded, call);
}

/* The SYN queue for the engine (connect fidelity): for our label and the
 * engine's uid, with the engine's "fail-closed" (stricter only); nothing
 * else from the engine passes. The relay's descriptor is passed on and not
 * kept: it lives as long as the engine holds it. */
static void
open_synq (ShNmFwProxy *p, GVariant *params, GDBusMethodInvocation *inv)
{
  g_autoptr (GVariant) options = NULL;
  g_autoptr (GError) error = NULL;
  ShFirewallSpec opts = { 0 };
  guint32 named = SH_FW_UID_NONE;
  const char *label;
  DgramCall *call;
  gboolean ok;

  g_variant_get (params, "(&s@a{sv})", &label, &options);
  ok = sh_fw_parse_options (options, &opts, &named, &error);
  if (ok && (named != SH_FW_UID_NONE || opts.block_ipv6 || opts.cgroup != NULL))
    {
      ok = FALSE;
      g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_PERMISSION_DENIED,
                           "OpenSynQueue takes only the option “fail-closed” from the engine");
    }
  if (!ok)
    {
      sh_fw_spec_clear (&opts);
      g_message ("refused the engine's SYN queue request: %s", error->message);
      g_dbus_method_invocation_return_dbus_error (inv, SH_FW_ERROR_PREFIX "NotAuthorized",
                                                  error->message);
      return;
    }
  call = g_new0 (DgramCall, 1);
  call->proxy = p;
  call->inv = inv;
  g_dbus_connection_call_with_unix_fd_list (
      p->bus, SH_FW_BUS_NAME, SH_FW_OBJECT_PATH, SH_FW_IFACE, "OpenSynQueue",
      g_variant_new (
          "(s@a{sv})", p->label,
          sh_fw_encode_options (&(ShFirewallSpec){ .syn_fail_closed = opts.syn_fail_closed },
                                p->policy.engine_uid)),
      G_VARIANT_TYPE ("(h)"), G_DBUS_CALL_FLAGS_NONE, FW_TIMEOUT_MS, NULL, p->cancel,
      dgram_forwarded, call);
  sh_fw_spec_clear (&opts);
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
      args = sh_nm_fw_rewrite_apply (&p->policy, params, &error);
      if (args == NULL)
        {
          g_message ("refused the engine's firewall request: %s", error->message);
          if (error->domain == G_IO_ERROR)
            g_dbus_method_invocation_return_dbus_error (inv, SH_FW_ERROR_PREFIX "NotAuthorized",
                                                        error->message);
          else
            g_dbus_method_invocation_return_gerror (inv, error);
          g_free (call);
          return;
        }
      call->kind = 0;
      p->requested = TRUE;
      reply = G_VARIANT_TYPE ("(s)");
    }
  else if (g_str_equal (method, "RemoveTunnel"))
    {
      call->kind = 1;
      args = g_variant_new ("(s)", p->label);
    }
  else if (g_str_equal (method, "OpenDatagramTunnel"))
    {
      g_free (call);
      open_dgram (p, inv);
      return;
    }
  else if (g_str_equal (method, "OpenSynQueue"))
    {
      g_free (call);
      open_synq (p, params, inv);
      return;
    }
  else if (g_str_equal (method, "SetHosts") || g_str_equal (method, "RemoveHosts"))
    {
      if (!p->policy.profile->auto_hosts)
        {
          g_dbus_method_invocation_return_dbus_error (
              inv, SH_FW_ERROR_PREFIX "NotAuthorized",
              "the profile does not allow hosts (auto-hosts=no)");
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
  g_dbus_connection_call (p->bus, SH_FW_BUS_NAME, SH_FW_OBJECT_PATH, SH_FW_IFACE, method, args,
                          reply, G_DBUS_CALL_FLAGS_NONE, FW_TIMEOUT_MS, p->cancel, forwarded, call);
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
      peer, SH_FW_OBJECT_PATH, (GDBusInterfaceInfo *) &sh_fw_firewall1_interface, &vtable, p, NULL,
      error);
  if (p->registration == 0)
    {
      sh_nm_fw_proxy_free (p);
      return NULL;
    }
  p->watch = sh_fw_watch_new (p->bus, holds_something, restarting, p);
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
      p->bus, SH_FW_BUS_NAME, SH_FW_OBJECT_PATH, SH_FW_IFACE, method,
      g_variant_new ("(s)", p->label), NULL, G_DBUS_CALL_FLAGS_NONE, FW_TIMEOUT_MS, NULL, &error);
  g_autofree char *name = r == NULL ? g_dbus_error_get_remote_error (error) : NULL;

  if (r == NULL && g_strcmp0 (name, SH_FW_ERROR_PREFIX "NotFound") != 0)
    g_warning ("cannot remove the connection's firewall state (%s): %s", method, error->message);
}

void
sh_nm_fw_proxy_free (ShNmFwProxy *p)
{
  if (p == NULL)
    return;
  if (p->registration != 0)
    g_dbus_connection_unregister_object (p->peer, p->registration);
  g_clear_pointer (&p->watch, sh_fw_watch_free);
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
