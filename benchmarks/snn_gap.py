"""The SNN/ANN gap (issue 22): SNN recipe candidates chosen on validation, reported on test.

    python benchmarks/snn_gap.py [--data data/synthetic] [--runs runs/benchmark] [--epochs 12] [--jobs 2]

Trains, on the default synthetic set (binocular), the ANN twin and the SNN U-Net with their
recipes (the same run folders as ``train_eval.py``'s rows, so finished runs are shared), then the
SNN candidates of :data:`CANDIDATES`; a candidate distilled from the ANN twin (``teacher=``) trains
after its teacher has finished. Every best checkpoint (best epoch on validation) is evaluated on
the unseen test scenes in one ``evaluate`` call with the constant predictor, and costed on one
hardware model (``--energy-profile``, default ``lemaire45nm``, as in ``train_eval.py``). The table
(section ``snn-gap`` of BENCHMARKS.md) shows the best validation MDE, which decides, beside the
test MDE, which only reports. ``--candidates`` picks a subset by index (smoke runs).

A candidate trains on its kind's recipe as it stands when it runs, plus its options: a row of an
older round was measured on the recipe of its day (BENCHMARKS.md says which), so re-running an
old candidate without the options a later adoption added is a different run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

from _report import machine, round_suffix, today, write_section
from _runs import Run, add_run_arguments, batch_sizes, train_all
from depthsnn.compare import compare
from depthsnn.compare.api import sensor_window_s
from depthsnn.data.synthetic import SynthConfig, generate_dataset
from depthsnn.evaluate.api import evaluate_checkpoints
from depthsnn.hw_profiles import get_profile
from depthsnn.hw_profiles.assess import assess_profiles
from depthsnn.hw_profiles.energy import per_map_mj
from depthsnn.simulate.pipeline import load_network, open_dataset

TEACHER = "{runs}/ann-tiny-binocular/best.pt"
# The adopted recipe (lr 3e-3, late decay) spelled out, so a later round's folders keep the names
# of the round that chose it.
ADOPTED = ("lr=0.003", "lr_milestones=9,11")
# The binocular recipe since "snn-gap-seeds34" (ADOPTED plus weight decay 1e-4 and batch 1), which
# every later round varies, spelled out for the same reason.
BATCH1 = (*ADOPTED, "weight_decay=0.0001", "batch_size=1")
# A candidate at seeds 0 to n - 1 (three_seeds: 0, 1 and 2): seed 0 is the recipe's default, so
# its options (and run folder name) carry no seed, as the rounds that trained them named them.
def first_seeds(preset: str, sets: tuple[str, ...], n: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple((preset, sets if s == 0 else (*sets, f"seed={s}")) for s in range(n))


def three_seeds(preset: str, sets: tuple[str, ...]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return first_seeds(preset, sets, 3)


# (preset, options); "{runs}" is the --runs folder. The first two are the twins as the recipes
# stand (the teacher and the reference); the distilled candidates vary the term's weight.
CANDIDATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("ann-tiny", ()),
    ("snn-tiny", ()),
    ("snn-tiny", (f"teacher={TEACHER}", "distill_weight=1")),
    ("snn-tiny", (f"teacher={TEACHER}", "distill_weight=3")),
    # multi-bin input: the 50 ms window cut into 2 bins presented one per time step (the ANN
    # twin, which sums its bins, teaches any bin count)
    ("snn-tiny", ("data.num_bins=2",)),
    ("snn-tiny", ("data.num_bins=2", f"teacher={TEACHER}", "distill_weight=1")),
    # batch norm after every hidden conv, as in the ANN twin's recipe (folded into weights and a
    # bias for inference and export; at T = 1 the bias is a per-channel threshold shift)
    ("snn-tiny", ("model_options=norm=batch",)),
    ("snn-tiny", ("model_options=norm=batch", f"teacher={TEACHER}", "distill_weight=1")),
    # the rate penalty re-chosen with distillation (the recipe's 4 was chosen without a teacher)
    ("snn-tiny", (f"teacher={TEACHER}", "distill_weight=1", "rate_penalty=2")),
    # decoder-feature distillation on top of the output term (training-only 1x1 adapters per level)
    ("snn-tiny", (f"teacher={TEACHER}", "distill_weight=1", "distill_features=1")),
    ("snn-tiny", (f"teacher={TEACHER}", "distill_weight=1", "distill_features=0.3")),
    # the binocular SNN's learning rate was never swept (the monocular SNN chose 3e-3 over 1e-3)
    ("snn-tiny", (f"teacher={TEACHER}", "distill_weight=1", "distill_features=1", "lr=0.003")),
    ("snn-tiny", ("lr=0.003",)),
    # bracketing the rate on the high side, and the later decay the monocular SNN chose
    ("snn-tiny", ("lr=0.006",)),
    ("snn-tiny", ADOPTED),
    # on the adopted recipe: output distillation, and a second seed to size the noise
    ("snn-tiny", (*ADOPTED, f"teacher={TEACHER}", "distill_weight=1")),
    ("snn-tiny", (*ADOPTED, "seed=1")),
    # the spiking init gain (2.5 chosen for firing at start, never for accuracy), on both sides
    ("snn-tiny", (*ADOPTED, "model_options=init_gain=2")),
    ("snn-tiny", (*ADOPTED, "model_options=init_gain=3.5")),
    # the rate penalty re-chosen at lr 3e-3 (firing may rise to the 10 %
    # bar), and a floor under each layer's rate so that the fine decoders do not fall silent
    ("snn-tiny", (*ADOPTED, "rate_penalty=2")),
    ("snn-tiny", (*ADOPTED, "rate_floor=0.02")),
    # the ATan surrogate's sharpness (2 is spikingjelly's and StereoSpike's, never swept): wider
    # (1) passes gradient from potentials further from the threshold, sharper (4) less
    ("snn-tiny", (*ADOPTED, "model_options=surrogate_alpha=1")),
    ("snn-tiny", (*ADOPTED, "model_options=surrogate_alpha=4")),
    # batch norm (folded at export: a threshold shift at T = 1) was tried at lr 1e-3 only; the
    # ANN twin trains with it at 3e-3
    ("snn-tiny", (*ADOPTED, "model_options=norm=batch")),
    # a third seed of the adopted recipe, to size the noise every comparison above sits in
    ("snn-tiny", (*ADOPTED, "seed=2")),
    # Adam's (coupled) weight decay, 0 in every recipe so far
    ("snn-tiny", (*ADOPTED, "weight_decay=0.0001")),
    ("snn-tiny", (*ADOPTED, "weight_decay=0.001")),
    # weight decay 1e-4 at the two other seeds: its one-seed lead sat inside the seed spread
    ("snn-tiny", (*ADOPTED, "weight_decay=0.0001", "seed=1")),
    ("snn-tiny", (*ADOPTED, "weight_decay=0.0001", "seed=2")),
    # an exponential moving average of the weights (window ~200 steps, 1.4 epochs), on both sides:
    # a training technique the SNN adopts only if the ANN twin gets the chance to use it too
    ("snn-tiny", (*ADOPTED, "ema_decay=0.995")),
    ("ann-tiny", ("ema_decay=0.995",)),
    # the ANN twin's own seed spread: the 15 % bar compares seed means, not one draw per side
    ("ann-tiny", ("seed=1",)),
    ("ann-tiny", ("seed=2",)),
    # weight decay between the adopted 1e-4 (better than none at every seed) and 1e-3 (worse)
    *three_seeds("snn-tiny", (*ADOPTED, "weight_decay=0.0003")),
    # a learnable threshold per channel (trained as a gain, folded into the weights at export,
    # exact at any T) on the binocular recipe (weight decay 1e-4), three seeds
    *three_seeds("snn-tiny", (*ADOPTED, "weight_decay=0.0001", "model_options=norm=threshold")),
    # the ANN twin with the weight decay the binocular SNN adopted (a baseline gets the same
    # chance at a technique): three seeds, against its seed means without (val 25.7, test 25.4)
    *three_seeds("ann-tiny", ("weight_decay=0.0001",)),
    # batch 1 on the binocular recipe: twice the optimiser steps in the same epoch budget (every
    # run so far peaks at its last epochs, so it is short of steps, not of data); the SNN has no
    # batch statistics, so nothing else changes. Three seeds.
    *three_seeds("snn-tiny", BATCH1),
    # the ANN twin at batch 1 (a baseline gets the same chance at a technique); batch norm then
    # takes its statistics over one sample's pixels
    *three_seeds("ann-tiny", ("batch_size=1",)),
    # vertical flips (exact for a rectified pair: rows stay epipolar lines, disparity keeps its
    # sign) on top of polarity swaps: the SNN ends 3-4 cm worse on validation than on its training
    # scenes where the ANN twin ends level, so a regulariser is worth a run. Three seeds.
    *three_seeds("snn-tiny", (*ADOPTED, "weight_decay=0.0001", "augment=polarity,vflip")),
    # seeds 3 and 4 of the recipe and of batch 1: batch 1 led on validation at seeds 1 and 2 and
    # trailed by 0.2 cm at seed 0, a tie inside the seed spread that two more draws each settle.
    # Rule, fixed before these ran: batch 1 is adopted if it wins on validation at seeds 3 and 4
    # (so at 4 of 5 seeds) and on the five-seed validation mean; the 15 % bar stays on seeds 0-2,
    # the seeds the ANN twin has.
    *(("snn-tiny", (*ADOPTED, "weight_decay=0.0001", *extra, f"seed={s}"))
      for extra in ((), ("batch_size=1",)) for s in (3, 4)),
    # seeds 3 and 4 of the ANN twin, so the 15 % bar compares five-seed means on both sides
    # (seeds 0-2 alone left a margin of 0.05 cm). Rule, fixed before these ran: the bar is met if
    # the binocular SNN's five-seed test mean (batch 1: 29.14 cm) is at most 1.15x the ANN's
    # five-seed test mean, to the unrounded figures; otherwise issue 22 stays open.
    ("ann-tiny", ("seed=3",)),
    ("ann-tiny", ("seed=4",)),
    # channel dropout 0.1 (training only) on the binocular recipe, three seeds: the SNN ends 5-6
    # cm better on its training scenes than on validation where the ANN twin ends level, so it
    # overfits; batch 1 (more gradient noise) closed part of that, weight decay above 1e-4 and
    # vertical flips did not. Rule, fixed before these ran: adopted if better on validation than
    # the batch-1 recipe at each of seeds 0-2 (30.2 / 27.7 / 29.7 cm, Intel Xeon; seed 0 gave 30.6
    # on the AMD EPYC, and the lower figure is the bar) and on their mean (29.2). If adopted, the
    # ANN twin gets the same option (three seeds) and the SNN seeds 3 and 4 before the 15 % bar is
    # re-read on five-seed test means.
    *three_seeds("snn-tiny", (*BATCH1, "model_options=dropout=0.1")),
    # Gaussian membrane noise (sigma 0.1 of the threshold, training only) on the binocular recipe,
    # three seeds: a gentler regulariser than channel dropout (which, at 8-64 channels a layer, left
    # the SNN 44-45 cm on validation), one that only flips neurons near their threshold. Specific
    # to spiking neurons (the ANN's ReLU has no threshold), like the surrogate's width. Rule,
    # fixed before these ran: the dropout round's (better than 30.2 / 27.7 / 29.7 cm on validation
    # at each of seeds 0-2 and than their mean 29.2); if adopted, SNN seeds 3 and 4 follow before
    # the 15 % bar is re-read on five-seed test means.
    *three_seeds("snn-tiny", (*BATCH1, "model_options=membrane_noise=0.1")),
    # lr 2e-3 at batch 1: the binocular SNN took batch 1 at the lr chosen for batch 2 (3e-3);
    # Adam's square-root scaling rule (Malladi et al., NeurIPS 2022) puts batch 1's at 3e-3 / sqrt(2)
    # = 2.1e-3. Three seeds; rule, fixed before these ran: the dropout round's (better than
    # 30.2 / 27.7 / 29.7 cm on validation at each of seeds 0-2 and than their mean 29.2).
    *three_seeds("snn-tiny", ("lr=0.002", "lr_milestones=9,11", "weight_decay=0.0001", "batch_size=1")),
    # membrane noise 0.1 at seeds 3 and 4: at seeds 0-2 it led the batch-1 recipe on validation at
    # two seeds (29.4 / 28.7 against 30.2 / 29.7) and trailed at one (28.2 against 27.7), mean 28.8
    # against 29.2. Rule, fixed before these ran: adopted if it wins on validation at seeds 3 and 4
    # (so at 4 of 5 seeds; recipe 27.4 / 28.5 cm) and on the five-seed validation mean (recipe
    # 28.7); then the 15 % bar is re-read on its five-seed test mean against the ANN's (24.74).
    *(("snn-tiny", (*BATCH1, "model_options=membrane_noise=0.1",
                    f"seed={s}")) for s in (3, 4)),
    # twice the noise, one seed as a screen: seeds 1 and 2 follow only if it beats sigma 0.1 at
    # seed 0 (29.4 cm validation); adoption then by the dropout round's rule.
    ("snn-tiny", (*BATCH1, "model_options=membrane_noise=0.2")),
    # noise 0.2 at seeds 1-3: its seed-0 screen beat sigma 0.1 (28.9 against 29.4 cm validation),
    # and sigma 0.1 at seeds 3 and 4 then trailed the recipe (28.9 / 29.3 against 27.4 / 28.5), so
    # it is not adopted. Rule, fixed before these ran: the dropout round's (better on validation
    # than 30.2 / 27.7 / 29.7 cm at each of seeds 0-2 and than their mean 29.2), and, read once
    # seed 4 has run too, better than the recipe's five-seed validation mean (28.7); seed 3 runs
    # now so that the 15 % bar can be re-read on five-seed test means one round sooner.
    *(("snn-tiny", (*BATCH1, "model_options=membrane_noise=0.2",
                    f"seed={s}")) for s in (1, 2, 3)),
    # lr 4.5e-3 at batch 1: lr 2e-3 (Adam's square-root scaling from batch 2) was worse than 3e-3 at
    # every seed (validation mean 30.2 against 29.2), so the step from 3e-3 goes the other way, by
    # the same factor 1.5. Three seeds; rule, fixed before these ran: the dropout round's (better
    # on validation than 30.2 / 27.7 / 29.7 cm at each of seeds 0-2 and than their mean 29.2).
    *three_seeds("snn-tiny", ("lr=0.0045", "lr_milestones=9,11", "weight_decay=0.0001", "batch_size=1")),
    # membrane noise 0.2 at seed 4, reported only (its rule already failed at seeds 1 and 3; this
    # completes the five-seed record), and sigma 0.3 at seeds 0 and 1 as a screen: the noise
    # narrowed the spread over seeds as it grew (0.1: 28.2-29.4 cm, 0.2: 28.0-29.0). Rule, fixed
    # before these ran: seeds 2-4 of sigma 0.3 follow only if it beats 0.2 on validation at both
    # seeds (28.9 / 29.0); adoption then needs the dropout round's rule against the recipe.
    ("snn-tiny", (*BATCH1, "model_options=membrane_noise=0.2", "seed=4")),
    ("snn-tiny", (*BATCH1, "model_options=membrane_noise=0.3")),
    ("snn-tiny", (*BATCH1, "model_options=membrane_noise=0.3", "seed=1")),
    # random event drop (EventDrop, 10-50 % of the events, half the samples) on top of polarity
    # swaps, three seeds: a regulariser on the input, not on the neurons, for a network that ends
    # 5-6 cm better on its training scenes than on validation. Rule, fixed before these ran: the
    # dropout round's (better on validation than 30.2 / 27.7 / 29.7 cm at each of seeds 0-2 and
    # than their mean 29.2); if adopted, the ANN twin gets the same option (three seeds) and the
    # SNN seeds 3 and 4 before the 15 % bar is re-read on five-seed test means.
    *three_seeds("snn-tiny", (*BATCH1, "augment=polarity,drop")),
    # the loss's scale-invariant weight, 0.5 (Eigen et al. 2014) in every recipe and never swept:
    # stereo observes the absolute depth level, which the mean depth error counts in full, and
    # si_lambda 0 (plain squared log-depth error) pins that level with full weight. Three seeds;
    # rule, fixed before these ran: the dropout round's (better on validation than 30.2 / 27.7 /
    # 29.7 cm at each of seeds 0-2 and than their mean 29.2); if adopted, the ANN twin gets the
    # same loss (three seeds) and the SNN seeds 3 and 4 before the 15 % bar is re-read.
    *three_seeds("snn-tiny", (*BATCH1, "si_lambda=0")),
    # the spike-rate penalty re-chosen for the batch-1 recipe (issue 22 asks for it with each new
    # recipe): 4 was chosen at lr 1e-3 and batch 2, and 2 tied 4 there on the adopted recipe at one
    # seed (30.5 / 30.4 cm, snn-gap-floor). At batch 1 the recipe fires 5 % and spends 59.8 of the
    # 122 mJ the energy bar allows, so half the penalty has room on both. Three seeds; rule, fixed
    # before these ran: the dropout round's (better on validation than 30.2 / 27.7 / 29.7 cm at
    # each of seeds 0-2 and than their mean 29.2); if adopted, seeds 3 and 4 follow before the 15 %
    # bar is re-read (the ANN twin has no spikes, so there is nothing to offer it).
    *three_seeds("snn-tiny", (*BATCH1, "rate_penalty=2")),
    # a deeper learning-rate decay, x0.1 instead of x0.3 after epochs 9 and 11 (the decays were
    # chosen at batch 2): at batch 1 the validation MDE still swings by up to 5 cm between epochs
    # 10-12 (30.4 / 35.1 / 28.9 cm in snn-gap-drop's seed 1), where the ANN twin's moves by 0.5,
    # so the model picked on validation is partly a lucky epoch. Three seeds; rule, fixed before
    # these ran: the dropout round's (better on validation than 30.2 / 27.7 / 29.7 cm at each of
    # seeds 0-2 and than their mean 29.2); if adopted, the ANN twin gets the same decay (three
    # seeds) and the SNN seeds 3 and 4 before the 15 % bar is re-read.
    *three_seeds("snn-tiny", (*BATCH1, "lr_gamma=0.1")),
    # two bins presented cumulatively (step 1: the window's first 25 ms, step 2: all 50 ms; MSS-
    # DepthNet's cumulative stacking): per-bin T = 2 lost 9 cm at batch 2 (snn-gap), where each
    # step saw half the events; here the last step sees what T = 1 sees, and the IF membrane and
    # the integrator readout also get an early look. Twice the steps, so about twice the energy:
    # the 15 % bar also needs at most 122 mJ (half the ANN's 243.98) and 10 % firing. Three seeds;
    # rule, fixed before these ran: the dropout round's (better on validation than 30.2 / 27.7 /
    # 29.7 cm at each of seeds 0-2 and than their mean 29.2) and, at each seed, at most 122 mJ on
    # lemaire45nm and 10 % firing; if adopted, seeds 3 and 4 follow (the ANN twin keeps T = 1: the
    # same 50 ms window, which is all a frame-based network is given).
    *three_seeds("snn-tiny", (*BATCH1, "data.num_bins=2", "data.presentation=cumulative")),
    # a learnable bias in every conv (model_options=bias=true): at T = 1 a per-channel threshold
    # shift (ReActNet's learnable-threshold sign), the one per-channel degree of freedom the ANN
    # twin has (its folded batch norm's shift) and the bias-free SNN lacks; the learnable
    # thresholds (snn-gap-threshold) were a gain, which the weights already hold. The ANN needs no
    # counterpart run: it has the shift. Three seeds; rule, fixed before these ran: the dropout
    # round's (better on validation than 30.2 / 27.7 / 29.7 cm at each of seeds 0-2 and than their
    # mean 29.2) and, at each seed, at most 122 mJ on lemaire45nm and 10 % firing (a shift can fire
    # neurons without events); if it wins, seeds 3 and 4 follow (candidates 96-97) and it is adopted
    # if its five-seed validation mean also beats the recipe's 28.7.
    *three_seeds("snn-tiny", (*BATCH1, "model_options=bias=true")),
    # Seeds 0-2 gave validation 28.7 / 28.4 / 27.6 (mean 28.2 against 29.2): better at seeds 0 and
    # 2 and on the mean, worse at seed 1, so the rule above is not met and it is not adopted on
    # it. As for batch 1's tie (snn-gap-seeds34), seeds 3 and 4 then run under a second rule,
    # fixed and committed before they ran (and before the round's test figures were read): adopted
    # if better on validation at 4 of 5 seeds (so at both seeds 3 and 4, against the recipe's 27.4
    # and 28.5) and on the five-seed validation mean (the recipe's 28.7), with firing and energy
    # within the bars at each seed.
    ("snn-tiny", (*BATCH1, "model_options=bias=true", "seed=3")),
    ("snn-tiny", (*BATCH1, "model_options=bias=true", "seed=4")),
    # The spike-rate penalty 6 (the recipe's 4; 2 was worse on validation at each of seeds 0-2,
    # snn-gap-penalty2, so the other side of 4 is the unmeasured one; it also lowers firing and
    # energy). Three seeds; rule, fixed before these ran: the dropout round's (better on validation
    # than 30.2 / 27.7 / 29.7 cm at each of seeds 0-2 and than their mean 29.2).
    *three_seeds("snn-tiny", (*BATCH1, "rate_penalty=6")),
    # Weight normalisation of every hidden conv (model_options=norm=weight; Salimans & Kingma 2016):
    # batch norm's scale-invariance of the weights without batch statistics. The ANN twin trains
    # with batch norm, which the SNN cannot use at batch 1 (the ANN itself lost 6 cm at batch 1,
    # snn-gap-ann-batch1); the learnable thresholds and the bias gave the SNN batch norm's
    # inference-time scale and shift, not its training dynamics. Training only: the loaded and
    # exported net holds plain weights. Five seeds from the start (a three-seed round cannot
    # resolve a gain under the +-1 cm seed spread); rule, fixed and committed before they ran:
    # adopted if better on validation at 4 of 5 seeds (the recipe's 30.2 / 27.7 / 29.7 / 27.4 /
    # 28.5 cm) and on the five-seed validation mean (28.7), with at most 122 mJ on lemaire45nm and
    # 10 % firing at each seed; if adopted, the ANN twin is offered it (three seeds, in place of
    # its batch norm) before the 15 % bar is re-read.
    *first_seeds("snn-tiny", (*BATCH1, "model_options=norm=weight"), 5),
    # Seeds 0-4: validation 30.8 / 28.6 / 29.9 / 28.1 / 29.9 cm (mean 29.5 against 28.7): worse at
    # every seed, so it is not adopted (snn-gap-weightnorm).
    # The epoch budget, measured rather than chosen (run with --epochs 16 --runs runs/gap16 and
    # candidates 0, 31, 1, 106, 107: each twin's recipe as it stands, its decays at the same
    # fractions of the run): every batch-1 SNN run peaked at epochs 10-12 and still swings by
    # several cm there, so is the SNN short of steps where the ANN twin is not? SNN seeds 0-2, ANN
    # seeds 0-1. Not an adoption: the budget is compute, not a hyperparameter picked on validation.
    # If the SNN's three-seed test mean at 16 epochs is within 1.15x of the ANN's two-seed test
    # mean at 16, both sides get seeds up to 4 at 16 epochs before the bar is read at that budget.
    ("snn-tiny", ("seed=1",)),
    ("snn-tiny", ("seed=2",)),
    # At 16 epochs: SNN test 29.0 / 27.0 / 28.8 cm (mean 28.27), ANN 25.1 / 23.0 (24.05), 1.175x:
    # no seeds follow (snn-gap-epochs16). The ANN gained more from the longer budget than the SNN.
)


def run_for(runs: Path, preset: str, sets: tuple[str, ...], extra: tuple[str, ...] = ()) -> Run:
    """The run folder of a candidate: preset, modality and its options (a path option by the name of
    the run folder it points into, so ``teacher=`` names the teacher's run); ``extra`` options apply
    to every run and stay out of the folder name."""
    parts = []
    for s in sets:
        key, _, value = s.partition("=")
        if "/" in value:
            value = Path(value).parent.name
        parts.append(f"-{key}={value.replace(',', '+')}")
    return Run(preset, "binocular", runs / f"{preset}-binocular{''.join(parts)}",
               tuple(s.replace("{runs}", str(runs)) for s in sets) + tuple(extra))


def energies(runs: list[Run], profile: str, samples: int, out: Path) -> dict[str, float]:
    """Energy per inference of every run's best checkpoint on ``profile``, by run folder name: one
    ``compare`` of the ANN against all spiking runs (same samples, same profile), or, in a round
    without an ANN run, each spiking run costed alone the same way."""
    ann = [r.out / "best.pt" for r in runs if r.model.startswith("ann")]
    spiking = [r.out / "best.pt" for r in runs if not r.model.startswith("ann")]
    if not spiking:
        return {}
    if not ann:
        return {p.parent.name: spiking_energy(p, profile, samples) for p in spiking}
    comp = compare(ann[0], spiking, out, samples=samples, ann_profiles=[profile], snn_profiles=[profile])
    return {r.model: r.energy_mj for r in comp.rows if r.runtime == profile and r.energy_mj is not None}


def spiking_energy(checkpoint: Path, profile: str, samples: int) -> float:
    """Energy per depth map (``per_map_mj``, what ``compare`` ranks by) of one spiking checkpoint on
    ``profile`` over ``samples`` test samples (evenly spaced), with static power over the input
    window as ``compare`` costs it."""
    net = load_network(checkpoint)
    ds = open_dataset(net, None, None, "test")
    (a,) = assess_profiles(net, ds, [get_profile(profile)], samples=samples, latency_s=sensor_window_s(net.data))
    return per_map_mj(a.row.breakdown)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_run_arguments(ap)
    ap.set_defaults(epochs=12)
    ap.add_argument("--energy-profile", default="lemaire45nm")
    ap.add_argument("--energy-samples", type=int, default=36, help="test samples costed (default 36: all)")
    ap.add_argument("--candidates", type=int, nargs="+", help="indices into CANDIDATES (default: all)")
    ap.add_argument("--section", default="snn-gap",
                    help="BENCHMARKS.md section to write (a later round of a subset: its own section)")
    ap.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE",
                    help="training option for every run (smoke runs: max_train_samples=2 ...)")
    args = ap.parse_args(argv)
    if bad := [i for i in args.candidates or () if not 0 <= i < len(CANDIDATES)]:
        ap.error(f"--candidates {' '.join(map(str, bad))}: there are {len(CANDIDATES)} candidates, 0-{len(CANDIDATES) - 1}")

    if not (args.data / "dataset.json").exists():
        generate_dataset(args.data, SynthConfig(), progress=True)
    chosen = [CANDIDATES[i] for i in (args.candidates or range(len(CANDIDATES)))]
    runs = [run_for(args.runs, p, s, tuple(args.train_set)) for p, s in chosen]
    cache = args.runs / "cache"
    # A distilled candidate needs its teacher's final best.pt when it starts: those whose teacher is
    # not fully trained yet (missing, or a run of this call still short of its epochs or stale, whose
    # best.pt may be an early epoch's) wait for the first round.
    def teacher_ready(path: Path) -> bool:
        run = next((r for r in runs if r.out == path.parent), None)
        return path.exists() and (run is None or run.finished(args.epochs))

    students = [r for r in runs if any(s.startswith("teacher=") and not teacher_ready(Path(s.partition("=")[2]))
                                       for s in r.sets)]
    train_all([r for r in runs if r not in students], args.data, cache, args.epochs, args.jobs, args.fresh)
    train_all(students, args.data, cache, args.epochs, args.jobs, args.fresh)

    checkpoints = [r.out / "best.pt" for r in runs]
    t0 = time.perf_counter()
    rows = evaluate_checkpoints(checkpoints, out_dir=args.runs / "evaluation-snn-gap", figures=0, progress=True)
    eval_time = time.perf_counter() - t0
    t0 = time.perf_counter()
    energy = energies(runs, args.energy_profile, args.energy_samples, args.runs / "energy-snn-gap")
    energy_time = time.perf_counter() - t0

    baseline = next(r for r in rows if r["kind"] == "baseline")
    ann_test = next((r["metrics"]["mde_cm"] for r in rows if r["kind"] == "ANN"), None)
    round_name = round_suffix(args.section, "snn-gap")
    lines = [
        f"## The SNN/ANN gap{round_name}: candidates chosen on validation (`benchmarks/snn_gap.py`)",
        "",
        f"{today()}, {machine()}; {args.jobs} trainings at a time, one thread each. Default synthetic set, "
        f"binocular, {args.epochs} epochs, each kind's recipe plus the options shown ({batch_sizes(runs)}), T=1 unless `data.num_bins` says otherwise, CPU. Best epoch "
        "on validation (4 unseen scenes); **validation decides**, test (4 other unseen scenes) reports.",
        "",
        "| Run | Options (beyond the recipe) | Best val MDE [cm] | at epoch | Test MDE [cm] | vs ANN twin (test) "
        f"| Firing rate [%] (test) | Energy [mJ] ({args.energy_profile}) | s/epoch |",
        "| :--- | :--- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r, run in zip(rows, runs, strict=False):
        log = run.log()
        best = min(log, key=lambda x: x["val_mde_cm"])
        m = r["metrics"]
        per_epoch = statistics.median(x["train_time_s"] for x in log)
        fr = "—" if r.get("firing_rate") is None else f"{100 * r['firing_rate']:.1f}"
        gap = "—" if ann_test is None or r["kind"] == "ANN" else f"{100 * (m['mde_cm'] / ann_test - 1):+.0f} %"
        e = energy.get(run.out.name)  # compare names a row by its checkpoint's run folder
        opts = ", ".join(s.replace(str(args.runs) + "/", "") for s in run.sets
                         if s not in args.train_set) or "recipe as committed"
        lines.append(f"| {run.out.name} | {opts} | {best['val_mde_cm']:.1f} | {best['epoch']} | {m['mde_cm']:.1f} "
                     f"| {gap} | {fr} | {'—' if e is None else f'{e:.2f}'} | {per_epoch:.0f} |")
    lines.append(f"| constant mean depth | — | — | — | {baseline['metrics']['mde_cm']:.1f} | — | — | — | — |")
    lines += ["", f"Test: {baseline['metrics']['frames']} frames; evaluation {eval_time:.0f} s, energy "
              f"{energy_time:.0f} s (every row on {args.energy_profile}, {args.energy_samples} test samples; "
              "the ANN dense with its memory traffic). s/epoch: median over the run's epochs (a distilled "
              "run also runs its teacher forward every step)."]
    write_section(args.section, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
