/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Fuzz what a hostile peer can send on lanes (docs/protocol.md, "Lanes"):
 * a lane's hello to its parser, and segment streams on up to four lanes to
 * a real bond (service/bond.c) over pipes and socket pairs.
 *
 * Input: byte 0 says which of lanes 1-3 exist (bits 1-3; lane 0 always);
 * then chunks "u8 lane, u16 length, bytes" written to those lanes. The bond's
 * output is checked against a model written here: it is always a prefix
 * of the segments' payloads taken in sequence order. (Not always all of
 * it: a lane that ended ends the stream, as it ends the session; and a
 * malformed or repeated segment is an error.) */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bond.h"
#include "mux.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define LANES 4
#define INPUT_MAX (32 * 1024) /* fits every pipe and socket buffer */

typedef struct
{
  ShBond *bond;
  GByteArray *got;
  gboolean done; /* the bond said 0 or an error other than EAGAIN */
  int result;    /* 0, or that errno */
} Reader;

static void
on_input (gpointer data)
{
  Reader *r = data;
  guint8 buf[4096];
  gssize n;
  while ((n = sh_bond_read (r->bond, buf, sizeof buf)) > 0)
    g_byte_array_append (r->got, buf, (guint) n);
  if (n == 0 || errno != EAGAIN)
    {
      r->done = TRUE;
      r->result = n == 0 ? 0 : errno;
    }
}

/* The model: whether @got[@pos...] is what the lanes' segments give when
 * taken in sequence order from @next on: at each step the next segment is
 * the head of some lane (two lanes may claim the same number: either may
 * come first, so each is tried, within a budget of steps); a cut-off
 * segment or the end of the output ends it. */
static gboolean
explain (GByteArray **lane, const gsize *at, guint32 next, const GByteArray *got, gsize pos,
         guint *budget)
{
  if (pos == got->len || *budget == 0)
    return TRUE;
  (*budget)--;
  for (guint i = 0; i < LANES; i++)
    {
      guint32 seq, len;
      if (lane[i]->len - at[i] < SH_MUX_SEG_HDR_LEN
          || !sh_segment_parse_header (lane[i]->data + at[i], &seq, &len) || seq != next)
        continue;
      const guint8 *payload = lane[i]->data + at[i] + SH_MUX_SEG_HDR_LEN;
      gsize have = MIN ((gsize) len, lane[i]->len - at[i] - SH_MUX_SEG_HDR_LEN);
      gsize n = MIN (have, got->len - pos);
      if (memcmp (got->data + pos, payload, n) != 0)
        continue;
      if (n == got->len - pos)
        return TRUE;
      if (have < len)
        continue; /* cut off, and the output goes on: not this lane */
      gsize moved[LANES];
      memcpy (moved, at, sizeof moved);
      moved[i] += SH_MUX_SEG_HDR_LEN + len;
      if (explain (lane, moved, next + 1, got, pos + n, budget))
        return TRUE;
    }
  return FALSE;
}

static void
check_hello (const uint8_t *data, size_t size)
{
  guint8 token[SH_MUX_LANE_TOKEN_LEN], again[SH_MUX_LANE_HELLO_LEN];
  guint32 index;
  if (size < SH_MUX_LANE_HELLO_LEN || !sh_lane_parse_hello (data, token, &index))
    return;
  if (index < 1 || index >= SH_MUX_MAX_LANES)
    abort ();
  sh_lane_put_hello (again, token, index);
  if (memcmp (again, data, SH_MUX_LANE_HELLO_LEN) != 0)
    abort ();
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  check_hello (data, size);
  if (size < 1 || size > INPUT_MAX)
    return 0;

  guint32 mask = 1 | (data[0] & 0x0e);
  int in0[2], out0[2], fds[SH_MUX_MAX_LANES] = { 0 }, peer[LANES] = { 0 };
  if (pipe2 (in0, O_CLOEXEC) < 0 || pipe2 (out0, O_CLOEXEC) < 0)
    abort ();
  peer[0] = in0[1];
  for (guint i = 1; i < LANES; i++)
    {
      int sv[2];
      if (!(mask & (1u << i)))
        continue;
      if (socketpair (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        abort ();
      fds[i] = sv[0];
      peer[i] = sv[1];
    }

  /* The chunks, to the lanes that exist (a chunk for another goes to 0). */
  GByteArray *lane[LANES];
  for (guint i = 0; i < LANES; i++)
    lane[i] = g_byte_array_new ();
  for (size_t pos = 1; pos < size;)
    {
      guint i = data[pos++] % LANES;
      if (!(mask & (1u << i)))
        i = 0;
      size_t len = 0;
      if (size - pos >= 2)
        len = MIN ((size_t) data[pos] << 8 | data[pos + 1], size - pos - 2);
      pos += MIN (2, size - pos);
      g_byte_array_append (lane[i], data + pos, (guint) len);
      if (len > 0 && write (peer[i], data + pos, len) != (ssize_t) len)
        abort ();
      pos += len;
    }
  for (guint i = 0; i < LANES; i++)
    if (peer[i] > 0)
      close (peer[i]);

  ShPoll *poll = sh_poll_new (NULL, NULL);
  Reader r = { .got = g_byte_array_new () };
  r.bond = sh_bond_new (poll, in0[0], out0[1], fds, mask, on_input, &r);
  sh_bond_push_lane0 (r.bond, (const guint8 *) "", 0);
  sh_bond_set_reading (r.bond, TRUE);
  on_input (&r); /* what is in order before any lane is read */
  for (int idle = 0; !r.done && idle < 1000;)
    idle = g_main_context_iteration (NULL, FALSE) ? 0 : idle + 1;
  if (!r.done)
    abort (); /* every lane ended: the bond must have said so */

  gsize at[LANES] = { 0 };
  guint budget = 100000;
  if (!explain (lane, at, 0, r.got, 0, &budget))
    abort (); /* out of order, or bytes that no segment carried */

  sh_bond_free (r.bond);
  sh_poll_free (poll);
  close (in0[0]);
  close (out0[0]);
  close (out0[1]);
  for (guint i = 0; i < LANES; i++)
    g_byte_array_unref (lane[i]);
  g_byte_array_unref (r.got);
  return 0;
}
