#!/usr/bin/env bash
# RL on BFCL tasks with a tiny model, end to end, held-out accuracy before and after:
# BFCL cases → train/held-out task files (split by a hash of seed and id) → a BPE tokenizer
# and a random tiny model → a short SFT on the training cases' possible answers (a random
# model scores 0 and GRPO cannot move it; the SFT gives it the call format) → `toolbrain
# eval bfcl` on the held-out ids → GRPO with the bfcl reward (`toolbrain train`, which also
# reports held-out success with its Wilson 95% CI before and after) → `eval bfcl` again.
# Run from the repository root: bash examples/bfcl/run.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="${WORK:-runs/bfcl}"
cats="${CATEGORIES:-simple_python,irrelevance}"
mkdir -p "$work"
go build -o "$work/toolbrain" ./cmd/toolbrain
tb="$(cd "$work" && pwd)/toolbrain"
cd "$work"
"$tb" data bfcl --out data --categories "$cats" --heldout 0.2 --seed 1
"$tb" tokenizer train --corpus data/train.jsonl --vocab 1024 --out tokenizer
"$tb" model init --arch llama --hidden 64 --layers 2 --heads 4 --kv-heads 2 --ffn 176 --vocab 1024 --tie --max-pos 1024 \
  --tokenizer tokenizer --out random
"$tb" data bfcl --out data --categories "$cats" --heldout 0.2 --seed 1 --model random   # + sft.jsonl
"$tb" sft --backend cpu --model random --data data/sft.jsonl --out sft --full \
  --steps "${SFT_STEPS:-60}" --batch 8 --lr 0.003 --warmup 5 --schedule constant --save-every 1000
"$tb" eval bfcl --backend cpu --model sft/model --tasks data/test.jsonl --max-new-tokens 64 > eval-before.txt
"$tb" train --config "$here/toolbrain.toml" --model sft/model
"$tb" eval bfcl --backend cpu --model sft/model --adapter grpo/adapter --tasks data/test.jsonl --max-new-tokens 64 > eval-after.txt
tail -n 4 eval-before.txt eval-after.txt
