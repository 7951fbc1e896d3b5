"""Synthetic datasets as written in data specs: ``synthetic:?n=8&size=256&kind=trees``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from rsdet.config import ConfigError, from_dict
from rsdet.structures import Sample
from rsdet.synthetic.kinds import Kind
from rsdet.synthetic.scenes import make_scene

__all__ = ["SyntheticSpec", "make_samples", "parse_synthetic_spec", "spec_from_options"]


@dataclass(frozen=True)
class SyntheticSpec:
    """A synthetic dataset, as written in a data spec ``synthetic:?n=64&size=512&seed=0``.

    Attributes:
        n: number of scenes.
        size: scene edge, pixels (scenes are square).
        seed: scene ``i`` is drawn from seed ``seed * 100003 + i``, so sets never overlap.
        kind: ``trees``, ``vehicles`` or ``mixed`` (see :mod:`rsdet.synthetic`).
        gsd: metres per pixel; None uses the kind's default
            (:data:`~rsdet.synthetic.kinds.DEFAULT_GSD`).
        nodata: width in pixels of an empty (value 0) border, like the edge of a mosaic.
    """

    n: int = 16
    size: int = 512
    seed: int = 0
    kind: Kind = "mixed"
    gsd: float | None = None
    nodata: int = 0


def parse_synthetic_spec(text: str) -> SyntheticSpec:
    """Parse ``synthetic:?n=8&size=256&kind=trees`` (any subset of the keys, any order).

    Raises:
        ConfigError: unknown key or a value of the wrong type (the message names the spec).
    """
    query = text.removeprefix("synthetic:").lstrip("?")
    pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    try:
        return spec_from_options(dict(pairs))
    except ConfigError as err:
        raise ConfigError(f"{text}: {err}") from None


def spec_from_options(options: Mapping[str, str]) -> SyntheticSpec:
    """The spec of ``key -> value`` strings (``{"n": "8", "kind": "trees"}``), any subset.

    Raises:
        ConfigError: unknown key or a value of the wrong type (the message names the key).
    """
    raw = {key: value if key == "kind" else _number(value) for key, value in options.items()}
    return from_dict(SyntheticSpec, raw)


def _number(value: str) -> object:
    try:
        return int(value)
    except ValueError:
        try:
            return float(value)
        except ValueError:
            return value


def make_samples(spec: SyntheticSpec) -> list[Sample]:
    """The ``spec.n`` scenes of a synthetic dataset, images held in memory."""
    return [
        make_scene(spec.seed * 100003 + i, spec.size, spec.kind, spec.gsd, spec.nodata)
        for i in range(spec.n)
    ]
