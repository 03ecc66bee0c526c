#!/usr/bin/env bash
# The whole test suite: unit tests, end-to-end tests against real processes with aws-cli and
# boto3, and a short run of every fuzz target. Long modes are opt-in:
#   SOS_FUZZ_SECONDS=600 scripts/test.sh   # fuzz each target for 10 minutes (default 15 s)
#   SOS_CRASH_KILLS=200, SOS_POWER_CUTS=200 # kill and power-cut loops (default 10 and 7)
#   SOS_E2E_LONG=1                          # 5 GiB objects
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
swift build --build-tests
swift test --skip-build --parallel
SOS_BIN="$PWD/.build/debug/sos" python3 -m pytest -q Tests/e2e
Fuzz/run.sh "${SOS_FUZZ_SECONDS:-15}"
