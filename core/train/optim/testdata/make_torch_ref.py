"""Reference values for core/train/optim from PyTorch (float64).

usage: /usr/bin/python3 make_torch_ref.py > torch_ref.json   (Debian python3-torch)
"""
import json
import torch
torch.set_default_dtype(torch.float64)

p = torch.nn.Parameter(torch.tensor([1.0, -2.0, 0.5]))
q = torch.nn.Parameter(torch.tensor([[0.3, 0.0], [-0.7, 2.0]]))
cfg = dict(lr=0.1, betas=(0.9, 0.99), eps=1e-6, weight_decay=0.05)
opt = torch.optim.AdamW([p, q], **cfg)
grads = [([0.5, -1.0, 0.0], [[1.0, 2.0], [-3.0, 0.25]]),
         ([-1.0, 0.2, 3.0], [[0.0, -2.0], [1.0, 1.0]]),
         ([0.1, 0.1, -0.1], [[5.0, 0.5], [-0.5, -5.0]])]
steps = []
for gp, gq in grads:
    p.grad = torch.tensor(gp)
    q.grad = torch.tensor(gq)
    opt.step()
    steps.append({"grads": [gp, sum(gq, [])], "params": [p.detach().tolist(), q.detach().flatten().tolist()]})

a = torch.nn.Parameter(torch.zeros(2)); b = torch.nn.Parameter(torch.zeros(1))
a.grad = torch.tensor([3.0, 4.0]); b.grad = torch.tensor([12.0])
n = torch.nn.utils.clip_grad_norm_([a, b], 6.5)
clip = {"grads": [[3.0, 4.0], [12.0]], "max_norm": 6.5, "norm": n.item(), "clipped": [a.grad.tolist(), b.grad.tolist()]}

print(json.dumps({
    "adamw": {"init": [[1.0, -2.0, 0.5], [0.3, 0.0, -0.7, 2.0]], "lr": cfg["lr"], "beta1": 0.9, "beta2": 0.99,
              "eps": cfg["eps"], "weight_decay": cfg["weight_decay"], "steps": steps},
    "clip": clip,
}, indent=1))
