#!/usr/bin/env bash
# Runs a command inside a private D-Bus session bus that has an unlocked GNOME Keyring
# (Secret Service) of its own, so keychain tests never touch a real user's keyring.
#
#   bash test/helpers/keyring-session.sh COMMAND [ARG...]
#
# Environment read:
#   KEYRING_SESSION_HOME      directory used as HOME, with XDG_DATA_HOME, XDG_CONFIG_HOME,
#                             XDG_CACHE_HOME and XDG_RUNTIME_DIR inside it. Created if missing;
#                             the caller removes it. Unset: a temporary one is made and removed.
#                             The keyring files land in $KEYRING_SESSION_HOME/.local/share/keyrings.
#                             D-Bus service files put in $KEYRING_SESSION_HOME/.local/share/dbus-1/services
#                             override the system ones on this bus (tests use that).
#   KEYRING_SESSION_PASSWORD  password of the login keyring (default: vault-test-keyring).
#   KEYRING_SESSION_WAIT      seconds to wait for the daemon to appear on the bus (default: 10).
#   KEYRING_SESSION_VERBOSE   1: report the startup time on stderr.
#
# Environment given to COMMAND: DBUS_SESSION_BUS_ADDRESS (private bus), GNOME_KEYRING_CONTROL,
# HOME and the XDG_* variables above, KEYRING_SESSION_DAEMON_PID (the daemon started here),
# KEYRING_SESSION_COLLECTION (D-Bus object path of the default collection). DISPLAY and
# WAYLAND_DISPLAY are removed, so an unlock prompt can never reach a real desktop.
#
# Exit status: COMMAND's; 69 if the keyring could not be set up (message on stderr);
# 64 on a usage error.
set -euo pipefail

die() {
  echo "keyring-session: error: $*" >&2
  exit 69
}

if [[ "${1:-}" != "--inside-private-bus" ]]; then
  # ---- outside: make the private HOME, start the private bus, re-run this script inside it.
  if (( $# == 0 )); then
    echo "usage: keyring-session.sh COMMAND [ARG...]" >&2
    exit 64
  fi
  for tool in dbus-run-session dbus-send gnome-keyring-daemon; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (apt-get install dbus-daemon dbus-bin gnome-keyring)"
  done

  created=""
  if [[ -n "${KEYRING_SESSION_HOME:-}" ]]; then
    mkdir -p -- "$KEYRING_SESSION_HOME" || die "cannot create $KEYRING_SESSION_HOME"
    home=$(cd -- "$KEYRING_SESSION_HOME" && pwd -P)
  else
    home=$(mktemp -d "${TMPDIR:-/tmp}/keyring-session.XXXXXX") || die "mktemp failed"
    created=$home
  fi
  real_home=$(getent passwd "$(id -u)" | cut -d: -f6 || true)
  if [[ "$home" == "/" || "$home" == "${real_home:-/nonexistent}" || "$home" == "$(cd ~ && pwd -P)" ]]; then
    die "refusing to use $home as the test HOME: pass a fresh directory in KEYRING_SESSION_HOME"
  fi
  trap '[[ -n "$created" ]] && rm -rf -- "$created"' EXIT

  chmod 700 "$home"
  mkdir -p -m 700 "$home/.local/share" "$home/.config" "$home/.cache" "$home/run"

  status=0
  env -u DISPLAY -u WAYLAND_DISPLAY -u DBUS_SESSION_BUS_ADDRESS -u GNOME_KEYRING_CONTROL \
      -u GNOME_KEYRING_PID -u SSH_AUTH_SOCK -u KEYRING_SESSION_DAEMON_PID -u KEYRING_SESSION_COLLECTION \
      HOME="$home" \
      XDG_DATA_HOME="$home/.local/share" \
      XDG_CONFIG_HOME="$home/.config" \
      XDG_CACHE_HOME="$home/.cache" \
      XDG_RUNTIME_DIR="$home/run" \
      dbus-run-session -- bash "${BASH_SOURCE[0]}" --inside-private-bus "$@" || status=$?
  exit "$status"
fi

# ---- inside the private bus (dbus-run-session stops the bus when this script ends).
shift

bus_call() { # DEST PATH METHOD [ARG...] -> literal reply on stdout
  local dest=$1 path=$2 method=$3
  shift 3
  dbus-send --session --print-reply=literal --reply-timeout=5000 --dest="$dest" "$path" "$method" "$@"
}
ss_get() { # PATH INTERFACE PROPERTY
  bus_call org.freedesktop.secrets "$1" org.freedesktop.DBus.Properties.Get "string:$2" "string:$3"
}

started_ns=$(date +%s%N)
errfile=$(mktemp "$XDG_RUNTIME_DIR/daemon-stderr.XXXXXX")
password=${KEYRING_SESSION_PASSWORD:-vault-test-keyring}
# --unlock reads the password on stdin and unlocks the login keyring, creating it when it
# does not exist (always the case in a fresh HOME). The parent process returns once the
# daemonized child is initialised and prints the variables to export.
if ! out=$(printf '%s' "$password" | gnome-keyring-daemon --unlock --components=secrets 2>"$errfile"); then
  die "gnome-keyring-daemon failed to start: $(tr '\n' ' ' <"$errfile")"
fi
while IFS= read -r line; do
  case "$line" in
    GNOME_KEYRING_CONTROL=*|GNOME_KEYRING_PID=*|SSH_AUTH_SOCK=*) export "${line?}" ;;
  esac
done <<<"$out"
# With XDG_RUNTIME_DIR set, the daemon uses $XDG_RUNTIME_DIR/keyring and prints nothing.
export GNOME_KEYRING_CONTROL=${GNOME_KEYRING_CONTROL:-$XDG_RUNTIME_DIR/keyring}
[[ -S "$GNOME_KEYRING_CONTROL/control" ]] ||
  die "gnome-keyring-daemon started but has no control socket in $GNOME_KEYRING_CONTROL: $(tr '\n' ' ' <"$errfile")"

# Wait for org.freedesktop.secrets to have an owner. NameHasOwner never triggers D-Bus
# activation, so this cannot start a second daemon behind our back.
wait_s=${KEYRING_SESSION_WAIT:-10}
deadline=$(( $(date +%s) + wait_s ))
until [[ "$(bus_call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null)" == *"boolean true"* ]]; do
  (( $(date +%s) < deadline )) || die "org.freedesktop.secrets did not appear on the bus within ${wait_s} s: $(tr '\n' ' ' <"$errfile")"
  sleep 0.05
done
pid=$(bus_call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.GetConnectionUnixProcessID string:org.freedesktop.secrets | awk '{print $2}')
[[ "$pid" =~ ^[0-9]+$ ]] || die "cannot find the pid of the Secret Service"
export KEYRING_SESSION_DAEMON_PID=$pid

stop_daemon() {
  kill -CONT "$pid" 2>/dev/null || true # a test may have stopped it
  kill -TERM "$pid" 2>/dev/null || true
}

# The login keyring must exist, be the default collection, and be unlocked.
[[ -f "$XDG_DATA_HOME/keyrings/login.keyring" ]] || { stop_daemon; die "the daemon did not create $XDG_DATA_HOME/keyrings/login.keyring"; }
login=/org/freedesktop/secrets/collection/login
collection=$(bus_call org.freedesktop.secrets /org/freedesktop/secrets org.freedesktop.Secret.Service.ReadAlias string:default | awk '{print $1}')
if [[ "$collection" == "/" || -z "$collection" ]]; then
  bus_call org.freedesktop.secrets /org/freedesktop/secrets org.freedesktop.Secret.Service.SetAlias string:default "objpath:$login" >/dev/null ||
    { stop_daemon; die "cannot make the login keyring the default collection"; }
  collection=$(bus_call org.freedesktop.secrets /org/freedesktop/secrets org.freedesktop.Secret.Service.ReadAlias string:default | awk '{print $1}')
fi
[[ "$collection" == "$login" ]] || { stop_daemon; die "the default collection is '$collection', expected $login"; }
[[ "$(ss_get "$collection" org.freedesktop.Secret.Collection Locked)" == *"boolean false"* ]] ||
  { stop_daemon; die "the login keyring is locked after --unlock (wrong password?)"; }
export KEYRING_SESSION_COLLECTION=$collection

if [[ "${KEYRING_SESSION_VERBOSE:-}" == 1 ]]; then
  echo "keyring-session: daemon $pid ready, $collection unlocked, in $(( ($(date +%s%N) - started_ns) / 1000000 )) ms" >&2
fi

status=0
"$@" || status=$?
stop_daemon
exit "$status"
