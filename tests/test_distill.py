"""Distillation from a trained teacher (``teacher=PATH``, ``distill_weight``): the loss term against
an analytic case, its place in the training loop, and one-line errors for a teacher that cannot
teach this student."""

from __future__ import annotations

import dataclasses
import json

import pytest
import torch
from torch import nn

from depthsnn.cli.main import main
from depthsnn.data.dataset import DataConfig
from depthsnn.errors import ConfigError
from depthsnn.train.checkpoint import load_checkpoint, model_from_checkpoint
from depthsnn.train.config import TrainConfig
from depthsnn.train.distill import FeatureTap, feature_loss, load_teacher
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
    got, features = teacher.loss(loss_fn, heads, frames)
    assert features.item() == 0.0  # no feature distillation asked for
    assert got.item() == pytest.approx(0.7 * 3 * c * c * (1 - 0.5), rel=1e-5)
    assert teacher.loss(loss_fn, (target,), frames)[0].item() == pytest.approx(0.0, abs=1e-9)
    # A per-pixel error, unlike an offset, is penalised by the gradient term too.
    bumpy = target.clone()
    bumpy[:, ::2] += c
    assert teacher.loss(loss_fn, (bumpy,), frames)[0].item() > 0.7 * c * c * 0.25


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
    # ... but not from running sums: summed again they would count the early events twice.
    with pytest.raises(ConfigError, match="teacher is fed 2 per_bin bins, the student 2 cumulative"):
        load_teacher(ann, 1.0, dataclasses.replace(data, num_bins=2, presentation="cumulative"), cpu)
    load_teacher(ann, 1.0, dataclasses.replace(data, num_bins=1, presentation="cumulative"), cpu)
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


def _twin_taps(path, frames):
    """The same checkpoint loaded twice (teacher and student), both tapped, run on ``frames``."""
    teacher, _, _ = model_from_checkpoint(path)
    student, _, _ = model_from_checkpoint(path)
    taps = FeatureTap(teacher.eval(), "teacher"), FeatureTap(student.eval(), "student")
    with torch.no_grad():
        teacher(frames), student(frames)
    return taps[0].take(), taps[1].take(), taps


def test_feature_term_of_a_twin_is_analytic(tiny_checkpoints):
    """A student equal to its teacher: identity adapters give 0; adapters that double the features give
    (2t - t)^2 / t^2 = 1 at every level; the taps see the heads' inputs coarse to fine."""
    torch.manual_seed(0)
    frames = (torch.rand(2, 2, 4, 48, 64) < 0.1).float()
    t, s, taps = _twin_taps(tiny_checkpoints["ann-tiny"], frames)
    # base_channels 4, levels 3: the heads read 16, 8, 4 channels at 1/4, 1/2 and full size.
    assert [tuple(f.shape) for f in t] == [(2, 16, 12, 16), (2, 8, 24, 32), (2, 4, 48, 64)]
    assert taps[0].channels == [16, 8, 4] and all(torch.equal(a, b) for a, b in zip(t, s, strict=True))
    assert all(f.pow(2).mean() > 0 for f in t)
    adapters = nn.ModuleList(nn.Conv2d(c, c, 1) for c in taps[0].channels)
    with torch.no_grad():
        for a in adapters:
            a.weight.copy_(torch.eye(a.in_channels)[:, :, None, None])
            a.bias.zero_()
    assert feature_loss(s, t, adapters).item() == pytest.approx(0.0, abs=1e-9)
    with torch.no_grad():
        for a in adapters:
            a.weight.mul_(2)
    assert feature_loss(s, t, adapters).item() == pytest.approx(1.0, rel=1e-5)
    # A student tap marked training-only keeps nothing from an eval-mode (validation) forward.
    student, _, _ = model_from_checkpoint(tiny_checkpoints["snn-tiny"])
    tap = FeatureTap(student.eval(), "student", training_only=True)
    with torch.no_grad():
        student(frames)
    assert tap.take() == []
    student.train()
    student(frames)
    # A spiking student's features are its spike counts averaged over the T = 2 steps: 0, 1/2 or 1
    # per input, and a decoder output plus a skip sums two of them.
    got = tap.take()
    assert len(got) == 3 and all(torch.equal(f * 2, (f * 2).round()) and f.min() >= 0 and f.max() <= 2 for f in got)
    for tp in (*taps, tap):
        tp.close()


def test_feature_distillation_in_the_training_loop(tiny_synth, tiny_checkpoints, tmp_path):
    """distill_features 0 is the output-only run bit for bit (no adapters, no extra draws); > 0 logs its
    term, trains other weights, keeps the adapters beside (never inside) the model, and resumes exactly."""
    teacher = str(tiny_checkpoints["ann-tiny"])
    out_only = train(_cfg(tiny_synth, tmp_path / "out", teacher=teacher), progress=False)
    zero = train(_cfg(tiny_synth, tmp_path / "zero", teacher=teacher, distill_features=0.0), progress=False)
    feat = train(_cfg(tiny_synth, tmp_path / "feat", teacher=teacher, distill_features=1.0, epochs=2), progress=False)
    a, b = (load_checkpoint(r.last_checkpoint) for r in (out_only, zero))
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert "distill_adapters" not in b and "train_distill_features" not in zero.last_metrics
    c = load_checkpoint(feat.last_checkpoint)
    assert set(c["model"]) == set(a["model"])  # the exported network is the student alone
    assert [tuple(v.shape) for k, v in c["distill_adapters"].items() if k.endswith("weight")] == [
        (16, 16, 1, 1), (8, 8, 1, 1), (4, 4, 1, 1)]
    assert feat.last_metrics["train_distill_features"] > 0
    first = json.loads((tmp_path / "feat" / "metrics.jsonl").read_text().splitlines()[0])
    # The logged total is the ground-truth loss plus both distillation terms.
    assert first["train_loss"] > first["train_distill"] + first["train_distill_features"] > first["train_distill"]

    def kill(epoch: int, record: dict) -> None:
        if epoch == 1:
            raise KeyboardInterrupt
    cfg = _cfg(tiny_synth, tmp_path / "cut", teacher=teacher, distill_features=1.0, epochs=2)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, progress=False, on_epoch_end=kill)
    one = load_checkpoint(tmp_path / "cut" / "last.pt")
    assert one["epoch"] == 1 and any(not torch.equal(a["model"][k], one["model"][k]) for k in a["model"])
    resumed = load_checkpoint(train(cfg, resume=True, progress=False).last_checkpoint)
    for k in c["model"]:
        torch.testing.assert_close(resumed["model"][k], c["model"][k], rtol=0, atol=0, msg=k)
    for k in c["distill_adapters"]:
        torch.testing.assert_close(resumed["distill_adapters"][k], c["distill_adapters"][k], rtol=0, atol=0, msg=k)


def test_feature_distillation_errors(tiny_synth, tiny_checkpoints, portable_checkpoint, tmp_path):
    with pytest.raises(ConfigError, match="distill_features 1.0 needs a teacher"):
        _cfg(tiny_synth, tmp_path / "x", distill_features=1.0)
    with pytest.raises(ConfigError, match="distill_features must be >= 0"):
        _cfg(tiny_synth, tmp_path / "x", distill_features=-1.0)
    with pytest.raises(ConfigError, match="needs a U-Net student: snn-portable-tiny is arch 'portable'"):
        TrainConfig(model="snn-portable-tiny", teacher=str(tiny_checkpoints["ann-tiny"]), distill_features=1.0)
    portable = load_teacher(portable_checkpoint, 1.0, _student_data(portable_checkpoint), torch.device("cpu"), 1.0)
    student, _, _ = model_from_checkpoint(tiny_checkpoints["snn-tiny"])
    with pytest.raises(ConfigError, match="needs U-Nets: the teacher is arch 'portable'"):
        portable.attach(student)
