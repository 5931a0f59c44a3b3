/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"

#include "bond.h"

#include <glib-unix.h>

#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/sockios.h>

#include "log.h"
#include "mux.h"

/* A lane's input buffer: room for a whole segment and its header, and
 * enough that one read takes what a fast lane has. */
#define LANE_RX (4 * SH_MUX_MAX_SEGMENT)
/* Segments we write: big enough that headers and the lane choice cost
 * nothing, small enough that a round-robin of lanes stays fine-grained. */
#define SEG_TX (32 * 1024)

typedef struct
{
  ShPollWatch watch;
  ShBond *bond;
  guint index;
  int rfd, wfd; /* lane 0: the session's pipes; others: one socket */
  gboolean polled, polled_r, polled_w;
  gboolean hup;   /* epoll said hang-up or error on one of its fds */
  gboolean rx_on; /* lane 0: only after the peer's BOND */
  guint32 events;
  /* input */
  guint8 *rx;
  gsize rx_start, rx_len;
  gboolean head_known;         /* the segment at rx_start has its header parsed */
  guint32 head_seq, head_left; /* ... its sequence number, payload bytes not yet delivered */
  gboolean ended;
  int error;
  /* output: the rest of a segment a write took only part of (lane 0: first
   * the session's bytes before the switch) */
  GByteArray *pend;
  gsize pend_start, pend_len;
  gboolean blocked; /* the last write found no room: wait for EPOLLOUT */
  gulong outq;      /* the ioctl that tells what ssh has not read of ours */
} Lane;

struct _ShBond
{
  ShPoll *poll;
  ShBondInputFunc input;
  gpointer data;
  Lane lanes[SH_MUX_MAX_LANES];
  guint n;
  gboolean reading;
  guint32 rx_seq, tx_seq;
  guint rr; /* where the search for a lane starts: ties go round */
  int cur;  /* the lane whose head is segment rx_seq, -1 when not known */
};

static void lane_event (ShPollWatch *w, guint32 events);
static gboolean lane_flush (Lane *l);

/* Puts @fd in the poll set for @want, or changes what it waits for.
 * epoll reports a hang-up or an error whatever was asked for, and keeps
 * reporting it: an fd that has one and nothing to wait for (a lane that hung
 * up with its buffer full, waiting for the session to make room) leaves the
 * set instead, or it would wake the loop for nothing until then. */
static void
lane_watch (Lane *l, int fd, gboolean *polled, guint32 want, guint32 had)
{
  ShPoll *poll = l->bond->poll;
  if (want == 0 && l->hup)
    {
      if (*polled)
        sh_poll_remove (poll, fd);
      *polled = FALSE;
      return;
    }
  if (!*polled)
    {
      if (sh_poll_add (poll, fd, want, &l->watch) < 0)
        sh_error ("lanes: cannot watch lane %u", l->index);
      *polled = TRUE;
    }
  else if (want != had)
    sh_poll_modify (poll, fd, want, &l->watch);
}

static void
lane_poll (Lane *l)
{
  ShBond *b = l->bond;
  guint32 ev = 0;
  if (b->reading && l->rx_on && !l->ended && l->rx_len < LANE_RX)
    ev |= EPOLLIN;
  if (l->blocked || l->pend_len > 0)
    ev |= EPOLLOUT;
  if (l->rfd == l->wfd)
    lane_watch (l, l->rfd, &l->polled, ev, l->events);
  else
    {
      /* Lane 0: two fds, and the same watch for both; its input is the
       * session's until the switch. */
      if (l->rx_on)
        lane_watch (l, l->rfd, &l->polled_r, ev & EPOLLIN, l->events & EPOLLIN);
      lane_watch (l, l->wfd, &l->polled_w, ev & EPOLLOUT, l->events & EPOLLOUT);
    }
  l->events = ev;
}

ShBond *
sh_bond_new (ShPoll *poll, int in0, int out0, const int *fds, guint32 mask, ShBondInputFunc input,
             gpointer data)
{
  ShBond *b = g_new0 (ShBond, 1);
  b->poll = poll;
  b->input = input;
  b->data = data;
  b->cur = -1;
  for (guint i = 0; i < SH_MUX_MAX_LANES; i++)
    {
      if (!(mask & (1u << i)))
        continue;
      Lane *l = &b->lanes[b->n++];
      l->bond = b;
      l->index = i;
      l->watch.func = lane_event;
      l->rfd = i == 0 ? in0 : fds[i];
      l->wfd = i == 0 ? out0 : fds[i];
      g_unix_set_fd_nonblocking (l->rfd, TRUE, NULL);
      struct stat st;
      /* SIOCOUTQ for a socket; a pipe answers FIONREAD from either end. */
      l->outq = fstat (l->wfd, &st) == 0 && S_ISFIFO (st.st_mode) ? FIONREAD : SIOCOUTQ;
      l->rx = g_malloc (LANE_RX);
      l->pend = g_byte_array_sized_new (SH_MUX_SEG_HDR_LEN + SEG_TX);
      l->rx_on = i != 0;
      lane_poll (l);
    }
  return b;
}

void
sh_bond_free (ShBond *b)
{
  if (!b)
    return;
  for (guint i = 0; i < b->n; i++)
    {
      Lane *l = &b->lanes[i];
      if (l->polled || l->polled_r)
        sh_poll_remove (b->poll, l->rfd);
      if (l->polled_w)
        sh_poll_remove (b->poll, l->wfd);
      if (l->index != 0)
        close (l->rfd);
      g_free (l->rx);
      g_byte_array_unref (l->pend);
    }
  g_free (b);
}

guint
sh_bond_n_lanes (ShBond *b)
{
  return b->n;
}

void
sh_bond_push_plain0 (ShBond *b, const guint8 *p, gsize len)
{
  Lane *l = &b->lanes[0];
  g_byte_array_append (l->pend, p, (guint) len);
  l->pend_len += len;
  if (!lane_flush (l))
    {
      l->ended = TRUE;
      l->error = errno;
    }
  lane_poll (l);
}

void
sh_bond_push_lane0 (ShBond *b, const guint8 *p, gsize len)
{
  Lane *l = &b->lanes[0];
  l->rx_on = TRUE;
  /* The session's input buffer is at most 256 KiB: LANE_RX holds it. */
  g_assert (len <= LANE_RX - l->rx_len);
  memcpy (l->rx + l->rx_len, p, len);
  l->rx_len += len;
  lane_poll (l);
}

/* Parses the header at the head of @l if it is complete. FALSE: malformed. */
static gboolean
lane_head (Lane *l)
{
  if (l->head_known || l->rx_len < SH_MUX_SEG_HDR_LEN)
    return TRUE;
  guint32 seq, len;
  if (!sh_segment_parse_header (l->rx + l->rx_start, &seq, &len))
    return FALSE;
  l->rx_start += SH_MUX_SEG_HDR_LEN;
  l->rx_len -= SH_MUX_SEG_HDR_LEN;
  l->head_known = TRUE;
  l->head_seq = seq;
  l->head_left = len;
  return TRUE;
}

/* Reads what @l has, as far as its buffer goes. */
static void
lane_fill (Lane *l)
{
  if (l->ended || l->rx_len == LANE_RX)
    return;
  if (l->rx_start > 0)
    {
      memmove (l->rx, l->rx + l->rx_start, l->rx_len);
      l->rx_start = 0;
    }
  ssize_t n = read (l->rfd, l->rx + l->rx_len, LANE_RX - l->rx_len);
  if (n > 0)
    l->rx_len += n;
  else if (n == 0)
    l->ended = TRUE;
  else if (errno != EAGAIN && errno != EINTR)
    {
      l->ended = TRUE;
      l->error = errno;
    }
}

gboolean
sh_bond_has_input (ShBond *b)
{
  for (guint i = 0; i < b->n; i++)
    {
      Lane *l = &b->lanes[i];
      if (l->head_known && l->head_seq == b->rx_seq && (l->rx_len > 0 || l->head_left == 0))
        return TRUE;
      if (!l->head_known && l->rx_len >= SH_MUX_SEG_HDR_LEN)
        return TRUE;
    }
  return FALSE;
}

gssize
sh_bond_read (ShBond *b, guint8 *buf, gsize len)
{
  gsize got = 0;
  while (got < len)
    {
      /* Find the lane whose head is the next segment. */
      Lane *cur = b->cur >= 0 ? &b->lanes[b->cur] : NULL;
      if (!cur)
        {
          gboolean waiting = FALSE;
          for (guint i = 0; i < b->n && !cur; i++)
            {
              Lane *l = &b->lanes[i];
              if (!lane_head (l))
                {
                  errno = EBADMSG;
                  return got > 0 ? (gssize) got : -1;
                }
              if (l->head_known && (gint32) (l->head_seq - b->rx_seq) < 0)
                {
                  errno = EBADMSG; /* older than what came already */
                  return got > 0 ? (gssize) got : -1;
                }
              if (l->head_known && l->head_seq == b->rx_seq)
                {
                  cur = l;
                  b->cur = i;
                }
              else if (!l->head_known && !l->ended)
                waiting = TRUE;
            }
          if (!cur)
            {
              if (got > 0)
                break;
              /* No lane holds the next segment and none can bring it: one
               * ended (the session is over) or the peer broke the order. */
              for (guint i = 0; i < b->n; i++)
                if (b->lanes[i].ended && !b->lanes[i].head_known)
                  {
                    errno = b->lanes[i].error;
                    return b->lanes[i].error ? -1 : 0;
                  }
              if (!waiting)
                {
                  errno = EBADMSG;
                  return -1;
                }
              errno = EAGAIN;
              return -1;
            }
        }
      gsize n = MIN (MIN ((gsize) cur->head_left, cur->rx_len), len - got);
      memcpy (buf + got, cur->rx + cur->rx_start, n);
      got += n;
      cur->rx_start += n;
      cur->rx_len -= n;
      cur->head_left -= n;
      if (cur->rx_len == 0)
        cur->rx_start = 0;
      if (cur->head_left == 0)
        {
          cur->head_known = FALSE;
          b->rx_seq++;
          b->cur = -1;
        }
      else if (cur->rx_len == 0)
        {
          /* The rest of this segment is still in the lane. */
          lane_fill (cur);
          if (cur->rx_len == 0)
            {
              if (got > 0)
                break;
              if (cur->ended)
                {
                  errno = cur->error;
                  return cur->error ? -1 : 0;
                }
              errno = EAGAIN;
              return -1;
            }
        }
    }
  for (guint i = 0; i < b->n; i++)
    lane_poll (&b->lanes[i]);
  return (gssize) got;
}

void
sh_bond_set_reading (ShBond *b, gboolean on)
{
  if (b->reading == on)
    return;
  b->reading = on;
  for (guint i = 0; i < b->n; i++)
    lane_poll (&b->lanes[i]);
}

/* Bytes written to @l that its reader (ssh) has not taken yet. */
static gsize
lane_unread (Lane *l)
{
  int n = 0;
  if (ioctl (l->wfd, l->outq, &n) < 0 || n < 0)
    n = 0;
  return (gsize) n + l->pend_len;
}

/* Writes what is left of a segment on @l. FALSE on a write error. */
static gboolean
lane_flush (Lane *l)
{
  while (l->pend_len > 0)
    {
      ssize_t n = write (l->wfd, l->pend->data + l->pend_start, l->pend_len);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            {
              l->blocked = TRUE;
              break;
            }
          return FALSE;
        }
      l->pend_start += n;
      l->pend_len -= n;
    }
  if (l->pend_len == 0)
    {
      l->pend_start = 0;
      g_byte_array_set_size (l->pend, 0);
    }
  return TRUE;
}

gssize
sh_bond_write (ShBond *b, const guint8 *p, gsize len)
{
  gsize took = 0;
  while (took < len)
    {
      /* The lane with the least unread: ssh reads a lane only while its
       * channel has window, so that is the lane whose data leaves first.
       * Ties go round: the server's lanes are TCP connections from sshd
       * over loopback, which acknowledge what sits unread in sshd's
       * receive buffer, so they all say 0, and sending to the first of
       * them would leave the others' windows unused. */
      Lane *best = NULL;
      gsize best_q = G_MAXSIZE;
      b->rr++;
      for (guint k = 0; k < b->n; k++)
        {
          Lane *l = &b->lanes[(b->rr + k) % b->n];
          if (l->blocked || l->pend_len > 0)
            continue;
          gsize q = lane_unread (l);
          if (q < best_q)
            {
              best = l;
              best_q = q;
            }
        }
      if (!best)
        break;
      gsize seg = MIN (len - took, SEG_TX);
      guint8 hdr[SH_MUX_SEG_HDR_LEN];
      sh_segment_put_header (hdr, b->tx_seq, (guint32) seg);
      struct iovec iov[2] = { { hdr, sizeof hdr }, { (void *) (p + took), seg } };
      ssize_t n = writev (best->wfd, iov, 2);
      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN)
            {
              best->blocked = TRUE;
              lane_poll (best);
              continue;
            }
          return -1;
        }
      if (n == 0)
        {
          best->blocked = TRUE;
          lane_poll (best);
          continue;
        }
      /* The segment is ours now, even the part the lane did not take. */
      gsize total = sizeof hdr + seg;
      if ((gsize) n < total)
        {
          gsize rest = total - n;
          g_byte_array_set_size (best->pend, 0);
          if ((gsize) n < sizeof hdr)
            {
              g_byte_array_append (best->pend, hdr + n, sizeof hdr - n);
              g_byte_array_append (best->pend, p + took, (guint) seg);
            }
          else
            g_byte_array_append (best->pend, p + took + (n - sizeof hdr), (guint) rest);
          best->pend_start = 0;
          best->pend_len = rest;
          best->blocked = TRUE;
          lane_poll (best);
        }
      b->tx_seq++;
      took += seg;
    }
  return (gssize) took;
}

gsize
sh_bond_pending (ShBond *b)
{
  gsize n = 0;
  for (guint i = 0; i < b->n; i++)
    n += b->lanes[i].pend_len;
  return n;
}

static void
lane_event (ShPollWatch *w, guint32 events)
{
  Lane *l = G_STRUCT_MEMBER_P (w, -G_STRUCT_OFFSET (Lane, watch));
  ShBond *b = l->bond;
  if (events & (EPOLLERR | EPOLLHUP))
    l->hup = TRUE;
  if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
    {
      l->blocked = FALSE;
      if (!lane_flush (l))
        {
          l->ended = TRUE;
          l->error = errno;
        }
    }
  if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
    lane_fill (l);
  lane_poll (l);
  /* The session reads what is in order now; the after-batch flush writes. */
  if (b->input)
    b->input (b->data);
}

char *
sh_bond_describe (ShBond *b)
{
  GString *str = g_string_new (NULL);
  g_string_append_printf (str, "next in %u, next out %u, reading %s;", b->rx_seq, b->tx_seq,
                          b->reading ? "on" : "off");
  for (guint i = 0; i < b->n; i++)
    {
      Lane *l = &b->lanes[i];
      g_string_append_printf (str, " lane %u: ", l->index);
      if (l->head_known)
        g_string_append_printf (str, "head %u (%u left), ", l->head_seq, l->head_left);
      g_string_append_printf (str, "%zu in, %zu unread out%s%s%s", l->rx_len, lane_unread (l),
                              l->blocked ? ", blocked" : "", l->ended ? ", ended" : "",
                              l->events & EPOLLIN ? ", polled" : "");
      g_string_append_c (str, ';');
    }
  return g_string_free (str, FALSE);
}
