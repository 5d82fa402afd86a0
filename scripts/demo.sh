#!/usr/bin/env bash
# The main job of the quick start: a demo vault in a temporary directory, a secret stored
# from stdin, read back by a script, injected into a child process, and the audit log checked.
# Each step is echoed before it runs; no value is ever echoed.
set -euo pipefail
cd "$(dirname "$0")/.."
demo=$(mktemp -d)
trap 'rm -rf "$demo"' EXIT
export VAULT_PATH="$demo/vault.db"
export VAULT_PASSPHRASE='demo passphrase, not for real use'
vault() { node -- bin/vault.js "$@"; }
step() { printf '\n$ %s\n' "$*" >&2; }

step vault init
vault init
step "printf '…' | vault put STRIPE_KEY --description 'demo key'"
printf 'sk_test_demo_4242\n' | vault put STRIPE_KEY --description 'demo key'
step vault list
vault list
step 'token="$(vault get STRIPE_KEY)"'
token="$(vault get STRIPE_KEY)"
echo "a script read STRIPE_KEY: ${#token} characters"
step "vault exec --mask -- sh -c 'echo \"the child sees \$STRIPE_KEY\"'"
vault exec --mask -- sh -c 'echo "the child sees $STRIPE_KEY"'
step vault audit
vault audit
step vault audit verify
vault audit verify
step vault status
vault status
