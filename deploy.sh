#!/usr/bin/env bash
# The operations guide's deploy command: preflight, package, release, terraform apply, smoke test.
# The preflight lists everything a deploy still lacks (credentials, state bucket, token, sites, alarm
# e-mails, tools) and stops before anything runs; `python -m deploy preflight --stage prod` runs it alone.
# Usage: TF_VAR_api_token=... ./deploy.sh [stage]     (default stage: prod)
set -euo pipefail
cd "$(dirname "$0")"
exec make deploy STAGE="${1:-prod}"
