#!/usr/bin/env bash
set -euo pipefail
# The deploy job installs the bbgate and helm the sandbox admins' restricted context names, never what a parameter
# of the BB's config says: no executor, version or checksum of the deploy job comes from the BB.
#   BBGATE_VERSION      the bbgate release (its checksum is the one this orb carries, else BBGATE_SHA256)
#   BBGATE_HELM_VERSION the helm release (e.g. v3.18.0)
#   BBGATE_HELM_SHA256  the sha256 of the helm binary: checked here, and again by bbgate deploy before it runs helm
# A variable the context leaves out can be filled by the BB's project settings: the context must set all three.
need() {
  if [ -z "$(printenv -- "$1" || true)" ]; then
    echo "bbgate orb: $1 is not set: the deploy job takes it from the sandbox admins' restricted context ($2)" >&2
    exit 2
  fi
}
need BBGATE_VERSION "the bbgate release to install, e.g. 0.1.0"
need BBGATE_HELM_VERSION "the helm release to install, e.g. v3.18.0"
need BBGATE_HELM_SHA256 "the sha256 of the helm binary, \`sha256sum helm\`"
release_base=https://github.com/GovStackWorkingGroup/bbgate/releases/download
# Downloads come from the releases' own hosts; a loopback mirror only (the orb's tests serve one), since a server on
# the job's loopback exists only if a step of the job started it.
for v in BBGATE_DOWNLOAD_BASE HELM_DOWNLOAD_BASE; do
  case "$(printenv -- "$v" || true)" in
    ""|http://127.0.0.1:*) ;;
    *) echo "bbgate orb: $v is set: the deploy job downloads only from the releases' own hosts" >&2; exit 2 ;;
  esac
done
export BBGATE_SHA256="${BBGATE_SHA256:-}" BBGATE_DOWNLOAD_BASE="${BBGATE_DOWNLOAD_BASE:-$release_base}"
export HELM_VERSION="$BBGATE_HELM_VERSION" HELM_SHA256="" HELM_BINARY_SHA256="$BBGATE_HELM_SHA256"
export BBGATE_INSTALL_DIR="$HOME/.local/bin"
# The checked install (install.sh; the packed orb has it inline).
# shellcheck source=install.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/install.sh"
