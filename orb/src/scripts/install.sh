#!/usr/bin/env bash
set -euo pipefail
# The checksums of the released binaries (checksums.sh; the packed orb has them inline).
# shellcheck source=checksums.sh
source "$(dirname -- "${BASH_SOURCE[0]}")/checksums.sh"
# Values, never code: each parameter is checked, then used as one quoted argument.
fail() { echo "bbgate orb: $*" >&2; exit 2; }
[[ $BBGATE_VERSION =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.]+)?$ ]] || fail "version must look like 0.1.0, not '$BBGATE_VERSION'"
case "$BBGATE_DOWNLOAD_BASE" in
  https://*|http://127.0.0.1:*) ;;
  *) fail "download_base must be an https:// URL" ;;
esac
[[ $BBGATE_DOWNLOAD_BASE =~ ^[[:graph:]]+$ ]] || fail "download_base must be one URL without spaces"
case "$(uname -m)" in
  x86_64|amd64) arch=x86_64 ;;
  aarch64|arm64) arch=aarch64 ;;
  *) fail "no bbgate release for this machine ($(uname -m)): build it from source (cargo install --locked --path .)" ;;
esac
file="bbgate-$BBGATE_VERSION-$arch-linux-musl"
sum="$BBGATE_SHA256"
if [ -z "$sum" ]; then
  sum="$(bbgate_release_sha256 "$file")" || fail "this orb carries no checksum for $file: use the orb version released with it, or give sha256 from that release's SHA256SUMS"
fi
[[ $sum =~ ^[0-9a-f]{64}$ ]] || fail "sha256 must be 64 lowercase hex digits"
dir="$BBGATE_INSTALL_DIR"
# shellcheck disable=SC2088 # the literal "~" of the parameter is what is compared, then replaced by $HOME
if [[ $dir == "~" || $dir == "~/"* ]]; then dir="$HOME${dir:1}"; fi
[[ -n $dir && $dir != -* && $dir =~ ^[[:print:]]+$ ]] || fail "install_dir must be a path of printable characters, not starting with '-'"
mkdir -p -- "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT
echo "bbgate orb: downloading $file from $BBGATE_DOWNLOAD_BASE"
curl -fsSL --retry 3 -o "$tmp/bbgate" --url "${BBGATE_DOWNLOAD_BASE%/}/v$BBGATE_VERSION/$file"
echo "$sum  $tmp/bbgate" | sha256sum -c -
install -m 0755 "$tmp/bbgate" "$dir/bbgate"
if [ -n "$HELM_VERSION" ]; then
  # The tarball's sha256 (helm_sha256, from get.helm.sh), or the binary's (the deploy job's BBGATE_HELM_SHA256,
  # the one bbgate deploy checks again before it runs helm), or both: at least one.
  tgz_sum="${HELM_SHA256:-}" bin_sum="${HELM_BINARY_SHA256:-}" helm_base="${HELM_DOWNLOAD_BASE:-https://get.helm.sh}"
  [[ $HELM_VERSION =~ ^v[0-9]+\.[0-9]+\.[0-9]+$ ]] || fail "helm_version must look like v3.18.0"
  [[ -n $tgz_sum || -n $bin_sum ]] || fail "helm_sha256 (64 hex digits) is required with helm_version"
  for s in $tgz_sum $bin_sum; do [[ $s =~ ^[0-9a-f]{64}$ ]] || fail "a helm sha256 must be 64 lowercase hex digits"; done
  case "$helm_base" in
    https://get.helm.sh|http://127.0.0.1:*) ;;
    *) fail "helm is downloaded from https://get.helm.sh only" ;;
  esac
  helm_arch=amd64; [ "$arch" = aarch64 ] && helm_arch=arm64
  curl -fsSL --retry 3 -o "$tmp/helm.tgz" --url "$helm_base/helm-${HELM_VERSION}-linux-${helm_arch}.tar.gz"
  if [ -n "$tgz_sum" ]; then echo "$tgz_sum  $tmp/helm.tgz" | sha256sum -c -; fi
  tar -xzf "$tmp/helm.tgz" -C "$tmp" "linux-${helm_arch}/helm"
  if [ -n "$bin_sum" ]; then echo "$bin_sum  $tmp/linux-${helm_arch}/helm" | sha256sum -c -; fi
  install -m 0755 "$tmp/linux-${helm_arch}/helm" "$dir/helm"
fi
# Written quoted (%q): the directory is text for later steps, never shell code.
# shellcheck disable=SC2016 # $PATH is expanded by the later step that sources BASH_ENV, not here
printf 'export PATH=%q:"$PATH"\n' "$dir" >> "$BASH_ENV"
"$dir/bbgate" --version
