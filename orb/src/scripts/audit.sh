#!/usr/bin/env bash
set -euo pipefail
# The orb's helpers (lib.sh; the packed orb has them inline).
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
out="$BBGATE_OUT"; single output_dir "$out"; single policy "$BBGATE_POLICY_FILE"; single scan_timeout "$BBGATE_SCAN_TIMEOUT"
cluster="$(from_env "$BBGATE_CLUSTER_ENV")"
role="$(from_env "$BBGATE_ROLE_ENV")"
use_region "$BBGATE_REGION"
if [ -z "$cluster" ]; then echo "bbgate orb: $BBGATE_CLUSTER_ENV is empty: set it in the admins' context" >&2; exit 2; fi
# The lists the parameters give (filled by list, one item per line of the parameter).
signoffs=() building_blocks=() evidence=()
list signoffs "$BBGATE_SIGNOFF_FILES" glob
list building_blocks "$BBGATE_BBS"
list evidence "$BBGATE_EVIDENCE_FILES" glob
mkdir -p -- "$out/junit"
set +e
bbgate audit --eks-cluster="$cluster" --scan-timeout="$BBGATE_SCAN_TIMEOUT" \
  --json="$out/audit.json" --junit="$out/junit/bbgate-audit.xml" \
  ${role:+--role-arn="$role"} ${BBGATE_POLICY_FILE:+--policy="$BBGATE_POLICY_FILE"} \
  ${signoffs[0]:+--signoffs "${signoffs[@]}"} ${building_blocks[0]:+--building-block "${building_blocks[@]}"} \
  ${evidence[0]:+--evidence "${evidence[@]}"}
code=$?
set -e
echo "bbgate audit exited $code (0 every running image passes, 1 an image would now be denied, 2 invalid input, 3 could not decide)"
exit "$code"
