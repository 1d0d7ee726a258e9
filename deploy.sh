#!/usr/bin/env bash
# The operations guide's deploy command: package, release, terraform apply, smoke test.
# Usage: TF_VAR_api_token=... ./deploy.sh [stage]     (default stage: prod)
set -euo pipefail
cd "$(dirname "$0")"
exec make deploy STAGE="${1:-prod}"
