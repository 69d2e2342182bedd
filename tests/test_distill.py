"""Distillation from a trained teacher (``teacher=PATH``, ``distill_weight``): the loss term against
an analytic case, its place in the training loop, and one-line errors for a teacher that cannot
teach this student."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from depthsnn.cli.main import main
from depthsnn.data.dataset import DataConfig
from depthsnn.errors import ConfigError
from depthsnn.train.checkpoint import load_checkpoint, model_from_checkpoint
from depthsnn.train.config import TrainConfig
from depthsnn.train.distill import load_teacher
from depthsnn.train.loop import train
from depthsnn.train.losses import DepthLoss


def _student_data(ckpt_path):
    return model_from_checkpoint(ckpt_path)[1].data


def test_distill_loss_of_a_constant_offset_is_analytic(tiny_checkpoints):
    """Heads = teacher depth + c over every pixel: SI gives mean(c^2) - lambda * c^2 per head and the
    gradient term is 0 (a constant has no gradient), so the loss is weight * heads * c^2 * (1 - lambda)."""
    path = tiny_checkpoints["ann-tiny"]
    teacher = load_teacher(path, 0.7, _student_data(path), torch.device("cpu"))
    assert not any(p.requires_grad for p in teacher.model.parameters()) and not teacher.model.training
    torch.manual_seed(0)
    frames = (torch.rand(2, 2, 4, 48, 64) < 0.1).float()
    target = teacher.target(frames)
    assert target.shape == (2, 48, 64) and torch.isfinite(target).all()
    loss_fn = DepthLoss(grad_weight=0.5, si_lambda=0.5)
    c = 0.3
    heads = (target + c, target + c, target + c)
    got = teacher.loss(loss_fn, heads, frames)
    assert got.item() == pytest.approx(0.7 * 3 * c * c * (1 - 0.5), rel=1e-5)
    assert teacher.loss(loss_fn, (target,), frames).item() == pytest.approx(0.0, abs=1e-9)
    # A per-pixel error, unlike an offset, is penalised by the gradient term too.
    bumpy = target.clone()
    bumpy[:, ::2] += c
    assert teacher.loss(loss_fn, (bumpy,), frames).item() > 0.7 * c * c * 0.25


def _cfg(root, out, **kw) -> TrainConfig:
    base = dict(model="snn-tiny", model_options=["base_channels=4", "levels=3", "residual_blocks=1"],
                data=DataConfig(root=str(root), split="synthetic", num_bins=2), out=str(out), epochs=1,
                batch_size=2, lr=1e-3, max_train_samples=4, max_val_samples=2, device="cpu")
    base.update(kw)
    return TrainConfig(**base)


def test_teacher_in_the_training_loop(tiny_synth, tiny_checkpoints, tmp_path):
    """A teacher at weight 0 changes nothing (same weights bit for bit: loading it draws no random
    numbers of the run); at weight 1 its term is logged and the student learns something else."""
    teacher = str(tiny_checkpoints["ann-tiny"])
    plain = train(_cfg(tiny_synth, tmp_path / "plain"), progress=False)
    zero = train(_cfg(tiny_synth, tmp_path / "zero", teacher=teacher, distill_weight=0.0), progress=False)
    taught = train(_cfg(tiny_synth, tmp_path / "taught", teacher=teacher, distill_weight=1.0), progress=False)
    a, b, c = (load_checkpoint(r.last_checkpoint)["model"] for r in (plain, zero, taught))
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert any(not torch.equal(a[k], c[k]) for k in a)
    assert "train_distill" not in plain.last_metrics
    assert zero.last_metrics["train_distill"] == 0.0
    assert taught.last_metrics["train_distill"] > 0
    # The logged total is the ground-truth loss plus the distillation term.
    assert taught.last_metrics["train_loss"] > taught.last_metrics["train_distill"]
    assert load_checkpoint(taught.last_checkpoint)["config"]["teacher"] == teacher


def test_teacher_that_cannot_teach_is_a_one_line_error(tiny_synth, tiny_checkpoints, tmp_path, capsys):
    ann, snn = tiny_checkpoints["ann-tiny"], tiny_checkpoints["snn-tiny"]
    data = _student_data(ann)
    cpu = torch.device("cpu")
    with pytest.raises(ConfigError, match="teacher checkpoint not found") as e:
        load_teacher(tmp_path / "none.pt", 1.0, data, cpu)
    assert "none.pt" in str(e.value)
    with pytest.raises(ConfigError, match="teacher sees binocular input, the student monocular"):
        load_teacher(ann, 1.0, dataclasses.replace(data, cameras="monocular"), cpu)
    with pytest.raises(ConfigError, match="other units.*d_max"):
        load_teacher(ann, 1.0, dataclasses.replace(data, d_max=data.d_max * 2), cpu)
    # An ANN that sums its bins can teach any bin count; a spiking teacher only its own.
    load_teacher(ann, 1.0, dataclasses.replace(data, num_bins=5), cpu)
    with pytest.raises(ConfigError, match="teacher takes 2 time bins, the student 5"):
        load_teacher(snn, 1.0, dataclasses.replace(data, num_bins=5), cpu)
    # From the command line: exit 2, one line naming the file, nothing written.
    out = tmp_path / "cli"
    code = main(["train", "--data", str(tiny_synth), "--out", str(out), "--epochs", "1", "--quiet",
                 "--set", f"teacher={tmp_path / 'none.pt'}"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "none.pt" in err and "teacher checkpoint not found" in err and len(err.splitlines()) == 1
    assert not out.exists()
    code = main(["train", "--data", str(tiny_synth), "--out", str(out), "--quiet", "--set", "distill_weight=-1"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "distill_weight must be >= 0" in err
