/* SPDX-License-Identifier: GPL-2.0-or-later */
/* control.h — the engine's control interface, io.github.shuttlevpn.Engine1
 * (data/io.github.shuttlevpn.Engine1.xml): state, server, routes, hosts,
 * counters, Disconnect. It is exported
 *   - on a peer-to-peer D-Bus connection (--control-fd) to the process that
 *     started us (nm-shuttle-service), which also stands in for
 *     shuttle-firewall on that connection (fwclient.h), and/or
 *   - on the user's session bus as io.github.shuttlevpn.Engine.p<PID>, for
 *     the tray applet, when the engine runs standalone and a session bus is
 *     there (nothing fails without one).
 * This module keeps the model; client.c feeds it. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum
{
  SH_CONTROL_CONNECTING,
  SH_CONTROL_CONNECTED,
  SH_CONTROL_RECONNECTING,
  SH_CONTROL_FAILED,
} ShControlState;

typedef struct _ShControl ShControl;

/* The counters of Engine1 (data/io.github.shuttlevpn.Engine1.xml). */
typedef struct
{
  guint64 bytes_sent;     /* TCP, from local programs into the tunnel */
  guint64 bytes_received; /* TCP, back to them */
  guint open_sessions;    /* TCP sessions open now */
  guint64 datagrams_sent; /* UDP and echo datagrams into the tunnel */
  guint64 datagrams_received;
  guint64 datagram_bytes_sent; /* their payload bytes */
  guint64 datagram_bytes_received;
  guint open_flows; /* local UDP senders and pings with an association now */
} ShControlCounters;

/* Fills @counters (zeroed before) when a client reads them. */
typedef void (*ShControlCountersFunc) (gpointer data, ShControlCounters *counters);

/* With @fd >= 0: takes ownership of it (a connected stream socket),
 * authenticates as the client side and exports the object there. With
 * @session_bus: also exports on the session bus, asynchronously. @on_stop
 * runs (once) when a client calls Disconnect or the peer connection closes:
 * the engine must end. NULL with @error when the peer connection fails. */
ShControl *sh_control_new (int fd, gboolean session_bus, GSourceFunc on_stop, gpointer data,
                           GError **error);

/* The peer connection, for fwclient's peer backend (borrowed; NULL without). */
GDBusConnection *sh_control_get_connection (ShControl *control);

/* Publishes a state; @failure (may be NULL) matters with SH_CONTROL_FAILED. */
void sh_control_set_state (ShControl *control, ShControlState state, const char *failure);

/* --reconnect: the session is lost, or an attempt to restore it failed.
 * Publishes State "reconnecting" with @reason (NULL keeps the one
 * published) and @at, the g_get_monotonic_time() of the next attempt (0:
 * none scheduled, one is under way or the engine waits for the network).
 * Any other state clears both. */
void sh_control_set_reconnecting (ShControl *control, const char *reason, gint64 at);

/* The ssh destination as the user gave it, and the excluded subnets. */
void sh_control_set_info (ShControl *control, const char *server, const char *const *excludes);

/* The addresses ssh's own connection goes to (the first jump host with a
 * ProxyJump), excluded from the tunnel, as text: SshAddresses. */
void sh_control_set_ssh_addresses (ShControl *control, const char *const *addresses);

/* The door's socket path (socks.h, sh_socks_new_unix), published as Door. */
void sh_control_set_door (ShControl *control, const char *path);

/* The subnets tunnelled now (strings as sh_subnet_to_string writes them). */
void sh_control_set_routes (ShControl *control, const char *const *routes);

/* A discovered host; queued until sh_control_flush_hosts() (one
 * HostsChanged signal per burst). */
void sh_control_add_host (ShControl *control, const char *name, const char *address);
void sh_control_flush_hosts (ShControl *control);

void sh_control_set_counters_func (ShControl *control, ShControlCountersFunc func, gpointer data);

/* Sends what is queued (the last state) before the process exits. */
void sh_control_free (ShControl *control);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShControl, sh_control_free)

G_END_DECLS
