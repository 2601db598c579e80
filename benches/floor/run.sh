#!/bin/sh
# Our validating scanner beside simdjson on the same bytes, one thread, alternating 3 times.
# usage: benches/floor/run.sh FILE [MIB]   (needs g++ and libsimdjson-dev: apt-get install
# libsimdjson-dev; FILE: a benchmark log, e.g. from `make compare`'s bench-data/compare)
set -eu
file=$1
mib=${2:-128}
here=$(cd "$(dirname "$0")" && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
g++ -O3 -march=native -o "$out/simdjson_rate" "$here/simdjson_rate.cpp" -lsimdjson
cargo build --quiet --release --example scan_rate --manifest-path "$here/../../Cargo.toml"
for round in 1 2 3; do
    echo "round $round"
    "$here/../../target/release/examples/scan_rate" "$file" "$mib"
    "$out/simdjson_rate" "$file" "$mib" lines
    "$out/simdjson_rate" "$file" "$mib" many
done
