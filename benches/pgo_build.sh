#!/usr/bin/env bash
# Profile-guided build of the core (`make build-pgo`), as pydantic-core builds its release
# wheels: build the extension instrumented, run a dry run and a real run on a generated 64 MiB
# log (seed 2, not the benchmark's seed 1), merge the profiles, rebuild with them. The scanner's
# branches are data-driven, so the profile tells LLVM which paths the audit lines take.
# Needs llvm-profdata of rustc's own LLVM major version (Debian: apt-get install llvm-N).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=.venv/bin

major=$(rustc -vV | sed -n 's/^LLVM version: \([0-9]*\).*/\1/p')
profdata=$(command -v "llvm-profdata-$major" || true)
if [ -z "$profdata" ] && [ -x "/usr/lib/llvm-$major/bin/llvm-profdata" ]; then
  profdata="/usr/lib/llvm-$major/bin/llvm-profdata"
fi
if [ -z "$profdata" ]; then
  echo "build-pgo: needs llvm-profdata from LLVM $major (rustc's version), e.g. apt-get install llvm-$major" >&2
  exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/raw" "$work/train"

RUSTFLAGS="-Cprofile-generate=$work/raw" VIRTUAL_ENV="$PWD/.venv" \
  "$bin/maturin" develop --release --extras dev -q
"$bin/python" benches/generate.py "$work/train/logs.jsonl" --size-mb 64 --seed 2 >/dev/null
run=("$bin/mxcp-compact" log-cleanup --json --now 2026-11-27T00:00:00Z --path "$work/train/logs.jsonl")
"${run[@]}" --dry-run >/dev/null
"${run[@]}" >/dev/null
"$profdata" merge -o "$work/merged.profdata" "$work/raw"

RUSTFLAGS="-Cprofile-use=$work/merged.profdata" VIRTUAL_ENV="$PWD/.venv" \
  "$bin/maturin" develop --release --extras dev -q
echo "build-pgo: built with the profile of a dry and a real run on 64 MiB (LLVM $major)"
