/* SPDX-License-Identifier: GPL-2.0-or-later */
/* askpass.h — hands the ssh password or key passphrase to ssh without argv,
 * environment or files.
 *
 * nm-shuttle-service writes the secret into a pipe whose read end the engine
 * gets as --secret-fd. ssh cannot inherit a descriptor (it closes them all
 * before running its askpass program), so the engine keeps the secret in
 * memory and serves it on a unix socket in a private 0700 directory:
 *
 *   ssh -> $SSH_ASKPASS (that directory's "shuttle-askpass", a symlink to
 *          this very binary) -> connects to $SHUTTLE_ASKPASS_SOCKET, sends the
 *          prompt -> the engine checks the caller's uid (SO_PEERCRED) and
 *          that the prompt asks for a password or passphrase, and answers
 *          at most a few times in its life.
 *
 * The environment only carries paths. The directory goes when the engine
 * ends. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _ShAskpass ShAskpass;

/* Reads the secret from @fd to EOF (and closes it), opens the socket on the
 * default main context and sets SSH_ASKPASS, SSH_ASKPASS_REQUIRE=force and
 * SHUTTLE_ASKPASS_SOCKET in our environment, for the ssh we start. */
ShAskpass *sh_askpass_new (int fd, GError **error);

/* Wipes the secret, removes the socket and its directory. */
void sh_askpass_free (ShAskpass *askpass);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShAskpass, sh_askpass_free)

/* The askpass program (argv[0] "shuttle-askpass"): asks the engine, prints
 * the answer for ssh. Exit status 0 with an answer, 1 without. */
int sh_askpass_main (int argc, char **argv);

G_END_DECLS
