#!/usr/bin/env bash
set -euo pipefail
# The orb's helpers (lib.sh; the packed orb has them inline).
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
# Each parameter with its ${VAR} references substituted (image: repo:${CIRCLE_SHA1}), nothing evaluated.
param output_dir BBGATE_OUT; out="$BBGATE_OUT"
param image BBGATE_IMAGE; param chart BBGATE_CHART; param push_from BBGATE_PUSH_FROM; param policy BBGATE_POLICY_FILE
param building_block BBGATE_BB; param scan_timeout BBGATE_SCAN_TIMEOUT; param release BBGATE_RELEASE
mkdir -p -- "$out/findings" "$out/junit"
role="$(from_env "$BBGATE_ROLE_ENV")"
use_region "$BBGATE_REGION"
# The lists the parameters give (filled by list, one item per line of the parameter).
signoffs=() reports=() values=() sets=() set_strings=()
list signoffs "$BBGATE_SIGNOFF_FILES" glob
list reports "$BBGATE_API_REPORTS" glob
list values "$BBGATE_VALUES_FILES" glob
list sets "$BBGATE_SETS"
list set_strings "$BBGATE_SET_STRINGS"
set +e
bbgate verify ${BBGATE_IMAGE:+--image="$BBGATE_IMAGE"} ${BBGATE_CHART:+--chart="$BBGATE_CHART"} \
  ${values[0]:+--values "${values[@]}"} ${sets[0]:+--set "${sets[@]}"} \
  ${set_strings[0]:+--set-string "${set_strings[@]}"} ${BBGATE_RELEASE:+--release="$BBGATE_RELEASE"} --format json --scan-timeout="$BBGATE_SCAN_TIMEOUT" \
  --save-findings="$out/findings" --evidence="$out/evidence.json" \
  --attestation="$out/attestation.intoto.json" --junit="$out/junit/bbgate.xml" \
  --html="$out/report.html" --sarif="$out/bbgate.sarif" --markdown="$out/summary.md" \
  ${role:+--role-arn="$role"} ${BBGATE_PUSH_FROM:+--push-from="$BBGATE_PUSH_FROM"} \
  ${BBGATE_POLICY_FILE:+--policy="$BBGATE_POLICY_FILE"} ${BBGATE_BB:+--building-block="$BBGATE_BB"} \
  ${signoffs[0]:+--signoffs "${signoffs[@]}"} ${reports[0]:+--api-report "${reports[@]}"} \
  > "$out/verify.json"
code=$?
set -e
# The same decision, for people: replayed offline from the pages just saved (no AWS call).
if [ -n "$(ls -A -- "$out/findings" 2>/dev/null)" ]; then
  bbgate verify --findings="$out/findings" ${BBGATE_CHART:+--chart="$BBGATE_CHART"} \
    ${values[0]:+--values "${values[@]}"} ${sets[0]:+--set "${sets[@]}"} \
    ${set_strings[0]:+--set-string "${set_strings[@]}"} ${BBGATE_RELEASE:+--release="$BBGATE_RELEASE"} \
    ${BBGATE_POLICY_FILE:+--policy="$BBGATE_POLICY_FILE"} ${BBGATE_BB:+--building-block="$BBGATE_BB"} \
    ${signoffs[0]:+--signoffs "${signoffs[@]}"} ${reports[0]:+--api-report "${reports[@]}"} || true
fi
echo "bbgate verify exited $code (0 pass, 1 denied, 2 invalid input, 3 could not decide)"
exit "$code"
