#!/usr/bin/env bash
# The email agent's longer run: the main job (`toolbrain run`) for 72 GRPO steps instead of 24
# (long.toml: the job's settings, the learning rate decaying along a cosine, a held-out
# evaluation every 24 steps), on corpus seeds 1, 3 and 7, one after another. Each leaves
# runs/email-long-seed-N/ (metrics.jsonl, curves.png, eval.png, report.md, eval/ traces).
# About 15.5 minutes a seed on 2 cores (930 s for seed 1, alone).
# Run from the repository root: bash examples/email_search/run.sh [SEED...]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${WORK:-runs}"
mkdir -p "$work"
go build -o "$work/toolbrain" ./cmd/toolbrain
seeds=("$@")
[ ${#seeds[@]} -gt 0 ] || seeds=(1 3 7)
for seed in "${seeds[@]}"; do
  "$work/toolbrain" run --seed "$seed" --config "$here/long.toml" --out "$work/email-long-seed-$seed"
done
