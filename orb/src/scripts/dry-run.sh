#!/usr/bin/env bash
set -euo pipefail
# The orb's helpers (lib.sh; the packed orb has them inline).
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
param output_dir BBGATE_OUT; out="$BBGATE_OUT"; param policy BBGATE_POLICY_FILE; param building_block BBGATE_BB
mkdir -p -- "$out/junit"
# The lists the parameters give (filled by list, one item per line of the parameter).
findings=() signoffs=() reports=()
list findings "$BBGATE_FINDINGS" glob
list signoffs "$BBGATE_SIGNOFF_FILES" glob
list reports "$BBGATE_API_REPORTS" glob
bbgate verify --findings "${findings[@]}" --evidence="$out/evidence.json" --junit="$out/junit/bbgate.xml" \
  ${BBGATE_POLICY_FILE:+--policy="$BBGATE_POLICY_FILE"} ${BBGATE_BB:+--building-block="$BBGATE_BB"} \
  ${signoffs[0]:+--signoffs "${signoffs[@]}"} ${reports[0]:+--api-report "${reports[@]}"}
