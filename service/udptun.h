/* SPDX-License-Identifier: GPL-2.0-or-later */
/* udptun.h — the engine's side of UDP and ping (issue 19): the datagram
 * device's packets as DGRAM frames, and the server's DGRAMs back as
 * packets.
 *
 * A flow is one local sender: (family, source address, source port) for
 * UDP, (family, source address, echo identifier) for ping. Each has one
 * association of the session (docs/protocol.md, "Datagrams"), closed after
 * it has been idle (no datagram either way) for the UDP or echo timeout;
 * at most SH_UDP_TUN_MAX_FLOWS exist, the least recently used making way
 * for a new one. A datagram from the server is delivered only when its
 * source lies in the tunnelled subnets and not in an exclude (a UDP source
 * port within a subnet's port range; an echo only from a subnet without
 * one, as the firewall marks it): a server cannot make a local program
 * receive a datagram that seems to come from anywhere else. */
#pragma once

#include <glib.h>

#include "epoll-source.h"
#include "session.h"

G_BEGIN_DECLS

#define SH_UDP_TUN_MAX_FLOWS 4096

typedef struct _ShUdpTun ShUdpTun;

typedef struct
{
  guint udp_timeout_s;  /* idle UDP flows are closed after this (--udp-timeout) */
  guint echo_timeout_s; /* idle ping flows after this */
  GArray *subnets;      /* ShSubnet, referenced: -N may add to it */
  GArray *excludes;     /* ShSubnet, referenced */
} ShUdpTunConfig;

typedef struct
{
  guint64 packets_in;  /* read from the device and sent as DGRAM */
  guint64 packets_out; /* DGRAMs written to the device */
  guint64 bytes_in;    /* the payload bytes of packets_in */
  guint64 bytes_out;   /* the payload bytes of packets_out */
  guint64 dropped_in;  /* read but not sent: fragments, extension headers, other
                        * protocols, malformed, no session, or no room */
  guint64 dropped_out; /* DGRAMs not delivered: source outside the subnets, or the
                        * device full */
  guint64 grouped_out; /* of packets_out: written in UDP GSO groups (tunwrite.h) */
  guint64 writes_out;  /* write() calls that wrote packets_out */
  guint64 fragments;   /* of dropped_in: IPv4 fragments and IPv6 extension headers */
  guint flows;         /* flows open now */
} ShUdpTunStats;

/* Takes ownership of @fd, the datagram device's descriptor. Nothing is read
 * until a session is attached. */
ShUdpTun *sh_udp_tun_new (ShPoll *poll, int fd, const ShUdpTunConfig *config);

/* Relays through @session (not owned; detach before it goes). */
void sh_udp_tun_attach (ShUdpTun *tun, ShSession *session);

/* The session ended: every flow is forgotten (the session's association
 * numbers went with it); packets read meanwhile are dropped. */
void sh_udp_tun_detach (ShUdpTun *tun);

/* The session's extras.dgram and extras.dgram_close, client side. */
void sh_udp_tun_dgram (ShUdpTun *tun, guint32 assoc, const ShDgram *dgram);
void sh_udp_tun_dgram_close (ShUdpTun *tun, guint32 assoc, ShDgramCloseReason reason, int err);

/* Writes the datagrams that wait to be written as one group: after each
 * batch of events (a GLib idle does it otherwise). */
void sh_udp_tun_flush (ShUdpTun *tun);

void sh_udp_tun_get_stats (ShUdpTun *tun, ShUdpTunStats *stats);

void sh_udp_tun_free (ShUdpTun *tun);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShUdpTun, sh_udp_tun_free)

G_END_DECLS
