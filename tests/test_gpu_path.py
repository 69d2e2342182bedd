"""The GPU path's preconditions, checked on the CPU (design.md s.10), plus the GPU checks when a
device is present.

* bf16 autocast with fp32 neuron state: the crash on the H200 came from bf16 membrane state.
* Fallbacks are warnings naming the layer and the reason, never silent.
* The in-memory input pipeline serves exactly the DataLoader's batches.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from spikingjelly.activation_based import neuron, surrogate
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from depthsnn.data.memory import InMemorySamples, MemoryBatches, _compact
from depthsnn.models import build_model, is_spiking, preset_names
from depthsnn.models.backend import fallbacks_in, implementations_used
from depthsnn.models.blocks import Integrator
from depthsnn.models.precision import (
    NeuronFallbackWarning,
    neuron_support,
    prepare_precision,
    warn_fallbacks,
)

HAS_CUDA = torch.cuda.is_available()


def _events(*shape: int, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(*shape, generator=g) < 0.15).float() * torch.randint(1, 4, shape, generator=g)


def _states(model) -> dict[str, torch.dtype]:
    out = {}
    for name, m in model.named_modules():
        if is_spiking(m) or isinstance(m, Integrator):
            v = m.v
            out[name] = v.dtype if isinstance(v, torch.Tensor) else torch.float32
    return out


@pytest.mark.parametrize("name", ["snn-tiny", "snn-lif-tiny", "hnn-tiny"])
def test_bf16_autocast_keeps_every_neuron_state_fp32(name):
    torch.manual_seed(0)
    model = build_model(name)
    x = _events(1, 2, 4, 32, 48)
    # Without the plan, autocast makes the membrane bf16: the condition that crashed on the H200.
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(x)
    plain = _states(model)
    assert any(dt == torch.bfloat16 for dt in plain.values()), plain

    plan = prepare_precision(model, "cpu", amp=True, cpu_autocast=True)
    assert plan.mode == "bf16" and plan.neurons == "cast"
    with plan.autocast():
        out = model(x)
    states = _states(model)
    assert states and all(dt == torch.float32 for dt in states.values()), states
    assert out.depth.dtype == torch.float32  # the integrator read-out accumulates in fp32
    assert torch.isfinite(out.depth).all()
    plan.remove(model)
    assert not torch.equal(model(x).depth, out.depth)  # the convolutions did run in bf16


def test_cast_neuron_equals_fp32_neuron_on_the_same_input():
    """Under the plan a neuron fed bf16 computes exactly what an fp32 neuron computes on that input."""
    torch.manual_seed(0)
    x = (torch.randn(6, 2, 8, 5, 5) * 0.8 + 0.4).bfloat16()
    model = torch.nn.Sequential(neuron.IFNode(v_reset=0.0, surrogate_function=surrogate.ATan(), step_mode="m"))
    ref = neuron.IFNode(v_reset=0.0, surrogate_function=surrogate.ATan(), step_mode="m")
    prepare_precision(model, "cpu", amp=True, cpu_autocast=True)
    out = model(x)
    assert model[0].v.dtype == torch.float32
    assert torch.equal(out, ref(x.float())) and torch.equal(model[0].v, ref.v)
    assert 0 < out.mean() < 1


def test_every_preset_neuron_has_a_fused_kernel():
    """What spikingjelly's precision API and its Triton kernels need: exact IF/LIF types, multi-step
    mode, a built-in surrogate with a Triton implementation (ATan)."""
    for name in preset_names():
        support = neuron_support(build_model(name))
        assert all(why is None for why in support.values()), (name, support)


def test_fallback_is_a_warning_naming_layer_and_reason():
    class Odd(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ok = neuron.IFNode(surrogate_function=surrogate.ATan(), step_mode="m")
            self.slow = neuron.IFNode(surrogate_function=surrogate.PiecewiseLeakyReLU(), step_mode="m")
            self.single = neuron.IFNode(surrogate_function=surrogate.ATan(), step_mode="s")

    model = Odd()
    support = neuron_support(model)
    assert support["ok"] is None
    assert "PiecewiseLeakyReLU" in support["slow"] and "single-step" in support["single"]
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        slow = warn_fallbacks(model, "cuda")  # the device type decides; no GPU needed to predict
    assert set(slow) == {"slow", "single"}
    msgs = [str(w.message) for w in seen if issubclass(w.category, NeuronFallbackWarning)]
    assert any("slow" in m and "PiecewiseLeakyReLU" in m for m in msgs), msgs
    assert warn_fallbacks(model, "cpu") == {}


def test_implementations_used_reads_spikingjelly_selection(monkeypatch):
    """What ran is read from spikingjelly's own selection caches, fallbacks with its reason."""
    from spikingjelly._ops.if_ import _selection as if_sel
    from spikingjelly._ops.lif import _selection as lif_sel

    class Impl:
        name = "triton"

    monkeypatch.setattr(if_sel, "_selections", {0: Impl()})
    monkeypatch.setattr(if_sel, "_compiled_selections", {})
    monkeypatch.setattr(lif_sel, "_selections", {(0, "Torch reference implementation required"): None})
    monkeypatch.setattr(lif_sel, "_compiled_selections", {})
    used = implementations_used("cuda:0")
    assert used == {"if": "triton", "lif": "torch-reference (Torch reference implementation required)"}
    assert fallbacks_in(used) == {"lif": used["lif"]}
    assert implementations_used("cpu") == {"all": "torch (cpu)"}


def test_compact_store_is_exact_and_narrow():
    counts = torch.randint(0, 200, (1, 4, 8, 8)).float()
    assert _compact(counts).dtype == torch.uint8 and torch.equal(_compact(counts).float(), counts)
    assert _compact(counts * 300).dtype == torch.int32 or _compact(counts * 300).dtype == torch.int16
    assert _compact(counts - 100).dtype == torch.int16
    assert _compact(counts / 3).dtype == torch.float32


def test_memory_batches_equal_dataloader_batches():
    g = torch.Generator().manual_seed(1)
    n = 11
    frames = (torch.rand(n, 1, 4, 20, 30, generator=g) < 0.2).float() * 3
    depth = torch.rand(n, 20, 30, generator=g)
    mask = depth > 0.3
    ds = TensorDataset(frames, depth, mask)
    store = InMemorySamples.load(ds)
    assert store.frames.dtype == torch.uint8
    for epoch in range(2):
        s1 = DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=3)
        s2 = DistributedSampler(ds, num_replicas=1, rank=0, shuffle=True, seed=3)
        s1.set_epoch(epoch)
        s2.set_epoch(epoch)
        ref = list(DataLoader(ds, batch_size=4, sampler=s1))
        got = list(MemoryBatches(store, s2, 4, "cpu"))
        assert len(got) == len(ref) == 3
        for a, b in zip(got, ref, strict=True):
            for x, y in zip(a, b, strict=True):
                assert x.dtype == y.dtype and torch.equal(x, y)


def test_training_preloads_and_records_runtime(tiny_synth, tmp_path):
    """A run preloads its samples, trains the same weights as the per-step loader, and its metrics
    log says how it ran (device, precision, neurons)."""
    from depthsnn.data.dataset import DataConfig
    from depthsnn.train.config import TrainConfig
    from depthsnn.train.loop import train

    base = dict(model="snn-tiny", data=DataConfig(root=str(tiny_synth), split="synthetic"), epochs=1,
                batch_size=2, max_train_samples=6, max_val_samples=2, device="cpu")
    a = train(TrainConfig(out=str(tmp_path / "a"), **base), progress=False)
    b = train(TrainConfig(out=str(tmp_path / "b"), preload_mb=0, **base), progress=False)
    assert a.last_metrics["runtime"]["preloaded"] and not b.last_metrics["runtime"]["preloaded"]
    assert a.last_metrics["runtime"]["neurons"] == {"all": "torch (cpu)"}
    assert a.last_metrics["runtime"]["precision"]["mode"] == "fp32"  # amp is on by default: CUDA only
    assert a.last_metrics["train_loss"] == b.last_metrics["train_loss"]
    assert a.last_metrics["val_mde_cm"] == b.last_metrics["val_mde_cm"]
    wa, wb = torch.load(a.last_checkpoint, weights_only=False), torch.load(b.last_checkpoint, weights_only=False)
    assert all(torch.equal(wa["model"][k], wb["model"][k]) for k in wa["model"])


@pytest.mark.slow
def test_compiled_training_step_equals_eager():
    """``compile = true`` (torch.compile of the core, in place) computes the eager loss and gradients."""
    from depthsnn.train.losses import DepthLoss

    torch.manual_seed(0)
    eager, compiled = build_model("snn-tiny"), build_model("snn-tiny")
    compiled.load_state_dict(eager.state_dict())
    compiled.core.compile(options={"layout_optimization": False})
    assert list(compiled.state_dict()) == list(eager.state_dict())  # checkpoints keep their keys
    x = _events(2, 1, 4, 32, 48)
    gt = torch.rand(2, 32, 48, generator=torch.Generator().manual_seed(1)) + 0.5
    loss = DepthLoss()
    losses = []
    for m in (eager, compiled):
        total = loss(m(x).heads, gt, gt > 0.7).total
        total.backward()
        losses.append(total.detach())
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-5, atol=1e-6)
    for a, b in zip(eager.parameters(), compiled.parameters(), strict=True):
        torch.testing.assert_close(b.grad, a.grad, rtol=1e-4, atol=1e-6)


@pytest.mark.skipif(not HAS_CUDA, reason="needs a CUDA device (none on this machine)")
def test_bf16_training_step_runs_fused_on_cuda():
    """The crash of design.md s.10: one bf16 training step of the SNN on the triton kernels."""
    from depthsnn.models import select_backend, use_backend

    backend = select_backend("auto", "cuda")
    with use_backend(backend):
        model = build_model("snn-tiny").cuda()
        plan = prepare_precision(model, "cuda", amp=True, backend=backend)
        with plan.autocast():
            out = model(_events(2, 1, 4, 64, 80).cuda())
        out.depth.sum().backward()
        used = implementations_used("cuda")
    assert not fallbacks_in(used), used
    assert all(dt == torch.float32 for dt in _states(model).values())
