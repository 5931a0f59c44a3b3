/* SPDX-License-Identifier: GPL-2.0-or-later */
/* preload-wire.h — what `shuttle run`'s preload library and the engine say
 * to each other, and how the library learns what to do. No GLib: the
 * library includes it too.
 *
 * The engine listens on a Unix socket in a directory of its own (0700).
 * For each connect() to a tunnelled destination the library connects a
 * Unix socket there and sends this header, nothing else; everything after
 * it is the program's own byte stream. The engine answers nothing: the
 * header is all it needs to open a channel to the destination. */
#pragma once

#include <stdint.h>

/* The engine's socket path, and the tunnelled and excluded subnets:
 * comma-separated ADDR/PREFIX or ADDR/PREFIX/LO-HI (a port range), the
 * address in inet_pton() form. At most SH_PRELOAD_MAX_NETS of each. */
#define SH_PRELOAD_ENV_SOCKET "SHUTTLE_PRELOAD_SOCKET"
#define SH_PRELOAD_ENV_NETS "SHUTTLE_PRELOAD_NETS"
#define SH_PRELOAD_ENV_EXCLUDE "SHUTTLE_PRELOAD_EXCLUDE"
#define SH_PRELOAD_MAX_NETS 256

#define SH_PRELOAD_MAGIC "SHP1"

/* 24 bytes: magic, family (4 or 6), 0, port (network order), address (4
 * bytes used for IPv4). */
typedef struct
{
  uint8_t magic[4];
  uint8_t family;
  uint8_t zero;
  uint8_t port[2];
  uint8_t addr[16];
} ShPreloadHeader;
