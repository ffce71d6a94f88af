#!/usr/bin/env bash
# The scan gate CircleCI users write today, for scripts/bench to measure bbgate against: aws-cli and jq.
# It makes bbgate's decision on the scan alone: CVSS >= 9.0 blocks; 7.0-8.9 needs a sign-off, and a sign-off is
# the finding's id listed in SIGNOFFS (one per line); lower passes. The score is CVSS3 (the highest of its
# kind), else CVSS2, else an enhanced finding's own score; a finding with none passes (no label fallback).
#
#   scripts/baseline-gate.sh REPOSITORY TAG SIGNOFFS
#
# Prints one JSON line {"verdict", "blocked": [...], "needs_signoff": [...]}; exit 0 pass, 1 deny.
# Needs `aws` (PyPI awscli) and `jq` (Debian) on PATH, and the usual AWS_* environment.
set -euo pipefail
repo=$1 tag=$2 signoffs=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Wait for the scan. `aws ecr wait image-scan-complete` never succeeds for ENHANCED scans (ACTIVE), so poll
# the status like the gates that support both do.
for _ in $(seq 180); do
  status=$(aws ecr describe-image-scan-findings --repository-name "$repo" --image-id imageTag="$tag" \
    --max-results 1 --no-paginate --query imageScanStatus.status --output text)
  case "$status" in
    COMPLETE|ACTIVE) break ;;
    IN_PROGRESS|PENDING) sleep 5 ;;
    *) echo "{\"verdict\":\"deny\",\"status\":\"$status\"}"; exit 1 ;;
  esac
done

# Every page, 1000 at a time; the CLI merges them into one document.
aws ecr describe-image-scan-findings --repository-name "$repo" --image-id imageTag="$tag" --page-size 1000 \
  --output json > "$work/findings.json"

jq -c --rawfile signed "$signoffs" '
  ($signed | split("\n") | map(select(length > 0))) as $ok
  | def attr($k): (.attributes // []) | map(select(.key == $k) | .value | tonumber) | max;
    def cvss($v): (.packageVulnerabilityDetails.cvss // []) | map(select(.version | startswith($v)) | .baseScore) | max;
    def score:
      if has("attributes") then (attr("CVSS3_SCORE") // attr("CVSS2_SCORE"))
      else (cvss("3") // cvss("2") // (if .scoreDetails then .score else null end)) end;
    def id: .name // .packageVulnerabilityDetails.vulnerabilityId;
  [(.imageScanFindings.findings // [])[], (.imageScanFindings.enhancedFindings // [])[]]
  | map({id: id, score: score})
  | { blocked: (map(select(.score != null and .score >= 9.0) | .id) | sort),
      needs_signoff: (map(select(.score != null and .score >= 7.0 and .score < 9.0 and ((.id | IN($ok[])) | not)) | .id) | sort) }
  | .verdict = (if (.blocked | length) + (.needs_signoff | length) > 0 then "deny" else "pass" end)
' "$work/findings.json" | tee "$work/decision.json"
[ "$(jq -r .verdict "$work/decision.json")" = pass ]
