#!/usr/bin/env bash
# Installs everything vault and its tests need on a fresh Debian/Ubuntu machine:
#  - system packages for the tests: a real GNOME Keyring on a private D-Bus (keychain tests),
#    postgresql (a private cluster per test file for the team-vault tests, test/helpers/pg.ts),
#    tmux (interactive tests), sqlite3 and python3 (tamper and on-disk tests), zsh and fish
#    (shell-quoting and completion tests), openssl (the test CA of the vault mcp HTTPS tests)
#  - npm dependencies (better-sqlite3 compiles from source here: about 80 s)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(gnome-keyring dbus-x11 tmux sqlite3 python3 zsh fish openssl postgresql)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; elif command -v sudo >/dev/null; then SUDO="sudo"; else SUDO="none"; fi
  if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null; then
    echo "setup: cannot install ${missing[*]} (need apt-get as root); the tests that need them will fail in CI or skip elsewhere" >&2
  else
    echo "setup: installing ${missing[*]}" >&2
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

npm ci --no-fund --no-audit
npm run build
