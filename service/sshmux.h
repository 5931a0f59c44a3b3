/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sshmux.h — the client side of OpenSSH's connection-sharing protocol
 * (PROTOCOL.mux in openssh-portable), as far as --transport=ssh needs it:
 * the hello exchange, MUX_C_NEW_STDIO_FWD (ssh relays a socket we hand it
 * to host:port through a direct-tcpip channel) and MUX_C_ALIVE_CHECK.
 *
 * Pure: requests are appended to a GByteArray, replies parsed from bytes;
 * no sockets, no descriptors (sshlink.c passes them), no messages.
 *
 * Every packet is a uint32 length, then a uint32 type and its body, all
 * big-endian; strings are a uint32 length and the bytes. Note that
 * PROTOCOL.mux writes the stdio forward's port as a string, but every
 * OpenSSH since 5.6 reads and sends a uint32 (mux.c): we follow the code. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SH_SSHMUX_VERSION 4 /* the protocol version we speak, and require */

#define SH_SSHMUX_MSG_HELLO 0x00000001u
#define SH_SSHMUX_C_ALIVE_CHECK 0x10000004u
#define SH_SSHMUX_C_NEW_STDIO_FWD 0x10000008u
#define SH_SSHMUX_S_OK 0x80000001u
#define SH_SSHMUX_S_PERMISSION_DENIED 0x80000002u
#define SH_SSHMUX_S_FAILURE 0x80000003u
#define SH_SSHMUX_S_EXIT_MESSAGE 0x80000004u
#define SH_SSHMUX_S_ALIVE 0x80000005u
#define SH_SSHMUX_S_SESSION_OPENED 0x80000006u

/* The largest packet we accept from a master (its replies are a few dozen
 * bytes; an error text is short): anything larger is malformed. */
#define SH_SSHMUX_MAX_PACKET 4096
/* The longest host name we put in a request (DNS's limit). */
#define SH_SSHMUX_MAX_HOST 255

/* One message from the master. Fields a type does not carry are 0/NULL. */
typedef struct
{
  guint32 type;
  guint32 rid;      /* the request it answers (not for HELLO, EXIT_MESSAGE) */
  guint32 value;    /* HELLO: version; ALIVE: the master's pid;
                     * SESSION_OPENED, EXIT_MESSAGE: session id */
  guint32 value2;   /* EXIT_MESSAGE: exit value */
  const char *text; /* PERMISSION_DENIED, FAILURE: the reason, not NUL-ended, */
  gsize text_len;   /* pointing into the parsed bytes */
} ShSshMuxMsg;

/* Appends our hello (version 4, no extensions). */
void sh_sshmux_put_hello (GByteArray *out);

/* Appends an alive check with request id @rid. */
void sh_sshmux_put_alive_check (GByteArray *out, guint32 rid);

/* Appends a stdio forward request to @host (1..SH_SSHMUX_MAX_HOST bytes,
 * no NUL) port @port (1..65535). The two descriptors follow it on the
 * socket, each with one byte of data (SCM_RIGHTS). FALSE, appending
 * nothing, when @host or @port is out of range. */
gboolean sh_sshmux_put_stdio_fwd (GByteArray *out, guint32 rid, const char *host, guint32 port);

/* Parses the packet at the start of @buf. Returns its whole length when
 * complete (then @msg is filled, its text pointing into @buf), 0 when more
 * bytes are needed, -EMSGSIZE when it announces more than
 * SH_SSHMUX_MAX_PACKET, -EBADMSG when its body is too short for its type.
 * Types we do not know parse as their type alone. */
gssize sh_sshmux_parse (const guint8 *buf, gsize len, ShSshMuxMsg *msg);

G_END_DECLS
