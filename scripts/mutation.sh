#!/usr/bin/env bash
# Mutation testing of functions/ (issue 7). Not part of `npm test`: it is slow.
#   scripts/mutation.sh                         all of functions/ (stryker.config.mjs)
#   MUTATE="functions/a.ts,functions/b.ts" scripts/mutation.sh   only those files
#   TIMEOUT=30m scripts/mutation.sh             stop the whole run after that long (coreutils timeout)
#   extra arguments go to `stryker run` (e.g. --ignoreStatic, --concurrency 1)
# Reports: reports/mutation/mutation.html, reports/mutation/mutation.json
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
if [[ -n "${MUTATE:-}" ]]; then args+=(--mutate "$MUTATE"); fi
if [[ -n "${TIMEOUT:-}" ]]; then
  exec timeout --signal=INT --kill-after=60s "$TIMEOUT" npx stryker run "${args[@]}" "$@"
fi
exec npx stryker run "${args[@]}" "$@"
