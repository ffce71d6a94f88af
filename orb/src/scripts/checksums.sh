#!/usr/bin/env bash
# Written by scripts/release from dist/SHA256SUMS: the sha256 of every bbgate binary released, by file name.
# An orb version carries the checksums of the releases before it, so `install` needs no hash from the user.
bbgate_release_sha256() {
  case "$1" in
    bbgate-0.1.0-x86_64-linux-musl) echo a03bc9d5b17827d503fd217af915622529e2ac4a95a50f41e0ad3251141222a6 ;;
    *) return 1 ;;
  esac
}
