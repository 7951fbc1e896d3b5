"""``rsdet info MODEL``: what a model is, what it expects, what it costs and where it came from."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rsdet.cli._common import print_json, user_errors

from rsdet.errors import InputError


def info(
    model: Annotated[
        str | None,
        typer.Argument(
            help="Model file (.pt, .rsdz) or packaged model name (trees; see --list).",
            show_default=False,
        ),
    ] = None,
    size: Annotated[
        int,
        typer.Option(min=32, help="Square input edge, pixels, at which FLOPs are counted."),
    ] = 1024,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print machine-readable JSON on stdout.")
    ] = False,
    list_: Annotated[
        bool,
        typer.Option("--list", help="List the packaged models and training recipes instead."),
    ] = False,
) -> None:
    """Show a model's parameters, FLOPs, classes, input spec, box type and provenance."""
    with user_errors():
        if list_ or model is None:
            if model is not None:
                raise InputError(f"{model}: give a MODEL or --list, not both")
            _list_packaged(as_json, hint=not list_)
            return
        from rsdet.pipelines.info import describe_model

        summary = describe_model(model, size)
        if as_json:
            print_json(json.dumps(summary, indent=2, default=str))
        else:
            typer.echo(_format(summary))


def _list_packaged(as_json: bool, hint: bool) -> None:
    """Packaged models (the default marked) and recipes, as text or JSON."""
    from rsdet.pipelines.info import list_packaged

    found = list_packaged()
    if as_json:
        print_json(json.dumps(found, indent=2))
        return
    lines = ["Models (rsdet detect --model NAME, rsdet info NAME):"]
    for m in found["models"]:
        default = "  (default)" if m["name"] == found["default_model"] else ""
        lines.append(f"  {m['name']:22s} {m['description'] or ', '.join(m['classes'])}{default}")
    lines.append("Recipes (rsdet train --recipe NAME):")
    lines += [f"  {r['name']:22s} {r['summary']}" for r in found["recipes"]]
    if hint:
        lines.append("Details of one model: rsdet info MODEL")
    typer.echo("\n".join(lines))


def _format(s: dict[str, Any]) -> str:
    """Human-readable summary, one fact per line."""
    inp = s["input"]
    if inp["scaling"] == "fixed":
        scaling = f"fixed range {_nums(inp['low'])} .. {_nums(inp['high'])}"
    else:
        scaling = f"percentile stretch {_nums(inp['percentiles'])} % per scene"
    gsd = "any" if inp["gsd_m"] is None else f"{inp['gsd_m']:g} m"
    post = s["postprocess"]
    lines = [
        f"Model        {s['path']}",
        f"Architecture {s['arch']}  {_items(s['arch_config'])}",
        f"Description  {s['description'] or '-'}",
        f"Parameters   {s['parameters'] / 1e6:.2f} M ({s['parameters']:,})",
        f"FLOPs        {s['flops'] / 1e9:.2f} G at {s['flops_input'][0]} x {s['flops_input'][1]}"
        f" px ({s['flops_convention']})",
        *_parts(s),
        f"Classes      {len(s['classes'])}: {', '.join(s['classes'])}",
        f"Boxes        {s['box_type']}",
        f"Input        bands {_nums(inp['bands'])}; {scaling}; mean {_nums(inp['mean'])};"
        f" std {_nums(inp['std'])}; GSD {gsd}",
        f"Tiles        {s['tile_size']} px, overlap {s['overlap']} px",
        f"Postprocess  score >= {post['score_thr']:g}, NMS IoU {post['iou_thr']:g},"
        f" at most {post['max_det']} per tile",
    ]
    prov = s["provenance"]
    for key in ("recipe", "data", "epochs", "metrics", "score_thr", "transfer", "command"):
        if key in prov:
            value = _recipe(prov[key]) if key == "recipe" else prov[key]
            text = _items(value) if isinstance(value, dict) else str(value)
            lines.append(f"{key.capitalize():12s} {text}")
    return "\n".join(lines)


def _parts(s: dict[str, Any]) -> list[str]:
    """``Parts`` (parameters, multiply-adds) and backbone ``Stages`` lines; none if not named."""
    if "parts" not in s:
        return []
    top = [p for p in s["parts"] if "." not in p["name"]]
    stages = [p for p in s["parts"] if "." in p["name"] and p["macs"]]
    h, w = s["flops_input"]
    each = ", ".join(
        f"{p['name']} {p['parameters'] / 1e6:.2f} M {p['macs'] / 1e6:.2f} M" for p in top
    )
    lines = [
        f"Parts        {s['macs'] / 1e6:.2f} M multiply-adds at {h} x {w} px"
        f" ({s['macs_conv_bias'] / 1e6:.2f} M with conv-bias additions): {each}"
        " (parameters, multiply-adds)"
    ]
    if stages:
        each = ", ".join(f"{p['name']} {p['macs'] / 1e6:.2f}" for p in stages)
        lines.append(f"Stages       {each} (M multiply-adds)")
    return lines


def _recipe(recipe: Any) -> Any:
    """A stored recipe dict shortened to its training budget (``--json`` has all of it)."""
    if not isinstance(recipe, dict):
        return recipe
    optim, schedule = recipe.get("optim") or {}, recipe.get("schedule") or {}
    short = {
        "epochs": recipe.get("epochs"),
        "batch_size": recipe.get("batch_size"),
        "optim": optim.get("name"),
        "lr": optim.get("lr"),
        "schedule": schedule.get("kind"),
        "seed": recipe.get("seed"),
    }
    return {k: v for k, v in short.items() if v is not None}


def _nums(values: Any) -> str:
    """``1, 2, 3`` for a list of numbers."""
    return ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in values)


def _items(d: dict[str, Any]) -> str:
    """``key=value key=value`` for a flat mapping (floats shortened, None left out)."""
    pairs = [(k, v) for k, v in d.items() if v is not None]
    return " ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in pairs)
