"""Group-sparse pruning: the pattern of `mlir_passes.pattern`, made by magnitude.

- `GroupSparsifier`: prepare / step / squash_mask, masks as parametrizations (sparsifier.py);
- `OneShot`, `Cubic`: schedules (schedule.py);
- `PDPSparsifier`, `Sharpen`: differentiable group masks during training (pdp.py);
- `rearrange_channels`: function-preserving channel permutation before pruning (rearrange.py);
- `prune`, `prune_model`, `PruneOptions`: one-shot, as the pipeline uses it (oneshot.py).

See docs/sparsity-pattern.md.
"""
from .masks import layer_mask
from .oneshot import PruneOptions, PruneResult, prune, prune_model
from .pdp import PDPSparsifier, Sharpen
from .rearrange import channel_spaces, group_channels, rearrange_channels
from .schedule import Cubic, OneShot
from .sparsifier import GroupMask, GroupSparsifier, default_layers, global_sparsities

__all__ = [
    "GroupSparsifier", "GroupMask", "OneShot", "Cubic", "prune", "prune_model", "PruneOptions",
    "PruneResult", "rearrange_channels", "channel_spaces", "group_channels", "layer_mask",
    "default_layers", "global_sparsities", "PDPSparsifier", "Sharpen",
]
