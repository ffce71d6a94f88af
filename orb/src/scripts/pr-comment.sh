#!/usr/bin/env bash
set -euo pipefail
# The orb's helpers (lib.sh; the packed orb has them inline).
# shellcheck source=lib.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"
param summary BBGATE_SUMMARY; param key BBGATE_COMMENT_KEY; param github_api_url BBGATE_GITHUB_API
[[ $BBGATE_TOKEN_ENV =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "bbgate orb: '$BBGATE_TOKEN_ENV' is not an environment variable name" >&2; exit 2; }
# CircleCI names the pull request a build is for: https://HOST/OWNER/NAME/pull/N.
pr="${CIRCLE_PULL_REQUEST:-}"
if [[ ! $pr =~ ^https://[^/]+/([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)/pull/([0-9]+)$ ]]; then
  echo "bbgate orb: not a pull request build (CIRCLE_PULL_REQUEST is '${pr}'): nothing to comment on"
  exit 0
fi
repo="${BASH_REMATCH[1]}"; number="${BASH_REMATCH[2]}"
if [ ! -f "$BBGATE_SUMMARY" ]; then
  echo "bbgate orb: no summary at $BBGATE_SUMMARY (verify stopped before deciding; its log says why): nothing posted"
  exit 0
fi
bbgate comment --markdown="$BBGATE_SUMMARY" --repository="$repo" --pull-request="$number" \
  --key="$BBGATE_COMMENT_KEY" --token-env="$BBGATE_TOKEN_ENV" --github-api-url="$BBGATE_GITHUB_API"
