"""Default optimiser recipes per model kind: each kind gets its own, tuned on validation scenes.

A baseline trained with another model's recipe is a weak baseline: the ANN with BatchNorm
tolerates (and wants) other learning rates than the spiking U-Net. The sweeps that chose these
values are in BENCHMARKS.md ("Recipes"). ``TrainConfig`` fields left at ``None`` take the
recipe of the model's kind, architecture and modality (:meth:`TrainConfig.resolved`); set them
to override.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Recipe:
    """Adam learning rate, its decay (``lr_gamma`` after each fraction ``decay_at`` of the epochs),
    weight decay, the weight of the mean firing rate in the loss (``rate_penalty``) and the
    samples per optimiser step (``batch_size``)."""

    lr: float
    decay_at: tuple[float, ...]
    lr_gamma: float
    weight_decay: float = 0.0
    rate_penalty: float = 0.0
    batch_size: int = 2

    def milestones(self, epochs: int) -> list[int]:
        """Epochs (1-based, counted when they end) after which the LR decays."""
        return sorted({max(1, round(f * epochs)) for f in self.decay_at if round(f * epochs) < epochs})


RECIPES: dict[str, Recipe] = {
    # SNN and HNN: lr 1e-3, x0.3 after half and three quarters of the run (epochs 4 and 6 of 8).
    # The SNN U-Net has modality recipes of its own (below); this one serves the other spiking
    # architectures without their own (the Akida 2.0 U-Net).
    # SNN U-Net: spike-rate penalty 4, the sparsity frontier's choice on the validation scenes
    # (BENCHMARKS.md "Sparsity frontier": firing 29 % -> 8 % at the same validation MDE, 43.0 vs
    # 43.1 cm). The HNN was not measured on the frontier and keeps 0.
    "snn": Recipe(lr=1e-3, decay_at=(0.5, 0.75), lr_gamma=0.3, rate_penalty=4.0),
    "hnn": Recipe(lr=1e-3, decay_at=(0.5, 0.75), lr_gamma=0.3),
    # ANN (BatchNorm): lr 3e-3 beat the SNN's 1e-3 on the validation scenes (best val MDE 29.5 vs
    # 34.2 cm, 8 epochs; BENCHMARKS.md "Recipes").
    "ann": Recipe(lr=3e-3, decay_at=(0.5, 0.75), lr_gamma=0.3),
}


# Architectures other than the U-Net, where their recipe differs from their kind's: the chip-fit
# chain (arch "portable") was not measured on the frontier and trains without the penalty.
ARCH_RECIPES: dict[tuple[str, str], Recipe] = {
    ("snn", "portable"): Recipe(lr=1e-3, decay_at=(0.5, 0.75), lr_gamma=0.3),
}


# The SNN U-Net's recipe in both modalities (the sweeps that chose it are cited below).
_SNN_UNET = Recipe(lr=3e-3, decay_at=(0.75, 0.9), lr_gamma=0.3, rate_penalty=4.0)
# Binocular, plus Adam weight decay 1e-4: better than without at each of three seeds on the binocular
# validation scenes (mean best val MDE 30.1 vs 31.1 cm; BENCHMARKS.md "snn-gap-decay" and
# "snn-gap-decay-seeds"; 1e-3: 30.9). Not measured monocular, which keeps none.
# Then batch 1 (twice the optimiser steps in the same epochs; the SNN has no batch statistics):
# better on the binocular validation scenes at 4 of 5 seeds, mean best val MDE 28.7 vs 30.2 cm
# (BENCHMARKS.md "snn-gap-batch1" and "snn-gap-seeds34"; the rule, 4 of 5 and the mean, was
# written down before seeds 3 and 4 ran), at about 1.5x the time per epoch on a CPU. The ANN twin
# keeps batch 2: at batch 1 (its batch norm then sees one sample) it was worse at every seed,
# mean 31.9 vs 25.7 cm ("snn-gap-ann-batch1"). The penalty 4 re-checked at batch 1: 2 was worse on
# validation at each of seeds 0-2, mean 29.7 vs 29.2 cm ("snn-gap-penalty2"). A decay of x0.1
# instead of x0.3 was worse at two seeds of three, mean 29.8 ("snn-gap-gamma01"). T = 2 with the
# bins presented cumulatively (data.presentation) was worse at every seed, mean 32.6
# ("snn-gap-cumulative"), so the recipe keeps T = 1. A learnable conv bias (model_options=bias=true,
# a per-channel threshold shift at T = 1) was better at 2 of 5 seeds, validation mean 28.6 vs
# 28.7 cm ("snn-gap-bias", "snn-gap-bias-seeds34"), so the recipe keeps none. The penalty 6 was
# worse on validation at seed 1 and on the mean, 29.4 cm ("snn-gap-penalty6"): 4 stays. Weight
# normalisation (model_options=norm=weight) was worse at each of five seeds, validation mean 29.5 cm
# ("snn-gap-weightnorm").
_SNN_UNET_BINOCULAR = replace(_SNN_UNET, weight_decay=1e-4, batch_size=1)

# Modalities whose recipe differs from their kind's, chosen on the validation scenes of that
# modality (BENCHMARKS.md "Recipes chosen on validation, monocular" and "..., monocular-12").
MODALITY_RECIPES: dict[tuple[str, str], Recipe] = {
    # Monocular SNN U-Net: lr 3e-3 beat 1e-3 (best val MDE 84.4 vs 88.6 cm, 8 epochs, both with
    # the penalty). Monocular SNN and HNN: a later decay (after 3/4 and 9/10 of the run: epochs
    # 9 and 11 of 12) beat the kind's (epochs 6 and 9) at 12 epochs, SNN 80.7 vs 81.5 cm, HNN
    # 78.9 vs 81.1 cm; the HNN keeps lr 1e-3 (3e-3: 98.5 vs 85.7 cm at 8 epochs) and no spike-rate
    # penalty (with the SNN's penalty 4: 84.7 cm, firing 5 % instead of 38 %).
    ("snn", "monocular"): _SNN_UNET,
    # Binocular SNN U-Net: the same, chosen at 12 epochs on the binocular validation scenes
    # (BENCHMARKS.md "snn-gap-lr" and "snn-gap-lr-bracket"): best val MDE 30.4 cm with lr 3e-3 and
    # the late decay, 31.5 with 3e-3 and the kind's decay, 33.2 with 6e-3, 38.8 with the kind's 1e-3;
    # then weight decay 1e-4 (above).
    ("snn", "binocular"): _SNN_UNET_BINOCULAR,
    ("hnn", "monocular"): Recipe(lr=1e-3, decay_at=(0.75, 0.9), lr_gamma=0.3),
}


def recipe_for(kind: str, arch: str = "unet", modality: str = "binocular") -> Recipe:
    """The recipe of an architecture if it has its own, else of the modality, else of the kind.
    The modality recipes were measured on the U-Net only."""
    if (kind, arch) in ARCH_RECIPES:
        return ARCH_RECIPES[(kind, arch)]
    if arch == "unet" and (kind, modality) in MODALITY_RECIPES:
        return MODALITY_RECIPES[(kind, modality)]
    return RECIPES[kind]
