/* SPDX-License-Identifier: GPL-2.0-or-later */
/* socks5.h — the SOCKS5 handshake (RFC 1928), pure: bytes in, results out.
 *
 * Only what the engine's --socks endpoint serves: method "no
 * authentication" (0x00), command CONNECT, address types IPv4, IPv6 and a
 * domain name (1 to 255 bytes, which must be a host name of letters,
 * digits, '-', '_' and dots, or an address literal). Nothing here reads a
 * socket or allocates; a caller feeds what it has read so far. */
#pragma once

#include <glib.h>

#include "mux.h"

G_BEGIN_DECLS

/* The longest greeting (2 + 255 methods) and request (4 + 1 + 255 + 2). */
#define SH_SOCKS5_MAX_GREETING 257
#define SH_SOCKS5_MAX_REQUEST 262

/* Reply codes (RFC 1928, section 6). */
enum
{
  SH_SOCKS5_OK = 0x00,
  SH_SOCKS5_FAILURE = 0x01,
  SH_SOCKS5_NOT_ALLOWED = 0x02,
  SH_SOCKS5_HOST_UNREACHABLE = 0x04,
  SH_SOCKS5_REFUSED = 0x05,
  SH_SOCKS5_BAD_COMMAND = 0x07,
  SH_SOCKS5_BAD_ADDRESS = 0x08,
};

typedef struct
{
  /* A numeric destination (family AF_INET or AF_INET6, addr, port), or
   * family AF_UNSPEC with @name set (and @port). */
  ShOpen dst;
  char name[256]; /* NUL-terminated; "" for a numeric destination */
} ShSocks5Request;

/* The client's greeting in @buf (@len bytes read so far). Returns its length
 * when complete and "no authentication" is offered; 0 when more bytes are
 * needed; -EPROTO when it is not SOCKS5; -EACCES when the client offers no
 * method we accept (answer 05 FF and close). */
int sh_socks5_parse_greeting (const guint8 *buf, gsize len);

/* The request in @buf. Returns its length when complete and valid, with
 * *@req filled; 0 when more bytes are needed; otherwise a negative SOCKS5
 * reply code to send before closing (-SH_SOCKS5_BAD_COMMAND for BIND or UDP
 * ASSOCIATE, -SH_SOCKS5_BAD_ADDRESS for an unknown address type or a name
 * that is not a host name, -SH_SOCKS5_FAILURE for a wrong version, port 0
 * or an empty name). */
int sh_socks5_parse_request (const guint8 *buf, gsize len, ShSocks5Request *req);

/* The 10-byte reply with code @rep (bound address 0.0.0.0:0) in @out. */
void sh_socks5_reply (guint8 rep, guint8 out[10]);

G_END_DECLS
