#!/usr/bin/env bash
# Coverage-guided fuzzing (cargo-fuzz / libFuzzer) of the decoders that take hostile input:
# telemetry JSON, VDA 5050 topic + payload, the server's query strings and time windows.
#
#   bash scripts/fuzz-rust.sh [SECONDS_PER_TARGET]   (default 20)
#
# Installs what is missing (the nightly toolchain, cargo-fuzz), builds every target in
# fuzz/fuzz_targets, runs each for SECONDS_PER_TARGET and prints its executions, exec/s and
# coverage from libFuzzer's final stats. Exits non-zero on a crash (a panic is one), printing the
# reproducer; replay it with `cargo +nightly fuzz run -s none <target> <reproducer>`.
#
# Seeds are fuzz/corpus/<target> (read only); what libFuzzer finds on top is kept in
# $CARGO_TARGET_DIR/fuzz-corpus/<target>, so later runs start from it. docs/fuzzing.md has more.
set -euo pipefail

SECONDS_PER_TARGET="${1:-20}"
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "usage: $0 [SECONDS_PER_TARGET]" >&2
  exit 2
fi
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/vehicleops/target}"

if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "== installing the nightly toolchain (cargo fuzz needs -Z flags)"
  rustup toolchain install nightly --profile minimal
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

# No sanitizer: the targets are safe Rust, what we look for is panics (overflow checks and
# debug assertions are on, cargo fuzz's default), and AddressSanitizer would halve exec/s.
FUZZ=(cargo +nightly fuzz)
FLAGS=(--sanitizer none --target-dir "$CARGO_TARGET_DIR")

mapfile -t TARGETS < <(cd fuzz/fuzz_targets && ls -- *.rs | sed 's/\.rs$//' | sort)
echo "== building ${#TARGETS[@]} fuzz targets (${TARGETS[*]})"
start=$SECONDS
# One target at a time, as `fuzz run` builds them: a `build` of all of them at once leaves
# each one to be compiled again by its `run`.
for target in "${TARGETS[@]}"; do
  "${FUZZ[@]}" build "${FLAGS[@]}" "$target"
done
echo "== built in $((SECONDS - start)) s"

LOG_DIR="$CARGO_TARGET_DIR/fuzz-logs"
mkdir -p "$LOG_DIR"
failed=0
summary=()
for target in "${TARGETS[@]}"; do
  corpus="$CARGO_TARGET_DIR/fuzz-corpus/$target"
  mkdir -p "$corpus"
  args=(-max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10)
  case "$target" in
    telemetry_decode) args+=(-max_len=17408) ;; # past the 16 KiB payload limit
    *) args+=(-max_len=8192) ;;
  esac
  [[ -f "fuzz/dict/$target.dict" ]] && args+=(-dict="fuzz/dict/$target.dict")
  log="$LOG_DIR/$target.log"
  echo "== $target: ${SECONDS_PER_TARGET} s"
  status=0
  "${FUZZ[@]}" run "${FLAGS[@]}" "$target" "$corpus" "fuzz/corpus/$target" -- "${args[@]}" \
    >"$log" 2>&1 || status=$?
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  execs=$(grep -oP 'stat::number_of_executed_units:\s+\K[0-9]+' "$log" || true)
  rate=$(grep -oP 'stat::average_exec_per_sec:\s+\K[0-9]+' "$log" || true)
  cov=$(grep -oP 'cov: \K[0-9]+' <<<"$last" || true)
  ft=$(grep -oP 'ft: \K[0-9]+' <<<"$last" || true)
  corp=$(grep -oP 'corp: \K[0-9]+' <<<"$last" || true)
  line=$(printf '%-18s executions %10s  exec/s %7s  cov %5s  ft %6s  corpus %5s' \
    "$target" "${execs:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "${corp:-?}")
  if [[ $status -ne 0 ]]; then
    failed=1
    line+="  CRASH"
    echo "!! $target failed (exit $status); the end of $log:"
    tail -n 40 "$log"
    grep -E 'Test unit written to|artifact_prefix' "$log" | sed 's/^/!! reproducer: /' || true
  fi
  echo "   $line"
  summary+=("$line")
done

echo "== fuzzing summary (${SECONDS_PER_TARGET} s per target; logs in $LOG_DIR)"
printf '   %s\n' "${summary[@]}"
exit $failed
