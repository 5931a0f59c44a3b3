/* SPDX-License-Identifier: GPL-2.0-or-later */
/* bootstrap.h — what runs on the server, and how it gets there.
 *
 * Nothing is installed on the server for shuttle to work. One ssh command
 * starts `shuttle-server` when the server has it; otherwise a one-line
 * stage-1 loader given to the server's python3 reads the Python agent from
 * the pipe (it asks with SH_MUX_LOAD_REQUEST, the client answers with the
 * payload below) and runs it from memory. docs/protocol.md, "Bootstrap",
 * is the contract. */
#pragma once

#include <glib.h>

#include "options.h"

G_BEGIN_DECLS

typedef enum
{
  SH_SERVER_AUTO,  /* shuttle-server if the server has it, else the agent */
  SH_SERVER_AGENT, /* always the uploaded agent (--python, or a fallback) */
  SH_SERVER_CMD,   /* exactly --server-cmd, no fallback */
} ShServerChoice;

/* Exit statuses of the remote command that the client explains. */
#define SH_BOOTSTRAP_NO_SERVER 97  /* neither shuttle-server nor a python */
#define SH_BOOTSTRAP_OLD_PYTHON 98 /* the python found is older than 3.6 */
#define SH_BOOTSTRAP_NO_PYTHON 96  /* the --python interpreter is not there */

ShServerChoice sh_bootstrap_choice (const ShOptions *opts);

/* The remote command, one string for ssh (run by the remote user's login
 * shell, which hands it to /bin/sh). -v is passed on @verbose - 1 times. */
char *sh_bootstrap_remote_command (const ShOptions *opts, ShServerChoice choice);

/* Test mode (no -r): the local server's argv. @self is this program. */
GStrv sh_bootstrap_local_argv (const ShOptions *opts, ShServerChoice choice, const char *self);

/* What the client sends when the stage-1 loader asks: a u32 big-endian
 * length and the zlib-compressed agent (embedded at build time). */
GBytes *sh_bootstrap_agent_payload (void);

/* One line explaining an exit @status of the remote command before the
 * handshake, or NULL when the status means nothing particular. */
char *sh_bootstrap_explain_exit (const ShOptions *opts, ShServerChoice choice, int status);

G_END_DECLS
