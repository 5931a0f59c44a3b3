/* SPDX-License-Identifier: GPL-2.0-or-later */
/* preload-wire.h — what `shuttle run`'s preload library and the engine say
 * to each other, and how the library learns what to do. No GLib: the
 * library includes it too, and preload-wire.c is built into both.
 *
 * The engine listens on a Unix socket in a directory of its own (0700).
 * Each connection to it carries one request:
 *  - "SHP1" (ShPreloadHeader): for each connect() to a tunnelled
 *    destination; everything after it is the program's own byte stream.
 *    The engine answers nothing: the header is all it needs to open a
 *    channel to the destination.
 *  - "SHN1" (ShPreloadNameHeader, then the name): with --dns, for a
 *    getaddrinfo() of a name; the engine asks the far side's resolver and
 *    answers one ShPreloadAnswer, then closes. */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* The engine's socket path, and the tunnelled and excluded subnets:
 * comma-separated ADDR/PREFIX or ADDR/PREFIX/LO-HI (a port range), the
 * address in inet_pton() form. At most SH_PRELOAD_MAX_NETS of each. */
#define SH_PRELOAD_ENV_SOCKET "SHUTTLE_PRELOAD_SOCKET"
#define SH_PRELOAD_ENV_NETS "SHUTTLE_PRELOAD_NETS"
#define SH_PRELOAD_ENV_EXCLUDE "SHUTTLE_PRELOAD_EXCLUDE"
#define SH_PRELOAD_MAX_NETS 256
/* "1" with --dns: getaddrinfo() asks the engine for names. */
#define SH_PRELOAD_ENV_DNS "SHUTTLE_PRELOAD_DNS"

#define SH_PRELOAD_MAGIC "SHP1"
#define SH_PRELOAD_NAME_MAGIC "SHN1"
#define SH_PRELOAD_ANSWER_MAGIC "SHA1"

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

/* 8 bytes, then @len bytes of a host name (no NUL, no trailing dot; the
 * engine checks it with sh_hostname_is_valid()). @family: 0 (either), 4 or
 * 6, the getaddrinfo() hint. */
typedef struct
{
  uint8_t magic[4];
  uint8_t family;
  uint8_t len; /* 1 to SH_PRELOAD_NAME_MAX */
  uint8_t zero[2];
} ShPreloadNameHeader;

#define SH_PRELOAD_NAME_MAX 253

/* The engine's answer to a name: 24 bytes. */
typedef enum
{
  SH_PRELOAD_FOUND = 0,   /* @family and @addr hold the first address */
  SH_PRELOAD_NO_NAME = 1, /* the far side knows no address of the name */
  SH_PRELOAD_FAILED = 2,  /* no answer (tunnel down, resolver silent) */
} ShPreloadStatus;

typedef struct
{
  uint8_t magic[4];
  uint8_t status;
  uint8_t family; /* 4 or 6 when found, else 0 */
  uint8_t zero[2];
  uint8_t addr[16]; /* 4 bytes used for IPv4 */
} ShPreloadAnswer;

/* A parsed request (engine side). */
typedef struct
{
  int is_name;   /* 1: a name request, 0: a connection */
  int family;    /* 4 or 6; for a name 0, 4 or 6 */
  uint16_t port; /* a connection's */
  uint8_t addr[16];
  char name[SH_PRELOAD_NAME_MAX + 1]; /* a name request's, NUL-terminated */
} ShPreloadRequest;

/* Pure. How many bytes of a request the engine must read in all, given
 * the first @len bytes @buf: 8 until the magic and length are known, then
 * the request's full size. Reading no more than this never takes a byte of
 * the program's stream. Returns -1 for an unknown magic. */
int sh_preload_request_size (const uint8_t *buf, size_t len);

/* Pure. The request in @buf (@len bytes, exactly its size). Returns 0, or
 * -1 when it is malformed (magic, family, zero bytes, port 0, a name's
 * length or a NUL in it; the name's characters are the engine's to
 * judge). */
int sh_preload_request_parse (const uint8_t *buf, size_t len, ShPreloadRequest *out);

/* Pure. The library's reading of the engine's answer (@len bytes): 0 with
 * *@family (AF_INET, AF_INET6) and @addr set; -1 for a name the far side
 * does not know; -2 for a failure or anything malformed. */
int sh_preload_answer_parse (const uint8_t *buf, size_t len, int *family, uint8_t addr[16]);
