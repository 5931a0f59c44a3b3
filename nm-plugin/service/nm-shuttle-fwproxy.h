/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-fwproxy.h — io.github.shuttlevpn.Firewall1 for one engine, on
 * its peer-to-peer control connection.
 *
 * The engine runs as the user and must not need polkit; the service is root.
 * So the service exports the helper's interface to its engine, checks every
 * request against the profile (subnets lie inside the profile's unless
 * auto-nets=yes; DNS capture only of the stub address; hosts only with
 * auto-hosts=yes) and forwards it to shuttle-firewall on the system bus under
 * its own label, naming the engine's uid (option on-behalf-of-uid): the
 * helper then checks that the listener port is a loopback listener of that
 * uid and logs it as the requester. The tables belong to the service's bus
 * name: they go when the service does, even if it is killed. */
#pragma once

#include <gio/gio.h>
#include <netinet/in.h>
#include <sys/types.h>

#include "nm-shuttle-data.h"

G_BEGIN_DECLS

typedef struct _ShNmFwProxy ShNmFwProxy;

typedef struct
{
  const ShNmProfile *profile; /* borrowed for the proxy's life */
  uid_t engine_uid;
  guint32 stub4; /* network order */
  gboolean have_stub6;
  struct in6_addr stub6;
  const char *label; /* our label at the helper, [a-z0-9_]{1,32} */
} ShNmFwPolicy;

/* Exports the interface on @peer; forwards over @system_bus. */
ShNmFwProxy *sh_nm_fw_proxy_new (GDBusConnection *peer, GDBusConnection *system_bus,
                                 const ShNmFwPolicy *policy, GError **error);

/* TRUE once rules were applied (and not removed since). */
gboolean sh_nm_fw_proxy_applied (ShNmFwProxy *proxy);

/* Removes what the engine had applied (synchronously: at tear-down) and
 * unexports the interface. */
void sh_nm_fw_proxy_free (ShNmFwProxy *proxy);

/* What the service sends the helper for one ApplyTunnel of its engine
 * (@params: (sqa(yayyqq)a(yayyqq)a(yay)a{sv})): decoded as the helper
 * decodes it, checked against @policy (the port is the helper's to check),
 * and encoded again under @policy->label, naming @policy->engine_uid as
 * on-behalf-of-uid. The engine may not name a uid itself, and must ask for
 * block-ipv6 when the profile has the leak block on and the subnets make a
 * full IPv4 tunnel. Pure. Returns a new floating tuple, or NULL with
 * SH_FW_ERROR_INVALID_ARGS (malformed) or G_IO_ERROR_PERMISSION_DENIED (not
 * what the profile allows). */
GVariant *sh_nm_fw_rewrite_apply (const ShNmFwPolicy *policy, GVariant *params, GError **error);

G_END_DECLS
