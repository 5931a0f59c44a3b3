#!/usr/bin/python3
"""Writes the hand-made seed inputs of fuzz-mux and fuzz-session (frames as
docs/protocol.md describes them). Run after a wire-format change; then fuzz
and merge (README.md) to grow the corpora again."""
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def hdr(t, ch, payload):
    return struct.pack('>BBHI', t, 0, len(payload), ch) + payload


def hello(win=65536, maxch=64, to=1000, infl=262144, name=b'seed', vmax=1):
    return hdr(1, 0, b'\0SHUTTLE' + struct.pack('>HHIIII', 1, vmax, win, maxch, to, infl) + name)


def dgram(a, fam=4, kind=17, port=9, data=b'', addr=None):
    addr = addr if addr is not None else (bytes([127, 0, 0, 1]) if fam == 4 else bytes(15) + b'\1')
    return hdr(0x12, a, struct.pack('>BBH', fam, kind, port) + addr + data)


def dgram_close(a, reason=0, err=0):
    return hdr(0x13, a, struct.pack('>BBH', reason, 0, err))


def open4(ch, ip, port):
    return hdr(2, ch, struct.pack('>BBH', 4, 0, port) + bytes(ip))


def open6(ch, port):
    return hdr(2, ch, struct.pack('>BBH', 6, 0, port) + bytes([0xfd] + [0] * 14 + [1]))


def data(ch, b):
    return hdr(4, ch, b)


def window(ch, n):
    return hdr(5, ch, struct.pack('>I', n))


def eof(ch):
    return hdr(6, ch, b'')


def close(ch, r=0):
    return hdr(7, ch, bytes([r]))


def ping(t):
    return hdr(8, 0, struct.pack('>Q', t))


def ack(n):
    return hdr(10, 0, struct.pack('>I', n))


def err(c, m):
    return hdr(11, 0, struct.pack('>H', c) + m)


LO = [127, 0, 0, 1]
SEEDS = {
    'hello': hello(),
    'hello-nolimit': hello(infl=0),
    'hello-junk': b'Last login: today\n' + hello(),
    'open-data-eof-close': hello() + open4(1, LO, 80) + data(1, b'GET / HTTP/1.0\r\n\r\n')
    + eof(1) + close(1),
    'open6-reset': hello() + open6(3, 443) + close(3, 1),
    'window-ping-ack': hello() + open4(2, [10, 0, 0, 1], 22) + window(2, 4096) + ping(12345)
    + ack(0),
    'many-opens': hello() + b''.join(open4(i, [10, 0, 0, i], 1000 + i) for i in range(1, 20)),
    'overcredit': hello() + open4(1, LO, 9) + data(1, b'x' * 9000),
    'error': hello() + err(2, b'bye'),
    'double-close': hello() + open4(1, LO, 9) + close(1) + close(1),
    'data-after-eof': hello() + open4(1, LO, 9) + eof(1) + data(1, b'late'),
    # found by fuzz-session: a PONG nobody asked for, with a token that
    # overflowed the round-trip arithmetic
    'pong-hostile': hello() + hdr(9, 0, struct.pack('>Q', 0x8000000000000000)),
    'data-runs': hello() + open4(1, LO, 9) + open4(2, LO, 9) + data(1, b'a' * 100)
    + data(1, b'b' * 100) + data(2, b'c' * 50) + data(1, b'd'),
    # version 2: datagrams
    'v2-dgram-udp': hello(vmax=2) + dgram(1, data=b'q' * 40) + dgram(1, data=b'r')
    + dgram(2, fam=6, port=53, data=b'\0' * 12) + ack(0) + dgram_close(1) + dgram(1),
    'v2-dgram-echo': hello(vmax=2) + dgram(5, kind=1, port=0, data=b'p' * 56)
    + dgram(6, fam=6, kind=1, port=65535) + dgram_close(6, 0),
    'v2-dgram-close-twice': hello(vmax=2) + dgram(1) + dgram_close(1) + dgram_close(1),
    'v2-dgram-kind-change': hello(vmax=2) + dgram(1) + dgram(1, kind=1),
    'v2-dgram-big': hello(vmax=2) + dgram(1, data=bytes(65507)),
    'v1-dgram': hello() + dgram(1),
    'v2-dgram-close-unknown': hello(vmax=2) + dgram_close(9, 3, 13),
}

def result(ch, status, err=0, reason=b''):
    return hdr(3, ch, struct.pack('>BBH', status, 0, err) + reason)


# What a server sends to a client that has channels 1, 2 and 3 open (the
# harness's own HELLO comes first, so these start after it).
CLIENT_SEEDS = {
    'ok-data-eof-close': result(1, 0) + data(1, b'HTTP/1.0 200 OK\r\n\r\n') + eof(1)
    + close(1),
    'refused': result(2, 1, 111, b'Connection refused'),
    'mixed': result(1, 0) + result(2, 4) + window(1, 4096) + data(1, b'x' * 100) + ping(7)
    + hdr(9, 0, struct.pack('>Q', 7)) + ack(0) + close(3, 1),
    'overcredit': result(1, 0) + data(1, b'y' * 9000),
    'data-before-result': data(3, b'early'),
    'open-from-server': open4(9, [10, 0, 0, 1], 22),
    'error': err(1, b'bye'),
    'close-then-data': result(1, 0) + close(1) + data(1, b'late'),
}

d = os.path.join(HERE, 'corpus', 'fuzz-client')
os.makedirs(d, exist_ok=True)
for name, blob in CLIENT_SEEDS.items():
    with open(os.path.join(d, 'seed-' + name), 'wb') as f:
        f.write(blob)

for harness in ('fuzz-mux', 'fuzz-session', 'fuzz-agent'):
    d = os.path.join(HERE, 'corpus', harness)
    os.makedirs(d, exist_ok=True)
    for name, blob in SEEDS.items():
        with open(os.path.join(d, 'seed-' + name), 'wb') as f:
            f.write(blob)


# ---- names: DNS and hosts ----

def dnsq(qid, name=b'\x03www\x07example\x03com\x00', qtype=1):
    return struct.pack('>HHHHHH', qid, 0x0100, 1, 0, 0, 0) + name + struct.pack('>HH', qtype, 1)


def dns_query(qid, msg, family=4, port=53, addr=(127, 0, 0, 1)):
    a = bytes(addr) if family else b''
    return hdr(0x0c, qid, struct.pack('>BBH', family, 0, port) + a + msg)


def dns_reply(qid, msg):
    return hdr(0x0d, qid, msg)


def host(addr, name):
    return hdr(0x11, 0, struct.pack('>BB', 4 if len(addr) == 4 else 6, 0) + bytes(addr) + name)


V6 = [0xfd] + [0] * 14 + [1]

# fuzz-dnsrelay: a client's stream to a server with the DNS relay (the
# harness's resolver on 127.0.0.1:53 and [::1]:53 echoes each query).
DNSRELAY_SEEDS = {
    'one': hello() + dns_query(1, dnsq(0x1234)),
    'v6-and-default': hello() + dns_query(2, dnsq(2), 6, 53, [0] * 15 + [1]) + dns_query(3, dnsq(3), 0, 53),
    'same-id-twice': hello() + dns_query(5, dnsq(5)) + dns_query(5, dnsq(5)),
    'big-answer': hello() + dns_query(6, dnsq(6)[:3] + b'\xee' + dnsq(6)[4:]),
    'unreachable': hello() + dns_query(7, dnsq(7), 4, 5353, (10, 9, 9, 9)),
    'many': hello() + b''.join(dns_query(i, dnsq(i)) for i in range(1, 40)),
}

# fuzz-dnsclient: datagrams from local applications (u16 length each, a
# zero length ends them), then the server's stream after its HELLO.
def datagrams(*msgs):
    return b''.join(struct.pack('>H', len(m)) + m for m in msgs) + b'\0\0'


ANSWER = bytes.fromhex('12348180000100010000000003777777076578616d706c6503636f6d0000010001'
                       'c00c000100010000003c00045db8d822')
DNSCLIENT_SEEDS = {
    'answered': datagrams(dnsq(0x1234)) + dns_reply(1, ANSWER),
    'no-answer': datagrams(dnsq(0x1234)) + dns_reply(1, b''),
    'wrong-id': datagrams(dnsq(0x4321)) + dns_reply(1, ANSWER),
    'unknown-id': datagrams(dnsq(1)) + dns_reply(99, ANSWER),
    'two-and-short': datagrams(dnsq(1), dnsq(2), b'\x00\x01') + dns_reply(2, ANSWER)
    + dns_reply(1, b'\x00\x01\x81\x80'),
    'compressed-question': datagrams(dnsq(9, b'\xc0\x0c')),
    'response-as-query': datagrams(ANSWER),
}

HOSTS_FILE = b'127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost\n'
HOSTS_SEEDS = {
    'two': HOSTS_FILE + b'\0' + host([10, 0, 0, 5], b'db.lan') + host(V6, b'printer'),
    'no-final-newline': b'127.0.0.1 localhost' + b'\0' + host([10, 0, 0, 5], b'db'),
    'empty-file': b'\0' + host([10, 0, 0, 6], b'a') + host([10, 0, 0, 7], b'b'),
    'bad-names': HOSTS_FILE + b'\0' + host([10, 0, 0, 5], b'evil\n10.0.0.1 bank')
    + host([10, 0, 0, 5], b'-x') + host([10, 0, 0, 5], b'# shuttle-firewall c1_42-shuttle end')
    + host([10, 0, 0, 8], b'good'),
    'leftover-block': HOSTS_FILE + b'# shuttle-firewall c1_42-shuttle begin owner=:1.42\n'
    b'10.1.1.1 old\n# shuttle-firewall c1_42-shuttle end\nafter\n\0' + host([10, 0, 0, 9], b'new'),
    'leftover-nl': b'x\n# shuttle-firewall c1_42-shuttle begin owner=:1.42 +nl\n'
    b'10.1.1.1 old\n# shuttle-firewall c1_42-shuttle end\n\0' + host([10, 0, 0, 9], b'new'),
    'other-block': HOSTS_FILE + b'# shuttle-firewall p77 begin shuttle pid 77\n10.2.2.2 x\n'
    b'# shuttle-firewall p77 end\n\0' + host([10, 0, 0, 9], b'new') + host([10, 0, 0, 1], b'n2'),
    'frames-then-junk': HOSTS_FILE + b'\0' + host([10, 0, 0, 5], b'a') + b'\xff' * 20,
}

# fuzz-agent also gets names and routes requests from the client.
AGENT_SEEDS = {
    'routes-get': hello() + hdr(0x0e, 0, b''),
    'hosts-watch': hello() + hdr(0x10, 0, b'db,web.lan, ,\xff') + hdr(0x10, 0, b'x'),
    'wrong-way': hello() + dns_reply(1, b'x' * 12),
}

OPTIONS_SEEDS = {
    'subnets': b'\0'.join([b'-r', b'alice@gw.example:2222', b'10.0.0.0/8', b'fd00::/8',
                           b'-x', b'10.9.0.0/16', b'--dns', b'--ns-hosts', b'10.0.0.53,fd00::53',
                           b'--to-ns', b'[fd00::1]:5353']),
    'argfile': b'@a\0\0-r gw\n# comment\n10/8:22\n-X b\n--seed-hosts db,web\n-H\n\0'
    b'10.1.0.0/16 # trailing\n\n192.168.0.1\n',
    'nested': b'@a\0\0@b\n-v\n\0-N\n--connect-timeout 30\n@a\n',
    'names': b'db.test\0-x\0v6.test\0nowhere.example\0',
    'short-cluster': b'-vvNr\0host\0-l\0127.0.0.1:1234\0-D\0--pidfile=/run/x.pid\0-e\0'
    b'ssh -i "/key file"\0',
    'server': b'--server\0--syslog\0-q\0',
    'transport': b'-r\0gw\0--transport=ssh\0--dns\0--to-ns\x0010.0.0.53\0-N\0--transport\0auto\0',
    'python': b'--python\0/usr/bin/python3\0-N\0--no-latency-control\0--control-fd\0999\0',
    'nul-in-file': b'@b\0\0\0-N\n\0-v\n',
    'socks': b'-r\0gw\0--socks\0[::1]:1080\0',
    'run': b'run\0-r\0gw\0-x\x0010.9/16\x0010/8\0--\0curl\0-v\0http://10.1.2.3/',
}

NM_DATA_SEEDS = {
    'full': b'host=gw.example\nuser=alice\nport=2222\nauth-method=key\nkey-file=/home/a/.ssh/id\n'
    b'subnets=10.0.0.0/8, fd00::/8\nexcludes=10.9.0.0/16\ndns=split\ndns-domains=corp.example\n'
    b'to-ns=10.0.0.53\nauto-hosts=yes\nseed-hosts=db,web\nlatency-control=no\n'
    b'connect-timeout=30\npython=/usr/bin/python3\npassword-flags=2\n',
    'fail-closed': b'host=gw\nsubnets=10.1.0.0/16\ndns=full\nfail-closed=yes\n',
    'fail-closed-bad': b'host=gw\nsubnets=10/8\nfail-closed=on\n',
    'minimal': b'host=gw\nauto-nets=yes\n',
    'host-key': b'host=2001:db8::1\nsubnets=10/8\nhost-key=ssh-ed25519 '
    b'AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl\n'
    b'auth-method=password\nlocal-user=alice\n',
    'bad': b'host=-oProxyCommand=x\nsubnets=10/8\nunknown=1\n',
    # transport: each choice, what ssh mode refuses beside it, a wrong value.
    'transport-ssh': b'host=gw\nuser=fwd\nsubnets=10/8\ntransport=ssh\ndns=full\n'
    b'to-ns=10.0.0.53\n',
    'transport-agent': b'host=gw\nauto-nets=yes\nauto-hosts=yes\ntransport=agent\n',
    'transport-auto': b'host=gw\nsubnets=fd00::/8\ntransport=auto\npython=/usr/bin/python3\n',
    'transport-bad': b'host=gw\nsubnets=10/8\ntransport=SSH\ntransport=\n',
    'udp-off': b'host=gw\nsubnets=10/8\nudp=no\n',
    'udp-bad': b'host=gw\nsubnets=10/8\nudp=maybe\n',
}

NM_IMPORT_SEEDS = {
    'full': b'# Shuttle VPN "work"\n-r alice@gw.example:2222\n10.0.0.0/8\nfd00::/8\n'
    b'-x 10.9.0.0/16\n--dns\n--to-ns 10.0.0.53\n-N\n-H\n--seed-hosts db,web\n'
    b'--no-latency-control\n--connect-timeout 30\n--python /usr/bin/python3\n'
    b'-e ssh -i /home/alice/.ssh/id_work\n#nm-shuttle local-user=alice\n',
    'directives': b'-r [2001:db8::1]:22\n10/8\n#nm-shuttle dns=split\n'
    b'#nm-shuttle dns-domains=corp.example,lan\n#nm-shuttle auth-method=password\n'
    b'#nm-shuttle password-flags=2\n',
    'cli-only': b'-vv\n-D\n--syslog\n--pidfile /run/x\n-r gw\n10/8\n',
    'refused': b'-r gw\n--listen 0.0.0.0:1234\n10/8\n',
    'quoted-key': b"-r gw\n10/8\n-e ssh -i '/home/a/my key'\n",
    'transport-ssh': b'-r fwd@gw\n10/8\n--transport ssh\n--dns\n--to-ns 10.0.0.53\n',
    'transport-eq': b'-r gw\n10/8\n--transport=agent\n-N\n',
    'transport-bad': b'-r gw\n10/8\n--transport tcp\n--transport\n',
}

# ApplyTunnel's arguments, in GVariant text form.
FW_WIRE_SEEDS = {
    'engine': b"('4242', @q 12300, [(@y 4, [@y 10, 1, 0, 0], @y 16, @q 0, @q 0), "
    b"(6, [@y 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, 0, 0)], "
    b"[(4, [203, 0, 113, 7], 32, 22, 22)], [(@y 4, [@y 127, 0, 0, 53])], "
    b"{'block-ipv6': <true>})",
    'plugin': b"('nm_1', @q 5000, [(@y 4, [@y 0, 0, 0, 0], @y 0, @q 1, @q 1024)], "
    b"@a(yayyqq) [], [(6, [@y 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x35])], "
    b"{'on-behalf-of-uid': <@u 1000>, 'block-ipv6': <false>})",
    'bad-family': b"('x', @q 1, [(@y 5, [@y 1, 2, 3, 4], @y 8, @q 0, @q 0)], @a(yayyqq) [], "
    b"@a(yay) [], @a{sv} {})",
    'bad-length': b"('x', @q 1, @a(yayyqq) [], [(@y 6, [@y 1, 2, 3, 4], @y 8, @q 0, @q 0)], "
    b"@a(yay) [], @a{sv} {})",
    'bad-option': b"('x', @q 1, @a(yayyqq) [], @a(yayyqq) [], @a(yay) [], "
    b"{'block-ipv6': <@u 1>, 'other': <1>})",
    'bad-label': b"('../x', @q 0, @a(yayyqq) [], @a(yayyqq) [], @a(yay) [], @a{sv} {})",
    'scope': b"('4242', @q 12300, [(@y 4, [@y 10, 1, 0, 0], @y 16, @q 0, @q 0)], @a(yayyqq) [], "
    b"@a(yay) [], {'cgroup': <'user.slice/shuttle-run-7'>, 'cgroup-level': <@u 2>, "
    b"'cgroup-exclude': <true>})",
    'bad-scope': b"('x', @q 1, @a(yayyqq) [], @a(yayyqq) [], @a(yay) [], "
    b"{'cgroup': <'../etc'>, 'cgroup-level': <@u 1>})",
}

# fuzz-sshhop: `ssh -G` output and ProxyJump values (the same text is fed
# to both parsers).
SSHHOP_SEEDS = {
    'ssh-g': b'user root\nhostname 10.0.0.1\nport 22\nproxyjump none\nproxycommand none\n',
    'ssh-g-jump': b'hostname inner\nport 2222\nproxyjump alice@gw:2200,second\n',
    'jump-uri-v6': b'ssh://bob@[fd31:1::1]:22',
    'jump-bare-v6': b'fd31:1::1',
    'jump-bad': b'-oProxyCommand=x,[::1',
}

# fuzz-sshmux: what an ssh master sends on a control connection (OpenSSH's
# PROTOCOL.mux; the port is a uint32 as mux.c has it).
def mux_pkt(t, body):
    return struct.pack('>II', len(body) + 4, t) + body


def mux_str(b):
    return struct.pack('>I', len(b)) + b


SSHMUX_SEEDS = {
    'hello-opened': mux_pkt(1, struct.pack('>I', 4) + mux_str(b'info') + mux_str(b'0'))
    + mux_pkt(0x80000006, struct.pack('>II', 1, 3)),
    'refused': mux_pkt(1, struct.pack('>I', 4))
    + mux_pkt(0x80000003, struct.pack('>I', 1) + mux_str(b'Session open refused by peer')),
    'alive': mux_pkt(1, struct.pack('>I', 4)) + mux_pkt(0x80000005, struct.pack('>II', 1, 4242)),
    'bad-text': mux_pkt(0x80000003, struct.pack('>I', 1) + struct.pack('>I', 99) + b'x'),
    'huge': struct.pack('>I', 0xffffffff),
    'exit': mux_pkt(0x80000004, struct.pack('>II', 3, 0)) + mux_pkt(0x8000000f, b''),
}

# fuzz-socks5: byte 0 even: a greeting and a request; odd: a DNS reply.
SOCKS_GREET = bytes([5, 1, 0])
SOCKS5_SEEDS = {
    'ipv4': b'\0' + SOCKS_GREET + bytes([5, 1, 0, 1, 10, 1, 2, 3, 0, 80]),
    'ipv6': b'\0' + SOCKS_GREET + bytes([5, 1, 0, 4, 0xfd] + [0] * 14 + [1, 0, 22]),
    'name': b'\0' + SOCKS_GREET + bytes([5, 1, 0, 3, 7]) + b'www.lan' + bytes([1, 187]),
    'literal': b'\0' + SOCKS_GREET + bytes([5, 1, 0, 3, 3]) + b'::1' + bytes([0, 80]),
    'bind': b'\0' + SOCKS_GREET + bytes([5, 2, 0, 1, 10, 1, 2, 3, 0, 80]),
    'no-method': b'\0' + bytes([5, 1, 2]),
    'short': b'\0' + SOCKS_GREET + bytes([5, 1, 0, 3, 40]) + b'abc',
    'dns-a': b'\1' + bytes([0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]) + dnsq(1)[12:]
    + bytes([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 1, 2, 3]),
    'dns-aaaa': b'\1' + bytes([0, 1, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]) + dnsq(1, qtype=28)[12:]
    + bytes([0xc0, 12, 0, 28, 0, 1, 0, 0, 0, 60, 0, 16, 0xfd] + [0] * 14 + [1]),
    'dns-loop': b'\1' + bytes([0, 1, 0x81, 0x80, 0, 0, 0, 1, 0, 0, 0, 0, 0xc0, 12]),
}

# fuzz-preload-wire: byte 0 even: a request to the door; odd: its answer.
PRELOAD_SEEDS = {
    'connect4': b'\0' + b'SHP1' + bytes([4, 0, 0, 80, 10, 1, 2, 3] + [0] * 12),
    'connect6': b'\0' + b'SHP1' + bytes([6, 0, 1, 187, 0xfd] + [0] * 14 + [1]) + b'GET /',
    'name': b'\0' + b'SHN1' + bytes([0, 13, 0, 0]) + b'build.corp.in',
    'name-nul': b'\0' + b'SHN1' + bytes([4, 3, 0, 0]) + b'a\0b',
    'name-short': b'\0' + b'SHN1' + bytes([6, 200, 0, 0]) + b'abc',
    'found4': b'\1' + b'SHA1' + bytes([0, 4, 0, 0, 10, 1, 2, 3] + [0] * 12),
    'found6': b'\1' + b'SHA1' + bytes([0, 6, 0, 0, 0xfd] + [0] * 14 + [1]),
    'no-name': b'\1' + b'SHA1' + bytes([1, 0, 0, 0] + [0] * 16),
}


# fuzz-pktcodec: packets as the kernel writes them into the datagram device.
def ip4(proto, l4, frag=0, ihl=5):
    opts = bytes(4 * (ihl - 5))
    return (bytes([0x40 | ihl, 0]) + struct.pack('!HHH', 20 + len(opts) + len(l4), 1, frag)
            + bytes([64, proto, 0, 0, 10, 231, 1, 2, 10, 231, 2, 10]) + opts + l4)


def ip6(nh, l4):
    return (bytes([0x60, 0, 0, 0]) + struct.pack('!H', len(l4)) + bytes([nh, 64])
            + bytes([0xfd, 0x31, 0, 1] + [0] * 11 + [2]) + bytes([0xfd, 0x31, 0, 2] + [0] * 11 + [16])
            + l4)


def udp(data, sport=40000, dport=5000):
    return struct.pack('!HHHH', sport, dport, 8 + len(data), 0) + data


def echo(t, data, ident=7, seq=1):
    return bytes([t, 0, 0, 0]) + struct.pack('!HH', ident, seq) + data


PKTCODEC_SEEDS = {
    'udp4': ip4(17, udp(b'hello')),
    'udp4-empty': ip4(17, udp(b'')),
    'udp4-options': ip4(17, udp(b'opt'), ihl=7),
    'udp4-big': ip4(17, udp(b'\xab' * 1400)),
    'udp4-frag': ip4(17, udp(b'frag'), frag=0x2000),
    'udp4-offset': ip4(17, udp(b'frag'), frag=0x0010),
    'udp4-badlen': ip4(17, struct.pack('!HHHH', 1, 2, 200, 0) + b'x'),
    'echo4': ip4(1, echo(8, b'abcdabcd')),
    'echo4-reply': ip4(1, echo(0, b'')),
    'tcp4': ip4(6, bytes(20)),
    'udp6': ip6(17, udp(b'hello6')),
    'echo6': ip6(58, echo(128, b'ping6')),
    'rs6': ip6(58, bytes([133, 0, 0, 0, 0, 0, 0, 0])),
    'hbh6': ip6(0, bytes([17, 0, 1, 4, 0, 0, 0, 0]) + udp(b'x')),
    'frag6': ip6(44, bytes([17, 0, 0, 1, 0, 0, 0, 1]) + udp(b'x')),
    'short': bytes([0x45, 0, 0]),
}

# nfnetlink_queue: a buffer of netlink messages as the kernel sends them
# (host byte order headers, big-endian attribute contents).
def nlmsg(mtype, body, flags=0, seq=0):
    return struct.pack('=IHHII', 16 + len(body), mtype, flags, seq, 0) + body + b'\0' * (-len(body) % 4)


def nla(atype, data):
    return struct.pack('=HH', 4 + len(data), atype) + data + b'\0' * (-len(data) % 4)


def queued(pid, payload):
    return nlmsg((3 << 8) | 0, struct.pack('=BBH', 0, 0, 0x5368)
                 + nla(1, struct.pack('>IHB', pid, 0x0800, 3)) + nla(10, payload))


def ip4_syn(src, dst, sport, dport, flags=0x02):
    tcp = struct.pack('>HHIIBBHHH', sport, dport, 1, 0, 0x50, flags, 64240, 0, 0)
    return struct.pack('>BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0,
                       bytes(src), bytes(dst)) + tcp


def ip6_syn(sport, dport):
    tcp = struct.pack('>HHIIBBHHH', sport, dport, 1, 0, 0x50, 0x02, 64240, 0, 0)
    return (struct.pack('>IHBB', 0x60000000, len(tcp), 6, 64) + bytes(15) + b'\1'
            + bytes([0xfd, 0x31]) + bytes(13) + b'\5' + tcp)


NFQUEUE_SEEDS = {
    'syn4': queued(7, ip4_syn((10, 231, 1, 2), (10, 231, 2, 5), 40000, 80)),
    'syn6': queued(8, ip6_syn(40001, 443)),
    'two': queued(1, ip4_syn((10, 0, 0, 1), (10, 0, 0, 2), 1, 2))
    + queued(2, ip4_syn((10, 0, 0, 1), (10, 0, 0, 2), 1, 2, 0x12)),
    'ack': nlmsg(2, struct.pack('=i', 0) + bytes(16)),
    'error': nlmsg(2, struct.pack('=i', -16) + bytes(16)),
    'short-tcp': queued(3, ip4_syn((1, 2, 3, 4), (5, 6, 7, 8), 1, 2)[:30]),
    'no-payload': nlmsg((3 << 8) | 0, struct.pack('=BBH', 0, 0, 1) + nla(1, struct.pack('>IHB', 9, 0x86dd, 3))),
}

# fuzz-nftmsg: the kernel's answers to GETTABLE (NEWTABLE = subsystem 10,
# message 0; attributes NAME 1, FLAGS 2, USERDATA 6; a comment record is
# type 0, length, text with its NUL).
def new_table(*attrs):
    return nlmsg((10 << 8) | 0, struct.pack('=BBH', 1, 0, 0) + b''.join(attrs))


NFTMSG_SEEDS = {
    'comment': new_table(nla(1, b'shuttle-1\0'), nla(2, struct.pack('=I', 0)),
                         nla(6, bytes([0, 19]) + b'shuttle 0.1.0 pid=1\0')),
    'no-comment': new_table(nla(1, b'shuttle-1\0'), nla(2, struct.pack('=I', 0))),
    'bad-record': new_table(nla(6, bytes([0, 200]) + b'ab\0')),
    'enoent': nlmsg(2, struct.pack('=i', -2) + bytes(16)),
}

# fuzz-bond: byte 0 = lanes 1-3 that exist (bits 1-3), then chunks
# "u8 lane, u16 length, bytes" of segments ("u32 seq, u32 len, payload").
def seg(seq, payload):
    return struct.pack('>II', seq, len(payload)) + payload


def chunk(lane, b):
    return struct.pack('>BH', lane, len(b)) + b


BOND_SEEDS = {
    'in-order': b'\x0e' + chunk(0, seg(0, b'zero ')) + chunk(1, seg(1, b'one ')) + chunk(2, seg(2, b'two ')) + chunk(3, seg(3, b'three')),
    'reordered': b'\x06' + chunk(2, seg(1, b'b' * 300)) + chunk(1, seg(0, b'a' * 200)) + chunk(0, seg(2, b'c')),
    'split': b'\x02' + chunk(1, seg(0, b'xyz')[:5]) + chunk(0, seg(1, b'q')) + chunk(1, seg(0, b'xyz')[5:]),
    'len-zero': b'\x02' + chunk(1, seg(0, b'')) + chunk(0, seg(1, b'r')),
    'too-long': b'\x02' + chunk(1, struct.pack('>II', 0, 65537) + b'x' * 40),
    'old-seq': b'\x02' + chunk(0, seg(0, b'a') + seg(1, b'b')) + chunk(1, seg(0, b'again')),
    'cut-off': b'\x0e' + chunk(3, seg(0, b'long' * 100)[:150]),
    'hello': b'\0SHLANE1' + bytes(range(16)) + struct.pack('>I', 3),
}

for harness, seeds in (('fuzz-pktcodec', PKTCODEC_SEEDS), ('fuzz-sshhop', SSHHOP_SEEDS), ('fuzz-socks5', SOCKS5_SEEDS), ('fuzz-preload-wire', PRELOAD_SEEDS), ('fuzz-sshmux', SSHMUX_SEEDS), ('fuzz-dnsrelay', DNSRELAY_SEEDS), ('fuzz-agent', DNSRELAY_SEEDS), ('fuzz-agent', AGENT_SEEDS), ('fuzz-dnsclient', DNSCLIENT_SEEDS),
                       ('fuzz-hosts', HOSTS_SEEDS), ('fuzz-nfqueue', NFQUEUE_SEEDS), ('fuzz-nftmsg', NFTMSG_SEEDS), ('fuzz-fw-wire', FW_WIRE_SEEDS), ('fuzz-options', OPTIONS_SEEDS),
                       ('fuzz-nm-data', NM_DATA_SEEDS), ('fuzz-nm-import', NM_IMPORT_SEEDS), ('fuzz-bond', BOND_SEEDS)):
    d = os.path.join(HERE, 'corpus', harness)
    os.makedirs(d, exist_ok=True)
    for name, blob in seeds.items():
        with open(os.path.join(d, 'seed-' + name), 'wb') as f:
            f.write(blob)
