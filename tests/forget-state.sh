#!/bin/sh
# Puts this machine back to what a new one has, as far as the test suite is
# concerned, so that a run after it proves the suite sets up everything it
# needs (CI runs on a used machine, where state an earlier run left behind
# can hide a missing set-up step).  Removes: the accounts the fixtures create
# (and so their group memberships), sshd's privilege separation directory,
# leftover labs (network namespaces, /etc/netns, /tmp/shuttle-*), shuttle
# nftables tables in this namespace, and the build trees.  Packages stay
# (tests/deps.sh installs what is missing).  Root only; nothing may run.
#   sudo tests/forget-state.sh && sudo ./run-tests.sh
set -eu
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "tests/forget-state.sh: run as root" >&2; exit 1; }
if pgrep -x sshd >/dev/null || pgrep -x shuttle >/dev/null || pgrep -x shuttle-firewal >/dev/null; then
  echo "tests/forget-state.sh: sshd or shuttle still runs; stop them (or the test run) first" >&2
  exit 1
fi

# The fixtures' accounts: tests/lib/netlab.py (LAB_USER and the forwarding-only
# ones of --transport=ssh), tests/helper
# (USER, USER2), tests/nm (USER).
for u in shuttlelab shuttletest shuttletest2 shuttlenm shuttlefwd shuttlenologin shuttlenofwd; do
  if getent passwd "$u" >/dev/null; then userdel "$u" 2>/dev/null || true; fi
done
rm -rf /run/sshd
for ns in $(ip netns list 2>/dev/null | awk '{print $1}'); do
  case "$ns" in *-client|*-gw|*-lan) ip netns del "$ns" ;; esac
done
for d in /etc/netns/*-client /etc/netns/*-gw /etc/netns/*-lan; do
  [ -e "$d" ] && rm -rf "$d"
done
# (lock files that serialize a developer's concurrent runs are not state)
for f in /tmp/shuttle-*; do
  case "$f" in *.lock) ;; *) rm -rf "$f" ;; esac
done
for t in $(nft list tables 2>/dev/null | awk '$3 ~ /^shuttle/ {print $2 " " $3}' | tr ' ' ':'); do
  nft delete table "$(echo "$t" | cut -d: -f1)" "$(echo "$t" | cut -d: -f2)"
done
rm -rf build build-asan
echo "tests/forget-state.sh: done; state left: $(ls -d /run/sshd 2>/dev/null || echo none)"
