"""Accuracy evidence for group-sparse pruning on real data that ships offline.

scikit-learn's `digits` (1,797 handwritten 8x8 digits, installed with the package): train a
small separable CNN (MobileNet-v1 layer kinds), prune it with G=4 (balanced) to 50/70/90%, with
and without channel rearrangement, fine-tune with the masks in place, and report accuracy on a
held-out quarter of the data: dense, pruned before fine-tuning, after fine-tuning.

    .venv/bin/python bench/prune_digits.py [--json out/prune_digits.json]

Deterministic for a given machine (seeded data split, init and batches).
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import asdict, dataclass

import torch
from torch import nn

from spiree.models.tiny import TinySeparableCNN
from spiree.pipeline.prune import Cubic, GroupSparsifier, rearrange_channels
from spiree.pipeline.prune.sparsifier import default_layers


def DigitsNet(width: int = 32) -> nn.Module:
    """The tiny separable CNN on 1-channel 8x8 digits: 3x3 stride-1 stem (dense: 9 positions),
    three separable blocks, global pool, linear classifier."""
    return TinySeparableCNN(num_classes=10, in_channels=1, width=width, stem_stride=1)


def load_digits(seed: int = 0):
    """(x_train, y_train, x_test, y_test): a stratified 75/25 split, pixels scaled to [0, 1]."""
    from sklearn.datasets import load_digits as sk_digits
    from sklearn.model_selection import train_test_split

    d = sk_digits()
    x = torch.tensor(d.images, dtype=torch.float32).unsqueeze(1) / 16.0
    y = torch.tensor(d.target, dtype=torch.long)
    itr, ite = train_test_split(torch.arange(len(y)).numpy(), test_size=0.25, random_state=seed,
                                stratify=y.numpy())
    return x[itr], y[itr], x[ite], y[ite]


def train(model: nn.Module, x, y, *, epochs: int, lr: float, seed: int, batch: int = 64,
          on_epoch=None) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, epochs))
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(y), generator=gen).split(batch):
            opt.zero_grad()
            nn.functional.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
        sched.step()
        if on_epoch is not None:
            on_epoch()
    return model.eval()


@torch.no_grad()
def recalibrate_batchnorm(model: nn.Module, x, batch: int = 256) -> nn.Module:
    """Re-estimate BatchNorm statistics for the pruned weights (one pass, no gradients)."""
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    for m in bns:
        m.reset_running_stats()
        m.momentum = None  # cumulative average over the pass
    model.train()
    for xb in x.split(batch):
        model(xb)
    for m in bns:
        m.momentum = 0.1
    return model.eval()


@torch.no_grad()
def accuracy(model: nn.Module, x, y) -> float:
    return float((model.eval()(x).argmax(1) == y).float().mean())


@dataclass
class Row:
    sparsity: float
    rearrange: bool
    schedule: str  # "one-shot", or "cubic" (Zhu & Gupta over the first half of fine-tuning)
    before_finetune: float  # pruned, weights as they were (nan for the gradual schedule)
    bn_recalibrated: float  # pruned, BatchNorm statistics re-estimated, no training (nan: gradual)
    after_finetune: float
    energy_kept: float  # fraction of the dense weights' squared magnitude the final masks keep
    zeros: float  # fraction of the pruned layers' weights that are zero after fine-tuning


def prune_and_finetune(dense: nn.Module, data, *, sparsity: float, group: int, rearrange: bool,
                       epochs: int, lr: float, seed: int, gradual: bool = False) -> Row:
    """The user's lifecycle: (rearrange) -> prepare -> step -> evaluate -> fine-tune -> squash.
    `gradual`: a cubic schedule, one step() per epoch over the first half of fine-tuning."""
    xtr, ytr, xte, yte = data
    model = copy.deepcopy(dense)
    layers = default_layers(model)
    if rearrange:
        model, _ = rearrange_channels(model, group=group, sparsity=sparsity, layers=layers, inplace=True)
    steps = max(1, epochs // 2)
    sp = GroupSparsifier(sparsity=sparsity, group=group, schedule=Cubic(steps) if gradual else None)
    model = sp.prepare(model, layers, inplace=True)
    mods = dict(model.named_modules())
    dense_w = {n: mods[n].parametrizations.weight.original.detach().clone() for n in layers}
    before = recal = float("nan")
    if gradual:
        sp.step()
    else:
        sp.step()
        before = accuracy(model, xte, yte)
        recal = accuracy(recalibrate_batchnorm(copy.deepcopy(model), xtr), xte, yte)
    torch.manual_seed(seed)
    train(model, xtr, ytr, epochs=epochs, lr=lr, seed=seed,
          on_epoch=(lambda: sp.steps < steps and sp.step()) if gradual else None)
    # magnitude kept: the final masks applied to the dense (rearranged) weights
    masks = {n: mods[n].parametrizations.weight[0].mask for n in layers}
    kept = (sum(float(((dense_w[n] * masks[n]) ** 2).sum()) for n in layers)
            / sum(float((dense_w[n] ** 2).sum()) for n in layers))
    model = sp.squash_mask()
    mods = dict(model.named_modules())
    zeros = sum(int((mods[n].weight == 0).sum()) for n in layers) / sum(mods[n].weight.numel() for n in layers)
    return Row(sparsity, rearrange, "cubic" if gradual else "one-shot", before, recal,
               accuracy(model, xte, yte), kept, zeros)


def run(*, sparsities=(0.5, 0.7, 0.9), group: int = 4, rearrange=(False, True), width: int = 32,
        epochs: int = 40, finetune_epochs: int = 15, seed: int = 0, gradual: bool = True) -> dict:
    torch.manual_seed(seed)
    data = load_digits(seed)
    xtr, ytr, xte, yte = data
    t0 = time.perf_counter()
    dense = train(DigitsNet(width), xtr, ytr, epochs=epochs, lr=3e-3, seed=seed)
    dense_acc = accuracy(dense, xte, yte)
    rows = [prune_and_finetune(dense, data, sparsity=s, group=group, rearrange=r, epochs=finetune_epochs,
                               lr=1e-3, seed=seed, gradual=g)
            for s in sparsities for g in ((False, True) if gradual else (False,)) for r in rearrange]
    return {
        "dataset": "sklearn digits (8x8), 75/25 stratified split", "train": len(ytr), "test": len(yte),
        "model": f"DigitsNet(width={width})", "pruned_layers": default_layers(dense), "group": group,
        "balanced": True, "epochs": epochs, "finetune_epochs": finetune_epochs, "seed": seed,
        "dense_accuracy": dense_acc,
        "rows": [{k: (None if v != v else v) for k, v in asdict(r).items()} for r in rows],  # nan -> null
        "seconds": round(time.perf_counter() - t0, 1),
    }


def format_table(result: dict) -> str:
    lines = [f"dense accuracy {result['dense_accuracy']:.1%} ({result['test']} test digits); "
             f"G={result['group']} balanced, pruned: {', '.join(result['pruned_layers'])}",
             f"{'sparsity':>8}  {'schedule':>8}  {'rearranged':>10}  {'magnitude kept':>14}  "
             f"{'before fine-tune':>16}  {'+BN recal.':>10}  {'after fine-tune':>15}  {'vs dense':>8}"]
    pct = lambda v: "-" if v is None else f"{v:.1%}"  # None: not measured
    for r in result["rows"]:
        lines.append(f"{r['sparsity']:>8.0%}  {r['schedule']:>8}  {'yes' if r['rearrange'] else 'no':>10}  "
                     f"{r['energy_kept']:>14.1%}  {pct(r['before_finetune']):>16}  {pct(r['bn_recalibrated']):>10}  "
                     f"{r['after_finetune']:>15.1%}  {100 * (r['after_finetune'] - result['dense_accuracy']):>+7.1f}p")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--json", help="write the results here")
    p.add_argument("--epochs", type=int, default=40)
    p.add_argument("--finetune-epochs", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-gradual", action="store_true", help="skip the cubic-schedule rows")
    args = p.parse_args(argv)
    result = run(epochs=args.epochs, finetune_epochs=args.finetune_epochs, seed=args.seed,
                 gradual=not args.no_gradual)
    print(format_table(result))
    print(f"({result['seconds']} s)")
    if args.json:
        from pathlib import Path

        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
