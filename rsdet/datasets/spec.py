"""Dataset specs ``FORMAT:PATH[?key=value&...]``: the one syntax train, eval and split accept.

Examples: ``dota:/data/DOTA/train``, ``dota1.5:data/val``,
``aitod:/data/aitod/annotations/small_test_v1_1.0.json?images=/data/aitod/images/test``,
``dior-r:/data/DIOR?split=test``, ``geo:scenes/?class_field=species``.

Generated formats (:data:`GENERATED_FORMATS`: ``synthetic``) read no files: their spec has
no ``PATH``, only options (``synthetic:?n=8&size=256``, or just ``synthetic:``).

The format name is case-insensitive. ``PATH`` is taken literally (it may contain ``:``, but
not ``?``). Option values are taken literally too (no URL decoding), so paths with spaces
work; relative paths in options are relative to the current directory, like ``PATH``.
Which formats and options exist is decided by :func:`rsdet.datasets.load_dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from rsdet.datasets.errors import SpecError

__all__ = ["GENERATED_FORMATS", "DatasetSpec", "parse_spec"]

GENERATED_FORMATS = frozenset({"synthetic"})


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed dataset spec.

    Attributes:
        format: lower-case format name (``dota``, ``aitod``, ``geo``...).
        path: the dataset root, annotation file or scene given after ``FORMAT:``; None for
            the generated formats, which take no path.
        options: ``key -> value`` from the ``?key=value&...`` suffix.
    """

    format: str
    path: Path | None
    options: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        query = "&".join(f"{k}={v}" for k, v in self.options.items())
        path = "" if self.path is None else str(self.path)
        return f"{self.format}:{path}" + (f"?{query}" if query else "")


def parse_spec(text: str) -> DatasetSpec:
    """Split ``FORMAT:PATH[?key=value&...]`` into its parts (syntax only).

    Raises:
        SpecError: no ``FORMAT:`` prefix, an empty path (a path, for a generated format),
            or a malformed or repeated option.
    """
    fmt, sep, rest = text.partition(":")
    fmt = fmt.strip().lower()
    if not sep or not fmt:
        raise SpecError(
            f"dataset {text!r}: expected FORMAT:PATH[?key=value&...], e.g. dota:/data/DOTA/train"
        )
    path_text, _, query = rest.partition("?")
    path = _check_path(text, fmt, path_text.strip())
    options: dict[str, str] = {}
    for item in filter(None, query.split("&")):
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise SpecError(f"dataset {text!r}: option {item!r} is not of the form key=value")
        if key in options:
            raise SpecError(f"dataset {text!r}: option {key!r} is given twice")
        options[key] = value
    return DatasetSpec(format=fmt, path=path, options=options)


def _check_path(text: str, fmt: str, path_text: str) -> Path | None:
    """``PATH`` of a file format (never empty); None for a generated one (must be empty)."""
    if fmt in GENERATED_FORMATS:
        if path_text:
            raise SpecError(
                f"dataset {text!r}: {fmt} data is generated and takes no path, only options, "
                f"e.g. {fmt}:?n=8&size=256"
            )
        return None
    if not path_text:
        raise SpecError(f"dataset {text!r}: the path after {fmt}: is empty")
    return Path(path_text)
