#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Shuttle benchmark: shuttle vs. raw ssh, sshuttle, ssh -D + redsocks, ssh -L,
# all inside the project's lab namespaces (tests/lib/netlab.py, prefix "shb").
#
#   sudo bench/run.sh                       3 rounds, median table (~20-25 min)
#   sudo bench/run.sh --quick               1 round, shorter runs (~6 min)
#   sudo bench/run.sh --only shuttle,sshuttle-nft --rounds 1
#   sudo bench/run.sh --quick --only shuttle --shuttle-args=-v   ("=": the value starts with -)
#   sudo bench/run.sh --quick --only ssh-L,ssh-L-aes,shuttle,shuttle-chacha --compare OTHER-BUILD
#                                           each shuttle row again with another build (-b)
#   sudo bench/run.sh report bench/results/STAMP.json     re-print a table
#   sudo bench/run.sh teardown              remove the lab after a crash
#   sudo bench/run.sh links [--links 10:0,50:40] [--only shuttle,direct] [--quick]
#                                           shaped links (rate, RTT): bench/shaped.py
#   sudo bench/run.sh links --udp [--links 50:0,200:40,0:0] [--compare OTHER-BUILD]
#                                           UDP with < 1% loss, ping and TCP echo under UDP
#                                           and TCP loads (0:0: the unshaped lab)
#   sudo bench/run.sh sustained [--seconds 60] [--only direct,shuttle]
#                                           short connections to one destination for a
#                                           minute (TIME_WAIT): bench/sustained.py
#
# Builds shuttle (meson/ninja, target service/shuttle only) and the helpers in
# bench/src/, sets up the lab, measures, tears down (also on Ctrl-C), prints
# one table.  The configs for --only are the rows of bench/README.md's table
# (an unknown one makes bench.py list them all).
set -euo pipefail
HERE=$(dirname "$(readlink -f "$0")")
REPO=$(dirname "$HERE")
PY=/usr/bin/python3          # the pyenv python3 on PATH lacks things
[ "$(id -u)" = 0 ] || { echo "run as root: sudo $0 $*" >&2; exit 1; }

case "${1:-}" in
  teardown|report) exec "$PY" "$HERE/bench.py" "$@" ;;
esac

# Installs what is missing (Debian packages), like the README's commands.
"$REPO/tests/deps.sh" bench

for t in ip sshd ssh gcc iperf3 sshuttle redsocks iptables iptables-save nft meson ninja; do
  command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done

mkdir -p "$HERE/bin" "$HERE/results"
for h in prober echo_server delayline; do
  if [ ! "$HERE/bin/$h" -nt "$HERE/src/$h.c" ]; then
    gcc -O2 -Wall -Wextra -pthread -o "$HERE/bin/$h" "$HERE/src/$h.c"
  fi
done

build_ok=1
if [ ! -f "$REPO/build/build.ninja" ]; then
  (cd "$REPO" && meson setup build) || build_ok=0
fi
if [ "$build_ok" = 1 ]; then
  ninja -C "$REPO/build" service/shuttle preload/libshuttle-preload.so >&2 || build_ok=0
fi
if [ ! -x "$REPO/build/service/shuttle" ]; then
  echo "no $REPO/build/service/shuttle: the build failed" >&2
  exit 1
fi
if [ "$build_ok" = 0 ]; then
  echo "WARNING: the build failed; benchmarking the existing build/service/shuttle" >&2
fi
export SHUTTLE_BENCH_BUILD_OK=$build_ok
# bench.py tears the lab down itself on Ctrl-C / SIGTERM / SIGHUP
if [ "${1:-}" = links ]; then
  shift
  exec "$PY" "$HERE/shaped.py" "$@"
fi
if [ "${1:-}" = sustained ]; then
  shift
  exec "$PY" "$HERE/sustained.py" "$@"
fi
exec "$PY" "$HERE/bench.py" run "$@"
