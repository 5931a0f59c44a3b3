/* SPDX-License-Identifier: GPL-2.0-or-later */
/* epoll-source.h — one epoll set as one GSource in the GLib main loop.
 *
 * GLib's own poll() costs O(number of fds) per wakeup; with thousands of
 * idle connections that dominates. Here the main loop polls a single epoll
 * fd, and a wakeup costs only the ready fds. */
#pragma once

#include <glib.h>
#include <stdint.h>

G_BEGIN_DECLS

typedef struct _ShPoll ShPoll;
typedef struct _ShPollWatch ShPollWatch;

typedef void (*ShPollFunc) (ShPollWatch *watch, guint32 events);

/* Embed one in the object that owns the fd; container_of() it back. */
struct _ShPollWatch
{
  ShPollFunc func;
};

/* Called once after every batch of events has been dispatched: the place to
 * flush output that the handlers queued, so writes are batched. */
typedef void (*ShPollBatchFunc) (gpointer data);

ShPoll *sh_poll_new (ShPollBatchFunc after_batch, gpointer data);
void sh_poll_free (ShPoll *poll);

/* Returns 0 or -errno. @events are EPOLL* flags (EPOLLET allowed). */
int sh_poll_add (ShPoll *poll, int fd, guint32 events, ShPollWatch *watch);
int sh_poll_modify (ShPoll *poll, int fd, guint32 events, ShPollWatch *watch);
void sh_poll_remove (ShPoll *poll, int fd);

G_DEFINE_AUTOPTR_CLEANUP_FUNC (ShPoll, sh_poll_free)

G_END_DECLS
