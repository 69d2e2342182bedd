"""Per-toolchain structure verdicts, and agreement with the vendor mapper where one is installed.

For every spiking preset: the U-Nets are rejected by Akida, Speck (sinabs rules) and Loihi 2
(lava-dl netx rules) naming their upsampling, skip and integrator structures; the IF portable
presets are accepted by Akida and netx, and Akida's own mapper (akida 2.19, AKD1000) agrees with
our verdict: it maps what we accept entirely onto hardware NPs. The Akida 2.0 family
(``snn-akida2-*``) has no spiking graph: Akida's IPv2 mapper places it entirely on hardware.
"""

from __future__ import annotations

import numpy as np
import pytest

from depthsnn.errors import ConfigError
from depthsnn.export.graph import from_model
from depthsnn.hw_profiles import check_fit, get_profile
from depthsnn.hw_profiles.structure import TOOLCHAINS, toolchain_verdict, toolchain_verdicts
from depthsnn.models import build_model, preset, preset_names
from depthsnn.simulate.engine import EventSimulator

SPIKING = [n for n in preset_names() if not n.startswith("ann") and preset(n).arch != "akida2"]
AKIDA2 = [n for n in preset_names() if preset(n).arch == "akida2"]


def graph_of(name: str, hw=(40, 56)):
    model = build_model(name)
    return from_model(model.core, model.padded_size(*hw))


@pytest.fixture(scope="module")
def verdicts():
    return {name: toolchain_verdicts(graph_of(name)) for name in SPIKING}


def test_unets_are_rejected_with_the_structures_named(verdicts):
    for name in SPIKING:
        if preset(name).arch != "unet":
            continue
        v = verdicts[name]
        assert not any(x.accepted for x in v.values()), name
        akida = " | ".join(v["akida"].reasons)
        assert "upsampling" in akida and "converging edges" in akida
        speck = " | ".join(v["speck"].reasons)
        assert "upsampling" in speck and "integrator" in speck and "sends to 3 layers, at most 2" in speck
        netx = " | ".join(v["loihi2-netx"].reasons)
        assert "upsampling" in netx and "only chains" in netx


def test_portable_presets_are_accepted_where_the_toolchain_takes_them(verdicts):
    for name in SPIKING:
        cfg = preset(name)
        if cfg.arch != "portable":
            continue
        v = verdicts[name]
        assert v["loihi2-netx"].accepted, (name, v["loihi2-netx"].reasons)
        assert v["akida"].accepted == (cfg.neuron == "if"), (name, v["akida"].reasons)
        # Speck's layers all output spikes: the integrator readout (and LIF, which sinabs' IAF cores
        # lack) are the blocking structures at this size.
        allowed = ("integrator", "LIF") if cfg.neuron == "lif" else ("integrator",)
        assert not v["speck"].accepted
        assert all(any(a in r for a in allowed) for r in v["speck"].reasons), v["speck"].reasons


def test_speck_size_and_memory_rules_come_from_sinabs():
    p = get_profile("speck")
    assert "sinabs 3.1" in p.toolchain and "sinabs.backend.dynapcnn" in p.provenance["structure.max_input_hw"].source
    v = toolchain_verdict(graph_of("snn-portable-tiny", (260, 346)), "speck")
    text = " | ".join(v.reasons)
    assert "input 265x353 > 128x128" in text and "more than 64x64" in text and "no core with enough memory" in text


def test_check_fit_reports_structure_with_the_graph():
    g = graph_of("snn-tiny", (16, 16))
    counts = EventSimulator(g).run(np.zeros((1, *g.input.shape))).counts
    ops = {n.op for n in g.nodes} - {"input", "output"}
    without = check_fit(counts, get_profile("loihi2"), ops)
    with_graph = check_fit(counts, get_profile("loihi2"), ops, graph=g)
    assert without.fits and not with_graph.fits
    assert any(f.topic == "structure" and "lava-dl netx" in f.message for f in with_graph.findings)
    with pytest.raises(ConfigError, match="toolchain 'truenorth' unknown"):
        toolchain_verdict(g, "truenorth")


def test_akida_mapper_agrees_with_our_verdict(verdicts):
    ak = pytest.importorskip("depthsnn.vendors.akida")
    pytest.importorskip("akida", reason="akida is not installed: the vendor side of the agreement is not checked")
    assert "akida" in TOOLCHAINS
    for name in SPIKING:
        g = graph_of(name)
        if verdicts[name]["akida"].accepted:
            rep = ak.mapping_report(ak.to_akida(g))
            assert rep["all_on_hardware"] and 0 < rep["nps_used"] <= rep["nps_available"], (name, rep)
        else:
            with pytest.raises(ConfigError, match="does not map onto Akida"):
                ak.to_akida(g)


@pytest.mark.parametrize("name", AKIDA2)
def test_akida2_presets_map_on_ipv2_hardware(name):
    """The Akida 2.0 family: no NetGraph (so no per-toolchain structure verdict from it), and Akida's
    IPv2 mapper places every layer on hardware of a virtual IPv2 device."""
    pytest.importorskip("akida", reason="akida is not installed: the vendor side of the agreement is not checked")
    from depthsnn.vendors import akida2 as a2

    model = build_model(name)
    with pytest.raises(ConfigError, match="can only export"):
        from_model(model.core, model.padded_size(40, 56))
    hw = model.padded_size(40, 56)
    rep = a2.smallest_device(lambda: a2.to_akida2(model.core, hw))
    assert rep["all_on_hardware"] and rep["ip_version"] and 0 < rep["nps_used"], rep
