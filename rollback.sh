#!/usr/bin/env bash
# The operations guide's rollback command: re-apply the previous release (or a named one) and
# run the smoke test. The preflight checks the release's own settings and this shell (credentials,
# TF_VAR_api_token, terraform) first, and stops before any Terraform command if something is missing.
# Usage: ./rollback.sh [stage] [release-id]   (`python -m deploy releases` lists them)
set -euo pipefail
cd "$(dirname "$0")"
exec make rollback STAGE="${1:-prod}" ${2:+RELEASE="$2"}
