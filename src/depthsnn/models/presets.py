"""Model configuration (:class:`ModelConfig`) and named presets such as ``snn-tiny``.

A preset name is ``<kind>[-<neuron>][-portable]-<size>``: kind ``snn`` | ``hnn`` | ``ann``,
optional neuron ``if`` | ``lif`` (spiking kinds only; default ``if`` as in StereoSpike), size
``tiny`` | ``small`` | ``paper``. Examples: ``snn-tiny``, ``snn-lif-paper``, ``hnn-tiny``,
``ann-paper``.

``-portable`` (``snn`` only, sizes ``tiny`` | ``small``) selects ``arch = "portable"``, the
chip-fit family (:mod:`depthsnn.models.portable`): a plain chain of conv + IF layers ending in a
non-firing integrator that gives a coarse depth map, upsampled on the host. Examples:
``snn-portable-tiny``, ``snn-portable-small``, ``snn-lif-portable-tiny``.

``-akida2`` (``snn`` only, sizes ``tiny`` | ``small``) selects ``arch = "akida2"``
(:mod:`depthsnn.models.akida2`): a U-Net of strided convs, transposed convs and additive skips
that BrainChip's Akida 2.0 (IPv2) maps and runs equal. Its activations are 8-bit graded events,
not binary spikes: ``snn-akida2-tiny``, ``snn-akida2-small``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..errors import ConfigError

KINDS = ("snn", "hnn", "ann")
NEURONS = ("if", "lif")
ARCHS = ("unet", "portable", "akida2")
HOST_UPSAMPLE = ("bilinear", "nearest")
NORMS = ("none", "batch", "threshold", "weight")
MODALITIES = ("binocular", "monocular")
MODALITY_CHANNELS = {"binocular": 4, "monocular": 2}


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a depth network's topology and neuron model.

    ``kind``: ``snn`` (spiking neurons everywhere), ``hnn`` (the first ``hnn_analog_layers``
    activation layers analog, the rest spiking) or ``ann`` (ReLU everywhere).
    ``levels`` stride-2 encoder convolutions (channels ``base_channels * 2**i``), as many
    decoder stages and prediction heads; ``residual_blocks`` SEW blocks in the bottleneck.
    ``in_channels`` defaults to 4 (binocular) or 2 (monocular) from ``modality``.
    ``hnn_analog``: what an analog HNN layer computes, ``identity`` (default: its graded
    output feeds the next convolution directly, which NIR expresses as conv -> conv; NIR has
    no ReLU node) or ``relu`` (more expressive, but exportable to ONNX only).
    ``ann_time``: how the ANN treats a [B, T, C, H, W] input: ``sum`` adds the T bins into
    one frame (T=1, the usual ANN baseline), ``steps`` runs each bin through the stateless
    network and integrates the heads over time exactly like the SNN.
    ``norm``: ``batch`` puts a BatchNorm after every hidden convolution (the ANN presets'
    default; for the spiking U-Net an option). It is folded into the convolutions' weights and a
    bias when a model is loaded for inference and at export, so the exported graph is conv +
    neuron. For an IF neuron at T = 1 (state 0, one step) the folded bias is exactly a per-channel
    shift of the threshold; at T > 1 it is a constant input current every step, which fires
    neurons without events, so spiking kinds allow ``batch`` with one time bin only (checked
    by the training configuration). ``threshold`` (spiking U-Nets only): a learnable threshold per
    channel of every hidden spiking layer (:mod:`depthsnn.models.threshold_gain`), trained as a
    positive gain on the channel's input current and folded into the convolution's weights the
    same way, exact at any T (no bias). ``weight`` (U-Nets): weight normalisation of every hidden
    convolution (:mod:`depthsnn.models.weight_norm`, Salimans & Kingma 2016), batch norm's
    scale-invariance of the weights without batch statistics; training only, the loaded and
    exported network holds the plain weights it computes, exact at any T (no bias).
    ``none``: no normalisation (the spiking presets' default).
    ``arch``: ``unet`` (the StereoSpike U-Net, :class:`~depthsnn.models.unet.UNetCore`) or
    ``portable`` (:class:`~depthsnn.models.portable.PortableCore`: ``levels`` stride-2 3x3
    conv + neuron layers with channels ``base_channels * 2**i``, then ``chain_convs`` stride-1
    3x3 conv + neuron layers, then a 3x3 conv into the integrator; no upsampling, no skips, so
    vendor toolchains can map it). The portable net's depth map has stride ``2**levels``;
    ``host_upsample`` (``bilinear`` | ``nearest``) names how the host brings it to full size:
    that step is plain torch outside the exported NIR graph and is not run (or costed) on chip.
    ``chain_convs`` and ``host_upsample`` are for ``portable`` only (``residual_blocks`` must be 0).
    ``akida2`` (:class:`~depthsnn.models.akida2.Akida2Core`): the Akida IPv2 U-Net, ``levels``
    stride-2 convs, ``residual_blocks`` plain convs at the bottom, transposed-conv decoder with
    additive skips, 8-bit quantised ReLU activations and 8-bit weights (quantisation-aware);
    ``bias`` is allowed (Akida IPv2 convolutions take an 8-bit shifted bias).
    ``bias``: a learnable bias in every convolution (the heads' included) unless a norm replaces
    it. For spiking U-Nets an option for one time bin only (checked by the training
    configuration): an IF neuron fed ``Wx + b`` from a zero state fires where ``Wx >= threshold -
    b``, a learnable per-channel threshold shift (ReActNet's learnable-threshold sign, Liu et al.,
    ECCV 2020), which the ANN twin's folded batch norm has and a bias-free SNN lacks.
    ``init_gain``: hidden conv weights are drawn from N(0, init_gain**2 / fan_in); None
    means 2.5 for spiking kinds (so that a freshly built network fires at a few to ~20 %
    per layer instead of falling silent with PyTorch's default init, which stalls
    training) and sqrt(2) (He init) for the ANN.
    ``surrogate_alpha``: sharpness of the ATan surrogate gradient of every spiking neuron
    (spikingjelly's ``surrogate.ATan(alpha)``; 2 is its default and StereoSpike's): the backward
    pass uses ``alpha / 2 / (1 + (pi / 2 * alpha * (v - threshold))**2)``, so a smaller alpha passes
    gradient from potentials further from the threshold. Training only: the forward pass, the
    exported graph and the simulator do not depend on it.
    ``dropout`` (U-Net only): during training, each channel map leaving the first layer, an
    encoder stage or a decoder stage (the tensors that feed the next stage and the skips) is
    zeroed with this probability per sample, one mask for all time steps, and the kept maps
    are scaled by ``1 / (1 - dropout)`` (inverted channel dropout, as ``torch.nn.Dropout2d``).
    Training only, like ``surrogate_alpha``: evaluation, the exported graph and the simulator
    do not see it.
    ``membrane_noise`` (spiking kinds): during training, Gaussian noise of this standard
    deviation (in units of the input current, so relative to ``v_threshold``) is added to every
    spiking neuron's input at every step, i.e. to its membrane potential at T = 1: neurons near
    the threshold fire or stay silent at random, the stochastic-neuron regulariser of binary
    networks. Training only, like ``dropout``.
    """

    kind: str = "snn"
    neuron: str = "if"
    tau: float = 2.0
    base_channels: int = 8
    levels: int = 4
    residual_blocks: int = 2
    modality: str = "binocular"
    in_channels: int | None = None
    v_threshold: float = 1.0
    surrogate_alpha: float = 2.0
    detach_reset: bool = True
    hnn_analog_layers: int = 1
    hnn_analog: str = "identity"
    ann_time: str = "sum"
    bias: bool = False
    norm: str = "none"
    init_gain: float | None = None
    arch: str = "unet"
    chain_convs: int = 0
    host_upsample: str = "bilinear"
    dropout: float = 0.0
    membrane_noise: float = 0.0

    def __post_init__(self) -> None:
        checks = [
            (self.kind in KINDS, f"model kind {self.kind!r} unknown (known: {', '.join(KINDS)})"),
            (self.neuron in NEURONS, f"neuron {self.neuron!r} unknown (known: {', '.join(NEURONS)})"),
            (
                self.modality in MODALITIES,
                f"modality {self.modality!r} unknown (known: {', '.join(MODALITIES)})",
            ),
            (self.base_channels >= 1, f"base_channels must be >= 1, got {self.base_channels}"),
            (self.levels >= 1, f"levels must be >= 1, got {self.levels}"),
            (self.residual_blocks >= 0, f"residual_blocks must be >= 0, got {self.residual_blocks}"),
            (
                self.in_channels is None or self.in_channels >= 1,
                f"in_channels must be >= 1, got {self.in_channels}",
            ),
            (self.tau > 1.0, f"tau must be > 1 (LIF decay 1/tau per step), got {self.tau}"),
            (self.init_gain is None or self.init_gain > 0, f"init_gain must be > 0, got {self.init_gain}"),
            (self.v_threshold > 0, f"v_threshold must be > 0, got {self.v_threshold}"),
            (self.surrogate_alpha > 0, f"surrogate_alpha must be > 0, got {self.surrogate_alpha}"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1), got {self.dropout}"),
            (self.dropout == 0.0 or self.arch == "unet", f"dropout is for the U-Net, not arch {self.arch!r}"),
            (self.membrane_noise >= 0.0, f"membrane_noise must be >= 0, got {self.membrane_noise}"),
            (self.membrane_noise == 0.0 or self.kind != "ann", "membrane_noise is for spiking kinds, not kind 'ann'"),
            # Akida IPv2 layers are quantised ReLUs: no threshold for the noise to act on.
            (self.membrane_noise == 0.0 or self.arch != "akida2", "membrane_noise has no spiking neuron to act on in arch 'akida2'"),
            (self.hnn_analog_layers >= 0, f"hnn_analog_layers must be >= 0, got {self.hnn_analog_layers}"),
            (
                self.hnn_analog in ("relu", "identity"),
                f"hnn_analog must be relu or identity, got {self.hnn_analog!r}",
            ),
            (self.ann_time in ("sum", "steps"), f"ann_time must be sum or steps, got {self.ann_time!r}"),
            # A spiking conv's bias is a constant input current: at T = 1 (one step from a zero
            # state) a per-channel threshold shift, at T > 1 a current every step that fires
            # neurons without events (the training configuration refuses that). StereoSpike has
            # none; the spiking U-Net takes it as an option, the vendor chains (portable) do not.
            (not self.bias or self.kind == "ann" or self.arch in ("akida2", "unet"),
             f"bias is only allowed for kind 'ann', a spiking U-Net and arch 'akida2', not arch {self.arch!r}"),
            (self.norm in NORMS, f"norm must be {', '.join(NORMS)}, got {self.norm!r}"),
            (self.norm == "none" or self.arch == "unet",  # every ANN is a U-Net (checked below)
             f"norm={self.norm} is for the U-Net (kind 'ann', or a spiking U-Net), not arch {self.arch!r}"),
            # An ANN's ReLU has no threshold: the gain would be a scale its next conv absorbs.
            (self.norm != "threshold" or self.kind != "ann",
             "norm=threshold (learnable thresholds) is for spiking kinds, not kind 'ann'"),
            (self.arch in ARCHS, f"arch {self.arch!r} unknown (known: {', '.join(ARCHS)})"),
            (self.arch == "unet" or self.kind == "snn",
             f"arch {self.arch!r} is a preset family of its own: kind must be 'snn', got {self.kind!r}"),
            (self.arch != "portable" or self.residual_blocks == 0,
             f"arch 'portable' has no residual blocks: residual_blocks must be 0, got {self.residual_blocks}"),
            (self.arch == "portable" or self.chain_convs == 0, "chain_convs is for arch 'portable' only"),
            (self.chain_convs >= 0, f"chain_convs must be >= 0, got {self.chain_convs}"),
            (self.host_upsample in HOST_UPSAMPLE,
             f"host_upsample must be {' or '.join(HOST_UPSAMPLE)}, got {self.host_upsample!r}"),
        ]
        for ok, problem in checks:
            if not ok:
                raise ConfigError(problem)

    @property
    def channels(self) -> int:
        """Input channels: ``in_channels`` if set, else 4 (binocular) or 2 (monocular)."""
        return self.in_channels if self.in_channels is not None else MODALITY_CHANNELS[self.modality]

    @property
    def gain(self) -> float:
        """Effective ``init_gain``."""
        if self.init_gain is not None:
            return self.init_gain
        return 2**0.5 if self.kind == "ann" else 2.5

    @property
    def multiple(self) -> int:
        """Height and width the inner network needs to be divisible by (``2**levels``)."""
        return 2**self.levels

    @property
    def num_activations(self) -> int:
        """Number of activation layers, in the order HNN counts them (encoder first)."""
        if self.arch == "portable":
            return self.levels + self.chain_convs
        if self.arch == "akida2":
            return 1 + self.levels + self.residual_blocks + 2 * self.levels
        return 1 + self.levels + 2 * self.residual_blocks + self.levels


SIZES: dict[str, dict[str, int]] = {
    # Trains on 2 CPU cores; ~1.1 M parameters.
    "tiny": {"base_channels": 8, "levels": 4, "residual_blocks": 2},
    "small": {"base_channels": 16, "levels": 4, "residual_blocks": 2},
    # StereoSpike (Rancon et al. 2022): 32..512 channels, 2 SEW blocks, ~18.1 M parameters.
    "paper": {"base_channels": 32, "levels": 4, "residual_blocks": 2},
}


# The portable chain (arch = "portable"): output stride 2**levels = 8.
PORTABLE_SIZES: dict[str, dict[str, int]] = {
    # 5 conv layers, channels 8-16-32-32 -> 1, ~15 k parameters (binocular).
    "tiny": {"base_channels": 8, "levels": 3, "chain_convs": 1, "residual_blocks": 0},
    # 6 conv layers, channels 16-32-64-64-64 -> 1, ~98 k parameters (binocular).
    "small": {"base_channels": 16, "levels": 3, "chain_convs": 2, "residual_blocks": 0},
}


# The Akida IPv2 U-Net (arch = "akida2"): full-resolution output, 8-bit weights and activations.
AKIDA2_SIZES: dict[str, dict[str, int]] = {
    # 17 Akida layers, channels 8-16-32-64-128, 0.61 M parameters (binocular); maps on SixNodesIPv2.
    "tiny": {"base_channels": 8, "levels": 4, "residual_blocks": 2},
    # Same layout, channels 12..192, 1.38 M parameters; maps on TwelveNodesIPv2 (base 16 needs more
    # NPs per layer than an IPv2 virtual device has at 260x346 in one hardware sequence).
    "small": {"base_channels": 12, "levels": 4, "residual_blocks": 2},
}


def preset_names() -> list[str]:
    """All accepted preset names (``snn-tiny``, ``snn-lif-tiny``, ``snn-portable-tiny`` ...)."""
    names = []
    for kind in KINDS:
        for size in SIZES:
            names.append(f"{kind}-{size}")
            if kind != "ann":
                names.append(f"{kind}-lif-{size}")
    for size in PORTABLE_SIZES:
        names += [f"snn-portable-{size}", f"snn-lif-portable-{size}"]
    names += [f"snn-akida2-{size}" for size in AKIDA2_SIZES]
    return names


def preset(name: str, modality: str = "binocular", **overrides: object) -> ModelConfig:
    """The :class:`ModelConfig` of preset ``name`` for ``modality``, with field ``overrides``."""
    parts = name.lower().split("-")
    if len(parts) == 3 and parts[:2] == ["snn", "akida2"] and parts[2] in AKIDA2_SIZES:
        fields = dict(AKIDA2_SIZES[parts[2]], kind="snn", arch="akida2", bias=True, modality=modality)
        return with_overrides(ModelConfig(**fields), **overrides)  # type: ignore[arg-type]
    portable = len(parts) >= 3 and parts[-2] == "portable"
    if portable:
        parts.pop(-2)
    sizes = PORTABLE_SIZES if portable else SIZES
    ok = len(parts) in (2, 3) and parts[0] in KINDS and parts[-1] in sizes
    if ok and len(parts) == 3:
        ok = parts[1] in NEURONS and parts[0] != "ann"
    if ok and portable:
        ok = parts[0] == "snn"
    if not ok:
        raise ConfigError(f"unknown model {name!r} (known: {', '.join(preset_names())})")
    fields = dict(sizes[parts[-1]], kind=parts[0], modality=modality)
    if portable:
        fields["arch"] = "portable"
    if parts[0] == "ann":
        fields["norm"] = "batch"  # the ANN's own recipe (BENCHMARKS.md: ANN recipe sweep)
    if len(parts) == 3:
        fields["neuron"] = parts[1]
    return with_overrides(ModelConfig(**fields), **overrides)  # type: ignore[arg-type]


def with_overrides(cfg: ModelConfig, **overrides: object) -> ModelConfig:
    """Copy of ``cfg`` with fields replaced; unknown names raise :class:`ConfigError`."""
    names = {f.name for f in dataclasses.fields(ModelConfig)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise ConfigError(f"unknown model option {unknown[0]} (known: {', '.join(sorted(names))})")
    return dataclasses.replace(cfg, **overrides)  # type: ignore[arg-type]
