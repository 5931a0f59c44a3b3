#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# run-demo.sh -- build Shuttle and show it working.
#
#   sudo ./run-demo.sh                      demo on a throw-away "remote site"
#                                           built in network namespaces
#   sudo ./run-demo.sh user@host SUBNET...  build, then tunnel SUBNET... to a
#                                           real server (same as shuttle -r)
#
# The demo never touches this machine's own firewall, routes or sysctls:
# everything happens in namespaces named shdemo-* that are removed at the end
# (also on Ctrl-C or error).  Exit status 0 only if every step did what it
# should.
set -eu -o pipefail

ROOT=$(cd "$(dirname "$(readlink -f "$0")")" && pwd)
cd "$ROOT"
PY=/usr/bin/python3          # the system python (netlab needs nothing else)
NETLAB=("$PY" "$ROOT/tests/lib/netlab.py")
PREFIX=shdemo
SHUTTLE="$ROOT/build/service/shuttle"

if [ -t 1 ]; then
    B=$'\e[1m' DIM=$'\e[2m' RED=$'\e[31m' GRN=$'\e[32m' YEL=$'\e[33m' CYN=$'\e[36m' N=$'\e[0m'
else
    B='' DIM='' RED='' GRN='' YEL='' CYN='' N=''
fi
FAILED=0
step=0
heading() { step=$((step + 1)); printf '\n%s%s[%d] %s%s\n' "$B" "$CYN" "$step" "$*" "$N"; }
say()     { printf '    %s\n' "$*"; }
cmd()     { printf '    %s$ %s%s\n' "$DIM" "$*" "$N"; }
good()    { printf '    %s%s✔ %s%s\n' "$B" "$GRN" "$*" "$N"; }
bad()     { printf '    %s%s✘ %s%s\n' "$B" "$RED" "$*" "$N"; FAILED=1; }
indent()  { sed -e 's/^/      │ /'; }
die()     { printf '%s%sError: %s%s\n' "$B" "$RED" "$*" "$N" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "the demo needs root (namespaces, nftables): sudo $0 $*"

# ------------------------------------------------------------- dependencies
heading "Installing dependencies (Debian packages)"
if [ -f "$ROOT/tests/deps.sh" ]; then
    bash "$ROOT/tests/deps.sh"
else
    say "${YEL}tests/deps.sh not found; assuming the build dependencies are installed${N}"
fi

# -------------------------------------------------------------------- build
heading "Building Shuttle"
if [ -f build/build.ninja ]; then
    :                                   # ninja re-runs meson itself if needed
elif [ -d build/meson-private ]; then
    meson setup --reconfigure build     # a half-configured build dir
else
    meson setup build
fi
ninja -C build
[ -x "$SHUTTLE" ] || die "build did not produce $SHUTTLE"
good "built $SHUTTLE"

# A real server: hand over to shuttle (sshuttle-style arguments).
if [ $# -gt 0 ]; then
    heading "Connecting to $1"
    exec "$SHUTTLE" -r "$@"
fi

# --------------------------------------------------------------------- demo
WORK=$(mktemp -d /tmp/shuttle-demo.XXXXXX)
SHUTTLE_PID=
# The traps may fire while a command's output is redirected to a file (a
# function call with redirections runs in this shell): they write to the
# terminal through these saved descriptors.
exec 3>&1 4>&2

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    if [ -n "$SHUTTLE_PID" ] && kill -0 "$SHUTTLE_PID" 2>/dev/null; then
        kill -INT "$SHUTTLE_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SHUTTLE_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$SHUTTLE_PID" 2>/dev/null || true
    fi
    exec 1>&3 2>&4
    printf '\n%s%s[*] Cleaning up: removing the demo namespaces%s\n' "$B" "$CYN" "$N"
    "${NETLAB[@]}" down "$PREFIX" || rc=1
    rm -rf "$WORK"
    if [ "$rc" = 0 ] && [ "$FAILED" = 0 ]; then
        printf '\n%s%sDemo finished: everything worked as expected.%s\n' "$B" "$GRN" "$N"
    elif [ "$rc" = 130 ]; then
        printf '\n%sDemo interrupted; the namespaces are gone, nothing was left behind.%s\n' "$YEL" "$N"
    else
        printf '\n%s%sDemo FAILED (see the ✘ above).%s\n' "$B" "$RED" "$N"
        [ "$rc" != 0 ] || rc=1
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'printf "\n%sInterrupted.%s\n" "$YEL" "$N" >&3; FAILED=1; exit 130' INT TERM

heading "Building a \"remote site\" in network namespaces"
say "client  ($PREFIX-client): your laptop, 10.231.1.2"
say "gateway ($PREFIX-gw):     an ssh server, 10.231.1.1 (it does NOT route packets)"
say "LAN     ($PREFIX-lan):    a private network behind it, web server on 10.231.2.10"
"${NETLAB[@]}" up "$PREFIX" --shell > "$WORK/lab.env"
# shellcheck disable=SC1091
. "$WORK/lab.env"
good "lab is up; ssh from the client to the gateway works (pinned host key)"

in_client() { ip netns exec "$LAB_NS_CLIENT" "$@"; }
URL="$LAB_URL4"
BIG="${URL}${LAB_BIG_NAME}"

heading "Without the tunnel, the client cannot reach the LAN"
cmd "curl $URL"
if in_client curl -sS --connect-timeout 3 --max-time 5 "$URL" > "$WORK/before.out" 2> "$WORK/before.err"; then
    bad "the LAN answered without a tunnel: the demo setup is broken"
else
    sed -e 's/^curl: //' "$WORK/before.err" | indent
    good "no way through: the connection attempt fails"
fi

heading "Starting Shuttle in the client"
SH_ARGS=(-r "$LAB_REMOTE" -e "$LAB_SSH_CMD" --server-cmd "$SHUTTLE --server"
         "$LAB_LAN_NET4" "$LAB_LAN_NET6")
cmd "shuttle $(printf '%q ' "${SH_ARGS[@]}")"
say "${DIM}(the gateway shares this machine's disk, so the same binary is the server)${N}"
# env --default-signal: a background job of a script starts with SIGINT
# ignored; give shuttle the normal disposition so Ctrl-C and kill -INT work.
# (ip netns exec, not the in_client function: $! must be shuttle's own pid.)
ip netns exec "$LAB_NS_CLIENT" env --default-signal=INT,TERM "$SHUTTLE" "${SH_ARGS[@]}" \
    > "$WORK/shuttle.out" 2> "$WORK/shuttle.log" &
SHUTTLE_PID=$!
ready=0
for _ in $(seq 150); do
    if grep -qw connected "$WORK/shuttle.log"; then ready=1; break; fi
    kill -0 "$SHUTTLE_PID" 2>/dev/null || break
    sleep 0.1
done
indent < "$WORK/shuttle.log"
if [ "$ready" = 1 ]; then
    good "Shuttle is connected (pid $SHUTTLE_PID)"
else
    bad "Shuttle did not report \"connected\" within 15 s"
    exit 1
fi

heading "Through the tunnel, the same request succeeds"
cmd "curl $URL"
if in_client curl -sS --connect-timeout 3 --max-time 10 "$URL" > "$WORK/after.out" 2> "$WORK/after.err"; then
    head -n 4 "$WORK/after.out" | indent
    if grep -q "Hello from the remote LAN" "$WORK/after.out"; then
        good "the remote LAN's web server answered"
    else
        bad "unexpected page content"
    fi
else
    indent < "$WORK/after.err"
    bad "curl through the tunnel failed"
fi
cmd "curl ${BIG} | sha256sum      (${LAB_BIG_NAME}: random data)"
if in_client curl -sS --max-time 120 -o "$WORK/big.bin" \
        -w '%{size_download} bytes in %{time_total} s\n' "$BIG" > "$WORK/big.stats" 2>&1; then
    indent < "$WORK/big.stats"
    if [ "$(sha256sum < "$WORK/big.bin" | cut -d' ' -f1)" = "$LAB_BIG_SHA256" ]; then
        good "checksum matches the file on the LAN"
    else
        bad "checksum mismatch"
    fi
else
    indent < "$WORK/big.stats"
    bad "download failed"
fi
rm -f "$WORK/big.bin"

heading "The firewall rules Shuttle installed (client namespace)"
cmd "nft list table inet shuttle-$SHUTTLE_PID"
if in_client nft list table inet "shuttle-$SHUTTLE_PID" > "$WORK/table" 2>&1; then
    indent < "$WORK/table"
    good "one table, owned by this Shuttle process"
else
    indent < "$WORK/table"
    bad "table inet shuttle-$SHUTTLE_PID not found"
fi

heading "Stopping Shuttle (Ctrl-C / SIGINT)"
cmd "kill -INT $SHUTTLE_PID"
kill -INT "$SHUTTLE_PID"
rc=0
wait "$SHUTTLE_PID" || rc=$?
SHUTTLE_PID=
if [ "$rc" = 0 ]; then good "Shuttle exited cleanly (status 0)"; else bad "Shuttle exited with status $rc"; fi
cmd "nft list tables"
in_client nft list tables > "$WORK/tables" 2>&1 || true
if grep -q 'shuttle-' "$WORK/tables"; then
    indent < "$WORK/tables"
    bad "a shuttle table is still there"
else
    if [ -s "$WORK/tables" ]; then indent < "$WORK/tables"; else say "${DIM}(no tables)${N}"; fi
    good "no Shuttle rules remain"
fi
cmd "curl $URL"
if in_client curl -sS --connect-timeout 3 --max-time 5 "$URL" > /dev/null 2>&1; then
    bad "the LAN is still reachable after stopping"
else
    good "and the LAN is unreachable again"
fi

[ "$FAILED" = 0 ]
