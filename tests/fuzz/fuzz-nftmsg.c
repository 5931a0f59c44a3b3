/* SPDX-License-Identifier: GPL-2.0-or-later */
/* fuzz-nftmsg.c — sh_nft_parse_table_comment() on arbitrary netlink
 * buffers, as firewall.c reads the kernel's answer about a table.
 *
 * Besides not crashing or reading out of bounds: a comment comes with 0
 * and only then, holds no NUL, and is at most SH_NFT_COMMENT_MAX bytes; an
 * error is a positive errno. */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>

#include "nftmsg.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  char *comment = NULL;
  int err = sh_nft_parse_table_comment (data, size, &comment);

  if (err < 0 || (err == 0) != (comment != NULL))
    abort ();
  if (comment != NULL && strlen (comment) > SH_NFT_COMMENT_MAX)
    abort ();
  g_free (comment);
  return 0;
}
