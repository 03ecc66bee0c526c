# The common start of the bench/*-ab.sh scripts, sourced with the script's arguments:
#   AB_NAME=versioning; source "$ROOT/bench/ab-lib.sh" "$@"
# Parses --seconds N (each measurement, default 10), --rounds N (default 3) and --no-big (sets BIG=0);
# checks the sos binary (SOS_BIN, default .build/release/sos); sets root keys for the servers it starts
# (KEYS: sos bench's options for them), a work directory WORK with the figures file FIG; then sources
# baseline-lib.sh (start_bg, bench, stop_all, ...).
# shellcheck disable=SC2034  # the variables are for the sourcing script
PY=(python3 "$ROOT/bench/baseline.py")
SOS=${SOS_BIN:-$ROOT/.build/release/sos}
SECONDS_EACH=10 ROUNDS=3 BIG=1
while [ $# -gt 0 ]; do
    case $1 in
        --seconds) SECONDS_EACH=${2:?}; shift 2 ;;
        --rounds) ROUNDS=${2:?}; shift 2 ;;
        --no-big) BIG=0; shift ;;
        *) echo "usage: bench/$AB_NAME-ab.sh [--seconds N] [--rounds N] [--no-big]" >&2; exit 1 ;;
    esac
done
[ -x "$SOS" ] || { echo "no sos binary at $SOS: swift build -c release, or set SOS_BIN" >&2; exit 1; }
unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export SOS_ROOT_ACCESS_KEY="ABBENCH$RANDOM$RANDOM" SOS_ROOT_SECRET_KEY="ab-bench-secret-$RANDOM$RANDOM"
KEYS=(--access-key "$SOS_ROOT_ACCESS_KEY" --secret-key "$SOS_ROOT_SECRET_KEY")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/sos-$AB_NAME-ab.XXXXXX")
FIG=$WORK/figures
touch "$FIG"
QUICK=0
# shellcheck source=bench/baseline-lib.sh
source "$ROOT/bench/baseline-lib.sh"
