#!/usr/bin/env bash
set -euo pipefail
# The orb's helpers (lib.sh; the packed orb has them inline).
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
param output_dir BBGATE_OUT; out="$BBGATE_OUT"
param chart BBGATE_CHART; param to BBGATE_TO; param policy BBGATE_POLICY_FILE
role="$(from_env "$BBGATE_ROLE_ENV")"
use_region "$BBGATE_REGION"
values=() sets=() set_strings=() reports=()
list values "$BBGATE_VALUES_FILES" glob
list sets "$BBGATE_SETS"
list set_strings "$BBGATE_SET_STRINGS"
list reports "$BBGATE_API_REPORTS" glob
# What verify judged, from the workspace: publish refuses anything else (exit 1).
bbgate publish --evidence="$out/evidence.json" --chart="$BBGATE_CHART" --findings="$out/findings" \
  --to="$BBGATE_TO" --out="$out/bundle.json" \
  ${role:+--role-arn="$role"} ${BBGATE_POLICY_FILE:+--policy="$BBGATE_POLICY_FILE"} \
  ${values[0]:+--values "${values[@]}"} ${sets[0]:+--set "${sets[@]}"} \
  ${set_strings[0]:+--set-string "${set_strings[@]}"} ${reports[0]:+--api-report "${reports[@]}"}
