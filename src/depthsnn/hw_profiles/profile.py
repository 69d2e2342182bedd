"""Hardware profiles: one TOML file per chip, loaded into a validated :class:`HardwareProfile`.

A profile file has four top-level strings (``name``, ``description``, ``kind``, optional
``notes``) and the sections ``[model]``, ``[energy]``, ``[capacity]``, ``[timing]`` and the
optional ``[memory]`` (per-access SRAM energies by memory size; with it the energy model prices
weight, input/output and membrane-potential traffic, see :mod:`.memory`) and ``[structure]``
(what the chip's toolchain accepts: topology, readout, kernel/channel/size limits, per-core
memories; checked by :mod:`.structure` when the fit check is given the graph). Every
field in a section is a small table giving the value *and where it comes from*::

    [energy]
    e_syn_op_pj = { value = 23.6, source = "Davies et al., IEEE Micro 2018" }
    e_neuron_idle_pj = { value = 52.0, estimate = true, reasoning = "..." }

A value without a source is rejected, and ``estimate = true`` requires ``reasoning``. Units are
part of the field names (``_pj`` picojoules, ``_w`` watts, ``_s`` seconds, ``_kib`` KiB), so a
field written in other units (``e_syn_op_nj``) is an unknown field and the error says which unit
is expected. Every problem raises :class:`depthsnn.errors.ConfigError` naming the file and field.
"""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from ..errors import ConfigError

#: Node operations a profile may list as supported. The first five are what the NetGraph and the
#: simulator use; the pooling/add names exist so users can describe chips more finely.
NODE_TYPES = ("conv", "upsample", "if", "lif", "integrator", "sumpool", "avgpool", "add")
KINDS = ("neuromorphic", "cpu", "gpu", "asic")
EXECUTION = ("event", "dense")
NEURON_UPDATE_MODES = ("active", "all")
GRADED_INPUT = ("mac", "spike_count", "unsupported")
MEMORY_DATAFLOWS = ("lemaire",)
TOPOLOGIES = ("chain", "merge")
READOUTS = ("spikes", "potential")

# Unit suffixes recognised in field names, to turn "unknown field e_syn_op_nj" into a unit hint.
_UNIT_SUFFIXES = ("fj", "pj", "nj", "uj", "mj", "j", "uw", "mw", "w", "kw", "ns", "us", "ms", "s",
                  "kib", "kb", "mib", "mb", "bytes", "b")


@dataclass(frozen=True)
class FieldSpec:
    """What one profile field must look like."""

    kind: str  # "float" | "int" | "bool" | "enum" | "enum_list" | "str_list" | "int_list" | "str"
    required: bool
    doc: str
    min: float | None = None
    exclusive_min: bool = False
    choices: tuple[str, ...] = ()


_SPEC: dict[str, dict[str, FieldSpec]] = {
    "model": {
        "execution": FieldSpec("enum", True, "event (pay per spike/AC) or dense (pay every op, ANN-style)",
                               choices=EXECUTION),
        "neuron_update_mode": FieldSpec("enum", True, "which neuron updates cost energy", choices=NEURON_UPDATE_MODES),
        "graded_input": FieldSpec("enum", True, "how non-binary inputs (MAC layers) are processed",
                                  choices=GRADED_INPUT),
    },
    "energy": {
        "e_syn_op_pj": FieldSpec("float", True, "energy per synaptic accumulate (AC), pJ", min=0),
        "e_mac_pj": FieldSpec("float", False, "energy per multiply-accumulate, pJ", min=0),
        "e_neuron_active_pj": FieldSpec("float", True, "energy per neuron update with input, pJ", min=0),
        "e_neuron_idle_pj": FieldSpec("float", False, "energy per neuron update without input, pJ", min=0),
        "e_spike_pj": FieldSpec("float", True, "energy per spike routed, pJ", min=0),
        "e_hop_pj": FieldSpec("float", False, "extra energy per router hop of a spike, pJ", min=0),
        "hops_per_spike": FieldSpec("float", False, "mean router hops per spike", min=0),
        "static_power_w": FieldSpec("float", False, "static (leakage/idle) power, W", min=0),
        "busy_power_w": FieldSpec("float", False, "dense platforms: dynamic power above idle while the "
                                  "launch floor runs (host-bound kernels), W", min=0),
        "e_step_pj": FieldSpec("float", False, "time-stepped chips: energy per time step for management and "
                               "barrier synchronisation (beside the per-op energies), pJ", min=0),
    },
    "capacity": {
        "neurons_per_core": FieldSpec("int", False, "neurons per core", min=0, exclusive_min=True),
        "cores_per_chip": FieldSpec("int", False, "cores per chip", min=0, exclusive_min=True),
        "synapses_per_core": FieldSpec("int", False, "synaptic weights storable per core", min=0,
                                       exclusive_min=True),
        "synaptic_memory_kib_per_core": FieldSpec("float", False, "synaptic memory per core, KiB", min=0,
                                                  exclusive_min=True),
        "max_fan_in": FieldSpec("int", False, "largest fan-in per neuron", min=0, exclusive_min=True),
        "max_fan_out": FieldSpec("int", False, "largest fan-out per neuron", min=0, exclusive_min=True),
        "max_layers": FieldSpec("int", False, "largest number of (conv) layers", min=0, exclusive_min=True),
        "weight_bits": FieldSpec("int", True, "weight precision, bits", min=0, exclusive_min=True),
        "state_bits": FieldSpec("int", True, "neuron state (membrane) precision, bits", min=0, exclusive_min=True),
        "weights_are_float": FieldSpec("bool", False, "weights stored as floating point"),
        "one_layer_per_core": FieldSpec("bool", False, "each layer occupies exactly one core"),
        "multi_chip": FieldSpec("bool", False, "networks may span several chips"),
        "node_types": FieldSpec("enum_list", True, "supported node operations", choices=NODE_TYPES),
        "constraints": FieldSpec("str_list", False, "further constraints, stated in words"),
    },
    "timing": {
        "time_step_s": FieldSpec("float", False, "duration of one simulation time step, s", min=0,
                                 exclusive_min=True),
        "throughput_ops_per_s": FieldSpec("float", False, "sustained synaptic ops (or MACs) per second",
                                          min=0, exclusive_min=True),
        "kernel_launch_s": FieldSpec("float", False, "dense platforms: launch floor per kernel (host dispatch "
                                     "and launch), s; with it latency = kernels * this + MACs / throughput", min=0),
        "neuron_layer_s": FieldSpec("float", False, "dense platforms: launch floor per spiking-neuron layer "
                                    "(fused neuron kernel and its host-side dispatch), s", min=0),
    },
    "memory": {
        "memory_dataflow": FieldSpec("enum", False, "which accesses an inference makes (lemaire: Lemaire et al. "
                                     "2022, as spikingjelly 2.0.0 implements it)", choices=MEMORY_DATAFLOWS),
        "word_bits": FieldSpec("int", False, "bits per memory access (word), sizes memories in bytes", min=0,
                               exclusive_min=True),
        "e_sram_8kib_pj": FieldSpec("float", False, "energy per word access of an 8 KiB SRAM, pJ", min=0),
        "e_sram_32kib_pj": FieldSpec("float", False, "energy per word access of a 32 KiB SRAM, pJ", min=0),
        "e_sram_1mib_pj": FieldSpec("float", False, "energy per word access of a 1 MiB (or larger) SRAM, pJ",
                                    min=0),
        "spike_fifo_words": FieldSpec("int", False, "capacity of each layer's spike FIFO, words", min=0,
                                      exclusive_min=True),
    },
    "structure": {
        "toolchain": FieldSpec("str", False, "the toolchain whose rules these are, with its version"),
        "topology": FieldSpec("enum", False, "chain (one input, one consumer per node) or merge (additive merges "
                              "of layer outputs allowed, skips/SEW blocks)", choices=TOPOLOGIES),
        "max_destinations": FieldSpec("int", False, "layers one layer may send its output to", min=0,
                                      exclusive_min=True),
        "readout": FieldSpec("enum", False, "what the last layer outputs: spikes, or a non-firing potential",
                             choices=READOUTS),
        "max_kernel": FieldSpec("int", False, "largest conv kernel side", min=0, exclusive_min=True),
        "max_channels": FieldSpec("int", False, "largest channel count of a layer", min=0, exclusive_min=True),
        "max_input_hw": FieldSpec("int", False, "largest input height/width, pixels", min=0, exclusive_min=True),
        "max_output_hw": FieldSpec("int", False, "largest height/width of a layer's output feature map, pixels",
                                   min=0, exclusive_min=True),
        "ops": FieldSpec("enum_list", False, "node operations the toolchain converts into layers",
                         choices=NODE_TYPES),
        "core_weight_memory": FieldSpec("int_list", False, "weight (kernel) memory per core, entries"),
        "core_neuron_memory": FieldSpec("int_list", False, "neuron state memory per core, entries"),
    },
}
_TOP_LEVEL = {"name", "description", "kind", "notes", *_SPEC}
_META_KEYS = {"value", "source", "estimate", "reasoning"}


@dataclass(frozen=True)
class Provenance:
    """Where one profile number comes from."""

    source: str = ""
    estimate: bool = False
    reasoning: str = ""


@dataclass(frozen=True)
class HardwareProfile:
    """A validated chip (or baseline processor) description. Energies in pJ, power in W, time in s.

    Optional numbers are None when the profile does not give them; ``provenance`` maps
    ``section.field`` to its :class:`Provenance`.
    """

    name: str
    description: str
    kind: str
    execution: str
    neuron_update_mode: str
    graded_input: str
    e_syn_op_pj: float
    e_neuron_active_pj: float
    e_spike_pj: float
    weight_bits: int
    state_bits: int
    node_types: frozenset[str]
    e_mac_pj: float | None = None
    e_neuron_idle_pj: float | None = None
    e_hop_pj: float | None = None
    hops_per_spike: float | None = None
    static_power_w: float | None = None
    busy_power_w: float | None = None
    e_step_pj: float | None = None
    neurons_per_core: int | None = None
    cores_per_chip: int | None = None
    synapses_per_core: int | None = None
    synaptic_memory_kib_per_core: float | None = None
    max_fan_in: int | None = None
    max_fan_out: int | None = None
    max_layers: int | None = None
    weights_are_float: bool = False
    one_layer_per_core: bool = False
    multi_chip: bool = True
    constraints: tuple[str, ...] = ()
    time_step_s: float | None = None
    throughput_ops_per_s: float | None = None
    kernel_launch_s: float | None = None
    neuron_layer_s: float | None = None
    memory_dataflow: str | None = None
    word_bits: int | None = None
    e_sram_8kib_pj: float | None = None
    e_sram_32kib_pj: float | None = None
    e_sram_1mib_pj: float | None = None
    spike_fifo_words: int | None = None
    toolchain: str | None = None
    topology: str | None = None
    max_destinations: int | None = None
    readout: str | None = None
    max_kernel: int | None = None
    max_channels: int | None = None
    max_input_hw: int | None = None
    max_output_hw: int | None = None
    ops: frozenset[str] | None = None
    core_weight_memory: tuple[int, ...] | None = None
    core_neuron_memory: tuple[int, ...] | None = None
    notes: str = ""
    provenance: dict[str, Provenance] = field(default_factory=dict, compare=False)
    path: Path | None = field(default=None, compare=False)

    @property
    def has_structure(self) -> bool:
        """True when the profile states its toolchain's structural rules (a ``[structure]`` section)."""
        return any(getattr(self, k) is not None for k in _SPEC["structure"])

    @property
    def launch_model(self) -> bool:
        """True when the profile models a dense platform's launch floor (``timing.kernel_launch_s``)."""
        return self.kernel_launch_s is not None

    @property
    def models_memory(self) -> bool:
        """True when the profile prices memory traffic (has a ``[memory]`` section)."""
        return self.memory_dataflow is not None

    @property
    def estimated_fields(self) -> list[str]:
        """``section.field`` names whose value is an estimate."""
        return sorted(k for k, p in self.provenance.items() if p.estimate)

    def is_estimate(self, name: str) -> bool:
        return any(p.estimate for k, p in self.provenance.items() if k.split(".", 1)[-1] == name)


def _unit_hint(section: str, key: str) -> str:
    """A hint for an unknown key that looks like a known field in other units."""
    for suffix in sorted(_UNIT_SUFFIXES, key=len, reverse=True):
        if key.endswith("_" + suffix):
            stem = key[: -len(suffix)]
            for known in _SPEC[section]:
                if known.startswith(stem) and known != key:
                    unit = known[len(stem):]
                    return f"; units are part of the name: use {known} (value in {unit})"
    return ""


def _check_value(section: str, key: str, spec: FieldSpec, value: Any, path: Path) -> Any:
    where = f"{section}.{key}"
    if spec.kind in ("float", "int"):
        if isinstance(value, str):
            raise ConfigError(f"{where}: value must be a number ({spec.doc}), got the string {value!r}", path)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: value must be a number ({spec.doc}), got {type(value).__name__}", path)
        if spec.kind == "int":
            if isinstance(value, float) and not value.is_integer():
                raise ConfigError(f"{where}: value must be a whole number, got {value!r}", path)
            value = int(value)
        else:
            value = float(value)
        if not math.isfinite(value):
            raise ConfigError(f"{where}: value must be finite, got {value!r}", path)
        if spec.min is not None and (value <= spec.min if spec.exclusive_min else value < spec.min):
            op = ">" if spec.exclusive_min else ">="
            raise ConfigError(f"{where}: must be {op} {spec.min:g}, got {value!r}", path)
        return value
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: value must be true or false, got {value!r}", path)
        return value
    if spec.kind == "enum":
        if value not in spec.choices:
            raise ConfigError(f"{where}: must be one of {', '.join(spec.choices)}, got {value!r}", path)
        return value
    if spec.kind == "str":
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}: value must be a non-empty string, got {value!r}", path)
        return value
    if spec.kind == "int_list":
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
            raise ConfigError(f"{where}: value must be a list of positive whole numbers, got {value!r}", path)
        return tuple(value)
    # list kinds
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: value must be a list of strings, got {value!r}", path)
    if spec.kind == "enum_list":
        for v in value:
            if v not in spec.choices:
                raise ConfigError(f"{where}: unknown node type {v!r} (known: {', '.join(spec.choices)})", path)
        return frozenset(value)
    return tuple(value)


def _parse_field(section: str, key: str, spec: FieldSpec, raw: Any, path: Path) -> tuple[Any, Provenance]:
    where = f"{section}.{key}"
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{where}: write {{ value = {raw!r}, source = \"...\" }} (every value needs a source)".replace("'", '"'),
            path)
    unknown = sorted(set(raw) - _META_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key {unknown[0]!r} (allowed: {', '.join(sorted(_META_KEYS))})", path)
    if "value" not in raw:
        raise ConfigError(f"{where}: no value given", path)
    estimate = raw.get("estimate", False)
    if not isinstance(estimate, bool):
        raise ConfigError(f"{where}: estimate must be true or false, got {estimate!r}", path)
    source, reasoning = raw.get("source", ""), raw.get("reasoning", "")
    for name, text in (("source", source), ("reasoning", reasoning)):
        if not isinstance(text, str):
            raise ConfigError(f"{where}: {name} must be a string, got {text!r}", path)
    if estimate and not reasoning.strip():
        raise ConfigError(f"{where}: estimate = true needs reasoning = \"...\" saying how it was derived", path)
    if not estimate and not source.strip():
        raise ConfigError(f"{where}: no source: add source = \"...\", or estimate = true with reasoning", path)
    return _check_value(section, key, spec, raw["value"], path), Provenance(source, estimate, reasoning)


def parse_profile(data: dict[str, Any], path: str | Path) -> HardwareProfile:
    """Validate the parsed TOML ``data`` of profile file ``path`` into a :class:`HardwareProfile`."""
    path = Path(path)
    unknown = sorted(set(data) - _TOP_LEVEL)
    if unknown:
        key = unknown[0]
        section = next((s for s, fields in _SPEC.items() if key in fields), None)
        hint = f" (it belongs in the [{section}] section)" if section else ""
        raise ConfigError(f"unknown top-level key {key!r}{hint}", path)
    for key in ("name", "description", "kind"):
        if key not in data:
            raise ConfigError(f"{key}: missing", path)
        if not isinstance(data[key], str) or not data[key].strip():
            raise ConfigError(f"{key}: must be a non-empty string, got {data[key]!r}", path)
    if data["kind"] not in KINDS:
        raise ConfigError(f"kind: must be one of {', '.join(KINDS)}, got {data['kind']!r}", path)
    notes = data.get("notes", "")
    if not isinstance(notes, str):
        raise ConfigError(f"notes: must be a string, got {notes!r}", path)

    values: dict[str, Any] = {}
    provenance: dict[str, Provenance] = {}
    for section, fields in _SPEC.items():
        table = data.get(section, {})
        if not isinstance(table, dict):
            raise ConfigError(f"{section}: must be a table ([{section}])", path)
        for key in sorted(set(table) - set(fields)):
            raise ConfigError(f"{section}.{key}: unknown field{_unit_hint(section, key)} "
                              f"(known: {', '.join(fields)})", path)
        for key, spec in fields.items():
            if key not in table:
                if spec.required:
                    raise ConfigError(f"{section}.{key}: missing ({spec.doc})", path)
                continue
            values[key], provenance[f"{section}.{key}"] = _parse_field(section, key, spec, table[key], path)

    # Cross-field rules: a number that the model needs must be present.
    if values["graded_input"] == "mac" and "e_mac_pj" not in values:
        raise ConfigError("energy.e_mac_pj: missing, but model.graded_input = \"mac\" needs it", path)
    if values["execution"] == "dense" and "e_mac_pj" not in values:
        raise ConfigError("energy.e_mac_pj: missing, but model.execution = \"dense\" needs it", path)
    given = [k for k in _SPEC["memory"] if k in values]
    if given and "e_mac_pj" not in values:
        raise ConfigError("energy.e_mac_pj: missing, but a [memory] section prices dense MACs with it", path)
    if given:
        for key in _SPEC["memory"]:
            if key not in values:
                raise ConfigError(f"memory.{key}: missing ({_SPEC['memory'][key].doc}); a [memory] section "
                                  "needs all of its fields", path)
    mems = [values.get(k) for k in ("core_weight_memory", "core_neuron_memory")]
    if all(m is not None for m in mems) and len(mems[0]) != len(mems[1]):
        raise ConfigError(f"structure.core_neuron_memory: {len(mems[1])} cores, but core_weight_memory lists "
                          f"{len(mems[0])}", path)
    if "kernel_launch_s" in values:
        for key in ("throughput_ops_per_s", "static_power_w"):
            if key not in values:
                raise ConfigError(f"{key}: missing, but timing.kernel_launch_s (the launch-floor model) needs it",
                                  path)
    if "e_hop_pj" in values and "hops_per_spike" not in values:
        raise ConfigError("energy.hops_per_spike: missing, but energy.e_hop_pj is given", path)
    return HardwareProfile(name=data["name"], description=data["description"], kind=data["kind"],
                           notes=notes, provenance=provenance, path=path, **values)


def load_profile(path: str | Path) -> HardwareProfile:
    """Load and validate one profile TOML file (a user's own or a shipped one)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError("profile file not found", p)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"not valid TOML: {exc}", p) from None
    return parse_profile(data, p)


def _profile_dir():
    return resources.files("depthsnn.hw_profiles").joinpath("profiles")


def builtin_profile_names() -> list[str]:
    """Names (file stems) of the profiles shipped with the package, sorted."""
    return sorted(e.name[:-5] for e in _profile_dir().iterdir() if e.name.endswith(".toml"))


def builtin_profiles() -> dict[str, HardwareProfile]:
    """All shipped profiles, loaded and validated, by name."""
    return {name: get_profile(name) for name in builtin_profile_names()}


def get_profile(name_or_path: str | Path) -> HardwareProfile:
    """A shipped profile by name (``loihi``) or a profile file by path."""
    name = str(name_or_path)
    if name in builtin_profile_names():
        with resources.as_file(_profile_dir().joinpath(f"{name}.toml")) as p:
            return load_profile(p)
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return load_profile(p)
    raise ConfigError(f"unknown hardware profile {name!r} (shipped: {', '.join(builtin_profile_names())}; "
                      "or give a .toml file)")
