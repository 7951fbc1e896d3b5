"""Ablation of RS-TinyNet's modules: MDCA, ARB and PFDH switched off one at a time.

Every variant trains with ``rsdet train`` on the same recipe (benchmarks/
rs_tinynet_ablation.yaml: synthetic AI-TOD-like scenes, same seed, data and budget); only
``model.config.{mdca,arb,pfdh}`` change. Each run uses one CPU thread and is scored on the
held-out scenes with AI-TOD's protocol (rsdet.evaluation, ``aitod``). Runs go one after
the other; the table is printed at the end (and the rows written with ``--json``)::

    python benchmarks/ablate_rs_tinynet.py --out runs/ablation --seeds 0,1
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import time
from pathlib import Path

RECIPE = Path(__file__).with_name("rs_tinynet_ablation.yaml")
VARIANTS = {  # name -> (mdca, arb, pfdh)
    "full": (True, True, True),
    "no_mdca": (False, True, True),
    "no_arb": (True, False, True),
    "no_pfdh": (True, True, False),
    "baseline": (False, False, False),
}
METRICS = ("AP", "AP50", "AP75", "APvt", "APt", "APs")


def run(name: str, seed: int, out: Path, extra: list[str]) -> dict[str, object]:
    mdca, arb, pfdh = VARIANTS[name]
    run_dir = out / f"{name}_seed{seed}"
    sets = [
        f"model.config.mdca={str(mdca).lower()}",
        f"model.config.arb={str(arb).lower()}",
        f"model.config.pfdh={str(pfdh).lower()}",
        f"seed={seed}",
        *extra,
    ]
    cmd = ["rsdet", "train", "--recipe", str(RECIPE), "--out", str(run_dir), "--overwrite", "-q"]
    for s in sets:
        cmd += ["--set", s]
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=env)
    minutes = (time.perf_counter() - start) / 60
    with open(run_dir / "metrics.csv", encoding="utf-8") as f:
        last = list(csv.DictReader(f))[-1]
    row: dict[str, object] = {"variant": name, "seed": seed, "minutes": round(minutes, 1)}
    row.update({m: float(last[f"val_{m}"]) if last[f"val_{m}"] else None for m in METRICS})
    print(json.dumps(row), file=sys.stderr, flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("runs/ablation"))
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--set", action="append", default=[], help="extra recipe overrides")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    rows = [
        run(name, int(seed), args.out, args.set)
        for seed in args.seeds.split(",")
        for name in args.variants.split(",")
    ]
    print("| variant | seed | " + " | ".join(METRICS) + " | CPU min |")
    print("|---" * (len(METRICS) + 3) + "|")
    for r in rows:
        cells = [f"{100 * v:.1f}" if isinstance(v, float) else "-" for v in (r[m] for m in METRICS)]
        print(f"| {r['variant']} | {r['seed']} | " + " | ".join(cells) + f" | {r['minutes']} |")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
