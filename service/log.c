/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <syslog.h>

static const char *log_ident = "shuttle";
static int log_verbosity;
static gboolean log_syslog;

void
sh_log_init (const char *ident, int verbosity, gboolean use_syslog)
{
  log_ident = ident;
  log_verbosity = verbosity;
  if (use_syslog)
    sh_log_to_syslog ();
}

void
sh_log_to_syslog (void)
{
  if (!log_syslog)
    openlog (log_ident, LOG_PID, LOG_DAEMON);
  log_syslog = TRUE;
}

gboolean
sh_log_enabled (ShLogLevel level)
{
  return (int) level <= log_verbosity;
}

void
sh_log (ShLogLevel level, const char *fmt, ...)
{
  if (!sh_log_enabled (level))
    return;
  va_list ap;
  va_start (ap, fmt);
  if (log_syslog)
    {
      int prio = level == SH_LOG_ERROR    ? LOG_ERR
                 : level == SH_LOG_NOTICE ? LOG_NOTICE
                 : level == SH_LOG_INFO   ? LOG_INFO
                                          : LOG_DEBUG;
      vsyslog (prio, fmt, ap);
    }
  else
    {
      /* One write per line so lines from the client, ssh and the server
       * (which share the terminal) do not interleave mid-line. */
      g_autofree char *msg = g_strdup_vprintf (fmt, ap);
      g_autofree char *line = g_strdup_printf ("%s: %s\n", log_ident, msg);
      fputs (line, stderr);
      fflush (stderr);
    }
  va_end (ap);
}
