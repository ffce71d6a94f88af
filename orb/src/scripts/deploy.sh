#!/usr/bin/env bash
set -euo pipefail
# The orb's helpers (lib.sh; the packed orb has them inline).
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
# The BB's config sets these parameters in the admins' job: only CircleCI's pipeline variables are substituted.
for p in evidence:BBGATE_EVIDENCE_FILE chart:BBGATE_CHART release:BBGATE_RELEASE policy:BBGATE_POLICY_FILE timeout:BBGATE_TIMEOUT; do
  param "${p%%:*}" "${p#*:}" circle
done
cluster="$(from_env "$BBGATE_CLUSTER_ENV")"
role="$(from_env "$BBGATE_ROLE_ENV")"
use_region "$BBGATE_REGION"
if [ -z "$cluster" ]; then echo "bbgate orb: $BBGATE_CLUSTER_ENV is empty: set it in the deploy context" >&2; exit 2; fi
# The lists the parameters give (filled by list, one item per line of the parameter).
values=() keys=() reports=() signoffs=() sets=() set_strings=() secrets=() secret_files=()
list values "$BBGATE_VALUES_FILES" glob circle
list keys "$BBGATE_SET_IMAGE" "" circle
list reports "$BBGATE_API_REPORTS" glob circle
list signoffs "$BBGATE_SIGNOFF_FILES" glob circle
list sets "$BBGATE_SETS" "" circle
list set_strings "$BBGATE_SET_STRINGS" "" circle
list secrets "$BBGATE_SET_SECRETS" "" circle
list secret_files "$BBGATE_SECRET_FILES" "" circle
# The helm on PATH, by full path: bbgate runs it only if its sha256 is the context's BBGATE_HELM_SHA256.
helm_bin="$(command -v helm || true)"
# The admins' context supplies BBGATE_POLICY_SHA256, BBGATE_SIGNOFFS_SHA256 and BBGATE_KMS_KEY_ID; bbgate reads
# them itself, so no parameter of this job can replace them.
bbgate deploy --evidence="$BBGATE_EVIDENCE_FILE" --chart="$BBGATE_CHART" --release="$BBGATE_RELEASE" \
  --eks-cluster="$cluster" --timeout="$BBGATE_TIMEOUT" --record="$(dirname -- "$BBGATE_EVIDENCE_FILE")/deploy-record.json" \
  ${helm_bin:+--helm="$helm_bin"} ${role:+--role-arn="$role"} ${BBGATE_POLICY_FILE:+--policy="$BBGATE_POLICY_FILE"} \
  ${values[0]:+--values "${values[@]}"} ${keys[0]:+--set-image "${keys[@]}"} ${sets[0]:+--set "${sets[@]}"} \
  ${set_strings[0]:+--set-string "${set_strings[@]}"} \
  ${secrets[0]:+--set-secret "${secrets[@]}"} ${secret_files[0]:+--secret-from-file "${secret_files[@]}"} \
  ${reports[0]:+--api-report "${reports[@]}"} ${signoffs[0]:+--signoffs "${signoffs[@]}"}
