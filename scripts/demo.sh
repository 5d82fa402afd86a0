#!/usr/bin/env bash
# The main job of the quick start: a demo vault in a temporary directory, a secret stored
# from stdin, read back by a script, and injected into a child process.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
export VAULT_PATH="$demo/vault.db"
export VAULT_PASSPHRASE='demo passphrase, not for real use'
vault() { node bin/vault.js "$@"; }

set -x
vault init
printf 'sk_test_demo_4242\n' | vault put STRIPE_KEY --description 'demo key'
vault list
token="$(vault get STRIPE_KEY)"
set +x
echo "a script read STRIPE_KEY: ${#token} characters"
set -x
vault status
