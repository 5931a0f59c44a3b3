/* SPDX-License-Identifier: GPL-2.0-or-later */
/* subnet.h — parsing of sshuttle-style subnet specifications (pure: no I/O).
 *
 * Accepted forms (as sshuttle accepts them):
 *   a.b.c.d            a host (/32)          10.1.2.3
 *   a.b.c.d/w          a network             10.0.0.0/8, 10/8, 0/0
 *   ipv6, ipv6/w       IPv6                  ::/0, fd00::/8, 2001:db8::1
 *   [ipv6]/w           bracketed IPv6        [fd00::]/8
 *   ...:port           one port              10.0.0.0/8:443, [fd00::]/8:22
 *   ...:lo-hi          a port range          10.0.0.0/8:8000-8999
 * Host bits below the prefix are cleared (10.1.2.3/8 -> 10.0.0.0/8).
 * IPv4 is strict dotted decimal: a partial form ("10/8") needs its /w (a bare
 * "10" is refused, not read as 10.0.0.0/32), and parts with a leading zero
 * are refused (inet_aton would read "010" as octal). Ports are 1..65535 and a
 * range must not be reversed. Blanks and any trailing text are errors.
 * Messages read "invalid subnet 'SPEC': DETAIL", one line, with control
 * bytes escaped.
 */
#pragma once

#include <glib.h>
#include <sys/socket.h>

G_BEGIN_DECLS

typedef struct
{
  int family;      /* AF_INET or AF_INET6 */
  guint8 addr[16]; /* network byte order; IPv4 uses the first 4 bytes */
  guint8 prefix;   /* 0..32 or 0..128 */
  guint16 port_lo; /* 0 with port_hi 0: all ports */
  guint16 port_hi;
} ShSubnet;

/* Parses one numeric spec. On failure returns FALSE and sets @error
 * (G_IO_ERROR_INVALID_ARGUMENT) with a message naming the bad part; @out is
 * then left untouched. */
gboolean sh_subnet_parse (const char *spec, ShSubnet *out, GError **error);

/* Like sh_subnet_parse(), but a host name in place of the address is resolved
 * (getaddrinfo, blocking: start-up only) and yields one ShSubnet per address.
 * Appends to @out (GArray of ShSubnet), duplicates removed; on failure @out
 * is unchanged. Numeric-looking text is never sent to the resolver. */
gboolean sh_subnet_parse_resolve (const char *spec, GArray *out, GError **error);

/* The host subnet (/32 or /128, all ports) of an IPv4 or IPv6 socket
 * address, as getaddrinfo() returns them. FALSE for other families. */
gboolean sh_subnet_from_sockaddr (const struct sockaddr *sa, ShSubnet *out);

/* TRUE when @addr (family @family, network order) with @port lies in @subnet. */
gboolean sh_subnet_contains (const ShSubnet *subnet, int family, const guint8 *addr, guint16 port);

/* TRUE when @addr (family @family, network order) lies in one of @subnets
 * (ShSubnet), on any port: a subnet limited to some ports still counts. */
gboolean sh_subnet_list_covers_address (const GArray *subnets, int family, const guint8 *addr);

/* "10.0.0.0/8", "fd00::/8", "[fd00::]/8:22", "10.0.0.0/8:80-90": a newly
 * allocated string that sh_subnet_parse() accepts and maps back to the same
 * subnet (IPv6 is bracketed only when a port follows). */
char *sh_subnet_to_string (const ShSubnet *subnet);

/* Whether @subnets (ShSubnet) make a full IPv4 tunnel that IPv6 could leak
 * around: IPv4 0/0 on all ports is in the list and IPv6 ::/0 on all ports
 * is not. The IPv6 leak block (--block-ipv6) applies only then. */
gboolean sh_subnet_list_leaks_ipv6 (const GArray *subnets);

G_END_DECLS
