#!/bin/sh
# Installs what Shuttle needs on Debian 12 or newer, idempotently: packages
# already present are not touched, and apt is only called when something is
# missing.  Usage: tests/deps.sh [build|test|demo|bench]...
set -eu

build="meson ninja-build pkg-config gcc libglib2.0-dev libnftables-dev gettext"
# The NetworkManager plugin: libnm, the GTK 3 and GTK 4 editors (libnma's
# password-storage menus), the auth dialog's keyring access, and
# gtk4-builder-tool, which makes the GTK 4 .ui from the GTK 3 one.
build="$build libnm-dev libnma-dev libnma-gtk4-dev libgtk-3-dev libgtk-4-dev libgtk-4-bin libsecret-1-dev"
# shuttle-applet: the tray item (StatusNotifierItem) through libayatana-appindicator3.
build="$build libayatana-appindicator3-dev"
# The end-to-end tests and the demo drive real programs in namespaces.
# dnsmasq-base and dig: the remote LAN's name server and the client's DNS checks (--dns, -H).
runtime="nftables openssh-server openssh-client iproute2 procps curl python3 dnsmasq-base bind9-dnsutils"
# The DNS leak test watches the client's link with tcpdump; the NetworkManager
# secrets test traces the plugin's file opens with strace; `shuttle run`'s
# case needs a static program (busybox-static) to show the warning.
# The one-time-code cases (e2e, nm) run a lab sshd whose PAM stack asks a
# TOTP through pam_oath (the tests compute the codes themselves). The
# connect-fidelity cases ask `nc -z` (netcat-openbsd), as a port check does.
test_tools="tcpdump strace openssl busybox-static iputils-ping iperf3 libpam-oath git netcat-openbsd"
# The firewall helper's tests: a private system bus, a real polkitd, and a
# D-Bus client (gdbus, python3-dbus) running as another user.
helper_test="dbus-daemon polkitd libglib2.0-bin python3-dbus passwd util-linux"
# The NetworkManager plugin: libnm to build it, a real NetworkManager to test it.
nm_build="libnm-dev"
nm_test="network-manager"
test_extra="clang-format valgrind"
# tests/nm-ui: the plugin through libnm's and GTK's introspection data, an
# X server for the editor, a real sshd/ssh-keyscan for "Fetch host key",
# ImageMagick for the GTK 4 screenshot, appstreamcli for the metainfo.
nm_ui_test="python3-gi gir1.2-nm-1.0 gir1.2-gtk-3.0 gir1.2-gtk-4.0 gir1.2-secret-1 xvfb xauth imagemagick appstream openssh-server openssh-client"
# tests/applet: an X server, the tray host's and notification server's
# stand-ins (python3-gi), xdotool to find the status window, ImageMagick
# and GdkPixbuf for its screenshot, desktop-file-validate for the entries.
applet_test="xvfb xdotool imagemagick python3-gi gir1.2-glib-2.0 gir1.2-gdkpixbuf-2.0 desktop-file-utils dbus-daemon"
bench_extra="iperf3 sshuttle redsocks iptables gdb iputils-ping"

want=""
[ $# -eq 0 ] && set -- test
for what in "$@"; do
  case "$what" in
    build) want="$want $build $nm_build" ;;
    test) want="$want $build $nm_build $runtime $test_tools $test_extra $helper_test $nm_test $nm_ui_test $applet_test" ;;
    demo) want="$want $build $nm_build $runtime" ;;
    bench) want="$want $build $nm_build $runtime $bench_extra" ;;
    *) echo "tests/deps.sh: unknown set '$what' (build, test, demo, bench)" >&2; exit 2 ;;
  esac
done

missing=""
for p in $want; do
  case " $missing " in *" $p "*) continue ;; esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing="$missing $p"
  fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
  echo "tests/deps.sh: missing packages:$missing; run as root (sudo) to install them" >&2
  exit 1
fi
echo "Installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
