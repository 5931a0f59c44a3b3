/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sshhop.h — where ssh's TCP connection really goes.
 *
 * The engine must keep its own transport out of the tunnel: it excludes the
 * address and port ssh connects to. With a ProxyJump in the user's
 * ssh_config (or -J) that is not the host named by -r but the first jump
 * host, which may itself be an alias with a HostName, a Port and a jump of
 * its own. These pure functions read `ssh -G` output and ProxyJump values;
 * client.c runs ssh -G and follows the chain. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct
{
  char *hostname;       /* "hostname" line; NULL if absent */
  guint port;           /* "port" line; 0 if absent or invalid */
  char *jump;           /* "proxyjump" value, NULL if absent or "none" */
  gboolean via_command; /* a ProxyCommand: the first hop is unknowable */
} ShSshHop;

/* Reads the lines of `ssh -G` output @ssh_g into @hop (cleared first). */
void sh_ssh_hop_parse (const char *ssh_g, ShSshHop *hop);
void sh_ssh_hop_clear (ShSshHop *hop);

/* The first element of a ProxyJump list, "[user@]host[:port]" or
 * "ssh://[user@]host[:port]" (host may be a bracketed IPv6 address), split:
 * @user may be NULL, @port 0 when not given. FALSE when it is malformed. */
gboolean sh_ssh_jump_first (const char *jump, char **user, char **host, guint *port);

G_END_DECLS
