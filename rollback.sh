#!/usr/bin/env bash
# The operations guide's rollback command: re-apply the previous release (or a named one) and
# run the smoke test. Usage: ./rollback.sh [stage] [release-id]   (`python -m deploy releases` lists them)
set -euo pipefail
cd "$(dirname "$0")"
exec make rollback STAGE="${1:-prod}" ${2:+RELEASE="$2"}
