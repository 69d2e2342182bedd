"""Training configuration: one dataclass, loadable from TOML with ``key=value`` overrides.

Example TOML::

    model = "snn-tiny"
    model_options = ["neuron=lif", "tau=3.0"]
    epochs = 20
    [data]
    root = "data/synthetic"
    split = "synthetic"
    num_bins = 4
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..config import apply_overrides, from_dict, to_dict
from ..data.dataset import DataConfig
from ..errors import ConfigError
from ..models import ModelConfig, preset
from .augment import resolve_augmentations
from .recipes import recipe_for


@dataclass(frozen=True)
class TrainConfig:
    """Everything a training run depends on (saved in every checkpoint).

    ``model`` is a preset name (``snn-tiny``, ``hnn-tiny``, ``ann-paper`` ...; see
    ``depthsnn.models.preset_names``), refined by ``model_options`` (``field=value`` strings
    for :class:`~depthsnn.models.ModelConfig`). The modality follows ``data.cameras``.
    ``lr_milestones``: epochs (1-based, counted when they end) after which the learning
    rate is multiplied by ``lr_gamma``. ``si_lambda``: weight of the squared mean residual in the
    scale-invariant loss (1.0 = StereoSpike's offset-invariant form; 0.5 learns metric depth).
    ``lr``, ``lr_milestones``, ``lr_gamma``, ``weight_decay``, ``rate_penalty`` and ``batch_size``
    left at ``None`` come from the model kind's recipe (:mod:`depthsnn.train.recipes`; :meth:`resolved` fills them
    in, and checkpoints store the resolved values). ``rate_penalty`` weighs the mean firing rate in
    the loss (the SNN U-Net's recipe: 4, chosen on the sparsity frontier; 0 turns it off);
    ``rate_floor`` > 0 makes a layer firing below that rate cost more, not less, so no layer falls
    silent (:meth:`~depthsnn.models.stats.SpikeRecorder.rate_penalty`). ``max_train_samples`` / ``max_val_samples`` cap the subsets (first N samples) for
    quick runs. ``augment``: label-exact augmentations of the training batches (``auto``,
    ``none``, ``vflip``, ``polarity``, ``drop`` (random event drop), ``hflip`` monocular only; see :mod:`depthsnn.train.augment`).
    Defaults (8 epochs, batch 2; SNN U-Net lr 3e-3 decayed x0.3 after epochs 6 and 7, binocular
    with weight decay 1e-4 and batch 1; binocular HNN lr 1e-3 decayed after epochs 4 and 6) suit the tiny
    presets on the synthetic set within ~12 minutes of 2 CPU cores; StereoSpike trained its
    paper-size network with lr 2e-4, batch 1, 30-70 epochs.

    Speed (no effect on the result except ``amp`` and ``compile``): ``amp`` trains under bf16
    autocast on CUDA with every neuron's state kept fp32 (:mod:`depthsnn.models.precision`; CPU
    trains in fp32). ``preload_mb``: the train and validation samples are binned once and held in
    memory (GPU memory on CUDA when they fit) when they take at most this many MB, else binned per
    step by DataLoader workers; 0 never preloads. ``num_workers``: binning processes (None: up to
    8 on CUDA, 0 on CPU, for the per-step loader; preloading uses up to the core count).
    ``compile``: ``torch.compile`` the U-Net core (spikingjelly's neuron ops are compile-ready).

    Distillation (:mod:`depthsnn.train.distill`): ``teacher`` names a trained checkpoint (usually
    the ANN twin) whose depth map every head also fits, over every pixel, with weight
    ``distill_weight``; the teacher must see the same cameras and predict the same depth units.
    ``distill_features`` > 0 also fits the teacher's decoder features (U-Net student and teacher;
    training-only 1x1 adapters, never exported) with that weight.

    ``ema_decay`` > 0 validates, saves and exports an exponential moving average of the weights,
    updated after every step with that decay (:mod:`depthsnn.train.averaging`); 0 keeps the
    trained weights themselves.
    """

    model: str = "snn-tiny"
    model_options: list[str] = field(default_factory=list)
    data: DataConfig = field(default_factory=lambda: DataConfig(root="data/synthetic", split="synthetic"))
    out: str = "runs/snn-tiny"
    epochs: int = 8
    batch_size: int | None = None
    lr: float | None = None
    weight_decay: float | None = None
    lr_milestones: list[int] | None = None
    lr_gamma: float | None = None
    grad_weight: float = 0.5
    si_lambda: float = 0.5
    rate_penalty: float | None = None
    rate_floor: float = 0.0
    seed: int = 0
    device: str = "auto"
    backend: str = "auto"
    amp: bool = True
    num_workers: int | None = None
    preload_mb: int = 8192
    compile: bool = False
    max_train_samples: int | None = None
    max_val_samples: int | None = None
    augment: list[str] = field(default_factory=lambda: ["auto"])
    teacher: str | None = None
    distill_weight: float = 1.0
    distill_features: float = 0.0
    ema_decay: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (self.epochs >= 1, f"epochs must be >= 1, got {self.epochs}"),
            (self.batch_size is None or self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}"),
            (self.lr is None or self.lr > 0, f"lr must be > 0, got {self.lr}"),
            (self.lr_gamma is None or self.lr_gamma > 0, f"lr_gamma must be > 0, got {self.lr_gamma}"),
            (self.weight_decay is None or self.weight_decay >= 0, f"weight_decay must be >= 0, got {self.weight_decay}"),
            (self.rate_penalty is None or self.rate_penalty >= 0, f"rate_penalty must be >= 0, got {self.rate_penalty}"),
            (0 <= self.rate_floor < 1, f"rate_floor is a firing rate per step, in [0, 1), got {self.rate_floor}"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1), got {self.ema_decay}"),
            (self.num_workers is None or self.num_workers >= 0, f"num_workers must be >= 0, got {self.num_workers}"),
            (self.preload_mb >= 0, f"preload_mb must be >= 0, got {self.preload_mb}"),
            (self.distill_weight >= 0, f"distill_weight must be >= 0, got {self.distill_weight}"),
            (self.distill_features >= 0, f"distill_features must be >= 0, got {self.distill_features}"),
            (self.distill_features == 0 or bool(self.teacher),
             f"distill_features {self.distill_features} needs a teacher (--set teacher=PATH)"),
        ]
        for ok, problem in checks:
            if not ok:
                raise ConfigError(problem)
        try:  # the data options' own checks, as a config error at load time
            self.data.encoding(), self.data.depth()
        except ValueError as e:
            raise ConfigError(f"data: {e}") from None
        augs = resolve_augmentations(self.augment, self.data.cameras)  # fail at load time, not mid-run
        if "drop" in augs and self.data.running_sums:
            # Thinning each cumulative frame on its own drops an event from one step and keeps it
            # in the next: not event drop, and the steps stop being running sums.
            raise ConfigError("augment 'drop' thins per-bin counts; with data.presentation=cumulative the "
                              "frames are running sums, so it would not drop events: use per_bin or drop 'drop'")
        mc = self.model_config()
        if self.distill_features > 0 and mc.arch != "unet":
            raise ConfigError(f"feature distillation needs a U-Net student: {self.model} is arch {mc.arch!r}")
        if self.rate_floor > 0:
            # Checked against the penalty the run will use: the option if set, else the recipe's.
            if self.rate_penalty is None:
                penalty = recipe_for(mc.kind, mc.arch, self.data.cameras).rate_penalty
                source = f"the {mc.kind} {mc.arch} recipe"
            else:
                penalty, source = self.rate_penalty, f"rate_penalty={self.rate_penalty:g}"
            if penalty == 0:
                raise ConfigError(f"rate_floor shapes the spike-rate penalty, which is 0 for this run ({source}): "
                                  "set rate_penalty > 0 too")
        if mc.kind != "ann" and mc.arch == "unet" and (mc.norm == "batch" or mc.bias) and self.data.num_bins != 1:
            # A bias (or a norm, which folds into one) is at T = 1 a threshold shift, at T > 1 a
            # current every step that fires neurons without events. (Akida 2.0 layers are ReLUs.)
            what = "norm=batch in a spiking network needs data.num_bins = 1 (its folded bias" if mc.norm == "batch" \
                else "bias in a spiking network needs data.num_bins = 1 (its bias"
            raise ConfigError(f"{what} is then a threshold shift), got {self.data.num_bins}")

    def resolved(self) -> TrainConfig:
        """Copy with every optimiser field left at None taken from the recipe of the model's kind,
        architecture and modality (:func:`~depthsnn.train.recipes.recipe_for`)."""
        mc = self.model_config()
        r = recipe_for(mc.kind, mc.arch, self.data.cameras)
        return dataclasses.replace(
            self,
            rate_penalty=r.rate_penalty if self.rate_penalty is None else self.rate_penalty,
            lr=r.lr if self.lr is None else self.lr,
            weight_decay=r.weight_decay if self.weight_decay is None else self.weight_decay,
            lr_milestones=r.milestones(self.epochs) if self.lr_milestones is None else list(self.lr_milestones),
            lr_gamma=r.lr_gamma if self.lr_gamma is None else self.lr_gamma,
            batch_size=r.batch_size if self.batch_size is None else self.batch_size,
        )

    def model_config(self) -> ModelConfig:
        """The :class:`ModelConfig` of ``model`` for ``data.cameras``, with ``model_options`` applied."""
        cfg = preset(self.model, modality=self.data.cameras)
        return apply_overrides(cfg, self.model_options, source="model_options")


def config_to_dict(cfg: TrainConfig) -> dict:
    return to_dict(cfg)


def config_from_dict(data: dict) -> TrainConfig:
    """Inverse of :func:`config_to_dict` (used to rebuild a run from its checkpoint)."""
    return from_dict(TrainConfig, data)


def with_changes(cfg: TrainConfig, **changes: object) -> TrainConfig:
    return dataclasses.replace(cfg, **changes)
