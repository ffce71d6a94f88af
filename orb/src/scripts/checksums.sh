#!/usr/bin/env bash
# Written by scripts/release from dist/SHA256SUMS: the sha256 of every bbgate binary released, by file name.
# An orb version carries the checksums of the releases before it, so `install` needs no hash from the user.
bbgate_release_sha256() {
  case "$1" in
    bbgate-0.1.0-aarch64-linux-musl) echo 99d20dd60ce7bdd3447b094b331174c1e3e49766332b5278a8d82aff5846a472 ;;
    bbgate-0.1.0-x86_64-linux-musl) echo 690ebf86499be51c085b52bde5d83d6bac3ad79e781033215d3104e4d3e48017 ;;
    *) return 1 ;;
  esac
}
