/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bond.h — lanes: one session's byte stream carried over several ssh
 * channels at once (docs/protocol.md, "Lanes").
 *
 * OpenSSH gives every channel a fixed window of 2 MiB: one channel cannot
 * carry more than 2 MiB per round trip, about 800 Mbit/s at 20 ms. Lanes are
 * more channels of the same ssh connection (same TCP connection, same
 * congestion control: no unfairness to other traffic), each with a window of
 * its own. After BOND, each direction cuts its stream into segments
 * ("u32 seq, u32 len, bytes") and writes each to the lane that has the least
 * unread; the receiver puts them back in order.
 *
 * The receiver keeps a bounded buffer per lane and never more: each lane
 * carries its segments in increasing order, so the next segment is always
 * at the head of some lane; a lane whose head is a later segment is simply
 * not read until it is the next (ssh holds the rest, within its window).
 *
 * Lane 0 is the session's own pipe pair, which the session keeps owning;
 * the bond owns the other lanes' sockets. */
#pragma once

#include <glib.h>

#include "epoll-source.h"

G_BEGIN_DECLS

typedef struct _ShBond ShBond;

/* In-order input may be there: call sh_bond_read() until it says EAGAIN. */
typedef void (*ShBondInputFunc) (gpointer data);

/* @fds[i] (for each bit i of @mask but 0) is lane i's socket, taken;
 * lane 0 reads @in0 and writes @out0, not taken. The bond starts with
 * reading off; sh_bond_set_reading() turns it on. */
ShBond *sh_bond_new (ShPoll *poll, int in0, int out0, const int *fds, guint32 mask,
                     ShBondInputFunc input, gpointer data);
void sh_bond_free (ShBond *bond);

/* Our bytes queued before the switch (ending with our BOND): written on
 * lane 0 ahead of any segment. */
void sh_bond_push_plain0 (ShBond *bond, const guint8 *p, gsize len);

/* Bytes that were read from lane 0 before the switch (after the peer's
 * BOND): they are the start of lane 0's segment stream. Lane 0 is read
 * from then on (before, the session reads it). */
void sh_bond_push_lane0 (ShBond *bond, const guint8 *p, gsize len);

/* Up to @len bytes of the peer's stream, in order. Returns the count, 0 when
 * a lane ended (the session is over), or -1 with errno: EAGAIN (nothing in
 * order yet), EBADMSG (a malformed segment: a protocol error), or the error
 * of a lane's read. */
gssize sh_bond_read (ShBond *bond, guint8 *buf, gsize len);

/* Whether sh_bond_read() could return bytes now without reading a lane. */
gboolean sh_bond_has_input (ShBond *bond);

/* Reading lanes on or off (the session's back-pressure). */
void sh_bond_set_reading (ShBond *bond, gboolean on);

/* Writes up to @len bytes of our stream as segments. Returns how many it
 * took (whole segments; 0 when no lane can take one now: the bond then
 * polls for room, and the session's after-batch flush comes back), or -1
 * with errno on a lane's write error. */
gssize sh_bond_write (ShBond *bond, const guint8 *p, gsize len);

/* Bytes taken by sh_bond_write() and not yet handed to a lane. */
gsize sh_bond_pending (ShBond *bond);

guint sh_bond_n_lanes (ShBond *bond);

/* One line for logs: each lane's state (a stall shows which waits). */
char *sh_bond_describe (ShBond *bond);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShBond, sh_bond_free)

G_END_DECLS
