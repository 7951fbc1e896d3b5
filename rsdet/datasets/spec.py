"""Dataset specs ``FORMAT:PATH[?key=value&...]``: the one syntax train, eval and split accept.

Examples: ``dota:/data/DOTA/train``, ``dota1.5:data/val``,
``aitod:/data/aitod/annotations/small_test_v1_1.0.json?images=/data/aitod/images/test``,
``dior-r:/data/DIOR?split=test``, ``geo:scenes/?class_field=species``.

The format name is case-insensitive. ``PATH`` is taken literally (it may contain ``:``, but
not ``?``). Option values are taken literally too (no URL decoding), so paths with spaces
work; relative paths in options are relative to the current directory, like ``PATH``.
Which formats and options exist is decided by :func:`rsdet.datasets.load_dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rsdet.datasets.errors import SpecError

__all__ = ["DatasetSpec", "parse_spec"]


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec.

    Attributes:
        format: lower-case format name (``dota``, ``aitod``, ``geo``...).
        path: the dataset root, annotation file or scene given after ``FORMAT:``.
        options: ``key -> value`` from the ``?key=value&...`` suffix.
    """

    format: str
    path: Path
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.options.items())
        return f"{self.format}:{self.path}" + (f"?{query}" if query else "")


def parse_spec(text: str) -> DatasetSpec:
    """Split ``FORMAT:PATH[?key=value&...]`` into its parts (syntax only).

    Raises:
        SpecError: no ``FORMAT:`` prefix, an empty path, or a malformed or repeated option.
    """
    fmt, sep, rest = text.partition(":")
    fmt = fmt.strip().lower()
    if not sep or not fmt:
        raise SpecError(
            f"dataset {text!r}: expected FORMAT:PATH[?key=value&...], e.g. dota:/data/DOTA/train"
        )
    path_text, _, query = rest.partition("?")
    if not path_text.strip():
        raise SpecError(f"dataset {text!r}: the path after {fmt}: is empty")
    options: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise SpecError(f"dataset {text!r}: option {item!r} is not of the form key=value")
        if key in options:
            raise SpecError(f"dataset {text!r}: option {key!r} is given twice")
        options[key] = value
    return DatasetSpec(format=fmt, path=Path(path_text.strip()), options=options)
