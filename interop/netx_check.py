"""Run a depthsnn interop case (``python -m depthsnn.vendors.netx DIR``) in lava-dl netx and compare.

Runs in lava-dl's own environment (Python 3.10, lava-dl 0.6.0, lava-nc 0.10, torch < 2.4,
numpy < 2: ``make interop`` builds it), not in depthsnn's. Loads ``DIR/net.h5`` with
``netx.hdf5.Network``, feeds ``DIR/case.npz``'s binary input events through a RingBuffer, runs
``Loihi2SimCfg(select_tag='fixed_pt')`` (bit-accurate Loihi arithmetic) and compares every block's
spikes and the last block's voltage / 64 with depthsnn's simulator at the same precision. Each
block adds one step of latency in Lava; the script finds it per block and reports it. Exit 1 on
any difference.
"""

import json
import sys
from pathlib import Path

import numpy as np
from lava.lib.dl import netx
from lava.magma.core.run_conditions import RunSteps
from lava.magma.core.run_configs import Loihi2SimCfg
from lava.proc import io
from lava.proc.monitor.process import Monitor


def to_ours(a):
    """Lava [steps, W, H, C] -> ours [steps, C, H, W]."""
    return np.asarray(a).transpose(0, 3, 2, 1)


def main(folder: str) -> int:
    d = Path(folder)
    case = np.load(d / "case.npz")
    meta = json.loads((d / "case.json").read_text())
    # The first block is a conv fed by the input events directly (no netx input layer): give
    # netx the input shape, (x, y, f) = (W, H, C).
    net = netx.hdf5.Network(net_config=str(d / "net.h5"), input_shape=tuple(case["input"].shape[1:][::-1]))
    steps = int(meta["steps"])
    total = steps + len(net.layers) + 2
    data = np.zeros((*net.inp.shape, total))
    data[..., :steps] = case["input"].transpose(3, 2, 1, 0)  # [T, C, H, W] -> [W, H, C, T]
    src = io.source.RingBuffer(data=data)
    src.s_out.connect(net.inp)
    spike_mons = []
    for block in net.layers[:-1]:
        m = Monitor()
        m.probe(block.neuron.s_out, total)
        spike_mons.append((m, block))
    vmon = Monitor()
    vmon.probe(net.layers[-1].neuron.v, total)
    net.run(condition=RunSteps(num_steps=total), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
    got_spikes = [to_ours(m.get_data()[b.neuron.name]["s_out"]) for m, b in spike_mons]
    got_v = to_ours(vmon.get_data()[net.layers[-1].neuron.name]["v"])[:, 0] / 64.0
    net.stop()
    bad = 0
    rows = []
    for k, got in enumerate(got_spikes):
        want = case[f"spikes_{k}"]
        diffs = {lag: int((got[lag:lag + steps] != want).sum()) for lag in range(total - steps + 1)}
        lag = min(diffs, key=diffs.get)
        rows.append((meta["blocks"][k], lag, int(want.sum()), int(got[lag:lag + steps].sum()), diffs[lag]))
        bad += diffs[lag]
    want_v = case["output"]
    vd = {lag: float(np.abs(got_v[lag:lag + steps] - want_v).max()) for lag in range(total - steps + 1)}
    vlag = min(vd, key=vd.get)
    print(f"lava-dl netx on Loihi2SimCfg(fixed_pt), {steps} steps of {tuple(case['input'].shape[1:])} events")
    print(f"{'block':<16} {'lag':>3} {'spikes ours':>11} {'spikes netx':>11} {'mismatches':>10}")
    for name, lag, a, b, m in rows:
        print(f"{name:<16} {lag:>3} {a:>11} {b:>11} {m:>10}")
    print(f"{meta['blocks'][-1]:<16} {vlag:>3} output potential max |netx - ours| = {vd[vlag]:g} "
          f"(integer units; max |ours| = {float(np.abs(want_v).max()):g})")
    ok = bad == 0 and vd[vlag] == 0.0
    print("netx equals depthsnn" if ok else f"netx differs: {bad} spikes, output {vd[vlag]:g}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1]))
