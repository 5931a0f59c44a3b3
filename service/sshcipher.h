/* SPDX-License-Identifier: GPL-2.0-or-later */
/* sshcipher.h — a faster ssh cipher when the user did not choose one.
 *
 * OpenSSH prefers chacha20-poly1305, which runs in software. On a CPU with
 * AES instructions aes128-gcm carries about 1.5x as much per core (raw pipe
 * here: 4457 vs 3337 Mbit/s), and ssh's crypto is most of a tunnel's CPU.
 * So when `ssh -G` shows OpenSSH's compiled-in cipher list unchanged (no
 * Ciphers in any ssh_config, no system crypto policy) and the CPU has AES
 * instructions, the engine asks for the same list with aes128-gcm first. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* OpenSSH's default client cipher list (7.x to 9.x). */
#define SH_SSH_DEFAULT_CIPHERS                                                                     \
  "chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,"         \
  "aes256-gcm@openssh.com"

/* TRUE when @cpuinfo (the text of /proc/cpuinfo) lists AES instructions on
 * its flags (x86) or Features (arm64) line. */
gboolean sh_cpu_has_aes (const char *cpuinfo);

/* The `-c` list to pass, or NULL to leave ssh's choice alone: @ssh_g is the
 * output of `ssh -G ...` (NULL if it failed: not OpenSSH). */
char *sh_ssh_fast_ciphers (const char *ssh_g, gboolean cpu_has_aes);

G_END_DECLS
