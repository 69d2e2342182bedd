"""lava-dl netx HDF5 export of chain networks (the lava run itself is `make interop`, in lava's venv)."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from depthsnn.errors import ConfigError
from depthsnn.export.graph import from_model
from depthsnn.models import build_model
from depthsnn.vendors.netx import write_interop_case


def loihi_fixed_point(path, x: np.ndarray):
    """lava-nc 0.10's bit-accurate CUBA arithmetic (PyLifModelBitAcc) on the file's conv chain, with
    netx's one-step latency per block left out: spikes per block and last-block voltage / 64."""
    with h5py.File(path, "r") as f:
        layers = [f["layer"][str(i)] for i in range(len(f["layer"]))]
        convs = [(torch.from_numpy(g["weight"][()]).double(), int(g["stride"][0]), int(g["padding"][0]),
                  int(g["neuron/vThMant"][()]), int(g["neuron/iDecay"][()]), int(g["neuron/vDecay"][()]))
                 for g in layers]
    v = [None] * len(convs)
    spikes: list[list[np.ndarray]] = [[] for _ in convs]
    out = []
    for xt in x:
        s = torch.from_numpy(xt).double()[None]
        for k, (w, stride, pad, vth, i_decay, v_decay) in enumerate(convs):
            assert (i_decay, v_decay) == (4096, 0)  # u = a_in << 6 each step; v integrates without leak
            u = F.conv2d(s, w, stride=stride, padding=pad) * 64
            v[k] = u if v[k] is None else v[k] + u
            fired = v[k] > vth * 64
            v[k] = torch.where(fired, torch.zeros_like(v[k]), v[k])
            if k < len(convs) - 1:
                spikes[k].append(fired[0].numpy())
            s = fired.double()
        out.append(v[-1][0, 0].numpy() / 64)
    return [np.stack(s) for s in spikes[:-1]], np.stack(out)


@pytest.mark.parametrize("name", ["snn-portable-tiny", "snn-portable-small"])
def test_netx_file_computes_our_network_in_loihi_arithmetic(name, tmp_path):
    torch.manual_seed(0)
    model = build_model(name)
    g = from_model(model.core, model.padded_size(33, 49))
    out = write_interop_case(g, tmp_path, steps=4)
    case = np.load(out / "case.npz")
    spikes, potential = loihi_fixed_point(out / "net.h5", case["input"])
    for k, s in enumerate(spikes):
        assert case[f"spikes_{k}"].sum() > 0
        assert np.array_equal(s, case[f"spikes_{k}"].astype(bool)), k
    assert np.abs(case["output"]).max() > 0 and np.array_equal(potential, case["output"])


def test_unet_is_refused(tmp_path):
    model = build_model("snn-tiny", base_channels=4, levels=2, residual_blocks=1)
    with pytest.raises(ConfigError, match="does not map onto lava-dl netx"):
        write_interop_case(from_model(model.core, model.padded_size(16, 16)), tmp_path / "case")
    assert not (tmp_path / "case").exists()
