#!/usr/bin/env bash
# Written by scripts/release from dist/SHA256SUMS: the sha256 of every bbgate binary released, by file name.
# An orb version carries the checksums of the releases before it, so `install` needs no hash from the user.
bbgate_release_sha256() {
  case "$1" in
    bbgate-0.1.0-aarch64-linux-musl) echo bbe127203acd0b6e3c022a36914bce62eebcbbfce181bf5c9dba5e86952a77ed ;;
    bbgate-0.1.0-x86_64-linux-musl) echo c583ababd7ec5c3ea3bcc042d3aa783c1cb120a7c96b1182d089da11befef58f ;;
    *) return 1 ;;
  esac
}
