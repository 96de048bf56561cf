#!/usr/bin/env bash
# Prints the path of a usable AWS CLI version 2 (and nothing else on success): the independent
# client the lab's control-plane tests drive with `--endpoint-url` (test/lab-unit/control-plane-cli.test.ts).
#
# Looks for AWS_CLI=/path/to/aws, then /usr/bin/aws, then `aws` on PATH, and accepts the first whose
# `aws --version` says `aws-cli/2.` (version 1 is a different client with other defaults). When none
# is there, installs Debian's `awscli` package (a stock AWS CLI v2, binary /usr/bin/aws) through
# scripts/ensure-debian-package.sh (root or passwordless sudo). Otherwise fails with a clear message.
# Idempotent: once installed, it only prints the path. Install output goes to stderr only on failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf 'ensure-awscli: %s\n' "$*" >&2; }

# Version 2 and it actually runs (a broken install or missing Python module must not pass).
usable() {
  [ -n "$1" ] && [ -x "$1" ] && "$1" --version 2>/dev/null | grep -q '^aws-cli/2\.'
}

find_awscli() {
  local candidate
  for candidate in "${AWS_CLI:-}" /usr/bin/aws "$(command -v aws 2>/dev/null || true)"; do
    if usable "${candidate}"; then
      printf '%s\n' "${candidate}"
      return 0
    fi
  done
  return 1
}

if path="$(find_awscli)"; then
  printf '%s\n' "${path}"
  exit 0
fi

"${here}/ensure-debian-package.sh" awscli "no AWS CLI version 2 found (AWS_CLI, /usr/bin/aws, PATH)"

if path="$(find_awscli)"; then
  printf '%s\n' "${path}"
  exit 0
fi
log "the awscli package was installed but no working AWS CLI v2 was found (tried AWS_CLI, /usr/bin/aws and PATH)."
exit 1
