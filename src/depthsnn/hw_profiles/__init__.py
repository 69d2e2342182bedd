"""Hardware profiles and the energy model: what one inference costs on each chip, and whether it fits.

- :mod:`.profile`: one TOML file per chip (``profiles/*.toml``), every number with its source;
  :func:`load_profile` for a user's own file, :func:`builtin_profiles` for the shipped ones.
- :mod:`.energy`: :func:`energy_per_inference` from simulator counts, :func:`ann_energy` for
  dense ANNs; results in millijoules with a breakdown (ops, addressing, memory).
- :mod:`.memory`: memory traffic and addressing (Lemaire et al. 2022, as spikingjelly 2.0.0
  implements it) for profiles with a ``[memory]`` section such as ``lemaire45nm``.
- :mod:`.mapping`: :func:`check_fit`, plain-language capacity and node-type findings.
- :mod:`.report`: terminal table, JSON and a stacked bar chart.
"""

from .energy import EnergyBreakdown, ann_energy, ann_latency_s, energy_per_inference, estimate_latency
from .mapping import Finding, FitReport, check_fit
from .profile import (
    NODE_TYPES,
    HardwareProfile,
    Provenance,
    builtin_profile_names,
    builtin_profiles,
    get_profile,
    load_profile,
    parse_profile,
)
from .report import (
    EnergyRow,
    energy_bar_chart,
    energy_json,
    energy_table,
    evaluate_profiles,
    write_energy_json,
)

__all__ = [
    "NODE_TYPES",
    "EnergyBreakdown",
    "EnergyRow",
    "Finding",
    "FitReport",
    "HardwareProfile",
    "Provenance",
    "ann_energy",
    "ann_latency_s",
    "builtin_profile_names",
    "builtin_profiles",
    "check_fit",
    "energy_bar_chart",
    "energy_json",
    "energy_per_inference",
    "energy_table",
    "estimate_latency",
    "evaluate_profiles",
    "get_profile",
    "load_profile",
    "parse_profile",
    "write_energy_json",
]
