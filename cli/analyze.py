"""``rsdet analyze sparsity``: zeros in a model's parameters and feature maps.

It also measures what skipping them (dynamic feature-map pruning) costs in AP50.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rsdet.cli._common import err_console, print_json, user_errors

app = typer.Typer(help="Analyse a trained model (sparsity).", no_args_is_help=True)


@app.command("sparsity")
def sparsity(
    model: Annotated[
        str, typer.Argument(help="Model file (.pt, .rsdz) or packaged model name ('trees').")
    ],
    data: Annotated[
        str,
        typer.Option(
            help="Dataset spec of the images to run (AP50 is scored when its classes are the "
            "model's).",
        ),
    ] = "synthetic:?n=8&size=512&seed=1&kind=trees",
    images: Annotated[int, typer.Option(min=1, help="Use the first N images of --data.")] = 8,
    eps: Annotated[
        str, typer.Option(help="Zero thresholds |x| <= eps, comma-separated (0: exact zeros).")
    ] = "0,1e-3,1e-2,5e-2",
    plot: Annotated[Path | None, typer.Option(help="Write a PNG of the results here.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace --plot.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")
    ] = False,
) -> None:
    """Parameter zeros, conv-input zeros per layer, and AP50 with inputs |x| <= eps skipped."""
    with user_errors():
        from rsdet.pipelines.analyze import SparsityOptions, parse_eps, run_sparsity

        opts = SparsityOptions(model, data, images, parse_eps(eps), plot, overwrite)
        report = run_sparsity(opts)
        if as_json:
            print_json(json.dumps(report, indent=2))
        else:
            err_console.print(_format(report), soft_wrap=True)


def _format(r: dict[str, Any]) -> str:
    """The summary tables a reader looks at first."""
    p, fm = r["parameters"], r["feature_maps"]
    lines = [
        f"{r['model']} ({r['arch']}) on {r['images']} images of {r['data']} ({r['seconds']:.0f} s)",
        f"parameters: {p['zeros']:,} of {p['elements']:,} exactly 0 ({100 * p['share']:.2f} %)",
        f"conv inputs: {fm['convs']} convs, {fm['dead_channels']} of {fm['input_channels']} "
        "input channels 0 on every image (dead)",
        "| eps | inputs <= eps | MAC-weighted | of conv bytes read |",
        "|---|---|---|---|",
    ]
    for t in fm["totals"]:
        lines.append(
            f"| {t['eps']:g} | {_pct(t['elements'])} | {_pct(t['mac_weighted'])} "
            f"| {_pct(t['byte_weighted'])} |"
        )
    lines += ["bytes by conv kind (input map / weights / output map):"]
    for kind, b in r["bandwidth"].items():
        total = b["input_bytes"] + b["weight_bytes"]
        lines.append(
            f"  {kind}: {b['layers']} convs, reads {_pct(b['input_bytes'] / total)} input maps, "
            f"{_pct(b['weight_bytes'] / total)} weights; writes {b['output_bytes'] / 1e6:.1f} MB"
        )
    lines += [
        "dynamic pruning (inputs <= eps zeroed before each conv):",
        "| eps | loads removed | MAC-weighted | AP50 | change |",
        "|---|---|---|---|---|",
    ]
    for c in r["curve"]:
        ap = "-" if c["ap50"] is None else f"{100 * c['ap50']:.1f}"
        change = "-" if c["ap50_change"] is None else f"{100 * c['ap50_change']:+.1f}"
        lines.append(
            f"| {c['eps']:g} | {_pct(c['removed_elements'])} | "
            f"{_pct(c['removed_mac_weighted'])} | {ap} | {change} |"
        )
    if r.get("plot"):
        lines.append(f"Wrote {r['plot']}")
    return "\n".join(lines)


def _pct(v: float) -> str:
    return f"{100 * v:.1f} %"
