"""Folding norms into the convolutions before them: the form a trained network is deployed in.

Three norms fold. A weight-normalised convolution (:mod:`depthsnn.models.weight_norm`) gets the
plain weight it computes. A ``Conv2d -> BatchNorm2d`` pair is one convolution with scaled weights and a bias
(``torch.nn.utils.fusion.fuse_conv_bn_eval``, the eval-mode statistics). A ``Conv2d ->
ThresholdGain`` pair (a learnable per-channel threshold, :mod:`depthsnn.models.threshold_gain`) is
one convolution whose output channel ``c`` is multiplied by ``exp(log_gain[c])`` (no library fuses
this small module of ours, hence by hand). For the ANN the folded net is what ONNX receives; for a
spiking U-Net trained with a norm it is what the NIR graph, the simulator and every evaluation run,
so the torch model and the exported graph fire the same spikes.
At T = 1 an IF neuron fed by ``W'x + b`` fires where ``W'x >= threshold - b``: the bias is a
per-channel threshold shift. The graph keeps it as the convolution's bias (NIR ``Conv2d.bias``)
because the simulator, the quantiser and the vendor mappers hold one threshold per layer.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..errors import ConfigError
from .threshold_gain import ThresholdGain
from .weight_norm import fold_weight_norm, is_weight_normed

_FOLDABLE = (nn.modules.batchnorm._BatchNorm, ThresholdGain)


def has_norms(module: nn.Module) -> bool:
    """True when ``module`` holds any batch norm, threshold gain or weight-normalised convolution
    (something :func:`fold_norms` folds)."""
    return any(isinstance(m, _FOLDABLE) or is_weight_normed(m) for m in module.modules())


def _fold_gain(conv: nn.Conv2d, gain: ThresholdGain) -> nn.Conv2d:
    """A copy-free fold: scale ``conv``'s output channels (weight and bias) by ``gain``, in place."""
    with torch.no_grad():
        s = gain.scale().to(conv.weight.dtype)
        conv.weight.mul_(s.view(-1, *([1] * (conv.weight.dim() - 1))))
        if conv.bias is not None:
            conv.bias.mul_(s)
    return conv


def fold_norms(module: nn.Module) -> nn.Module:
    """Fold every ``BatchNorm2d`` or :class:`ThresholdGain` that directly follows a ``Conv2d`` into it.

    Works on ``nn.Sequential``-like containers (children in call order, as ``ConvUnit`` is):
    the convolution is replaced by the fused one and the norm by ``nn.Identity``, in place, with
    a batch norm's running statistics (call it on an eval-mode model or copy). A norm not
    preceded by a convolution raises :class:`ConfigError`: the exported graph would then carry a
    training-only layer, or silently lose a learnt threshold. Weight-normalised convolutions are
    first replaced by their computed weights.
    """
    fold_weight_norm(module)
    for parent in module.modules():
        names = list(parent._modules)
        for prev, cur in zip([None, *names], names, strict=False):
            child = parent._modules[cur]
            if not isinstance(child, (nn.BatchNorm2d, ThresholdGain)):
                continue
            conv = parent._modules.get(prev) if prev is not None else None
            if not isinstance(parent, nn.Sequential) or not isinstance(conv, nn.Conv2d):
                what = "batch norm" if isinstance(child, nn.BatchNorm2d) else "threshold gain"
                raise ConfigError(f"cannot fold {what} {cur!r}: it does not follow a Conv2d in a sequence")
            if isinstance(child, ThresholdGain):
                parent._modules[prev] = _fold_gain(conv, child)
            else:
                parent._modules[prev] = fuse_conv_bn_eval(conv.eval(), child.eval())
            parent._modules[cur] = nn.Identity()
    return module
