"""Official class lists, ``classes.txt`` files, and class-name lookup with clear errors.

Class order matters only for label indices (evaluation matches by name); the lists below
follow the reference tools so that label indices agree with published checkpoints:

* DOTA: ``dota_evaluation_task1.py`` of DOTA_devkit (v1.0); v1.5 appends container-crane,
  v2.0 appends container-crane, airport, helipad (mmrotate ``DOTAv15Dataset``/``DOTAv2Dataset``).
* AI-TOD: category ids 1..8 of the released json files (readers still take the json's own
  ``categories``).
* DIOR / DIOR-R: mmrotate's ``DIORDataset`` order, lower case (the XML files spell two
  classes ``Expressway-Service-area`` and ``Expressway-toll-station``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rsdet.datasets.errors import LabelError, where

__all__ = [
    "AITOD_CLASSES",
    "DIOR_CLASSES",
    "DOTA_CLASSES",
    "ClassLookup",
    "read_classes_file",
    "write_classes_file",
]

_DOTA_V1 = (
    "plane",
    "baseball-diamond",
    "bridge",
    "ground-track-field",
    "small-vehicle",
    "large-vehicle",
    "ship",
    "tennis-court",
    "basketball-court",
    "storage-tank",
    "soccer-ball-field",
    "roundabout",
    "harbor",
    "swimming-pool",
    "helicopter",
)

DOTA_CLASSES: dict[str, tuple[str, ...]] = {
    "1.0": _DOTA_V1,
    "1.5": (*_DOTA_V1, "container-crane"),
    "2.0": (*_DOTA_V1, "container-crane", "airport", "helipad"),
}

AITOD_CLASSES = (
    "airplane",
    "bridge",
    "storage-tank",
    "ship",
    "swimming-pool",
    "vehicle",
    "person",
    "wind-mill",
)

DIOR_CLASSES = (
    "airplane",
    "airport",
    "baseballfield",
    "basketballcourt",
    "bridge",
    "chimney",
    "expressway-service-area",
    "expressway-toll-station",
    "dam",
    "golffield",
    "groundtrackfield",
    "harbor",
    "overpass",
    "ship",
    "stadium",
    "storagetank",
    "tenniscourt",
    "trainstation",
    "vehicle",
    "windmill",
)


class ClassLookup:
    """Map class names to 0-based indices, raising a one-line error for unknown names.

    Args:
        classes: the class names, in label-index order.
        ignore_case: match names case-insensitively (DIOR).
    """

    def __init__(self, classes: Sequence[str], ignore_case: bool = False) -> None:
        self.classes = tuple(classes)
        self.ignore_case = ignore_case
        self._index = {self._key(name): i for i, name in enumerate(self.classes)}

    def _key(self, name: str) -> str:
        return name.lower() if self.ignore_case else name

    def index(self, name: str, path: Path | str, line: int | None = None) -> int:
        """Label index of ``name``; ``path``/``line`` locate it for the error message."""
        try:
            return self._index[self._key(name)]
        except KeyError:
            known = ", ".join(self.classes)
            raise LabelError(
                f"{where(path, line)}: unknown class {name!r}; known classes: {known}"
            ) from None


def read_classes_file(path: Path) -> tuple[str, ...]:
    """Class names from a ``classes.txt``: one per line, blank lines ignored, order kept."""
    names: list[str] = []
    seen: dict[str, int] = {}
    for lineno, raw in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), 1):
        name = raw.strip()
        if not name:
            continue
        if name in seen:
            raise LabelError(
                f"{where(path, lineno)}: class {name!r} is listed twice (first on line "
                f"{seen[name]})"
            )
        seen[name] = lineno
        names.append(name)
    if not names:
        raise LabelError(f"{path}: lists no class names (one name per line expected)")
    return tuple(names)


def write_classes_file(classes: Sequence[str]) -> bytes:
    """The bytes of a ``classes.txt`` listing ``classes`` in order."""
    return "".join(f"{name}\n" for name in classes).encode("utf-8")
