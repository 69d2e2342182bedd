"""Training loop: exact resumption, distributed training, run-folder rules, CLI errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from torch.utils.data import DataLoader, Subset

from depthsnn.cli.main import main
from depthsnn.config import apply_overrides, load_config
from depthsnn.data.dataset import DataConfig, EventDepthDataset
from depthsnn.errors import ConfigError, DataError
from depthsnn.models import DepthNet
from depthsnn.models.runner import evaluate_model
from depthsnn.train.checkpoint import load_checkpoint, model_from_checkpoint
from depthsnn.train.config import TrainConfig
from depthsnn.train.loop import to_metres_fn, train


def _cfg(root, out, **kw) -> TrainConfig:
    base = dict(
        model="snn-tiny", model_options=["base_channels=4", "levels=3", "residual_blocks=1"],
        data=DataConfig(root=str(root), split="synthetic"), out=str(out), epochs=2, batch_size=2,
        lr=1e-3, max_train_samples=6, max_val_samples=4, device="cpu",
    )
    base.update(kw)
    return TrainConfig(**base)


class _Killed(Exception):
    pass


@pytest.mark.parametrize("ema_decay", [0.0, 0.9])
def test_resume_after_interruption_equals_uninterrupted_run(tiny_synth, tmp_path, ema_decay):
    full = train(_cfg(tiny_synth, tmp_path / "full", ema_decay=ema_decay), progress=False)

    def kill(epoch: int, record: dict) -> None:
        if epoch == 1:
            raise _Killed  # as if the process died right after the epoch-1 checkpoint
    with pytest.raises(_Killed):
        train(_cfg(tiny_synth, tmp_path / "cut", ema_decay=ema_decay), progress=False, on_epoch_end=kill)
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == 1
    resumed = train(_cfg(tiny_synth, tmp_path / "cut", ema_decay=ema_decay), resume=True, progress=False)

    a = load_checkpoint(full.last_checkpoint)
    b = load_checkpoint(resumed.last_checkpoint)
    assert a["epoch"] == b["epoch"] == 2
    # With averaging, both the average ("model") and the trained weights come back exactly.
    assert ("train_model" in a) == (ema_decay > 0) and a.get("ema_steps") == b.get("ema_steps")
    for part in ("model", "train_model") if ema_decay else ("model",):
        for k in a[part]:
            torch.testing.assert_close(a[part][k], b[part][k], rtol=0, atol=0, msg=f"{part}.{k}")
    for ga, gb in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values(), strict=True):
        torch.testing.assert_close(ga["exp_avg"], gb["exp_avg"], rtol=0, atol=0)
    # The metrics log holds each epoch once, with identical values.
    la = [json.loads(x) for x in (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()]
    lb = [json.loads(x) for x in (tmp_path / "cut" / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in lb] == [1, 2]
    assert [r["train_loss"] for r in la] == [r["train_loss"] for r in lb]
    # Training reduced the loss and the saved model rebuilds from the checkpoint alone.
    assert la[1]["train_loss"] < la[0]["train_loss"]
    model, cfg, _ = model_from_checkpoint(full.best_checkpoint)
    assert cfg.model == "snn-tiny" and model.cfg.base_channels == 4


def test_weight_average_follows_the_ema_recurrence_and_is_what_the_run_validates(tiny_synth, tmp_path, monkeypatch):
    # The trained weights after every optimiser step, read off Adam itself.
    names = [n for n, _ in DepthNet(_cfg(tiny_synth, tmp_path).model_config()).named_parameters()]
    after_steps: list[list[torch.Tensor]] = []
    adam_step = torch.optim.Adam.step

    def step(self, *args, **kwargs):
        out = adam_step(self, *args, **kwargs)
        after_steps.append([p.detach().clone() for p in self.param_groups[0]["params"]])
        return out

    monkeypatch.setattr(torch.optim.Adam, "step", step)
    cfg = _cfg(tiny_synth, tmp_path / "ema", ema_decay=0.8)
    res = train(cfg, progress=False)
    assert len(after_steps) == 6  # 2 epochs x 3 batches of 2
    ckpt = load_checkpoint(res.last_checkpoint)
    # avg_1 = w_1, avg_t = 0.8 avg_(t-1) + 0.2 w_t, by hand
    expected = after_steps[0]
    for w in after_steps[1:]:
        expected = [0.8 * a + 0.2 * b for a, b in zip(expected, w, strict=True)]
    assert ckpt["ema_steps"] == 6
    for name, avg, last in zip(names, expected, after_steps[-1], strict=True):
        torch.testing.assert_close(ckpt["model"][name], avg, rtol=1e-5, atol=1e-6, msg=name)
        torch.testing.assert_close(ckpt["train_model"][name], last, rtol=0, atol=0, msg=name)
    assert any(not torch.equal(ckpt["model"][n], ckpt["train_model"][n]) for n in names)
    # The validation MDE logged is the averaged network's: re-evaluate the saved "model" weights.
    model, _, _ = model_from_checkpoint(res.last_checkpoint)
    val = Subset(EventDepthDataset.from_config(cfg.data, "val"), range(cfg.max_val_samples))
    again = evaluate_model(model, DataLoader(val, batch_size=cfg.batch_size), to_metres=to_metres_fn(cfg))
    assert again.metrics["mde_cm"] == pytest.approx(ckpt["metrics"]["val_mde_cm"], rel=1e-5)
    with pytest.raises(ConfigError, match="ema_decay must be in"):
        _cfg(tiny_synth, tmp_path, ema_decay=1.0)


def test_run_folder_rules(tiny_synth, tmp_path):
    cfg = _cfg(tiny_synth, tmp_path / "r", epochs=1)
    with pytest.raises(DataError, match="nothing to resume"):
        train(cfg, resume=True, progress=False)
    train(cfg, progress=False)
    with pytest.raises(ConfigError, match="already exists"):
        train(cfg, progress=False)
    with pytest.raises(ConfigError, match="changed option.*lr"):
        train(_cfg(tiny_synth, tmp_path / "r", epochs=2, lr=5e-4), resume=True, progress=False)
    # Only epochs changed: resuming is allowed and runs the extra epoch.
    res = train(_cfg(tiny_synth, tmp_path / "r", epochs=2), resume=True, progress=False)
    assert load_checkpoint(res.last_checkpoint)["epoch"] == 2
    # A recipe field left open keeps the run's value: this run trained at batch 2, and resuming it
    # without a batch size (the binocular SNN recipe's is 1) goes on at 2; asking for 1 is a change.
    with pytest.raises(ConfigError, match="changed option.*batch_size"):
        train(_cfg(tiny_synth, tmp_path / "r", epochs=3, batch_size=1), resume=True, progress=False)
    res = train(_cfg(tiny_synth, tmp_path / "r", epochs=3, batch_size=None), resume=True, progress=False)
    ckpt = load_checkpoint(res.last_checkpoint)
    assert (ckpt["epoch"], ckpt["config"]["batch_size"]) == (3, 2)


def test_cli_train_and_errors(tiny_synth, tmp_path, capsys):
    out = tmp_path / "cli"
    args = ["train", "--data", str(tiny_synth), "--out", str(out), "--epochs", "1", "--quiet",
            "--set", "max_train_samples=4", "--set", "max_val_samples=2",
            "--set", "model_options=base_channels=4,levels=3"]
    assert main(args) == 0
    assert "best validation MDE" in capsys.readouterr().out
    assert main([*args[:-2], "--resume", "--epochs", "2"]) == 0  # saved options reused
    assert load_checkpoint(out / "last.pt")["epoch"] == 2
    for bad, msg in [
        (["--data", str(tmp_path / "missing")], "data folder not found"),
        (["--model", "snn-huge"], "unknown model"),
        (["--set", "epochs=0"], "epochs must be >= 1"),
        (["--set", "nonsense=1"], "unknown option nonsense"),
        (["--backend", "triton", "--device", "cpu"], "needs a CUDA device"),
    ]:
        code = main(["train", "--data", str(tiny_synth), "--out", str(tmp_path / "bad"), "--quiet", *bad])
        err = capsys.readouterr().err.strip()
        assert code == 2 and msg in err and len(err.splitlines()) == 1, err


def test_ddp_two_cpu_processes(tiny_synth, tiny_checkpoints, tmp_path):
    """Two ranks, with feature distillation on (its adapters sit outside DDP: gradients averaged by hand)."""
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "depthsnn.cli.main", "train", "--data", str(tiny_synth), "--out", str(out),
           "--epochs", "1", "--quiet", "--device", "cpu", "--set", "max_train_samples=8",
           "--set", "max_val_samples=2", "--set", "model_options=base_channels=4,levels=3",
           "--set", f"teacher={tiny_checkpoints['ann-tiny']}", "--set", "distill_features=1"]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rec = json.loads((out / "metrics.jsonl").read_text().splitlines()[-1])
    assert rec["samples"] == 4  # each of the 2 ranks saw half of the 8 training samples
    assert rec["train_distill_features"] > 0
    assert load_checkpoint(out / "last.pt")["epoch"] == 1


def test_recipe_per_kind_and_overrides():
    from depthsnn.train.recipes import RECIPES

    hnn = TrainConfig(model="hnn-tiny").resolved()  # 8 epochs: decay after 1/2 and 3/4
    assert (hnn.lr, hnn.lr_milestones, hnn.lr_gamma) == (RECIPES["hnn"].lr, [4, 6], RECIPES["hnn"].lr_gamma)
    snn = TrainConfig(model="snn-tiny").resolved()  # the SNN U-Net's late decay: 3/4 and 9/10
    assert (snn.lr, snn.lr_milestones, snn.lr_gamma) == (3e-3, [6, 7], 0.3)
    ann = TrainConfig(model="ann-tiny", epochs=4).resolved()
    r = RECIPES["ann"]
    assert ann.lr == r.lr and ann.weight_decay == r.weight_decay
    assert ann.lr_milestones == sorted({round(f * 4) for f in r.decay_at if round(f * 4) < 4})
    mine = TrainConfig(model="ann-tiny", lr=7e-4, lr_milestones=[3]).resolved()
    assert (mine.lr, mine.lr_milestones) == (7e-4, [3])
    assert TrainConfig(model="snn-tiny").resolved().resolved() == snn  # idempotent


@pytest.mark.parametrize("order", [1, -1])
def test_overrides_are_checked_together_in_any_order(order):
    """Cross-field checks see every --set at once: the order on the command line does not matter
    for a valid combination, and an invalid one fails whichever order it is given in."""

    cfg = load_config(TrainConfig, None, ["distill_features=1", "teacher=runs/t/best.pt"][::order])
    assert (cfg.distill_features, cfg.teacher) == (1.0, "runs/t/best.pt")
    # a nested field and a top-level field that only together pass (num_bins=1 for a normed SNN)
    two_bins = load_config(TrainConfig, None, ["data.num_bins=2"])
    ok = apply_overrides(two_bins, ["model_options=norm=batch", "data.num_bins=1"][::order])
    assert (ok.model_options, ok.data.num_bins) == (["norm=batch"], 1)
    with pytest.raises(ConfigError, match="needs data.num_bins = 1"):
        load_config(TrainConfig, None, ["model_options=norm=batch", "data.num_bins=2"][::order])
    with pytest.raises(ConfigError, match="needs a teacher"):
        load_config(TrainConfig, None, ["distill_features=1", "lr=0.003"][::order])
    # a key given twice keeps its last value; the checks see only that one
    assert load_config(TrainConfig, None, ["epochs=0", "epochs=3"]).epochs == 3
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        load_config(TrainConfig, None, ["epochs=3", "epochs=0"])
    with pytest.raises(ConfigError, match=r"unknown option data\.nope"):
        load_config(TrainConfig, None, ["data.nope=1"])
    # the data options' own checks surface as config errors, not tracebacks
    with pytest.raises(ConfigError, match="data: presentation must be one of per_bin, cumulative"):
        load_config(TrainConfig, None, ["data.presentation=stacked"])
    with pytest.raises(ConfigError, match="data: num_bins must be >= 1"):
        load_config(TrainConfig, None, ["data.num_bins=0"])
    # event drop thins per-bin counts: refused on running sums, allowed on one bin or per bin
    with pytest.raises(ConfigError, match="augment 'drop' thins per-bin counts"):
        load_config(TrainConfig, None, ["augment=drop", "data.presentation=cumulative", "data.num_bins=2"][::order])
    for ok_set in (["data.presentation=cumulative", "data.num_bins=1"], ["data.num_bins=2"]):
        load_config(TrainConfig, None, ["augment=drop", *ok_set])
    with pytest.raises(ConfigError, match="epochs is not a table of options"):
        load_config(TrainConfig, None, ["epochs.x=1"])


def test_rate_penalty_comes_from_the_recipe_of_kind_and_architecture():
    """The SNN U-Net trains with the frontier's penalty; the HNN, the ANN and the chip-fit chain
    (not measured on the frontier) without; an explicit value, 0 included, wins."""
    assert TrainConfig(model="snn-tiny").resolved().rate_penalty == 4.0
    assert TrainConfig(model="snn-tiny", rate_penalty=0.0).resolved().rate_penalty == 0.0
    for model in ("hnn-tiny", "ann-tiny", "snn-portable-tiny"):
        assert TrainConfig(model=model).resolved().rate_penalty == 0.0, model
    with pytest.raises(ConfigError, match="rate_penalty must be >= 0"):
        TrainConfig(rate_penalty=-1.0)


def test_rate_floor_is_checked_against_the_penalty_it_shapes():
    assert TrainConfig(model="snn-tiny", rate_floor=0.02).resolved().rate_floor == 0.02
    with pytest.raises(ConfigError, match=r"rate_floor is a firing rate per step, in \[0, 1\), got 1.0"):
        TrainConfig(rate_floor=1.0)
    with pytest.raises(ConfigError, match=r"penalty, which is 0 for this run \(rate_penalty=0\)"):
        TrainConfig(rate_floor=0.02, rate_penalty=0.0)
    # The HNN's recipe has no penalty: a floor alone is refused ...
    with pytest.raises(ConfigError, match=r"0 for this run \(the hnn unet recipe\)"):
        TrainConfig(model="hnn-tiny", rate_floor=0.02)
    # ... and accepted with a penalty of its own, in either --set order.
    for sets in (["rate_floor=0.02", "rate_penalty=1"], ["rate_penalty=1", "rate_floor=0.02"]):
        cfg = load_config(TrainConfig, None, ["model=hnn-tiny", *sets]).resolved()
        assert (cfg.rate_penalty, cfg.rate_floor) == (1.0, 0.02)


def test_unets_take_their_modality_recipes_others_their_kinds():
    """Monocular SNN and HNN U-Nets decay late (after epochs 9 and 11 of 12, the 12-epoch
    monocular sweep's choice), the SNN at lr 3e-3 with penalty 4, the HNN at its kind's lr 1e-3
    without; the binocular SNN U-Net takes the monocular SNN's recipe (the snn-gap-lr rounds'
    choice) plus weight decay 1e-4 (snn-gap-decay-seeds), which the monocular one has not; the
    binocular HNN and ANN, the monocular ANN, the chip-fit chain and the Akida 2.0 U-Net keep
    theirs; an explicit option still wins."""
    from depthsnn.train.recipes import ARCH_RECIPES, RECIPES

    def resolved(model, cameras, **kw):
        return TrainConfig(model=model, data=DataConfig(cameras=cameras), epochs=12, **kw).resolved()

    snn, hnn = resolved("snn-tiny", "monocular"), resolved("hnn-tiny", "monocular")
    assert (snn.lr, snn.lr_milestones, snn.rate_penalty, snn.weight_decay) == (3e-3, [9, 11], 4.0, 0.0)
    assert (hnn.lr, hnn.lr_milestones, hnn.rate_penalty) == (1e-3, [9, 11], 0.0)
    bino_snn = resolved("snn-tiny", "binocular")
    assert (bino_snn.lr, bino_snn.lr_milestones, bino_snn.rate_penalty, bino_snn.weight_decay) == (
        3e-3, [9, 11], 4.0, 1e-4)
    assert resolved("snn-tiny", "binocular", weight_decay=0.0).weight_decay == 0.0
    # batch 1 for the binocular SNN U-Net only (snn-gap-seeds34); every other run keeps batch 2,
    # and an explicit batch size wins
    assert bino_snn.batch_size == 1 and resolved("snn-tiny", "binocular", batch_size=4).batch_size == 4
    for model, cameras in (("snn-tiny", "monocular"), ("ann-tiny", "binocular"), ("hnn-tiny", "binocular"),
                           ("snn-portable-tiny", "binocular"), ("snn-akida2-tiny", "binocular")):
        assert resolved(model, cameras).batch_size == 2, (model, cameras)
    akida2 = resolved("snn-akida2-tiny", "binocular")
    assert (akida2.lr, akida2.lr_milestones) == (RECIPES["snn"].lr, [6, 9]) == (1e-3, [6, 9])
    for model in ("hnn-tiny", "ann-tiny"):
        kind = RECIPES[model.split("-")[0]]
        bino = resolved(model, "binocular")
        assert (bino.lr, bino.lr_milestones, bino.rate_penalty) == (kind.lr, [6, 9], kind.rate_penalty)
    ann = resolved("ann-tiny", "monocular")
    assert (ann.lr, ann.lr_milestones) == (RECIPES["ann"].lr, [6, 9])
    assert resolved("snn-portable-tiny", "monocular").lr_milestones == ARCH_RECIPES[("snn", "portable")].milestones(12)
    assert resolved("snn-tiny", "monocular", lr=5e-4).lr == 5e-4
    assert resolved("hnn-tiny", "monocular", lr_milestones=[6, 9]).lr_milestones == [6, 9]
