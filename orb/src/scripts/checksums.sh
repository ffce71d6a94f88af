#!/usr/bin/env bash
# Written by scripts/release from dist/SHA256SUMS: the sha256 of every bbgate binary released, by file name.
# An orb version carries the checksums of the releases before it, so `install` needs no hash from the user.
bbgate_release_sha256() {
  case "$1" in
    bbgate-0.1.0-aarch64-linux-musl) echo 0bafc9f3976414b7afae1f064265892a058d4a80369b049a97b269bd063979cc ;;
    bbgate-0.1.0-x86_64-linux-musl) echo 6172a43c8fcc5cbd660b7695106a14bf94ec9bc4107d053513e8304233342c19 ;;
    *) return 1 ;;
  esac
}
