"""Random weights that behave like trained ones through a deep net.

PyTorch's default init shrinks activations layer by layer: after MobileNet-v1's 27 convolutions
the logits are almost exactly the classifier bias, and any comparison against a reference
passes trivially. `randomize_` uses variance-preserving (He, fan-in) convolution weights and
random BatchNorm statistics, so activations keep their scale and BN folding is exercised.
`calibrate_batchnorm_` then replaces the random statistics by measured ones, for networks whose
residual adds would otherwise grow the activations block after block.
"""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def randomize_(module: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            fan_in = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
        elif isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
            m.bias.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_mean.copy_(torch.randn(c, generator=gen) * 0.1)
            m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
        elif isinstance(m, nn.Linear):
            m.weight.copy_(torch.randn(m.weight.shape, generator=gen) * (1.0 / m.in_features) ** 0.5)
            if m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)
    return module



# Images in the calibration batch: as many pixels as CALIBRATION_PIXELS (two 224x224 images), so
# the last stage's small maps still give ~100 samples per channel (EfficientNet-B0 calibrated on
# two 64x64 images, 8 samples per channel in its last stage, has logits of ~1e3 on a third one).
CALIBRATION_PIXELS = 2 * 224 * 224
MAX_CALIBRATION_BATCH = 64


def calibration_batch(input_shape: tuple[int, int, int]) -> int:
    pixels = input_shape[1] * input_shape[2]
    return max(2, min(MAX_CALIBRATION_BATCH, -(-CALIBRATION_PIXELS // pixels)))


@torch.no_grad()
def calibrate_batchnorm_(module: nn.Module, input_shape: tuple[int, int, int], seed: int = 0) -> nn.Module:
    """Set every BatchNorm's running mean and variance to the per-channel statistics of its input
    on a seeded N(0, 1) batch of `input_shape` (C, H, W) images, layer by layer (each BatchNorm
    sees the already-calibrated ones before it), in eval mode.

    Deep residual networks need this: with statistics drawn at random, every residual add
    roughly doubles the activations' variance (ResNet-50's logits reach ~1e4, beyond what an
    absolute tolerance can check). Calibrated, each BatchNorm outputs about gamma * N(0, 1) + beta,
    as in a trained network, and the statistics are still not the identity, so BN folding is
    exercised. The statistics depend on the resolution (padding, squeeze-and-excitation
    averages): calibrated at 96x96, EfficientNet-B0's logits at 224x224 reach ~1e3 again, so
    calibrate at the resolution the model is built for."""
    gen = torch.Generator().manual_seed(seed + 2)
    x = torch.randn(calibration_batch(input_shape), *input_shape, generator=gen)

    def measure(bn: nn.Module, args) -> None:
        t = args[0]
        dims = [0, *range(2, t.dim())]
        bn.running_mean.copy_(t.mean(dims))
        bn.running_var.copy_(t.var(dims, unbiased=False))

    handles = [m.register_forward_pre_hook(measure) for m in module.modules()
               if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.track_running_stats]
    training = module.training
    module.eval()
    try:
        module(x)
    finally:
        for h in handles:
            h.remove()
        module.train(training)
    return module
