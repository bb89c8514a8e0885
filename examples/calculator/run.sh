#!/usr/bin/env bash
# The coach on a small learnable task: a tiny random model is briefly
# fine-tuned on a scripted expert's demonstrations (it learns the format,
# not yet to copy the numbers), then GRPO raises its held-out success.
# Run from the repository root: bash examples/calculator/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${WORK:-runs/calculator}"
mkdir -p "$work"
bash plugins/build.sh >/dev/null                       # calculator.wasm
go build -o "$work/toolbrain" ./cmd/toolbrain
tb="$work/toolbrain"
mkdir -p "$work/pack"
cp plugins/packs/calculator/toolpack.toml plugins/build/calculator.wasm "$work/pack/"
"$tb" pack build "$work/pack" -o "$work" >/dev/null
"$tb" data calculator --seed 1 --out "$work/data"      # 400 train, 100 held-out tasks, expert demonstrations
"$tb" model init --arch llama --hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 176 --vocab 320 --max-pos 512 --out "$work/random"
"$tb" sft --backend cpu --model "$work/random" --data "$work/data/sft.jsonl" --out "$work/sft" --full \
  --steps "${SFT_STEPS:-800}" --batch 8 --lr 0.003 --warmup 20 --schedule cosine
cd "$work"
"$tb" train --config "$here/toolbrain.toml" --model sft/model
