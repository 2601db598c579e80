#!/usr/bin/env bash
# Profile-guided build of the core, as pydantic-core builds its release wheels: build the
# extension instrumented, run a dry run and a real run on a generated 64 MiB log (seed 2, not the
# benchmark's seed 1) and on the MXCP fixture project's logs (written by MXCP's own writer),
# merge the profiles, rebuild with them. The scanner's branches are data-driven, so the profile
# tells LLVM which paths audit lines take; the result decides the same lines the same way.
#
#   benches/pgo_build.sh              installs the profile-guided extension into .venv (make build-pgo)
#   benches/pgo_build.sh --wheel DIR  the same, then also writes a profile-guided wheel to DIR (make wheel)
#   benches/pgo_build.sh --check      only says whether the tool below is there (exit 0, or 2 and why)
#
# Needs llvm-profdata of rustc's own LLVM major version (Debian: apt-get install llvm-N), found as
# $LLVM_PROFDATA, llvm-profdata-N on the PATH or /usr/lib/llvm-N/bin/llvm-profdata.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin

wheel_dir="" check_only=""
case "${1:-}" in
  "") ;;
  --wheel) wheel_dir="${2:?build-pgo: --wheel needs a directory}" ;;
  --check) check_only=1 ;;
  *) echo "build-pgo: unknown argument ${1} (usage: pgo_build.sh [--wheel DIR | --check])" >&2; exit 2 ;;
esac

major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
profdata="${LLVM_PROFDATA:-}"
if [ -z "$profdata" ]; then
  profdata=$(command -v "llvm-profdata-$major" || true)
  if [ -z "$profdata" ] && [ -x "/usr/lib/llvm-$major/bin/llvm-profdata" ]; then
    profdata="/usr/lib/llvm-$major/bin/llvm-profdata"
  fi
fi
if [ -z "$profdata" ] || [ ! -x "$profdata" ]; then
  echo "build-pgo: needs llvm-profdata from LLVM $major (rustc's version), e.g. apt-get install llvm-$major; nothing was built" >&2
  exit 2
fi
[ -z "$check_only" ] || exit 0

work=$(mktemp -d)
# From the instrumented build on, .venv holds an extension that is not the one make recorded: on
# any failure, drop make's stamps so that the next `make build` installs a plain build again.
cleanup_work() {
  local status=$?
  rm -rf "$work"
  if [ "$status" != 0 ] && [ -n "${instrumented:-}" ]; then
    rm -f .venv/.core-built .venv/.core-pgo .venv/.python-compiled
    echo "build-pgo: failed (exit $status); run make build for a plain build" >&2
  fi
}
trap cleanup_work EXIT
mkdir -p "$work/raw" "$work/train"

instrumented=1
# The build's name is compiled in (`mxcp_compact._core.BUILD`), so a benchmark can say what it timed.
MXCP_COMPACT_BUILD=pgo-training RUSTFLAGS="-Cprofile-generate=$work/raw" VIRTUAL_ENV="$PWD/.venv" \
  "$bin/maturin" develop --release --extras dev -q
"$bin/python" benches/generate.py "$work/train/logs.jsonl" --size-mb 64 --seed 2 >/dev/null
cleanup=("$PWD/$bin/mxcp-compact" log-cleanup --json --now 2026-11-27T00:00:00Z)
"${cleanup[@]}" --path "$work/train/logs.jsonl" --dry-run >/dev/null
"${cleanup[@]}" --path "$work/train/logs.jsonl" >/dev/null
cp -r tests/fixtures/mxcp-project "$work/train/project"
(cd "$work/train/project" && "${cleanup[@]}" --dry-run >/dev/null && "${cleanup[@]}" >/dev/null)
"$profdata" merge -o "$work/merged.profdata" "$work/raw"

use=(env MXCP_COMPACT_BUILD=pgo RUSTFLAGS="-Cprofile-use=$work/merged.profdata" VIRTUAL_ENV="$PWD/.venv")
"${use[@]}" "$bin/maturin" develop --release --extras dev -q
if [ -n "$wheel_dir" ]; then
  "${use[@]}" "$bin/maturin" build --release -q --out "$wheel_dir"
fi
echo "build-pgo: built with the profile of dry and real runs on 64 MiB and the MXCP fixture (LLVM $major)"
