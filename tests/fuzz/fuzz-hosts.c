/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-hosts.c — host names from a hostile server on their way into
 * /etc/hosts: HOST frames (service/mux.c) → the client's check
 * (service/hostname.c) → the helper's SetHosts validation
 * (service/helper/fw-request.c) → the block rendered and merged into the
 * file (service/hosts-block.c).
 *
 * Input: the current /etc/hosts text up to the first NUL byte (the file
 * cannot hold one: sh_hosts_file_edit() refuses it), then the byte stream
 * the server sends. The names are written as two successive updates (the
 * first half, then all, as the client's batches do), then removed.
 *
 * The invariant, checked here so that a violation crashes: whatever the
 * server sends and whatever the file held, every byte outside the engine's
 * own block stays as it was. When the file holds nothing of ours, that is
 * exact: each update is the file plus our block, and removing it gives the
 * file back byte for byte. When it does (a block left over, or a hand-made
 * marker line), updating and removing must agree with removing at once. */
#include "config.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "fw-request.h"
#include "hostname.h"
#include "hosts-block.h"
#include "mux.h"
#include "subnet.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

#define MARK "# shuttle-firewall "
/* What the helper uses for caller ":1.42" and label "shuttle". */
#define ID "c1_42-shuttle"
#define NOTE "owner=:1.42 bus=0123456789abcdef uid=1000"

static void
fail (const char *what, const char *base, const char *got, const char *want)
{
  fprintf (stderr, "fuzz-hosts: %s\n--- file ---\n%s\n--- got ---\n%s\n--- expected ---\n%s\n",
           what, base, got, want != NULL ? want : "(n/a)");
  abort ();
}

/* Our block as hosts-block.h describes it. */
static void
render (GString *out, const char *base, const GPtrArray *lines)
{
  gsize len = strlen (base);
  gboolean nl = len > 0 && base[len - 1] != '\n';

  g_string_append (out, base);
  if (nl)
    g_string_append_c (out, '\n');
  g_string_append_printf (out, MARK "%s begin %s%s\n", ID, NOTE, nl ? " +nl" : "");
  for (guint i = 0; i < lines->len; i++)
    g_string_append_printf (out, "%s\n", (const char *) g_ptr_array_index (lines, i));
  g_string_append_printf (out, MARK "%s end\n", ID);
}

static void
expect_equal (const char *what, const char *base, const char *got, const char *want)
{
  if (strcmp (got, want) != 0)
    fail (what, base, got, want);
}

/* The entries the client would send the helper, through its validation. */
static GPtrArray *
helper_lines (GVariantBuilder *entries)
{
  g_autoptr (GVariant) params = g_variant_ref_sink (g_variant_new ("(sa(ss))", "shuttle", entries));
  g_autoptr (GError) error = NULL;
  g_autofree char *label = NULL;
  GPtrArray *lines = NULL;

  if (!sh_fw_parse_hosts (params, &label, &lines, &error))
    {
      /* The client only sends names its own check passed. */
      fprintf (stderr, "fuzz-hosts: the helper refused what the client accepted: %s\n",
               error->message);
      abort ();
    }
  return lines;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const uint8_t *nul = memchr (data, '\0', size);
  GVariantBuilder half, all;
  guint n = 0, n_half;

  if (size > 256 * 1024)
    return 0;
  g_autofree char *base = g_strndup ((const char *) data, nul ? (gsize) (nul - data) : size);
  const guint8 *stream = nul ? nul + 1 : data + size;
  gsize stream_len = (gsize) (data + size - stream);

  /* Count first: the first update carries the first half. */
  g_autoptr (GPtrArray) hosts = g_ptr_array_new_with_free_func (g_free);
  for (gsize off = 0; off < stream_len;)
    {
      ShFrame f;
      gssize used = sh_frame_decode (stream + off, stream_len - off, &f);

      if (used <= 0)
        break; /* the session would end here */
      off += (gsize) used;
      if (f.type != SH_FRAME_HOST)
        continue;
      /* The client's check (client.c on_host), then its cap. */
      if (!sh_hostname_is_valid (f.u.host.name, f.u.host.name_len))
        continue;
      if (f.u.host.family != AF_INET && f.u.host.family != AF_INET6)
        abort (); /* the decoder promised */
      char addr[INET6_ADDRSTRLEN];
      inet_ntop (f.u.host.family, f.u.host.addr, addr, sizeof addr);
      if (hosts->len / 2 >= SH_FW_HOSTS_MAX)
        break;
      g_ptr_array_add (hosts, g_strdup (addr));
      g_ptr_array_add (hosts, g_strndup (f.u.host.name, f.u.host.name_len));
    }
  n = hosts->len / 2;
  n_half = n / 2;
  g_variant_builder_init (&half, G_VARIANT_TYPE ("a(ss)"));
  g_variant_builder_init (&all, G_VARIANT_TYPE ("a(ss)"));
  for (guint i = 0; i < n; i++)
    {
      const char *a = g_ptr_array_index (hosts, 2 * i), *h = g_ptr_array_index (hosts, 2 * i + 1);
      if (i < n_half)
        g_variant_builder_add (&half, "(ss)", a, h);
      g_variant_builder_add (&all, "(ss)", a, h);
    }
  g_autoptr (GPtrArray) l1 = helper_lines (&half);
  g_autoptr (GPtrArray) l2 = helper_lines (&all);

  /* No line of ours can be anything but "address name". */
  for (guint i = 0; i < l2->len; i++)
    {
      const char *line = g_ptr_array_index (l2, i);
      if (strpbrk (line, "\n\r#") != NULL || line[0] == ' ')
        fail ("a rendered line is not one plain entry", base, line, NULL);
    }

  g_autofree char *r0 = sh_hosts_block_remove (base, ID);
  gboolean ours = strstr (base, MARK ID " ") != NULL;

  if (!ours && strcmp (r0, base) != 0)
    fail ("removing a block that is not there changed the file", base, r0, base);
  if (l2->len == 0)
    return 0; /* nothing to write: the client removes its block instead */

  /* A first update (when there is a first half), then the whole. */
  g_autofree char *s1 = l1->len > 0 ? sh_hosts_block_set (base, ID, NOTE, l1) : g_strdup (base);
  g_autofree char *s2 = sh_hosts_block_set (s1, ID, NOTE, l2);
  g_autofree char *once = sh_hosts_block_set (base, ID, NOTE, l2);
  g_autofree char *back1 = sh_hosts_block_remove (s1, ID);
  g_autofree char *back2 = sh_hosts_block_remove (s2, ID);

  if (!ours)
    {
      g_autoptr (GString) want1 = g_string_new (NULL);
      g_autoptr (GString) want2 = g_string_new (NULL);

      if (l1->len > 0)
        {
          render (want1, base, l1);
          expect_equal ("first update is not the file plus our block", base, s1, want1->str);
        }
      render (want2, base, l2);
      expect_equal ("second update is not the file plus our block", base, s2, want2->str);
      expect_equal ("removing our block did not restore the file", base, back2, base);
    }
  /* Whatever the file held: our updates never touch what removal keeps. */
  expect_equal ("update then remove differs from remove", base, back2, r0);
  expect_equal ("first update then remove differs from remove", base, back1, r0);
  expect_equal ("two updates differ from one", base, s2, once);

  g_autoptr (GHashTable) blocks = sh_hosts_block_list (s2);
  if (g_strcmp0 (g_hash_table_lookup (blocks, ID), NOTE) != 0)
    fail ("our block is not listed after an update", base, s2, NULL);

  /* Our block reads back as exactly what was written. */
  g_autoptr (GPtrArray) held = sh_hosts_block_get (s2, ID);
  if (held == NULL || held->len != l2->len)
    fail ("our block does not read back", base, s2, NULL);
  for (guint i = 0; i < l2->len; i++)
    if (strcmp (g_ptr_array_index (held, i), g_ptr_array_index (l2, i)) != 0)
      fail ("a line of our block reads back changed", base, s2, g_ptr_array_index (l2, i));

  /* The names the server may not override: what the file had outside our
   * blocks, never what our own block added. And the helper's filter keeps
   * none of those, and nothing at all without a tunnel. */
  g_autoptr (GHashTable) taken = sh_hosts_names_outside_blocks (base);
  g_autoptr (GHashTable) taken2 = sh_hosts_names_outside_blocks (s2);
  GHashTableIter it;
  const char *name;

  g_hash_table_iter_init (&it, taken2);
  while (g_hash_table_iter_next (&it, (gpointer *) &name, NULL))
    if (!g_hash_table_contains (taken, name))
      fail ("a name of our block counts as the file's own", base, s2, name);

  g_autoptr (GArray) none = g_array_new (FALSE, FALSE, sizeof (ShSubnet));
  g_autoptr (GArray) everything = g_array_new (FALSE, TRUE, sizeof (ShSubnet));
  ShSubnet any4 = { .family = AF_INET }, any6 = { .family = AF_INET6 };
  g_array_append_val (everything, any4);
  g_array_append_val (everything, any6);
  g_autoptr (GPtrArray) dropped = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GPtrArray) kept_none = sh_fw_filter_hosts (l2, none, taken, NULL, dropped);
  g_autoptr (GPtrArray) kept_all = sh_fw_filter_hosts (l2, everything, taken, NULL, dropped);

  if (kept_none->len != 0)
    fail ("the filter kept a name without a tunnel", base, g_ptr_array_index (kept_none, 0), NULL);
  if (dropped->len + kept_all->len != 2 * l2->len)
    fail ("the filter lost an entry", base, s2, NULL);
  for (guint i = 0; i < kept_all->len; i++)
    {
      const char *line = g_ptr_array_index (kept_all, i);
      g_autofree char *lower = g_ascii_strdown (strchr (line, ' ') + 1, -1);

      if (g_hash_table_contains (taken, lower))
        fail ("the filter kept a name the file has", base, line, NULL);
    }
  return 0;
}
