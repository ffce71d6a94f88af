#!/usr/bin/env bash
set -euo pipefail
# The orb's helpers (lib.sh; the packed orb has them inline).
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
# The admins' project: the bundle and the building block come as pipeline parameters (a request can set
# nothing else); everything else is the admins' (this repository, the restricted context).
for p in bundle:BBGATE_BUNDLE building_block:BBGATE_BB release:BBGATE_RELEASE policy:BBGATE_POLICY_FILE timeout:BBGATE_TIMEOUT; do
  single "${p%%:*}" "$(printenv -- "${p#*:}" || true)"
done
[ -n "$BBGATE_BUNDLE" ] || { echo "bbgate orb: no bundle: this workflow runs on a deploy request (pipeline parameter bundle)" >&2; exit 2; }
cluster="$(from_env "$BBGATE_CLUSTER_ENV")"
role="$(from_env "$BBGATE_ROLE_ENV")"
use_region "$BBGATE_REGION"
if [ -z "$cluster" ]; then echo "bbgate orb: $BBGATE_CLUSTER_ENV is empty: set it in the deploy context" >&2; exit 2; fi
sets=() secrets=() secret_files=() signoffs=()
list sets "$BBGATE_SETS"
list secrets "$BBGATE_SET_SECRETS"
list secret_files "$BBGATE_SECRET_FILES"
list signoffs "$BBGATE_SIGNOFF_FILES" glob
helm_bin="$(command -v helm || true)"
mkdir -p bbgate-out
bbgate deploy --bundle="$BBGATE_BUNDLE" --building-block="$BBGATE_BB" --release="$BBGATE_RELEASE" \
  --eks-cluster="$cluster" --timeout="$BBGATE_TIMEOUT" --record=bbgate-out/deploy-record.json \
  ${helm_bin:+--helm="$helm_bin"} ${role:+--role-arn="$role"} ${BBGATE_POLICY_FILE:+--policy="$BBGATE_POLICY_FILE"} \
  ${sets[0]:+--set "${sets[@]}"} ${secrets[0]:+--set-secret "${secrets[@]}"} \
  ${secret_files[0]:+--secret-from-file "${secret_files[@]}"} ${signoffs[0]:+--signoffs "${signoffs[@]}"}
