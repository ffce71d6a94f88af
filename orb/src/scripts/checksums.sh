#!/usr/bin/env bash
# Written by scripts/release from dist/SHA256SUMS: the sha256 of every bbgate binary released, by file name.
# An orb version carries the checksums of the releases before it, so `install` needs no hash from the user.
bbgate_release_sha256() {
  case "$1" in
    bbgate-0.1.0-aarch64-linux-musl) echo 315ddc1a18aa01fb642ec49596ea6bb1fd12551c336a12eb5d923ec1c7dad7a1 ;;
    bbgate-0.1.0-x86_64-linux-musl) echo 222a6c64b935b29f6851af9f1d53b82798ce7e9178298d897b5f2773326a19ee ;;
    *) return 1 ;;
  esac
}
