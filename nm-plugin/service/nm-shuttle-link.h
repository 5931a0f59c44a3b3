/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-link.h — the connection's own link and stub addresses.
 *
 * Shuttle forwards sessions, not packets, but NetworkManager wants a link per
 * VPN to carry its address and DNS (Config "tundev"). We create a tun device
 * and hold its descriptor open for the life of the connection (a tun link
 * exists exactly as long as its owner keeps it; nothing reads it: no route
 * points into it). The stub address on it is what NM publishes as the VPN's
 * DNS server; the engine's firewall captures queries to it. */
#pragma once

#include <glib.h>
#include <netinet/in.h>

G_BEGIN_DECLS

typedef struct
{
  int fd;        /* the tun device, -1 when none */
  char name[16]; /* e.g. "shuttle0" */
} ShNmLink;

/* Creates a tun link "shuttleN" and sets it up. */
gboolean sh_nm_link_open (ShNmLink *link, GError **error);
void sh_nm_link_close (ShNmLink *link);

/* A stub IPv4 address from 100.64.0.0/10 (carrier-grade NAT space, never
 * routed on the internet and rarely used on LANs) that no link of this host
 * has, starting from @seed (e.g. the plugin's connection number) so that
 * concurrent connections start apart. Network order. */
guint32 sh_nm_stub_address4 (guint seed);

/* The IPv6 equivalent from fd53:6875:7474:6c65::/64 (a fixed ULA prefix). */
void sh_nm_stub_address6 (guint seed, struct in6_addr *out);

G_END_DECLS
