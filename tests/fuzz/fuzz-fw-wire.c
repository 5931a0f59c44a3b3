/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-fw-wire.c — ApplyTunnel's arguments through the Firewall1 codec
 * (service/common/fw-wire.c), the one the helper decodes with, the NM
 * plugin decodes and re-encodes with, and the engine encodes with.
 *
 * Input: the arguments in GVariant text form, typed
 * (sqa(yayyqq)a(yayyqq)a(yay)a{sv}), as a caller could send them.
 *
 * Invariants, checked here so that a violation crashes: what the decoder
 * accepts lies within its limits (label, port, families, prefixes, port
 * ranges, counts); its encoding decodes back to the same label, spec and
 * uid; and that encoding is a fixed point. So what the plugin forwards is
 * what it checked, and what the engine sends is what the helper reads. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gio/gio.h>

#include "fw-wire.h"
#include "subnet.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static void
check_list (const GArray *list, guint max, gboolean full_width)
{
  if (list == NULL || list->len > max)
    abort ();
  for (guint i = 0; i < list->len; i++)
    {
      const ShSubnet *s = &g_array_index (list, ShSubnet, i);
      guint width = s->family == AF_INET ? 32 : 128;

      if (s->family != AF_INET && s->family != AF_INET6)
        abort ();
      if (s->prefix > width || (full_width && s->prefix != width))
        abort ();
      if ((s->port_lo == 0) != (s->port_hi == 0) || s->port_lo > s->port_hi)
        abort ();
      if (s->family == AF_INET && memcmp (s->addr + 4, (guint8[12]){ 0 }, 12) != 0)
        abort ();
    }
}

static gboolean
same_list (const GArray *a, const GArray *b)
{
  return a->len == b->len
         && (a->len == 0 || memcmp (a->data, b->data, a->len * sizeof (ShSubnet)) == 0);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  g_autoptr (GVariant) params = NULL;
  g_autoptr (GVariant) encoded = NULL;
  g_autoptr (GVariant) again = NULL;
  g_autofree char *label = NULL;
  g_autofree char *label2 = NULL;
  ShFirewallSpec spec = { 0 }, spec2 = { 0 };
  guint32 uid, uid2;

  params = g_variant_parse (G_VARIANT_TYPE (SH_FW_TUNNEL_SIGNATURE), text, NULL, NULL, NULL);
  if (params == NULL) /* g_variant_parse() gives a full reference: nothing to sink */
    return 0;
  if (!sh_fw_parse_tunnel (params, &label, &spec, &uid, NULL))
    return 0;

  if (!sh_fw_label_is_valid (label) || spec.port == 0)
    abort ();
  check_list (spec.subnets, SH_FW_SUBNETS_MAX, FALSE);
  check_list (spec.excludes, SH_FW_SUBNETS_MAX, FALSE);
  check_list (spec.dns_servers, SH_FW_DNS_MAX, TRUE);

  encoded = g_variant_ref_sink (sh_fw_encode_tunnel (label, &spec, uid));
  if (!sh_fw_parse_tunnel (encoded, &label2, &spec2, &uid2, NULL))
    abort ();
  if (!g_str_equal (label, label2) || spec.port != spec2.port || spec.block_ipv6 != spec2.block_ipv6
      || uid != uid2 || !same_list (spec.subnets, spec2.subnets)
      || !same_list (spec.excludes, spec2.excludes)
      || !same_list (spec.dns_servers, spec2.dns_servers))
    abort ();
  again = g_variant_ref_sink (sh_fw_encode_tunnel (label2, &spec2, uid2));
  if (!g_variant_equal (encoded, again))
    abort ();

  sh_fw_spec_clear (&spec);
  sh_fw_spec_clear (&spec2);
  return 0;
}
