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
 * Any other prompt (a one-time code: keyboard-interactive logins through
 * PAM) never gets the stored secret. Under NetworkManager the engine asks
 * the service (io.github.shuttlevpn.Prompt1 on the control connection,
 * data/io.github.shuttlevpn.Prompt1.xml), which asks the user; the answer
 * goes to ssh and nowhere else.
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

/* Whether ssh's @prompt asks for what the engine holds: the login password
 * ("Password:" as PAM words it, "user@host's password:" as ssh does, with
 * or without ssh's "(user@host) " before a keyboard-interactive prompt) or
 * a key's passphrase. Anything else, "One-time password (OATH) for `u':"
 * included, is a question for the user. Pure. */
gboolean sh_askpass_prompt_takes_secret (const char *prompt);

/* Where the questions that are not for the secret go: @peer's
 * io.github.shuttlevpn.Prompt1 (the NM service). Without one they stay
 * unanswered. Applies to this process's askpass, if there is one. */
void sh_askpass_set_peer (GDBusConnection *peer);

/* The askpass program (argv[0] "shuttle-askpass"): asks the engine, prints
 * the answer for ssh. Exit status 0 with an answer, 1 without. */
int sh_askpass_main (int argc, char **argv);

G_END_DECLS
