/* SPDX-License-Identifier: GPL-2.0-or-later */
/* nm-shuttle-data.h — the vpn.data of a Shuttle NetworkManager profile:
 * the whitelist of keys with their types and ranges, and the engine command
 * line a valid profile turns into. Pure: strings in, structs or GError out;
 * no libnm, no I/O, so nm-shuttle-service, the editor, import/export and the
 * unit tests all judge a profile by this one table. docs/nm-vpn-data.md is
 * the user's reference; keep the two in step.
 *
 * Errors are SH_NM_DATA_ERROR with a one-line message that names the key
 * ("invalid value for 'port': '0' is not in 1..65535"). */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define SH_NM_SERVICE_TYPE "org.freedesktop.NetworkManager.shuttle"

/* vpn.data keys */
#define SH_NM_KEY_HOST "host"
#define SH_NM_KEY_USER "user"
#define SH_NM_KEY_PORT "port"
#define SH_NM_KEY_LOCAL_USER "local-user"
#define SH_NM_KEY_AUTH_METHOD "auth-method"
#define SH_NM_KEY_KEY_FILE "key-file"
#define SH_NM_KEY_HOST_KEY "host-key"
#define SH_NM_KEY_SUBNETS "subnets"
#define SH_NM_KEY_EXCLUDES "excludes"
#define SH_NM_KEY_DNS "dns"
#define SH_NM_KEY_DNS_DOMAINS "dns-domains"
#define SH_NM_KEY_TO_NS "to-ns"
#define SH_NM_KEY_AUTO_NETS "auto-nets"
#define SH_NM_KEY_AUTO_HOSTS "auto-hosts"
#define SH_NM_KEY_SEED_HOSTS "seed-hosts"
#define SH_NM_KEY_LATENCY_CONTROL "latency-control"
#define SH_NM_KEY_CONNECT_TIMEOUT "connect-timeout"
#define SH_NM_KEY_PYTHON "python"
#define SH_NM_KEY_BLOCK_IPV6 "block-ipv6"
#define SH_NM_KEY_TRANSPORT "transport"
#define SH_NM_KEY_FAIL_CLOSED "fail-closed"
#define SH_NM_KEY_UDP "udp"
#define SH_NM_KEY_UDP_TIMEOUT "udp-timeout"
#define SH_NM_KEY_PASSWORD_FLAGS "password-flags"
#define SH_NM_KEY_KEY_PASSPHRASE_FLAGS "key-passphrase-flags"

/* vpn.secrets keys */
#define SH_NM_SECRET_PASSWORD "password"
#define SH_NM_SECRET_KEY_PASSPHRASE "key-passphrase"
/* The user's answer ("yes") to the unknown server's host key the plugin
 * sends in the hint SH_NM_HINT_HOST_KEY comes in the secret this prefix
 * begins (sh_host_key_accept_secret(): bound to that key). */
#define SH_NM_SECRET_HOST_KEY_ACCEPT "host-key-accept-"
/* The secrets hint carrying that key: "x-shuttle-host-key:TYPE BASE64". */
#define SH_NM_HINT_HOST_KEY "x-shuttle-host-key:"
/* A question of the ssh server (keyboard-interactive: a one-time code): the
 * plugin sends its text, cleaned (sh_nm_prompt_clean()), in the hint
 * "x-shuttle-prompt:TEXT", and asks for the secret named in another hint,
 * SH_NM_SECRET_ANSWER followed by 16 random hex digits: a new name per
 * question, so that no answer kept anywhere can ever be taken for the next
 * one. The answer goes to ssh only; the plugin removes it from the profile. */
#define SH_NM_HINT_PROMPT "x-shuttle-prompt:"
#define SH_NM_SECRET_ANSWER "x-shuttle-answer-"
/* The most characters of a server's prompt that are shown. */
#define SH_NM_PROMPT_MAX 200
/* The longest secret, in bytes: the plugin writes it to a pipe before the
 * engine runs, and a pipe holds far more than this, so the write never
 * blocks. No password or passphrase comes near it. */
#define SH_NM_SECRET_MAX 4096

/* A server's prompt made fit to show: valid UTF-8, no control or
 * bidirectional-override characters (a line break or tab becomes a space),
 * runs of spaces as one, trimmed, at most SH_NM_PROMPT_MAX characters (then
 * ending in "…"). Empty input gives "". The text is still the server's: show
 * it as plain text (no markup, no mnemonics). Pure; free with g_free(). */
char *sh_nm_prompt_clean (const char *text);

/* Whether @name is a well-formed answer secret name (SH_NM_SECRET_ANSWER
 * and 16 hex digits). Pure. */
gboolean sh_nm_is_answer_secret (const char *name);

#define SH_NM_DATA_ERROR (sh_nm_data_error_quark ())
GQuark sh_nm_data_error_quark (void);

typedef enum
{
  SH_NM_DATA_ERROR_UNKNOWN_KEY, /* not in the table */
  SH_NM_DATA_ERROR_INVALID,     /* a value of the wrong type or out of range */
  SH_NM_DATA_ERROR_MISSING,     /* a required key is absent, or keys contradict */
} ShNmDataError;

typedef enum
{
  SH_NM_AUTH_AGENT = 0, /* ssh-agent, the user's default keys and ~/.ssh/config */
  SH_NM_AUTH_KEY,       /* key-file, optional key-passphrase secret */
  SH_NM_AUTH_PASSWORD,  /* password secret */
} ShNmAuth;

typedef enum
{
  SH_NM_DNS_NONE = 0,
  SH_NM_DNS_SPLIT, /* only dns-domains through the tunnel */
  SH_NM_DNS_FULL,  /* all DNS through the tunnel */
} ShNmDns;

/* A validated profile. Strings are owned; lists are NULL-terminated and
 * never NULL (empty when the key is absent). */
typedef struct
{
  char *host;       /* never NULL */
  char *user;       /* NULL: ssh's default */
  guint16 port;     /* 0: ssh's default */
  char *local_user; /* NULL: taken from connection.permissions */
  ShNmAuth auth;
  char *key_file; /* set iff auth == SH_NM_AUTH_KEY */
  char *host_key; /* "TYPE BASE64" or NULL */
  char **subnets;
  char **excludes;
  ShNmDns dns;
  char **dns_domains;
  char *to_ns; /* NULL: the server's resolver */
  gboolean auto_nets;
  gboolean auto_hosts;
  char **seed_hosts;
  gboolean latency_control;
  guint connect_timeout; /* seconds, 0: the engine's default */
  char *python;          /* NULL: automatic */
  gboolean block_ipv6;   /* --block-ipv6; on unless block-ipv6=no */
  char *transport;       /* --transport: "agent" or "ssh"; NULL: auto */
  gboolean fail_closed;  /* fail-closed=yes: keep the rules through an outage */
  gboolean udp;          /* UDP and ping through the tunnel; on unless udp=no (--no-udp) */
  guint udp_timeout;     /* --udp-timeout seconds, 0: the engine's default */
  guint password_flags;
  guint key_passphrase_flags;
} ShNmProfile;

/* The known keys of vpn.data, NULL-terminated, in the table's order. */
const char *const *sh_nm_data_keys (void);

/* Checks one item as it would appear in vpn.data. A list key (subnets,
 * excludes, dns-domains, seed-hosts) may be given a single element or the
 * whole comma-separated list. Does not check the rules between keys.
 * FALSE with @error for an unknown key or a bad value. */
gboolean sh_nm_data_check_item (const char *key, const char *value, GError **error);

/* Checks a whole vpn.data table (char * key -> char * value): every item,
 * then the rules between keys (host required; subnets unless auto-nets=yes;
 * key-file iff auth-method=key; dns-domains with dns=split; seed-hosts only
 * with auto-hosts=yes). */
gboolean sh_nm_data_check_all (GHashTable *data, GError **error);

/* Checks the secret @key (SH_NM_SECRET_*) of @len bytes: at most
 * SH_NM_SECRET_MAX. FALSE with @error (SH_NM_DATA_ERROR_INVALID, naming the
 * key and the limit, never the value). */
gboolean sh_nm_secret_check (const char *key, gsize len, GError **error);

/* sh_nm_data_check_all() and the parsed result. NULL with @error when
 * invalid. Free with sh_nm_profile_free(). */
ShNmProfile *sh_nm_profile_new (GHashTable *data, GError **error);
void sh_nm_profile_free (ShNmProfile *profile);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShNmProfile, sh_nm_profile_free)

/* What the service decided for this run, beyond the profile. */
typedef struct
{
  /* A known_hosts file holding only the pinned host-key under the alias
   * SH_NM_HOST_KEY_ALIAS; required when profile->host_key is set. */
  const char *known_hosts_file;
  gboolean have_secret; /* a password or passphrase comes through the askpass */
  /* The connection's stub address (NM publishes it as the DNS server): with
   * dns != none the engine captures queries to it (--dns --ns-hosts). */
  const char *dns_stub;
  /* The connection is vpn.persistent: with fail_closed the engine itself
   * reconnects (--reconnect --fail-closed), keeping its rules meanwhile. */
  gboolean persistent;
} ShNmEngineContext;

#define SH_NM_HOST_KEY_ALIAS "shuttle-pinned-host"

/* The engine's arguments for @profile, without the program name and without
 * the descriptors the service adds (--control-fd, --secret-fd): -r, the ssh
 * command (-e) with strict host-key checking and the profile's
 * authentication, subnets, -x, DNS capture, and the switches. Secrets never appear here.
 * A new NULL-terminated vector. */
char **sh_nm_profile_engine_args (const ShNmProfile *profile, const ShNmEngineContext *ctx);

/* The known_hosts line for a pinned @host_key ("TYPE BASE64"), newline
 * included: "shuttle-pinned-host TYPE BASE64\n". */
char *sh_nm_host_key_known_hosts_line (const char *host_key);

/* Several Shuttle connections at once: whether the tunnelled @a (minus
 * @a_excludes) and @b (minus @b_excludes), lists of subnet specs as in
 * vpn.data, share an address and port, so that two sets of rules would
 * claim the same traffic. Shared space that one side excludes does not
 * count. Specs that do not parse are ignored (the whitelist refused them).
 * TRUE when they do, with the first pair found in *@a_subnet and
 * *@b_subnet (canonical text, newly allocated; either may be NULL). Pure. */
gboolean sh_nm_subnets_overlap (const char *const *a, const char *const *a_excludes,
                                const char *const *b, const char *const *b_excludes,
                                char **a_subnet, char **b_subnet);

/* Whether the reason of a VPN connection's last state change
 * (org.freedesktop.NetworkManager.VPN.Connection VpnStateChanged, whose
 * reasons are NMActiveConnectionStateReason's numbers) says the network
 * went away: the base device disconnected (3, also on NM's sleep or
 * "networking off"), the base connection failed (12) or the base device
 * was removed (14). Everything else — the user (2), the profile removed
 * (11), a failure, a reason not known (0) — is deliberate or final. (With
 * vpn.persistent NetworkManager sends no such reason to our plugin: it
 * keeps the connection; nm-shuttle-service.c logs what it gets.) Pure. */
gboolean sh_nm_reason_is_network_loss (guint reason);

G_END_DECLS
