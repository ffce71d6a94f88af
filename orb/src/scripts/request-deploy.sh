#!/usr/bin/env bash
set -euo pipefail
# The orb's helpers (lib.sh; the packed orb has them inline).
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
param output_dir BBGATE_OUT; out="$BBGATE_OUT"
param building_block BBGATE_BB; param admins_project BBGATE_ADMINS_PROJECT; param branch BBGATE_BRANCH
role="$(from_env "$BBGATE_ROLE_ENV")"
use_region "$BBGATE_REGION"
# The token that may trigger the admins' project, from the variable the parameter names (bbgate reads it as
# CIRCLE_TOKEN and never prints it); the bundle is the one publish wrote, by digest: the request names nothing else.
token="$(from_env "$BBGATE_TOKEN_ENV")"
CIRCLE_TOKEN="$token" bbgate request-deploy --published="$out/bundle.json" --building-block="$BBGATE_BB" \
  --circleci-project="$BBGATE_ADMINS_PROJECT" --branch="$BBGATE_BRANCH" ${role:+--role-arn="$role"}
