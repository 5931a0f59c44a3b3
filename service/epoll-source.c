/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "epoll-source.h"

#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#define MAX_EVENTS 256

typedef struct
{
  GSource source;
  int epfd;
  gpointer tag;
  ShPollBatchFunc after_batch;
  gpointer data;
} ShPollSource;

struct _ShPoll
{
  ShPollSource *source;
};

static gboolean
poll_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ShPollSource *ps = (ShPollSource *) source;
  struct epoll_event ev[MAX_EVENTS];

  /* The GSource only says "epoll fd readable"; drain what is ready now.
   * Bounded per dispatch so timers and signals still get their turn. */
  int n = epoll_wait (ps->epfd, ev, MAX_EVENTS, 0);
  for (int i = 0; i < n; i++)
    {
      ShPollWatch *w = ev[i].data.ptr;
      w->func (w, ev[i].events);
    }
  if (ps->after_batch)
    ps->after_batch (ps->data);
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs poll_funcs = {
  .dispatch = poll_dispatch,
};

ShPoll *
sh_poll_new (ShPollBatchFunc after_batch, gpointer data)
{
  int epfd = epoll_create1 (EPOLL_CLOEXEC);
  if (epfd < 0)
    return NULL;
  ShPoll *poll = g_new0 (ShPoll, 1);
  poll->source = (ShPollSource *) g_source_new (&poll_funcs, sizeof (ShPollSource));
  poll->source->epfd = epfd;
  poll->source->after_batch = after_batch;
  poll->source->data = data;
  poll->source->tag = g_source_add_unix_fd (&poll->source->source, epfd, G_IO_IN);
  g_source_set_name (&poll->source->source, "shuttle-epoll");
  /* GLib "blocks" a dispatching source that cannot recurse by removing its
   * fds from the poll set and adding them back afterwards, waking the loop
   * through its eventfd twice per dispatch. Our handlers never iterate the
   * main loop, so recursion cannot happen and that cost is pure waste. */
  g_source_set_can_recurse (&poll->source->source, TRUE);
  g_source_attach (&poll->source->source, NULL);
  return poll;
}

void
sh_poll_free (ShPoll *poll)
{
  if (!poll)
    return;
  int epfd = poll->source->epfd;
  g_source_destroy (&poll->source->source);
  g_source_unref (&poll->source->source);
  close (epfd);
  g_free (poll);
}

int
sh_poll_add (ShPoll *poll, int fd, guint32 events, ShPollWatch *watch)
{
  struct epoll_event ev = { .events = events, .data.ptr = watch };
  return epoll_ctl (poll->source->epfd, EPOLL_CTL_ADD, fd, &ev) < 0 ? -errno : 0;
}

int
sh_poll_modify (ShPoll *poll, int fd, guint32 events, ShPollWatch *watch)
{
  struct epoll_event ev = { .events = events, .data.ptr = watch };
  return epoll_ctl (poll->source->epfd, EPOLL_CTL_MOD, fd, &ev) < 0 ? -errno : 0;
}

void
sh_poll_remove (ShPoll *poll, int fd)
{
  epoll_ctl (poll->source->epfd, EPOLL_CTL_DEL, fd, NULL);
}
