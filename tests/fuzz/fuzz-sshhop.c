/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-sshhop.c — service/sshhop.c: `ssh -G` output and ProxyJump values
 * (they come from the user's ssh_config, whoever wrote it).
 *
 * Input: text; it is parsed as ssh -G output, and as a ProxyJump value.
 * Besides not crashing: a first hop that is accepted has a non-empty host of
 * the allowed characters and never starts with '-' (it becomes an argument
 * of ssh -G), and a port in 0..65535. */
#include "config.h"

#include <stdint.h>
#include <string.h>

#include <glib.h>

#include "sshhop.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autofree char *text = g_strndup ((const char *) data, size);
  ShSshHop hop = { 0 };
  sh_ssh_hop_parse (text, &hop);
  if (hop.port > 65535)
    __builtin_trap ();
  sh_ssh_hop_clear (&hop);

  g_autofree char *user = NULL, *host = NULL;
  guint port = 0;
  if (sh_ssh_jump_first (text, &user, &host, &port))
    {
      if (!host || !*host || host[0] == '-' || port > 65535)
        __builtin_trap ();
      for (const char *p = host; *p; p++)
        if (!g_ascii_isalnum (*p) && !strchr (".-_:%", *p))
          __builtin_trap ();
    }
  return 0;
}
