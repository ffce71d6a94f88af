#!/usr/bin/env bash
# Written by scripts/release from dist/SHA256SUMS: the sha256 of every bbgate binary released, by file name.
# An orb version carries the checksums of the releases before it, so `install` needs no hash from the user.
bbgate_release_sha256() {
  case "$1" in
    bbgate-0.1.0-aarch64-linux-musl) echo 8747bfcd5394c0dae6e97a28294d2b41cb0127c309d0d1dbe5638b4a5340a4ae ;;
    bbgate-0.1.0-x86_64-linux-musl) echo 8fe1f797e01d75cf2d580d472cc1c7b3ed86d53bef97eb6e8b4920ed8695739d ;;
    *) return 1 ;;
  esac
}
