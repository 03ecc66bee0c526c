#!/usr/bin/env bash
# One command start: installs build dependencies if missing, builds the release binary if needed,
# and runs `sos server` (a brain and two storage agents in one process) on ./sos-data.
# Extra arguments go to `sos server`, e.g. --s3-address 127.0.0.1:9000 --directory /srv/sos.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
swift build -c release --product sos
exec .build/release/sos server "$@"
