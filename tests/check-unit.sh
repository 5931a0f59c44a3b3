#!/bin/sh
# The boot sweep's systemd unit as meson configured it: valid for
# `systemd-analyze verify` (which exits 0 on settings it ignores, so any
# output fails too), with ExecStart pointed at the built helper since the
# installed path does not exist yet; without systemd-analyze, a plain check
# of the sections and keys that make it a oneshot run at boot.
# Usage: check-unit.sh UNIT HELPER
set -eu
unit=$1 helper=$2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
name=$(basename "$unit")
sed "s|^ExecStart=[^ ]*|ExecStart=$helper|" "$unit" >"$dir/$name"
grep -q '^ExecStart=.* --sweep-hosts$' "$dir/$name" || { echo "no ExecStart --sweep-hosts"; exit 1; }
if command -v systemd-analyze >/dev/null 2>&1; then
  out=$(systemd-analyze verify --man=no "$dir/$name" 2>&1) || { echo "$out"; exit 1; }
  [ -z "$out" ] || { echo "$out"; exit 1; }
  echo "systemd-analyze verify: clean"
else
  for want in '^\[Unit\]$' '^\[Service\]$' '^\[Install\]$' '^Type=oneshot$' \
    '^WantedBy=multi-user.target$' '^Before=.*network-pre.target'; do
    grep -q "$want" "$dir/$name" || { echo "missing: $want"; exit 1; }
  done
  echo "parse check: clean (no systemd-analyze)"
fi
