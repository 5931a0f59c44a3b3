/* SPDX-License-Identifier: GPL-2.0-or-later */
/* socks5.c — the SOCKS5 handshake, pure (socks5.h). */
#include "config.h"

#include "socks5.h"

#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

#include "hostname.h"

int
sh_socks5_parse_greeting (const guint8 *buf, gsize len)
{
  gsize need;

  if (len < 1)
    return 0;
  if (buf[0] != 5)
    return -EPROTO;
  if (len < 2)
    return 0;
  need = 2 + (gsize) buf[1];
  if (len < need)
    return 0;
  for (gsize i = 2; i < need; i++)
    if (buf[i] == 0x00)
      return (int) need;
  return -EACCES;
}

/* A name as a destination: an address literal becomes numeric. */
static int
take_name (const guint8 *p, gsize n, ShSocks5Request *req)
{
  if (n == 0 || memchr (p, '\0', n) != NULL)
    return -SH_SOCKS5_FAILURE;
  memcpy (req->name, p, n);
  req->name[n] = '\0';
  if (inet_pton (AF_INET, req->name, req->dst.addr) == 1)
    req->dst.family = AF_INET;
  else if (inet_pton (AF_INET6, req->name, req->dst.addr) == 1)
    req->dst.family = AF_INET6;
  else if (!sh_hostname_is_valid (req->name, n))
    return -SH_SOCKS5_BAD_ADDRESS;
  else
    return 0;
  req->name[0] = '\0';
  return 0;
}

int
sh_socks5_parse_request (const guint8 *buf, gsize len, ShSocks5Request *req)
{
  gsize addr_len, need;
  int r;

  memset (req, 0, sizeof *req);
  if (len < 4)
    return 0;
  if (buf[0] != 5 || buf[2] != 0)
    return -SH_SOCKS5_FAILURE;
  switch (buf[3])
    {
    case 1:
      addr_len = 4;
      break;
    case 4:
      addr_len = 16;
      break;
    case 3:
      if (len < 5)
        return 0;
      addr_len = 1 + (gsize) buf[4];
      break;
    default:
      return -SH_SOCKS5_BAD_ADDRESS;
    }
  need = 4 + addr_len + 2;
  if (len < need)
    return 0;
  /* The command is judged once the request is whole, so that a client
   * reading our reply has sent everything it meant to. */
  if (buf[1] != 1)
    return -SH_SOCKS5_BAD_COMMAND;
  req->dst.port = (guint16) (buf[need - 2] << 8 | buf[need - 1]);
  if (req->dst.port == 0)
    return -SH_SOCKS5_FAILURE;
  switch (buf[3])
    {
    case 1:
      req->dst.family = AF_INET;
      memcpy (req->dst.addr, buf + 4, 4);
      break;
    case 4:
      req->dst.family = AF_INET6;
      memcpy (req->dst.addr, buf + 4, 16);
      break;
    default:
      req->dst.family = AF_UNSPEC;
      r = take_name (buf + 5, addr_len - 1, req);
      if (r < 0)
        return r;
    }
  return (int) need;
}

void
sh_socks5_reply (guint8 rep, guint8 out[10])
{
  memset (out, 0, 10);
  out[0] = 5;
  out[1] = rep;
  out[3] = 1; /* IPv4 0.0.0.0:0: clients do not use it for CONNECT */
}
