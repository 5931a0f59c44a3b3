/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fwclient.h — the engine's way to its firewall rules.
 *
 * Through the root helper shuttle-firewall on the system bus whenever it is
 * there (the engine then needs no privilege; polkit decides), else, for a
 * root engine without a system bus (a container, a router), in process with
 * firewall.c. Applying is asynchronous (an authentication dialog may hold
 * it); the other calls are synchronous: they happen at start-up and
 * tear-down. */
#pragma once

#include <gio/gio.h>

#include "firewall.h"

G_BEGIN_DECLS

typedef struct _ShFwClient ShFwClient;

/* Chooses the path for instance @label ([a-z0-9_]{1,32}, the engine uses its
 * pid). Fails with a message fit for the user when neither path can work:
 * "cannot reach the firewall helper: ...". */
ShFwClient *sh_fw_client_new (const char *label, GError **error);

/* The same calls on a peer-to-peer D-Bus connection whose other end exports
 * io.github.shuttlevpn.Firewall1 (nm-shuttle-service, control.h): it checks
 * each request against the profile and forwards it to shuttle-firewall, so
 * an engine under NetworkManager needs no polkit. */
ShFwClient *sh_fw_client_new_for_peer (const char *label, GDBusConnection *peer);

/* TRUE when the rules go through shuttle-firewall (or the peer). */
gboolean sh_fw_client_uses_helper (const ShFwClient *client);

/* In process only: removes tables and /etc/hosts blocks of shuttle
 * processes that no longer run (the helper sweeps its own). The number of
 * instances cleaned up, or -1 with @error set. */
int sh_fw_client_sweep (ShFwClient *client, GError **error);

/* The same sweep without a client (root, in process). */
int sh_fw_sweep_in_process (GError **error);

/* "shuttle-cleanup PID": the watchdog a root engine without the helper
 * starts (fwclient.c): waits for EOF on fd 3, then sweeps. */
int sh_fw_watchdog_main (const char *engine_pid);

/* Installs or atomically replaces this instance's rules. Asynchronous, so
 * that the main loop (the session's keepalive above all) runs on while
 * polkit asks the user for a password; the in-process path completes at
 * once. Errors read as a whole sentence: "not authorized to change the
 * firewall: <polkit's reason>", "cannot reach the firewall helper: ...",
 * "cannot set up the firewall: ...". Rules applied after @cancellable was
 * cancelled are still removed by sh_fw_client_remove(), or by the helper
 * when this process leaves the bus. */
void sh_fw_client_apply_async (ShFwClient *client, const ShFirewallSpec *spec,
                               GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer data);
gboolean sh_fw_client_apply_finish (ShFwClient *client, GAsyncResult *res, GError **error);

/* The datagram device (issue 19) for the rules applied last: a tun device
 * whose descriptor is returned (its name in *@ifname), and the rules that
 * send UDP and ICMP echo requests to the subnets into it. Through the
 * helper (OpenDatagramTunnel), or in process as root. Call after a
 * successful apply; the device and its rules go with the rules
 * (sh_fw_client_remove_rules()) or with this process. Returns the
 * descriptor, or -1 with @error set. */
void sh_fw_client_open_dgram_async (ShFwClient *client, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer data);
int sh_fw_client_open_dgram_finish (ShFwClient *client, GAsyncResult *res, char **ifname,
                                    GError **error);
/* Connect fidelity through the helper (OpenSynQueue): its relay's
 * descriptor for the rules applied last (synqueue.h,
 * sh_syn_queue_new_relay()); the SYN chains go with the rules, with the
 * descriptor or with this process. @fail_closed: while nobody reads the
 * queue, SYNs are dropped instead of passing. Returns the descriptor, or
 * -1 with @error set (G_IO_ERROR_NOT_SUPPORTED in process, where the
 * engine binds the queue itself). */
void sh_fw_client_open_syn_queue_async (ShFwClient *client, gboolean fail_closed,
                                        GCancellable *cancellable, GAsyncReadyCallback callback,
                                        gpointer data);
int sh_fw_client_open_syn_queue_finish (ShFwClient *client, GAsyncResult *res, GError **error);

/* Removes this instance's rules and, through the helper, its /etc/hosts
 * block (nothing applied is not an error). */
gboolean sh_fw_client_remove (ShFwClient *client, GError **error);

/* Removes the rules only, for a while (--reconnect without --fail-closed):
 * the hosts block stays; sh_fw_client_apply_async() puts them back. */
gboolean sh_fw_client_remove_rules (ShFwClient *client, GError **error);

/* Sets this instance's block of /etc/hosts to @entries, pairs of strings
 * (address, host name) flattened: { addr0, name0, addr1, name1, ... }; an
 * empty array removes it. In process, the file is edited in place (it may
 * be a bind mount) and the caller has checked the names. */
gboolean sh_fw_client_set_hosts (ShFwClient *client, const GPtrArray *entries, GError **error);

/* The same without blocking the main loop on the helper (and on polkit,
 * which may be asking someone): for the updates while the tunnel runs. */
void sh_fw_client_set_hosts_async (ShFwClient *client, const GPtrArray *entries,
                                   GCancellable *cancellable, GAsyncReadyCallback callback,
                                   gpointer data);
gboolean sh_fw_client_set_hosts_finish (ShFwClient *client, GAsyncResult *res, GError **error);

void sh_fw_client_free (ShFwClient *client);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShFwClient, sh_fw_client_free)

G_END_DECLS
