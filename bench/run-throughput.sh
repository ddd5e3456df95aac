#!/usr/bin/env bash
# The throughput figures of bench/README.md, in one run so that their ratios
# compare like with like on a shared machine:
#   1. flow records only (dissection, baselines and detection off)
#   2. flow records plus TCP reassembly of every connection
#   3. the full pipeline (all dissectors, baselines and models on, EVE to a file)
# over the generated mixed benchmark capture, 1 worker, capture in page cache.
#
#   bash bench/run-throughput.sh [CAPTURE] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/.."
cap=${1:-/tmp/bench-1g.pcap}
runs=${2:-5}
cargo build --release -q -p spanwatch-bench
if [ ! -f "$cap" ]; then
  ./target/release/spanwatch-gen bench -o "$cap" --size 1G --seed 1
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '[dissect]\nenabled = false\n' > "$tmp/flows-only.toml"
printf '[dissect]\nreassembly_only = true\n' > "$tmp/reassembly.toml"
eve_dir=/dev/shm
[ -d "$eve_dir" ] || eve_dir=$tmp
echo "== machine: $(nproc) CPUs, $(lscpu | sed -n 's/^Model name: *//p'), kernel $(uname -r), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== flow records only"
./target/release/throughput "$cap" --workers 1 --runs "$runs" --config "$tmp/flows-only.toml"
echo "== flow records + TCP reassembly (no dissectors, no baseline)"
./target/release/throughput "$cap" --workers 1 --runs "$runs" --config "$tmp/reassembly.toml"
echo "== full pipeline, EVE to $eve_dir"
./target/release/throughput "$cap" --workers 1 --runs "$runs" --eve "$eve_dir/spanwatch-bench-eve.json"
rm -f "$eve_dir/spanwatch-bench-eve.json"
