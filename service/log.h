/* SPDX-License-Identifier: GPL-2.0-or-later */
/* log.h — the program's edge: messages to stderr or syslog by verbosity.
 * Library-style modules (mux, subnet, firewall) return errors instead. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum
{
  SH_LOG_ERROR = -1, /* always shown */
  SH_LOG_NOTICE = 0, /* shown by default: connected, disconnected */
  SH_LOG_INFO = 1,   /* -v: each connection */
  SH_LOG_DEBUG = 2,  /* -vv: frames of note, RTT */
  SH_LOG_TRACE = 3,  /* -vvv */
} ShLogLevel;

void sh_log_init (const char *ident, int verbosity, gboolean use_syslog);
void sh_log_to_syslog (void); /* switch after daemonizing */
gboolean sh_log_enabled (ShLogLevel level);
void sh_log (ShLogLevel level, const char *fmt, ...) G_GNUC_PRINTF (2, 3);

#define sh_error(...) sh_log (SH_LOG_ERROR, __VA_ARGS__)
#define sh_notice(...) sh_log (SH_LOG_NOTICE, __VA_ARGS__)
#define sh_info(...)                                                                               \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (sh_log_enabled (SH_LOG_INFO))                                                              \
      sh_log (SH_LOG_INFO, __VA_ARGS__);                                                           \
  }                                                                                                \
  G_STMT_END
#define sh_debug(...)                                                                              \
  G_STMT_START                                                                                     \
  {                                                                                                \
    if (sh_log_enabled (SH_LOG_DEBUG))                                                             \
      sh_log (SH_LOG_DEBUG, __VA_ARGS__);                                                          \
  }                                                                                                \
  G_STMT_END

G_END_DECLS
