/* SPDX-License-Identifier: GPL-2.0-or-later */
/* mux.h — framing of the Shuttle mux protocol (docs/protocol.md).
 *
 * Pure: bytes in, decoded frames out, and encoders writing into caller
 * memory. No allocation, no I/O, no state beyond the arguments. Every length
 * a peer controls is checked here against the limits of the protocol; the
 * rules that need session state (credit, channel numbers) are in session.c. */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

/* The highest protocol version we speak; 2 adds DGRAM and DGRAM_CLOSE, 3
 * LANES and BOND. */
#define SH_MUX_VERSION 3
#define SH_MUX_VERSION_DGRAM 2 /* the first version with datagrams */
#define SH_MUX_VERSION_LANES 3 /* the first version with lanes */
#define SH_MUX_MAGIC "\0SHUTTLE"
#define SH_MUX_MAGIC_LEN 8
/* What the stage-1 loader of the Python agent prints to ask for the agent
 * (docs/protocol.md, "Bootstrap"); the same length as the magic. */
#define SH_MUX_LOAD_REQUEST "\0SHLOAD1"
#define SH_MUX_HDR_LEN 8
#define SH_MUX_MAX_DATA 32768 /* largest DATA, DNS_REPLY and ROUTES payload */
/* Datagrams (version 2): "u8 family, u8 kind, u16 port, address, data". */
#define SH_MUX_DGRAM_FIXED 4
#define SH_MUX_MAX_DGRAM_DATA 65507 /* the most a UDP datagram over IPv4 carries */
#define SH_MUX_MAX_DGRAM (SH_MUX_DGRAM_FIXED + 16 + SH_MUX_MAX_DGRAM_DATA)
#define SH_MUX_MAX_PAYLOAD SH_MUX_MAX_DGRAM /* largest payload of any frame */
#define SH_MUX_MAX_ASSOCS 4096              /* associations a server serves at once */
#define SH_MUX_DGRAM_IDLE_S 300             /* a server closes an association idle this long */
#define SH_MUX_MAX_FRAME (SH_MUX_HDR_LEN + SH_MUX_MAX_PAYLOAD)
#define SH_MUX_MAX_JUNK 65536 /* bytes the client skips before HELLO */
#define SH_MUX_MAX_NAME 64
#define SH_MUX_MAX_REASON 128
#define SH_MUX_MAX_ERROR_MSG 512
#define SH_MUX_MIN_WINDOW 4096u
#define SH_MUX_MAX_WINDOW (16u * 1024 * 1024) /* also the most credit a channel may hold */
#define SH_MUX_MAX_CHANNELS (1u << 20)
#define SH_MUX_MAX_CONNECT_TIMEOUT_MS 600000u
#define SH_MUX_ACK_EVERY (32u * 1024)              /* a receiver ACKs at least this often */
#define SH_MUX_MIN_INFLIGHT (4 * SH_MUX_ACK_EVERY) /* smallest in-flight limit allowed */
/* ...in a version-2 session, where the receiver ACKs within a millisecond */
#define SH_MUX_MIN_INFLIGHT_V2 (8u * 1024)
#define SH_MUX_DNS_MIN 12         /* a DNS header */
#define SH_MUX_DNS_MAX_QUERY 4096 /* a query's message */
#define SH_MUX_DNS_MAX_PENDING 256
#define SH_MUX_DNS_TIMEOUT_S 5 /* the server waits this long for its resolver */
#define SH_MUX_MAX_SEEDS 4096  /* HOSTS_WATCH payload */
#define SH_MUX_MAX_HOSTNAME 253
/* Lanes (version 3, "Lanes"): lane 0 is the session's pipe, at most
 * SH_MUX_MAX_LANES - 1 more. */
#define SH_MUX_MAX_LANES 8
#define SH_MUX_LANE_TOKEN_LEN 16
#define SH_MUX_LANE_MAGIC "\0SHLANE1"
#define SH_MUX_LANE_HELLO_LEN (SH_MUX_MAGIC_LEN + SH_MUX_LANE_TOKEN_LEN + 4)
#define SH_MUX_SEG_HDR_LEN 8
#define SH_MUX_MAX_SEGMENT 65536

typedef enum
{
  SH_FRAME_HELLO = 0x01,
  SH_FRAME_OPEN = 0x02,
  SH_FRAME_OPEN_RESULT = 0x03,
  SH_FRAME_DATA = 0x04,
  SH_FRAME_WINDOW = 0x05,
  SH_FRAME_EOF = 0x06,
  SH_FRAME_CLOSE = 0x07,
  SH_FRAME_PING = 0x08,
  SH_FRAME_PONG = 0x09,
  SH_FRAME_ACK = 0x0a,
  SH_FRAME_ERROR = 0x0b,
  SH_FRAME_DNS_QUERY = 0x0c,
  SH_FRAME_DNS_REPLY = 0x0d,
  SH_FRAME_ROUTES_GET = 0x0e,
  SH_FRAME_ROUTES = 0x0f,
  SH_FRAME_HOSTS_WATCH = 0x10,
  SH_FRAME_HOST = 0x11,
  SH_FRAME_DGRAM = 0x12,       /* version 2 */
  SH_FRAME_DGRAM_CLOSE = 0x13, /* version 2 */
  SH_FRAME_LANES = 0x14,       /* version 3 */
  SH_FRAME_BOND = 0x15,        /* version 3 */
} ShFrameType;

/* DGRAM kinds: the IP protocol numbers. */
typedef enum
{
  SH_DGRAM_ECHO = 1, /* ICMP (ICMPv6 for family 6) echo; port is the sequence number */
  SH_DGRAM_UDP = 17,
} ShDgramKind;

/* DGRAM_CLOSE reasons. */
typedef enum
{
  SH_DGRAM_CLOSE_DONE = 0,    /* idle or done */
  SH_DGRAM_CLOSE_LIMIT = 1,   /* over the server's association limit */
  SH_DGRAM_CLOSE_NO_ECHO = 2, /* echo not permitted on the server (errno says why) */
  SH_DGRAM_CLOSE_FAILED = 3,  /* another error (errno says which) */
} ShDgramCloseReason;

typedef enum
{
  SH_OPEN_OK = 0,
  SH_OPEN_REFUSED = 1,
  SH_OPEN_NET_UNREACHABLE = 2,
  SH_OPEN_HOST_UNREACHABLE = 3,
  SH_OPEN_TIMED_OUT = 4,
  SH_OPEN_FAILED = 5,
  SH_OPEN_NO_RESOURCES = 6,
} ShOpenStatus;

typedef enum
{
  SH_ERR_VERSION = 1,
  SH_ERR_MALFORMED = 2,
  SH_ERR_FLOW = 3,
  SH_ERR_CHANNEL = 4,
  SH_ERR_LIMIT = 5,
  SH_ERR_INTERNAL = 6,
} ShErrorCode;

typedef struct
{
  guint16 version_min;
  guint16 version_max;
  guint32 channel_window;
  guint32 max_channels;
  guint32 connect_timeout_ms;
  guint32 inflight_limit; /* client → server: DATA in flight toward the client; 0: no limit */
  char name[SH_MUX_MAX_NAME + 1]; /* NUL-terminated, control characters replaced */
} ShHello;

typedef struct
{
  int family; /* AF_INET, AF_INET6, or AF_UNSPEC: the server's resolver */
  guint16 port;
  guint8 addr[16];
} ShOpen;

typedef struct
{
  int family; /* AF_INET or AF_INET6 */
  guint8 prefix;
  guint8 addr[16];
} ShRoute;

typedef struct
{
  int family; /* AF_INET or AF_INET6 */
  guint8 addr[16];
  const char *name; /* not NUL-terminated; characters not checked */
  guint16 name_len;
} ShHost;

/* One datagram of an association (DGRAM). */
typedef struct
{
  int family;   /* AF_INET or AF_INET6 */
  guint8 kind;  /* ShDgramKind */
  guint16 port; /* UDP: the peer's port; echo: the sequence number */
  guint8 addr[16];
  const guint8 *data; /* echo: what follows the 8-byte ICMP header */
  guint16 data_len;   /* at most SH_MUX_MAX_DGRAM_DATA */
} ShDgram;

/* A decoded frame. Pointers point into the buffer given to the decoder. */
typedef struct
{
  ShFrameType type;
  guint32 channel;
  guint16 len;
  const guint8 *payload;
  union
  {
    ShHello hello;
    ShOpen open;
    struct
    {
      guint8 status;
      guint16 err;
      const char *reason; /* not NUL-terminated; UTF-8 not guaranteed */
      guint16 reason_len;
    } result;
    guint32 window;
    guint8 close_reason;
    guint64 token;
    guint32 ack;
    struct
    {
      guint16 code;
      const char *msg; /* not NUL-terminated */
      guint16 msg_len;
    } error;
    struct
    {
      ShOpen resolver; /* AF_UNSPEC: the server's own */
      const guint8 *msg;
      guint16 msg_len;
    } dns;         /* DNS_QUERY; a DNS_REPLY's message is the payload */
    ShHost host;   /* HOST */
    ShDgram dgram; /* DGRAM */
    struct
    {
      guint8 reason; /* ShDgramCloseReason */
      guint16 err;
    } dgram_close;
    struct
    {
      int family;   /* AF_INET or AF_INET6: 127.0.0.1 or ::1 on the server */
      guint8 count; /* lanes the server accepts beside lane 0 */
      guint16 port;
      guint8 token[SH_MUX_LANE_TOKEN_LEN];
    } lanes;           /* LANES */
    guint32 bond_mask; /* BOND: bit i = lane i; bit 0 always set */
    /* ROUTES: the payload, read with sh_frame_next_route() */
    /* HOSTS_WATCH: the payload (comma-separated names, not checked) */
  } u;
} ShFrame;

/* Decodes the frame at the start of @buf.
 * Returns the number of bytes it occupies (> 0), 0 when @buf holds only part
 * of a frame, or -EBADMSG when the bytes break the protocol (unknown type,
 * non-zero flags, a length out of range for the type, a channel number not
 * allowed for the type, or a payload field out of range). */
gssize sh_frame_decode (const guint8 *buf, gsize len, ShFrame *out);

/* Finds the start of the peer's HELLO in @buf, skipping junk (login scripts
 * printing on stdout). Returns its offset, or -1 when not present yet. */
gssize sh_frame_find_hello (const guint8 *buf, gsize len);

/* Finds the stage-1 loader's request for the agent (SH_MUX_LOAD_REQUEST) in
 * @buf. Returns its offset, or -1. */
gssize sh_frame_find_load_request (const guint8 *buf, gsize len);

/* Encoders write one whole frame to @out and return its length. @out must have
 * room for SH_MUX_HDR_LEN plus the payload (SH_MUX_MAX_FRAME is always enough). */
gsize sh_frame_put_header (guint8 *out, ShFrameType type, guint32 channel, guint16 len);
gsize sh_frame_put_hello (guint8 *out, const ShHello *hello);
gsize sh_frame_put_open (guint8 *out, guint32 channel, const ShOpen *open);
gsize sh_frame_put_open_result (guint8 *out, guint32 channel, ShOpenStatus status, int err,
                                const char *reason);
gsize sh_frame_put_u32 (guint8 *out, ShFrameType type, guint32 channel, guint32 value);
gsize sh_frame_put_u64 (guint8 *out, ShFrameType type, guint64 value);
gsize sh_frame_put_close (guint8 *out, guint32 channel, gboolean reset);
gsize sh_frame_put_error (guint8 *out, ShErrorCode code, const char *msg);

gsize sh_frame_put_dns_query (guint8 *out, guint32 id, const ShOpen *resolver, const guint8 *msg,
                              gsize len);
/* @len may be 0 (no answer); at most SH_MUX_MAX_DATA. */
gsize sh_frame_put_dns_reply (guint8 *out, guint32 id, const guint8 *msg, gsize len);
/* Writes as many of @routes as fit in one frame; *@n_written says how many. */
gsize sh_frame_put_routes (guint8 *out, const ShRoute *routes, guint n, guint *n_written);
gsize sh_frame_put_hosts_watch (guint8 *out, const char *seeds, gsize len);
gsize sh_frame_put_host (guint8 *out, const ShHost *host);

/* DGRAM: @out needs room for SH_MUX_HDR_LEN + SH_MUX_MAX_DGRAM. Returns 0
 * (nothing written) when @d->data_len is above SH_MUX_MAX_DGRAM_DATA. */
gsize sh_frame_put_dgram (guint8 *out, guint32 assoc, const ShDgram *d);
gsize sh_frame_put_dgram_close (guint8 *out, guint32 assoc, ShDgramCloseReason reason, int err);

/* Lanes (version 3). */
gsize sh_frame_put_lanes (guint8 *out, int family, guint count, guint16 port, const guint8 *token);
gsize sh_frame_put_bond (guint8 *out, guint32 mask);
/* The first bytes on a lane, both ways (the server echoes the client's). */
void sh_lane_put_hello (guint8 *out, const guint8 *token, guint32 index);
/* FALSE unless @p (SH_MUX_LANE_HELLO_LEN bytes) starts with the lane magic
 * and names a lane 1 ... SH_MUX_MAX_LANES - 1. */
gboolean sh_lane_parse_hello (const guint8 *p, guint8 *token, guint32 *index);
/* A segment's header after BOND: "u32 seq, u32 len". The parser refuses a
 * length of 0 or above SH_MUX_MAX_SEGMENT. */
void sh_segment_put_header (guint8 *out, guint32 seq, guint32 len);
gboolean sh_segment_parse_header (const guint8 *p, guint32 *seq, guint32 *len);

/* Iterates over the entries of a decoded ROUTES frame: start with *@offset
 * 0; returns FALSE after the last. (The decoder checked them all.) */
gboolean sh_frame_next_route (const ShFrame *routes, gsize *offset, ShRoute *out);

/* Maps a connect() errno to an OPEN_RESULT status. */
ShOpenStatus sh_open_status_from_errno (int err);
/* A short English description of @status, for logs ("connection refused"). */
const char *sh_open_status_to_string (ShOpenStatus status);
const char *sh_frame_type_to_string (ShFrameType type);

G_END_DECLS
