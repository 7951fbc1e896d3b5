"""``rsdet train``: recipe file + command-line overrides -> run folder -> the training engine.

Order of precedence, lowest first: the recipe file, ``--set key.sub=value`` overrides, then
the dedicated options (``--data``, ``--epochs``...). The resolved recipe is written to
``RUN/recipe.yaml``; ``--resume`` starts from that file, so a resumed run trains exactly
what the interrupted one did (overrides given with ``--resume`` still apply on top).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from rich.console import Console
from rich.progress import TextColumn
from rsdet.pipelines.progress import PlainLines, make_progress

import rsdet
from rsdet.config import ConfigError, apply_overrides, from_dict, to_dict
from rsdet.engine.recipe import TrainRecipe
from rsdet.engine.session import load_training_data
from rsdet.engine.train import RunResult, train
from rsdet.errors import InputError, OutputExistsError
from rsdet.io.atomic import atomic_output, make_folder
from rsdet.io.lock import output_lock

__all__ = ["RECIPES_DIR", "TrainOptions", "find_recipe", "resolve_recipe", "run_train"]

RECIPES_DIR = Path(__file__).resolve().parent / "recipes"
RUN_FILES = ("last.pt", "best.pt", "metrics.csv", "recipe.yaml")
LOCK_FILE = ".rsdet-lock"  # held by the run writing the folder (rsdet.io.lock)


@dataclass(frozen=True)
class TrainOptions:
    """What ``rsdet train`` was asked (None = keep the recipe's value)."""

    recipe: str | None = None
    data: str | None = None
    val_data: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    device: str | None = None
    out: Path | None = None
    resume: bool = False
    overwrite: bool = False
    sets: list[str] = field(default_factory=list)
    quiet: bool = False


def find_recipe(name_or_path: str) -> Path:
    """A recipe file path, or the packaged recipe of that name (``rs_tinynet_synthetic``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    packaged = RECIPES_DIR / f"{path.name.removesuffix('.yaml')}.yaml"
    if path.parent == Path(".") and packaged.is_file():
        return packaged
    known = ", ".join(sorted(p.stem for p in RECIPES_DIR.glob("*.yaml"))) or "none"
    raise InputError(f"{name_or_path}: no such recipe file or packaged recipe (packaged: {known})")


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as err:
        raise InputError(f"{path}: cannot read ({err.strerror})") from None
    except yaml.YAMLError as err:
        first = str(err).splitlines()[0]
        raise InputError(f"{path}: invalid YAML ({first})") from None
    if not isinstance(raw, dict):
        raise InputError(f"{path}: expected a mapping at the top level")
    return raw


def resolve_recipe(path: Path, opts: TrainOptions) -> TrainRecipe:
    """Read ``path``, apply ``--set`` overrides, then the dedicated options.

    Raises:
        ConfigError: a misspelt key or a bad value; the message starts with the file name.
    """
    try:
        raw = apply_overrides(_read_yaml(path), opts.sets)
        data = raw.setdefault("data", {})
        if not isinstance(data, dict):
            raise ConfigError("data: expected a mapping")
        given = {"train": opts.data, "val": opts.val_data}
        data.update({k: v for k, v in given.items() if v is not None})
        top = {"epochs": opts.epochs, "batch_size": opts.batch_size, "device": opts.device}
        raw.update({k: v for k, v in top.items() if v is not None})
        if opts.out is not None:
            raw.setdefault("output", {})["dir"] = str(opts.out)
        return from_dict(TrainRecipe, raw)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from None


def _prepare_run_dir(run_dir: Path, opts: TrainOptions) -> None:
    """Refuse to clobber a previous run unless ``--overwrite``; ``--resume`` needs one."""
    found = [name for name in RUN_FILES if (run_dir / name).exists()]
    if opts.resume:
        if not (run_dir / "last.pt").is_file():
            raise InputError(f"{run_dir}: no last.pt to resume from")
        return
    if found and not opts.overwrite:
        raise OutputExistsError(
            f"{run_dir}: already holds a training run ({', '.join(found)}); "
            "pass --resume to continue it or --overwrite to start again"
        )
    _remove_run_files(run_dir)


def _write_recipe(recipe: TrainRecipe, path: Path) -> None:
    """The resolved recipe as YAML, written atomically."""
    text = yaml.safe_dump(to_dict(recipe), sort_keys=False)
    with atomic_output(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def _git_commit() -> str | None:
    """The source checkout's commit, when rsdet runs from a git checkout."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(rsdet.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def run_train(opts: TrainOptions) -> RunResult:
    """Resolve the recipe and run folder, then train (see the module docstring)."""
    import torch

    if opts.resume and opts.recipe is None and opts.out is None:
        raise InputError("--resume needs --out RUN_DIR (or --recipe, whose output.dir is used)")
    if opts.resume and opts.out is not None and not (opts.out / "last.pt").is_file():
        raise InputError(f"{opts.out}: no last.pt to resume from")
    if opts.resume and opts.out is not None and opts.recipe is None:
        source = opts.out / "recipe.yaml"
    elif opts.recipe is not None:
        source = find_recipe(opts.recipe)
    else:
        raise InputError("give --recipe NAME_OR_FILE (see pipelines/recipes/)")
    recipe = resolve_recipe(source, opts)
    run_dir = Path(recipe.output.dir)
    main = int(os.environ.get("RANK", "0")) == 0
    provenance = {
        "recipe_file": str(source),
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "git_commit": _git_commit(),
        "rsdet_version": rsdet.__version__,
        "torch_version": torch.__version__,
    }
    with ProgressReporter(quiet=opts.quiet or not main) as reporter:
        data = load_training_data(recipe, reporter)  # bad data fails before anything is written
        with _run_folder(run_dir, opts, main):
            if main:
                _write_recipe(recipe, run_dir / "recipe.yaml")
            return train(
                recipe,
                run_dir,
                resume=opts.resume,
                provenance=provenance,
                reporter=reporter,
                data=data,
            )


@contextmanager
def _run_folder(run_dir: Path, opts: TrainOptions, main: bool) -> Iterator[None]:
    """Create, lock and clear the run folder (rank 0); undo a new run that left no last.pt.

    The lock makes a second run on the same folder refuse while the first is alive. A new
    run that fails before its first ``last.pt`` (a model that does not build, no GPU, a
    Ctrl-C during set-up) removes the files it wrote, so the retry is not told to resume.
    """
    if not main:
        yield
        return
    created = not run_dir.exists()
    make_folder(run_dir)
    try:
        with output_lock(run_dir, run_dir / LOCK_FILE):
            _prepare_run_dir(run_dir, opts)
            try:
                yield
            except BaseException:
                if not opts.resume and not (run_dir / "last.pt").exists():
                    _remove_run_files(run_dir)
                raise
    finally:
        if created and run_dir.is_dir() and not any(run_dir.iterdir()):
            run_dir.rmdir()


def _remove_run_files(run_dir: Path) -> None:
    """Delete what a run writes (never other files the user keeps in the folder)."""
    for name in RUN_FILES:
        (run_dir / name).unlink(missing_ok=True)
    shutil.rmtree(run_dir / "tb", ignore_errors=True)


class ProgressReporter:
    """The engine's progress on stderr: the shared rich bar on a terminal, else plain lines.

    Plain lines (:class:`PlainLines`: iteration, loss, speed, ETA) are for logs, CI and
    cluster jobs, where a live bar draws nothing useful.
    """

    def __init__(self, quiet: bool, plain: PlainLines | None = None) -> None:
        self.quiet = quiet
        console = Console(stderr=True)
        if plain is None and not quiet and not console.is_terminal:
            plain = PlainLines(console)
        self.plain = None if quiet else plain
        self.progress = make_progress(
            quiet or self.plain is not None,
            TextColumn("{task.fields[loss]}"),
            TextColumn("{task.fields[lr]}"),
            TextColumn("{task.fields[speed]}"),
        )
        self.task: Any = None

    def __enter__(self) -> ProgressReporter:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def begin(self, title: str, total: int, done: int) -> None:
        """Start a new bar (the previous one stays on screen)."""
        self.task = self.progress.add_task(
            title, total=total, completed=done, loss="", lr="", speed=""
        )
        if self.plain is not None:
            self.plain.begin(title, total, done)

    def advance(self, fields: dict[str, float]) -> None:
        """Move the bar one step and show the latest loss, lr and speed."""
        shown = {}
        if "loss" in fields:
            shown["loss"] = f"loss {fields['loss']:.4g}"
        if "lr" in fields:
            shown["lr"] = f"lr {fields['lr']:.2e}"
        if "it/s" in fields:
            shown["speed"] = f"{fields['it/s']:.2f} it/s"
        self.progress.update(self.task, advance=1, **shown)
        if self.plain is not None:
            self.plain.advance(fields)

    def note(self, message: str) -> None:
        """Print a line above the bars (warnings, epoch summaries), unless quiet."""
        if not self.quiet:
            self.progress.console.print(message, highlight=False, soft_wrap=True)
