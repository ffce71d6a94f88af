#!/usr/bin/env bash
# Helpers of the orb's scripts. scripts/pack-orb puts this file in place of the line that sources it.
# Parameter values are data, never code: each is checked, then passed as exactly one argument.
from_env() { # the value of the variable NAME, after checking that NAME is a variable name
  [[ $1 =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || { echo "bbgate orb: '$1' is not an environment variable name" >&2; return 2; }
  printenv -- "$1" || true
}
list() { # ARRAY VALUE [glob] [circle]: one item per line of VALUE, ${VAR} substituted (subst; `circle` as there),
  # globs expanded with glob; no item may start with '-'
  local -n into=$1; local item f; local -a found; into=()
  while IFS= read -r item || [ -n "$item" ]; do
    [ -n "$item" ] || continue
    item="$(subst "$1" "$item" "${4:-}")" || exit 2
    if [ "${3:-}" = glob ] && [[ $item == *[*?[]* ]]; then
      mapfile -t found < <(compgen -G "$item" || true)
      [ ${#found[@]} -gt 0 ] || echo "bbgate orb: no file matches $item" >&2
    else
      found=("$item")
    fi
    for f in "${found[@]}"; do
      [[ $f != -* ]] || { echo "bbgate orb: list item '$f' starts with '-': give one path or key per line (./$f for a file)" >&2; exit 2; }
      into+=("$f")
    done
  done <<< "$2"
}
subst() { # NAME VALUE [circle]: VALUE with each ${VAR} replaced by that variable's value, as `circleci env subst`
  # does, and nothing evaluated (no $(...), no backticks, no other expansion; a `$` not starting ${VAR} stays).
  # An unset VAR is refused (a tag left empty would be judged as another image). With `circle`, only CircleCI's
  # own pipeline variables (CIRCLE_*, never its tokens): the admins' jobs take parameters the BB's config sets,
  # and a reference to their context's variables would carry them into the release.
  local rest="$2" out="" name
  while [[ $rest == *'$'* ]]; do
    out+="${rest%%\$*}"; rest="${rest#*\$}"
    if [[ $rest =~ ^\{([A-Za-z_][A-Za-z0-9_]*)\}(.*)$ ]]; then
      name="${BASH_REMATCH[1]}"; rest="${BASH_REMATCH[2]}"
      if [ "${3:-}" = circle ] && { [[ $name != CIRCLE_* ]] || [[ $name == CIRCLE_OIDC_TOKEN* || $name == CIRCLE_TOKEN ]]; }; then
        echo "bbgate orb: parameter $1 refers to \${$name}: this job substitutes only CircleCI's pipeline variables (CIRCLE_SHA1, CIRCLE_TAG, ...)" >&2; exit 2
      fi
      [ -n "${!name+set}" ] || { echo "bbgate orb: parameter $1 refers to \${$name}, which is not set in this job" >&2; exit 2; }
      out+="${!name}"
    else
      out+='$'
    fi
  done
  printf '%s' "$out$rest"
}
param() { # NAME VARIABLE [circle]: the parameter held in VARIABLE, its ${VAR} references substituted, one line
  local v; v="$(subst "$1" "${!2-}" "${3:-}")" || exit 2
  printf -v "$2" '%s' "$v"; single "$1" "$v"
}
single() { # NAME VALUE: a one-line value that cannot be taken for a flag
  [[ $2 != -* && $2 != *$'\n'* ]] || { echo "bbgate orb: parameter $1 must be one line not starting with '-'" >&2; exit 2; }
}
use_region() { # VALUE: the region parameter, else the context's AWS_REGION, else its AWS_DEFAULT_REGION (bbgate reads both)
  single region "$1"
  [[ -z $1 || $1 =~ ^[a-z]{2}(-[a-z]+)+-[0-9]+$ ]] || { echo "bbgate orb: region '$1' is not an AWS region name (e.g. eu-central-1)" >&2; exit 2; }
  if [ -n "$1" ]; then export AWS_REGION="$1"; fi
}
