#!/usr/bin/env bash
# Supervised fine-tuning end to end on a tiny model: create a random one,
# train it on chat conversations rendered by its chat template, report the
# eval loss, and ask it a question.
# Run from the repository root: bash examples/sft-colours/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${WORK:-$(mktemp -d)}"
go build -o "$work/toolbrain" ./cmd/toolbrain
tb="$work/toolbrain"
"$tb" model init --arch qwen2 --hidden 96 --layers 2 --heads 4 --kv-heads 2 --ffn 256 --vocab 400 --out "$work/tiny"
"$tb" sft --model "$work/tiny" --data "$here/train.jsonl" --eval "$here/eval.jsonl" --out "$work/run" \
  --steps 120 --batch 8 --lr 0.003 --full
for thing in sky coal blood; do
  "$tb" generate --model "$work/run/model" --chat --prompt "What colour is the $thing?" --temperature 0 --max-new 12
done
