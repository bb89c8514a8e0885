#!/usr/bin/env bash
# Makes the email agent's distilled base (plugins/packs/email/base/model) from nothing:
# corpus → scripted-expert conversations → a BPE tokenizer trained on them → a random model →
# `toolbrain distill` from the scripted expert (its conversations, kept when exact_match scores
# them 1, then full fine-tuning) → more SFT steps on the same conversations at a lower rate → 180
# more steps on the expert's conversations of the main job's training questions (corpus seed 1,
# 8 inboxes: its 96 training questions; the 32 held-out ones, on 2 other inboxes, are never seen).
# Run from the repository root: bash examples/email_search/make_base.sh [STEPS]
set -euo pipefail
work="${WORK:-runs/email-base}"
steps="${1:-1900}"
mkdir -p "$work"
go build -o "$work/toolbrain" ./cmd/toolbrain
tb="$work/toolbrain"
# 40 inboxes × 20 questions: 600 training questions (30 inboxes), 200 held out (10 inboxes).
"$tb" data email --seed 1 --out "$work/data" --inboxes 40 --tasks-per-inbox 20 --expert-traces "$work/data/expert.jsonl"
"$tb" tokenizer train --corpus "$work/data/messages.jsonl,$work/data/expert.jsonl,$work/data/train.jsonl" --vocab 1024 --out "$work/tokenizer"
"$tb" model init --arch llama --hidden 128 --layers 4 --heads 4 --kv-heads 2 --ffn 344 --vocab 832 --tie --max-pos 1024 \
  --tokenizer "$work/tokenizer" --out "$work/random"
# Constant learning rate, so the run can be cut in chunks with --resume and give the same weights.
# The expert's conversations (data/expert.jsonl) are the tokenizer's corpus; distill writes the
# same conversations again as $work/sft/demos.jsonl (byte for byte) and trains on them.
"$tb" distill --teacher email --email-data "$work/data" --model "$work/random" --out "$work/sft" --full \
  --steps 1050 --batch 8 --lr 0.002 --warmup 20 --schedule constant --save-every 50
"$tb" sft --model "$work/random" --data "$work/sft/demos.jsonl" --out "$work/sft" --full \
  --steps "$steps" --batch 8 --lr 0.0005 --schedule constant --save-every 50 --resume
# Stop where the base answers right often enough for GRPO's groups to carry signal, and
# well short of what more SFT reaches (90% after 300 steps): RL must have room to show a gain.
"$tb" data email --seed 1 --out "$work/data8" --inboxes 8 --tasks-per-inbox 16 --expert-traces "$work/data8/expert.jsonl"
"$tb" sft --model "$work/sft/model" --data "$work/data8/expert.jsonl" --out "$work/base" --full \
  --steps 180 --batch 8 --lr 0.0005 --schedule constant
echo "base: $work/base/model (copy it to plugins/packs/email/base/model)"
