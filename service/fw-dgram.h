/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fw-dgram.h — the datagram device of one tunnel (issue 19): a tun device
 * for the engine, and the policy routing that sends the packets the
 * tunnel's nft table marks into it.
 *
 * Slot @index (0 .. SH_FW_DGRAM_SLOTS-1) owns fwmark and routing table
 * sh_fw_dgram_mark(index), one "ip rule fwmark M lookup M" per family at
 * priority SH_FW_DGRAM_RULE_PRIORITY, and in table M the route "default dev
 * <tun>" per family. The tun device is not persistent: the helper hands its
 * only descriptor to the engine and keeps none, so the device and its
 * routes vanish with the engine's last descriptor. The rules stay until
 * sh_fw_dgram_remove(); a rule whose table has no route is harmless (the
 * lookup falls through to the main table), but the helper removes it when
 * the owner leaves the bus.
 *
 * The record of who owns a device is its alias (IFLA_IFALIAS), so that a
 * restarted helper can adopt or sweep: "<note> label=<label> slot=<index>".
 * No function here reads a packet. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define SH_FW_DGRAM_SLOTS 256
#define SH_FW_DGRAM_BASE 0x53680100u
#define SH_FW_DGRAM_RULE_PRIORITY 5368

static inline guint32
sh_fw_dgram_mark (guint index)
{
  return SH_FW_DGRAM_BASE + index;
}

/* Creates the tun device (name chosen by the kernel, "shuttle<n>"), owned by
 * @uid, with @alias, up, rp_filter loose (2) so that replies from the far
 * side are accepted on it, routes and rules for slot @index. Returns the
 * device's descriptor (close-on-exec) and its name in *@ifname, or -1 with
 * @error set, everything it made undone. */
int sh_fw_dgram_open (guint index, guint32 uid, const char *alias, char **ifname, GError **error);

/* The same in the first slot whose rules no one else holds (a root engine
 * without the helper, which has nobody to allocate slots for it): the slot
 * in *@index. */
int sh_fw_dgram_open_any (guint32 uid, const char *alias, guint *index, char **ifname,
                          GError **error);

/* Removes the rules of every slot whose table has no route left: its device
 * is gone (its engine ended), so the rules are a dead owner's. The number
 * of slots swept, or -1 with @error set. */
int sh_fw_dgram_sweep_orphans (GError **error);

/* Removes slot @index's rules (both families; none for an @index of
 * SH_FW_DGRAM_SLOTS or more) and the device @ifname when it still exists
 * (@ifname may be NULL). Absent pieces are no error. */
gboolean sh_fw_dgram_remove (guint index, const char *ifname, GError **error);

/* What the kernel holds: the slots that have a rule (a hash set of
 * GUINT_TO_POINTER (index + 1)) into *@slots, and the devices whose alias
 * starts with @alias_prefix (name -> alias) into *@devices. */
gboolean sh_fw_dgram_list (const char *alias_prefix, GHashTable **slots, GHashTable **devices,
                           GError **error);

G_END_DECLS
