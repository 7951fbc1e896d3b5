"""Cut a dataset into overlapping patches, DOTA_devkit style: the guts of ``rsdet split``.

For every image and every rate, the image is resized by the rate (0.5 = half resolution),
covered by the patch windows of :func:`rsdet.datasets.patches.patch_windows` (the tile
grid of :mod:`rsdet.tiling`: step = size - gap, last window snapped to the edge; images
smaller than a patch padded with zeros / nodata up to ``size x size``), and every window
is written as a patch plus its labels in the input's own format
(:mod:`rsdet.datasets.patch_writers`). Objects cut by a window border are clipped to it
(:mod:`rsdet.datasets.clip`) and get difficulty 2 when less than ``iof_thr`` of their area
is inside. Every patch is written, including those without objects (as the devkit). An
unlabelled input (no label files, e.g. a test split) gives patch images only.

Re-running is incremental. ``OUT/rsdet-split.json`` records the input spec, the
parameters, a fingerprint (path, size, modification time) of every source image and the
patches it gave. With the same input and parameters, patch images of unchanged sources are
not re-read, label files whose content is unchanged are not rewritten, and patches of
sources that disappeared are removed: a second identical run writes nothing. Different
input or parameters need ``overwrite``, which first removes every file the previous run
recorded. A non-empty ``OUT`` without a manifest is refused unless ``overwrite``.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rsdet.pipelines.progress import make_progress

from rsdet.datasets import WindowClipper, load_dataset, open_image, parse_spec
from rsdet.datasets.dataset import Dataset
from rsdet.datasets.loader import find_format
from rsdet.datasets.patch_writers import LabelOutput, PatchWriter
from rsdet.datasets.patches import PatchOrigin, cut_patch, format_rate, patch_windows
from rsdet.datasets.pixels import ImageReader
from rsdet.datasets.spec import DatasetSpec
from rsdet.errors import InputError, OutputExistsError
from rsdet.io.atomic import atomic_output, make_folder, write_bytes_atomic
from rsdet.structures import TRUNCATED, Sample

__all__ = [
    "MANIFEST_NAME",
    "SplitError",
    "SplitParams",
    "SplitReport",
    "parse_rates",
    "split_dataset",
]

MANIFEST_NAME = "rsdet-split.json"
_MANIFEST_VERSION = 1
_SAVE_EVERY_S = 30.0  # an interrupted run keeps the record of what it finished


class SplitError(InputError):
    """Invalid split parameters, or an output folder the split may not write into."""


@dataclass(frozen=True)
class SplitParams:
    """Patch parameters.

    Attributes:
        size: patch edge, pixels of the resized image.
        gap: overlap of neighbouring patches, pixels (``0 <= gap < size``).
        rates: resize factors applied before cutting (0.5 = half resolution).
        iof_thr: objects with less than this fraction of their area inside a patch get
            difficulty 2 (TRUNCATED).
    """

    size: int = 1024
    gap: int = 200
    rates: tuple[float, ...] = (1.0,)
    iof_thr: float = 0.7

    def check(self) -> None:
        """Raise :class:`SplitError` naming the first invalid value."""
        if self.size <= 0:
            raise SplitError(f"--size must be a positive number of pixels, got {self.size}")
        if not 0 <= self.gap < self.size:
            raise SplitError(f"--gap must be in [0, size) = [0, {self.size}), got {self.gap}")
        if not self.rates or any(not 0 < r <= 16 for r in self.rates):
            raise SplitError(f"--rates must be numbers in (0, 16], got {list(self.rates)}")
        if len(set(self.rates)) != len(self.rates):
            raise SplitError(f"--rates lists a rate twice: {list(self.rates)}")
        if any(float(format_rate(r)) != r for r in self.rates):
            raise SplitError(
                f"--rates must have at most 6 significant digits, got {list(self.rates)}"
            )
        if not 0 <= self.iof_thr <= 1:
            raise SplitError(f"--iof-thr must be in [0, 1], got {self.iof_thr}")


def parse_rates(text: str) -> tuple[float, ...]:
    """``"0.5,1.0,1.5"`` -> ``(0.5, 1.0, 1.5)``; :class:`SplitError` on anything else."""
    try:
        rates = tuple(float(item) for item in text.split(",") if item.strip())
    except ValueError:
        raise SplitError(
            f"--rates: expected comma-separated numbers such as 0.5,1.0, got {text!r}"
        ) from None
    if not rates:
        raise SplitError(f"--rates: expected at least one number, got {text!r}")
    return rates


@dataclass
class SplitReport:
    """What a split run did (``--json`` prints it)."""

    out: str
    format: str
    sources: int = 0
    patches: int = 0
    images_written: int = 0
    images_skipped: int = 0
    labels_written: int = 0
    objects: int = 0
    truncated: int = 0
    removed: int = 0
    manifest: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """Plain data for JSON."""
        return asdict(self)


@dataclass
class _Manifest:
    """The record of a split run kept in ``OUT/rsdet-split.json``."""

    key: dict[str, Any]
    sources: dict[str, dict[str, Any]] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        doc = {"rsdet_split": _MANIFEST_VERSION, **self.key}
        return json.dumps({**doc, "sources": self.sources, "files": self.files}, indent=1)

    @classmethod
    def load(cls, path: Path) -> _Manifest | None:
        if not path.is_file():
            return None
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            key = {"input": doc["input"], "params": doc["params"]}
            return cls(key, dict(doc["sources"]), dict(doc["files"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            raise SplitError(
                f"{path}: not a manifest written by rsdet split; remove it or use --overwrite"
            ) from None


class _LazyReader:
    """A sample's image, opened on first use: unchanged sources never read their pixels."""

    def __init__(self, sample: Sample) -> None:
        self.sample = sample
        self._reader: ImageReader | None = None

    def get(self) -> ImageReader:
        if self._reader is None:
            self._reader = open_image(self.sample)
        return self._reader

    def __enter__(self) -> _LazyReader:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._reader is not None:
            self._reader.close()


def _fingerprint(sample: Sample) -> str:
    """Identity of a source image's pixels: path, size and modification time of its file."""
    if sample.image is not None:
        return hashlib.sha256(np.ascontiguousarray(sample.image).tobytes()).hexdigest()
    path = Path(sample.image_path or "")
    stat = path.stat() if path.is_file() else None
    return f"{path.resolve()}|{stat.st_size if stat else -1}|{stat.st_mtime_ns if stat else -1}"


def _writer_of(spec: DatasetSpec) -> Callable[[Path, Dataset], PatchWriter]:
    """The patch writer of the spec's format, found before anything is read or generated.

    Raises:
        SplitError: the format has no patch writer (``synthetic``).
        SpecError: unknown format.
    """
    make_writer = find_format(spec).writer
    if make_writer is None:
        raise SplitError(
            f"{spec}: rsdet split cannot write {spec.format} data as patches (it is generated "
            "in memory; give the spec to rsdet train or rsdet eval directly)"
        )
    return make_writer


def _input_key(spec: DatasetSpec, params: SplitParams) -> dict[str, Any]:
    path = None if spec.path is None else spec.path.resolve()
    normalised = DatasetSpec(spec.format, path, spec.options)
    return {"input": str(normalised), "params": asdict(params) | {"rates": list(params.rates)}}


class _SplitRun:
    """State of one run: the writer, the previous manifest and the counters."""

    def __init__(
        self,
        out: Path,
        writer: PatchWriter,
        params: SplitParams,
        old: _Manifest | None,
        new: _Manifest,
        report: SplitReport,
    ) -> None:
        self.out, self.writer, self.params = out, writer, params
        self.old, self.new, self.report = old, new, report

    def write_label(self, output: LabelOutput, aggregate: bool = False) -> None:
        """Write a label file unless the same content is already there.

        Bytes are compared with the file on disk; files written by a function (GeoPackage)
        by their digest in the previous manifest. Aggregated files (one per run) are recorded
        in the manifest so a later ``--overwrite`` can remove them.
        """
        path = self.out / output.relpath
        if aggregate:
            self.new.files[output.relpath] = output.digest
        if output.data is not None:
            if path.is_file() and path.read_bytes() == output.data:
                return
        elif self.old is not None and self.old.files.get(output.relpath) == output.digest:
            if path.is_file():
                return
        with atomic_output(path) as tmp:
            output.write(tmp)
        self.report.labels_written += 1

    def split_sample(self, sample: Sample, advance: Callable[[], None]) -> None:
        """Write every patch of one source image (reading its pixels only if needed)."""
        fingerprint = _fingerprint(sample)
        previous = self.old.sources.get(sample.image_id) if self.old else None
        reuse = previous is not None and previous["fingerprint"] == fingerprint
        names: list[str] = []
        with _LazyReader(sample) as reader:
            for rate in self.params.rates:
                clipper = WindowClipper(sample.polygons * rate)
                height, width = round(sample.height * rate), round(sample.width * rate)
                for window in patch_windows(height, width, self.params.size, self.params.gap):
                    patch = cut_patch(sample, clipper, window, rate, self.params.iof_thr)
                    self._write_patch(patch, reader, keep_existing_image=reuse)
                    names.append(patch.image_id)
                    advance()
        files = [rel for name in names for rel in self.patch_files(name)]
        record = {"fingerprint": fingerprint, "patches": names, "files": files}
        self.new.sources[sample.image_id] = record
        self.report.patches += len(names)

    def _write_patch(self, patch: Sample, reader: _LazyReader, keep_existing_image: bool) -> None:
        """Write a patch's label files, then its image (kept if allowed and present)."""
        if self.writer.dataset.labelled:
            for output in self.writer.add(patch.image_id, patch):
                self.write_label(output)
        self.report.objects += len(patch)
        self.report.truncated += int((patch.difficulty == TRUNCATED).sum())
        source: Sample = patch.meta["source"]
        origin = PatchOrigin(
            source.image_id, patch.meta["rate"], patch.meta["left"], patch.meta["top"]
        )
        path = self.out / self.writer.image_relpath(origin.name)
        if keep_existing_image and path.is_file():
            self.report.images_skipped += 1
            return
        nodata = source.meta.get("nodata")
        fill = 0 if nodata is None or not np.isfinite(nodata) else nodata
        size = self.params.size
        pixels = reader.get().read_region(origin.top, origin.left, size, size, origin.rate, fill)
        with atomic_output(path) as tmp:
            self.writer.write_image(tmp, pixels, source, origin)
        self.report.images_written += 1

    def patch_files(self, name: str) -> list[str]:
        """Files of one patch, relative to ``out``."""
        return [self.writer.image_relpath(name), *self.writer.label_relpaths(name)]

    def remove_stale(self) -> None:
        """Delete files the previous run recorded that this run did not produce."""
        if self.old is None:
            return
        current = {rel for s in self.new.sources.values() for rel in s["files"]} | set(
            self.new.files
        )
        recorded = [rel for s in self.old.sources.values() for rel in s["files"]]
        self.report.removed += _remove(
            self.out, [r for r in [*recorded, *self.old.files] if r not in current]
        )

    def save(self, final: bool) -> None:
        """Write the manifest if it changed; before the end, unvisited sources keep their record."""
        manifest = self.new
        if not final and self.old is not None:
            pending = {k: v for k, v in self.old.sources.items() if k not in self.new.sources}
            manifest = _Manifest(
                self.new.key, self.new.sources | pending, self.old.files | self.new.files
            )
        data = manifest.to_json().encode("utf-8")
        path = self.out / MANIFEST_NAME
        if not (path.is_file() and path.read_bytes() == data):
            write_bytes_atomic(path, data)


def _remove(out: Path, relpaths: list[str]) -> int:
    """Delete ``out/rel`` for each path; returns how many files existed."""
    removed = 0
    for rel in relpaths:
        path = out / rel
        removed += int(path.is_file())
        path.unlink(missing_ok=True)
    return removed


def _prepare_out(
    out: Path, dataset: Dataset, key: dict[str, Any], overwrite: bool
) -> tuple[_Manifest | None, int]:
    """Check that ``out`` may be written.

    Returns:
        The previous manifest to build on (None for a fresh start) and the number of files
        removed because ``overwrite`` replaced a run with other inputs or parameters.
    """
    if out.exists() and not out.is_dir():
        raise SplitError(f"{out}: exists and is not a folder")
    if out.resolve() == dataset.root.resolve():
        raise SplitError(f"{out}: is the input dataset's own folder; choose another --out")
    old = _Manifest.load(out / MANIFEST_NAME)
    if old is None:
        if out.is_dir() and any(out.iterdir()) and not overwrite:
            raise OutputExistsError(
                f"{out}: exists, is not empty and was not written by rsdet split; "
                "use --overwrite to write into it"
            )
        return None, 0
    if old.key == key:
        return old, 0
    if not overwrite:
        was = old.key["params"]
        raise OutputExistsError(
            f"{out / MANIFEST_NAME}: {out} holds a split of {old.key['input']} with size "
            f"{was['size']}, gap {was['gap']}, rates {was['rates']}, iof_thr {was['iof_thr']}; "
            "use --overwrite to replace it"
        )
    recorded = [rel for s in old.sources.values() for rel in s.get("files", [])]
    return None, _remove(out, [*recorded, *old.files, MANIFEST_NAME])


def _total_windows(dataset: Dataset, params: SplitParams) -> int:
    return sum(
        len(patch_windows(round(s.height * r), round(s.width * r), params.size, params.gap))
        for s in dataset.samples
        for r in params.rates
    )


def split_dataset(
    spec: str,
    out: Path,
    params: SplitParams | None = None,
    *,
    overwrite: bool = False,
    quiet: bool = False,
) -> SplitReport:
    """Split the dataset ``spec`` (``FORMAT:PATH[?k=v]``) into patches under ``out``.

    Args:
        spec: dataset spec, as for :func:`rsdet.datasets.load_dataset`.
        out: output folder (created if needed).
        params: patch size, gap, rates and truncation threshold.
        overwrite: replace a previous split with other inputs or parameters, or write into
            a non-empty folder without a manifest.
        quiet: no progress bar.

    Returns:
        Counts of what was written, skipped and removed.

    Raises:
        SplitError, OutputExistsError, DatasetError: one-line messages naming the file.
    """
    started = time.monotonic()
    params = params or SplitParams()
    params.check()
    parsed = parse_spec(spec)
    make_writer = _writer_of(parsed)
    dataset = load_dataset(parsed)
    writer = make_writer(out, dataset)
    key = _input_key(parsed, params)
    old, removed = _prepare_out(out, dataset, key, overwrite)
    report = SplitReport(out=str(out), format=dataset.format, sources=len(dataset.samples))
    report.removed = removed
    run = _SplitRun(out, writer, params, old, _Manifest(key), report)
    make_folder(out, create=False)  # an --out in the way fails now; a failed split leaves none
    last_save = time.monotonic()
    with make_progress(quiet) as progress:
        task = progress.add_task("split", total=_total_windows(dataset, params))
        try:
            for sample in dataset.samples:
                progress.update(task, description=f"split {sample.image_id}")
                run.split_sample(sample, lambda: progress.advance(task))
                if time.monotonic() - last_save > _SAVE_EVERY_S:
                    run.save(final=False)
                    last_save = time.monotonic()
        except BaseException:
            if out.is_dir():  # the patches written so far stay known: a rerun goes on from them
                run.save(final=False)
            raise
    # Unlabelled inputs (e.g. a test split) give images only, so the patches read back
    # as unlabelled too instead of as images with zero objects.
    for output in writer.finish() if dataset.labelled else []:
        run.write_label(output, aggregate=True)
    run.remove_stale()
    run.save(final=True)
    report.manifest = str(out / MANIFEST_NAME)
    report.seconds = round(time.monotonic() - started, 3)
    return report
