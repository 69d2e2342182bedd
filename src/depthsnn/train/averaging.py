"""Exponential moving average (EMA) of the weights: the network a run validates, saves and exports.

Polyak-Ruppert averaging in its exponential form (Polyak & Juditsky 1992; as in
``torch.optim.swa_utils``, which does the arithmetic here). Scope: the averaged copy follows the
trained network after every optimiser step, ``avg <- decay * avg + (1 - decay) * w``, buffers
included (a batch norm's running statistics are averaged like weights; its integer step counter is
copied, since an average of counts is no count). The trained weights themselves are unchanged, so
the optimiser's trajectory is the run's without averaging.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel


def _ema_update(decay: float):
    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], _steps) -> None:
        # AveragedModel calls this once per (device, dtype) group, so a group is all float or all int.
        if averaged[0].is_floating_point():
            torch._foreach_lerp_(averaged, current, 1.0 - decay)
        else:
            for a, c in zip(averaged, current, strict=True):
                a.copy_(c)

    return update


def weight_average(model: nn.Module, decay: float) -> AveragedModel | None:
    """The EMA of ``model`` with ``decay`` (None when 0: no averaging). Make it before hooks are
    attached to ``model`` (a distillation tap): it starts as a deep copy of the model."""
    if decay == 0:
        return None
    return AveragedModel(model, multi_avg_fn=_ema_update(decay), use_buffers=True)


def averaged_state(ema: AveragedModel) -> tuple[dict, int]:
    """The averaged network's state dict (keys as the trained network's) and the steps averaged."""
    return ema.module.state_dict(), int(ema.n_averaged)


def restore_average(ema: AveragedModel, state: dict, steps: int) -> None:
    """Inverse of :func:`averaged_state` (a resumed run)."""
    ema.module.load_state_dict(state)
    ema.n_averaged.fill_(steps)
