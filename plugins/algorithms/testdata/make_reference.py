#!/usr/bin/env python3
"""Reference advantages and DPO pairs for plugins/algorithms, in plain Python.

Usage: python3 make_reference.py > reference.json   (no third-party packages)

Each formula is transcribed from the reference implementation, not from the Go code:
  GRPO     TRL trl/trainer/grpo_trainer.py (_generate_and_score_completions):
           advantages = rewards - mean_grouped_rewards;
           std_rewards = rewards.view(-1, G).std(dim=1)  (scale_rewards "group")
                       = rewards.std()                   (scale_rewards "batch")
           advantages /= (std_rewards + 1e-4) unless scale_rewards == "none".
           torch.std is Bessel-corrected (n-1); TRL uses 0 when there is one value.
  Dr.GRPO  the same with scale_rewards "none".
  RLOO     TRL trl/trainer/rloo_trainer.py: baselines = (grouped_sum - grouped_rewards) / (G - 1);
           advantages = rewards - baselines (0 when G == 1); if normalize_advantages:
           advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-4).
  REINFORCE++-baseline  OpenRLHF openrlhf/trainer/ppo_utils/experience_maker.py:
           rewards = rewards - rewards.mean(-1); every action token of a sequence gets that return
           (gamma = 1, no KL in the reward); then over all action tokens of the batch:
           mean = sum(adv*mask)/num_actions; var = sum((adv-mean)^2*mask)/num_actions;
           adv = (adv - mean) * var.clamp(min=1e-8).rsqrt().
           Here the token expansion is done literally: one list entry per generated token.
  DPO      per group: highest reward chosen, lowest rejected, lowest index among ties, no pair
           when highest == lowest.
statistics.mean/stdev compute with exact rational arithmetic, so these values are the exactly
rounded results, independent of any summation order.
"""
import json
import math
import statistics
import sys


def std_torch(xs):
    return statistics.stdev(xs) if len(xs) > 1 else 0.0


def grpo(groups, scale="group", eps=1e-4):
    flat = [r for g in groups for r in g["rewards"]]
    out = []
    for g in groups:
        r = g["rewards"]
        m = statistics.mean(r)
        if scale == "group":
            s = std_torch(r)
        elif scale == "batch":
            s = std_torch(flat)
        adv = [x - m for x in r]
        if scale != "none":
            adv = [a / (s + eps) for a in adv]
        out.append(adv)
    return out


def rloo(groups, normalize=False, eps=1e-4):
    out = []
    for g in groups:
        r = g["rewards"]
        n = len(r)
        if n == 1:
            out.append([0.0])
            continue
        total = math.fsum(r)
        out.append([x - (total - x) / (n - 1) for x in r])
    if normalize:
        flat = [a for g in out for a in g]
        m = statistics.mean(flat)
        s = std_torch(flat)
        out = [[(a - m) / (s + eps) for a in g] for g in out]
    return out


def reinforce_pp_baseline(groups, floor=1e-8):
    centred = []
    for g in groups:
        m = statistics.mean(g["rewards"])
        centred.append([x - m for x in g["rewards"]])
    # One entry per generated token, as OpenRLHF's masked token tensor.
    tokens = [a for g, c in zip(groups, centred) for a, n in zip(c, g["lengths"]) for _ in range(n)]
    if not tokens:
        return [[0.0] * len(c) for c in centred]
    m = statistics.mean(tokens)
    var = statistics.pvariance(tokens, mu=m)
    rstd = 1 / math.sqrt(max(var, floor))
    return [[(a - m) * rstd for a in c] for c in centred]


def dpo(groups):
    pairs = []
    for gi, g in enumerate(groups):
        r = g["rewards"]
        hi, lo = max(r), min(r)
        if hi == lo:
            continue
        pairs.append({"group": gi, "chosen": r.index(hi), "rejected": r.index(lo)})
    return pairs


def G(rewards, lengths=None):
    return {"rewards": rewards, "lengths": lengths if lengths is not None else [10] * len(rewards)}


BATCH = [G([1, 0, 0, 1], [12, 30, 7, 20]), G([0.5, 0.2, 0.9], [5, 40, 9])]
EIGHT = [G([0.9, 0.1, 0.4, 0.4, 1.0, 0.0, 0.75, 0.3], [31, 8, 64, 17, 22, 50, 3, 40])]
DEGENERATE = [G([0.3, 0.3, 0.3], [4, 5, 6]), G([2.0], [11]), G([-1.5, 2.5], [1, 3])]
ALL_ZERO_LEN = [G([1, 0], [0, 0]), G([0.2, 0.7, 0.1], [0, 0, 0])]
SOME_ZERO_LEN = [G([1, 0, 0.5], [0, 10, 4]), G([3, -1], [2, 0])]
TIES = [G([0.5, 1, 1, 0, 0]), G([0.7, 0.7]), G([3]), G([-2, 5, -2, 5]), G([0.1, 0.3, 0.2])]

cases = []


def add(name, config, groups, **want):
    cases.append({"name": name, "config": config, "request": {"groups": groups}, **want})


for label, groups in [("batch", BATCH), ("eight", EIGHT), ("degenerate", DEGENERATE)]:
    add(f"grpo default {label}", {}, groups, advantages=grpo(groups))
    add(f"grpo group {label}", {"name": "grpo", "scale_rewards": "group"}, groups, advantages=grpo(groups, "group"))
    add(f"grpo batch {label}", {"name": "grpo", "scale_rewards": "batch"}, groups, advantages=grpo(groups, "batch"))
    add(f"grpo none {label}", {"name": "grpo", "scale_rewards": "none"}, groups, advantages=grpo(groups, "none"))
    add(f"dr_grpo {label}", {"name": "dr_grpo"}, groups, advantages=grpo(groups, "none"))
    add(f"rloo {label}", {"name": "rloo"}, groups, advantages=rloo(groups))
    add(f"rloo normalized {label}", {"name": "rloo", "normalize_advantages": True}, groups, advantages=rloo(groups, True))
    add(f"reinforce_pp_baseline {label}", {"name": "reinforce_pp_baseline"}, groups, advantages=reinforce_pp_baseline(groups))
    add(f"dpo {label}", {"name": "dpo"}, groups, pairs=dpo(groups))
add("grpo group epsilon 0.01", {"name": "grpo", "epsilon": 0.01}, BATCH, advantages=grpo(BATCH, "group", 0.01))
add("grpo batch epsilon 0.5", {"name": "grpo", "scale_rewards": "batch", "epsilon": 0.5}, BATCH, advantages=grpo(BATCH, "batch", 0.5))
add("rloo normalized epsilon 0.1", {"name": "rloo", "normalize_advantages": True, "epsilon": 0.1}, EIGHT, advantages=rloo(EIGHT, True, 0.1))
add("reinforce_pp_baseline floor 1", {"name": "reinforce_pp_baseline", "epsilon": 1.0}, BATCH, advantages=reinforce_pp_baseline(BATCH, 1.0))
add("reinforce_pp_baseline some zero lengths", {"name": "reinforce_pp_baseline"}, SOME_ZERO_LEN, advantages=reinforce_pp_baseline(SOME_ZERO_LEN))
add("reinforce_pp_baseline all zero lengths", {"name": "reinforce_pp_baseline"}, ALL_ZERO_LEN, advantages=reinforce_pp_baseline(ALL_ZERO_LEN))
add("dpo ties", {"name": "dpo"}, TIES, pairs=dpo(TIES))
add("dpo no pair", {"name": "dpo"}, [G([1, 1]), G([0])], pairs=[])

# One case a line keeps diffs readable.
sys.stdout.write('{"generator": "make_reference.py", "cases": [\n')
sys.stdout.write(",\n".join(json.dumps(c) for c in cases))
sys.stdout.write("\n]}\n")
