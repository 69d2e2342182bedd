"""Folding batch norms into the convolutions before them: the form a trained network is deployed in.

A folded ``Conv2d -> BatchNorm2d`` is one convolution with scaled weights and a bias
(``torch.nn.utils.fusion.fuse_conv_bn_eval``, the eval-mode statistics). For the ANN this is what
ONNX receives; for a spiking U-Net trained with ``norm = "batch"`` it is what the NIR graph, the
simulator and every evaluation run, so the torch model and the exported graph fire the same spikes.
At T = 1 an IF neuron fed by ``W'x + b`` fires where ``W'x >= threshold - b``: the bias is a
per-channel threshold shift. The graph keeps it as the convolution's bias (NIR ``Conv2d.bias``)
because the simulator, the quantiser and the vendor mappers hold one threshold per layer.
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from ..errors import ConfigError


def has_batchnorm(module: nn.Module) -> bool:
    """True when ``module`` holds any batch norm."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every ``BatchNorm2d`` that directly follows a ``Conv2d`` into that convolution.

    Works on ``nn.Sequential``-like containers (children in call order, as ``ConvUnit`` is):
    the convolution is replaced by the fused one and the batch norm by ``nn.Identity``, in
    place, with the norm's running statistics (call it on an eval-mode model or copy). A batch
    norm not preceded by a convolution raises :class:`ConfigError`: the exported graph would
    then carry a training-only layer.
    """
    for parent in module.modules():
        names = list(parent._modules)
        for prev, cur in zip([None, *names], names, strict=False):
            child = parent._modules[cur]
            if not isinstance(child, nn.BatchNorm2d):
                continue
            conv = parent._modules.get(prev) if prev is not None else None
            if not isinstance(parent, nn.Sequential) or not isinstance(conv, nn.Conv2d):
                raise ConfigError(f"cannot fold batch norm {cur!r}: it does not follow a Conv2d in a sequence")
            parent._modules[prev] = fuse_conv_bn_eval(conv.eval(), child.eval())
            parent._modules[cur] = nn.Identity()
    return module
