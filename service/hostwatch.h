/* SPDX-License-Identifier: GPL-2.0-or-later */
/* hostwatch.h — the server's side of HOSTS_WATCH (docs/protocol.md,
 * "Hosts"): names of the remote network, found without root and sent as
 * HOST frames, each (name, address) once, for as long as the session runs.
 * Every scan runs in a worker thread: lookups and tools never delay the
 * session's frames. */
#pragma once

#include "session.h"

G_BEGIN_DECLS

typedef struct _ShHostWatch ShHostWatch;

/* Starts scanning now and again 15 s after each scan ends. @seeds: the
 * HOSTS_WATCH payload (comma-separated names), @len bytes. */
ShHostWatch *sh_host_watch_new (ShSession *session, const char *seeds, gsize len);
void sh_host_watch_free (ShHostWatch *watch);

/* Pure parsers, for the tests: append ShHost-like pairs (address text,
 * name) to @out as two strings each. */
void sh_host_watch_parse_hosts (const char *text, GPtrArray *out);
void sh_host_watch_parse_arp (const char *text, GPtrArray *addresses);

G_END_DECLS
