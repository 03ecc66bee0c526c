#!/usr/bin/env bash
# Installs what building and testing SOS needs on a fresh Debian machine, if it is missing:
# the lz4, xxhash, zlib and libxml2 headers (C shims), and (--test) the S3 clients the end-to-end tests drive.
set -euo pipefail
packages=(liblz4-dev libxxhash-dev zlib1g-dev libxml2-dev pkg-config)
# The end-to-end tests also drive s3cmd, rclone, curl (presigned URLs), for the console a headless
# Chromium through its WebDriver (Selenium) and a headless Firefox ESR through Marionette
# (marionette_driver), and for the power-loss tests FUSE 3 (the power-cut filesystem, in Python over
# libfuse3 with mfusepy) and a C compiler (the LD_PRELOAD shim that validates it).
[ "${1:-}" = "--test" ] && packages+=(s3cmd rclone curl chromium chromium-driver firefox-esr fuse3 libfuse3-3 gcc)
missing=()
for pkg in "${packages[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    $sudo apt-get install -y -qq "${missing[@]}"
fi
if [ "${1:-}" = "--test" ]; then
    python3 -c 'import boto3, pytest, selenium, marionette_driver, mfusepy' 2>/dev/null ||
        python3 -m pip install -q boto3 pytest selenium marionette_driver mfusepy
    command -v aws >/dev/null || python3 -m pip install -q awscli
fi
