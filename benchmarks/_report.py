"""Shared helpers for benchmark scripts: machine description and BENCHMARKS.md sections.

Each script owns one section of BENCHMARKS.md delimited by ``<!-- NAME:start -->`` /
``<!-- NAME:end -->`` markers and rewrites only that section, so scripts can be re-run
independently. The environment variable ``DEPTHSNN_BENCHMARKS_MD`` redirects every script to
another file (smoke tests and quick runs must not overwrite the published figures).
"""

from __future__ import annotations

import datetime as _dt
import os
import platform
import re
from pathlib import Path

import torch

BENCHMARKS_MD = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"
ENV_PATH = "DEPTHSNN_BENCHMARKS_MD"
HEADER = "# Benchmarks\n\nEach section is written by the script it names; re-run it to refresh.\n"


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores, torch threads {torch.get_num_threads()}, {gpu}; "
            f"Python {platform.python_version()}, torch {torch.__version__}")


def today() -> str:
    return _dt.date.today().isoformat()


def round_suffix(section: str, default: str) -> str:
    """Heading suffix naming a later round's section (``" (NAME)"``); empty for the script's own."""
    return "" if section == default else f" ({section})"


def benchmarks_path() -> Path:
    """The file sections go to: ``$DEPTHSNN_BENCHMARKS_MD`` if set, else the repository's BENCHMARKS.md."""
    return Path(os.environ.get(ENV_PATH) or BENCHMARKS_MD)


def write_section(name: str, body: str, path: Path | None = None, *, top: bool = False) -> Path:
    """Replace (or add) section ``name`` of ``path`` (default :func:`benchmarks_path`) with ``body``.

    A new section goes at the end, or with ``top`` before the first existing section. Returns
    the file written.
    """
    path = Path(path) if path is not None else benchmarks_path()
    text = path.read_text() if path.exists() else HEADER
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(start) + r".*?" + re.escape(end), re.S)
    first = re.search(r"^<!-- [\w-]+:start -->", text, re.M)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text)
    elif top and first:
        text = text[: first.start()] + block + "\n\n" + text[first.start():]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    path.write_text(text)
    return path
