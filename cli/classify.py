"""``rsdet classify train | eval | predict``: tile classifiers (BoVW, MLP, CNNs)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rsdet.cli._common import err_console, print_json, user_errors

app = typer.Typer(
    help="Train, evaluate and apply tile classifiers (land use, object / empty tiles).",
    no_args_is_help=True,
)

MODEL_NAMES = "bovw, mlp, tinynet-cnn, inception-v3, tinynet-a .. tinynet-e"
DATA_HELP = (
    "folder:PATH (one sub-folder per class), or a detection spec (dota:..., geo:..., "
    "synthetic:?...) with tile=PX, visible=FRACTION, object=CLASS|any: object / empty tiles."
)


@app.command("train")
def train(
    data: Annotated[str, typer.Option(help=DATA_HELP)],
    model: Annotated[str, typer.Option(help=f"One of: {MODEL_NAMES}.")],
    out: Annotated[Path, typer.Option(help="Folder for classifier.pt and report.json.")],
    size: Annotated[int, typer.Option(min=0, help="Input edge, px (0: model default).")] = 0,
    epochs: Annotated[int, typer.Option(min=1, help="Training epochs (networks).")] = 20,
    batch: Annotated[int, typer.Option(min=2, help="Images per step.")] = 32,
    lr: Annotated[float, typer.Option(min=0, help="Peak one-cycle learning rate.")] = 1e-3,
    val_fraction: Annotated[
        float, typer.Option(min=0, max=0.9, help="Held-out share per class.")
    ] = 0.2,
    seed: Annotated[int, typer.Option(help="Split and training seed.")] = 0,
    widths: Annotated[str, typer.Option(help="tinynet-cnn block widths.")] = "32,64,128,256",
    depthwise: Annotated[bool, typer.Option(help="tinynet-cnn: depthwise blocks.")] = False,
    weights: Annotated[
        str | None, typer.Option(help="inception-v3: local torchvision ImageNet state dict.")
    ] = None,
    k: Annotated[int, typer.Option(min=2, help="bovw: codebook size.")] = 512,
    kernel: Annotated[str, typer.Option(help="bovw SVM: rbf, linear, intersection.")] = "rbf",
    pca: Annotated[int, typer.Option(min=0, help="bovw: PCA components (0: none).")] = 64,
    screen_for: Annotated[
        str | None,
        typer.Option(
            help="A tile screener for this detector (model file or packaged name): tiles "
            "cut at its tile size from its bands, object = one of its classes; rsdet "
            "detect --screen checks the match."
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Train a classifier; the held-out split is scored into OUT/report.json."""
    with user_errors():
        from rsdet.pipelines.classify import TrainRequest, train_tile_classifier

        req = TrainRequest(
            data=data,
            model=model,
            out=out,
            size=size,
            val_fraction=val_fraction,
            widths=_widths(widths),
            depthwise=depthwise,
            weights=weights,
            bovw=_bovw(k, kernel, pca, seed),
            train=_train_config(epochs, batch, lr, seed),
            screen_for=screen_for,
        )
        summary = train_tile_classifier(req, lambda line: err_console.print(line))
        if as_json:
            print_json(json.dumps(summary, indent=2))
        elif summary["validation"] is not None:
            typer.echo(_table([(model, summary["validation"])]))


@app.command("eval")
def evaluate(
    data: Annotated[str, typer.Option(help=DATA_HELP)],
    model: Annotated[list[Path], typer.Option(help="classifier.pt or its folder (repeatable).")],
    confusion: Annotated[
        Path | None, typer.Option(help="Confusion-matrix PNG (one model only).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON on stdout.")] = False,
) -> None:
    """Accuracy, loss, per-class precision / recall and the confusion matrix."""
    with user_errors():
        from rsdet.pipelines.classify import evaluate_with_curve

        from rsdet.errors import InputError

        if confusion is not None and len(model) > 1:
            raise InputError(f"{confusion}: --confusion takes one --model, got {len(model)}")
        reports, curves = [], []
        for m in model:
            report, curve = evaluate_with_curve(data, m, confusion)
            entry = report.to_dict()
            if curve is not None:
                entry["screen_curve"] = curve
                curves.append((str(m), curve))
            reports.append((str(m), entry))
        if as_json:
            print_json(json.dumps(dict(reports), indent=2))
        else:
            typer.echo(_table(reports))
            for name, curve in curves:
                typer.echo(_curve_table(name, curve))


@app.command("predict")
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files, folders or scenes.")],
    model: Annotated[Path, typer.Option(help="classifier.pt or its folder.")],
    out: Annotated[
        Path,
        typer.Option(
            help="CSV table, or a layer (.gpkg, .geojson, ...): one polygon per tile in map "
            "coordinates with class_name and score."
        ),
    ],
    tile: Annotated[
        int | None, typer.Option(min=8, help="Cut each image into tiles of this edge, px.")
    ] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing layer.")] = False,
) -> None:
    """Classify whole images, or the tiles of scenes, into a CSV table or a map layer."""
    with user_errors():
        from rsdet.pipelines.classify import predict_images

        n = predict_images(images, model, out, tile, overwrite)
        err_console.print(f"{n} rows -> {out}")


def _widths(text: str) -> tuple[int, ...]:
    from rsdet.errors import InputError

    try:
        return tuple(int(w) for w in text.split(","))
    except ValueError:
        raise InputError(f"--widths {text!r}: expected integers like 32,64,128,256") from None


def _bovw(k: int, kernel: str, pca: int, seed: int) -> Any:
    from rsdet.pipelines.classify import BoVWConfig

    from rsdet.errors import InputError

    if kernel not in ("rbf", "linear", "intersection"):
        raise InputError(f"--kernel {kernel!r}: expected rbf, linear or intersection")
    return BoVWConfig(k=k, kernel=kernel, pca=pca, seed=seed)  # type: ignore[arg-type]


def _train_config(epochs: int, batch: int, lr: float, seed: int) -> Any:
    from rsdet.pipelines.classify import TrainConfig

    return TrainConfig(epochs=epochs, batch=batch, lr=lr, seed=seed)


def _curve_table(name: str, curve: list[dict[str, float]]) -> str:
    """The screener's trade-off: tile recall and tiles skipped per threshold."""
    lines = [f"\n{name}: as a tile screener (skip when p(object) < threshold)"]
    lines.append(f"  {'threshold':>9} {'tile recall':>11} {'tiles skipped':>13}")
    for row in curve:
        lines.append(
            f"  {row['threshold']:>9.3f} {row['tile_recall']:>11.4f} {row['skipped']:>13.4f}"
        )
    return "\n".join(lines)


def _table(reports: list[tuple[str, dict[str, Any]]]) -> str:
    """The report's table: one row per model, then per-class precision / recall."""
    lines = [f"{'model':<40} {'n':>6} {'accuracy':>9} {'loss':>8} {'ms/image':>9}"]
    for name, r in reports:
        ms = 1000 * r["seconds_per_image"]
        lines.append(f"{name:<40} {r['n']:>6} {r['accuracy']:>9.3f} {r['loss']:>8.3f} {ms:>9.2f}")
    for name, r in reports:
        lines.append(f"\n{name}: class, precision, recall, confusion row (true -> predicted)")
        for c, p, rc, row in zip(
            r["classes"], r["precision"], r["recall"], r["confusion"], strict=True
        ):
            lines.append(f"  {c:<20} {p:6.3f} {rc:6.3f}  {' '.join(map(str, row))}")
    return "\n".join(lines)
