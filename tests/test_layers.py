"""The import layers: every ``rsdet.*`` import goes down the stack, never up or sideways.

The table below is the architecture, written down so that a test holds it: a module may
import modules of its own package and of packages on lower layers. Imports are read from the
source with ``ast`` (nothing is imported), including lazy imports inside functions and
``TYPE_CHECKING`` blocks: they couple the packages just the same.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Source folder -> installed package (pipelines/ and cli/ install as rsdet.pipelines, rsdet.cli).
SOURCES = {"rsdet": "rsdet", "pipelines": "rsdet.pipelines", "cli": "rsdet.cli"}

# Why this table exists: each layer must be usable, testable and importable without the
# layers above it (io without models, the library without pipelines or the CLI), and a cycle
# between packages cannot arise.
#
# Bottom to top. A package may import its own modules and any package on a lower layer.
# Packages that share a layer are siblings and must not import each other (unless listed in
# SIBLING_IMPORTS). A new package must be added here before anything can import it.
LAYERS: list[tuple[str, ...]] = [
    ("rsdet.errors", "rsdet.config"),
    ("rsdet.structures", "rsdet.tiling"),
    ("rsdet.io", "rsdet.merge"),
    ("rsdet.merge_scenes",),  # the cross-scene merge builds on the cross-tile one
    ("rsdet.synthetic",),
    ("rsdet.datasets",),
    ("rsdet.evaluation", "rsdet.models"),
    ("rsdet.engine", "rsdet.export"),  # training | ONNX files: both build on models
    ("rsdet.compress",),  # Deep Compression: fine-tunes through the engine (.rsdz reader: models)
    ("rsdet.analysis",),  # network analyses (sparsity): may use models, engine, evaluation
    ("rsdet.classify",),  # tile classifiers: on datasets and models (backbones), not engine
    ("rsdet",),  # the package __init__.py facade only (lazy ``rsdet.load_model``)
    ("rsdet.pipelines",),
    ("rsdet.cli",),
]

# Allowed imports between siblings, (importer, imported).
SIBLING_IMPORTS = {
    ("rsdet.config", "rsdet.errors"),  # a ConfigError is an RsdetError
}

# Packages that may import only these lower packages. The CLI parses arguments and prints;
# it reaches the library through rsdet.pipelines, and imports rsdet.errors / rsdet.config
# itself only for error types and plain-data conversion.
ONLY_IMPORTS = {
    "rsdet.cli": {"rsdet.pipelines", "rsdet.errors", "rsdet.config"},
}

LAYER_OF = {package: i for i, layer in enumerate(LAYERS) for package in layer}


def short(package: str) -> str:
    """``rsdet.models`` -> ``models``; the facade stays ``rsdet``."""
    return package.removeprefix("rsdet.")


def package_of(module: str) -> str:
    """The table package of a module (``rsdet.io.raster`` -> ``rsdet.io``; ``rsdet`` stays)."""
    return ".".join(module.split(".")[:2])


def module_name(path: Path) -> str:
    """Installed dotted name of a file (``pipelines/split.py`` -> ``rsdet.pipelines.split``)."""
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [*SOURCES[rel.parts[0]].split("."), *rel.parts[1:]]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rsdet_imports(source: str, module: str, is_package: bool) -> list[tuple[int, str]]:
    """``(line, imported module)`` for every ``rsdet.*`` import in ``source``, at any depth.

    Relative imports are resolved against ``module``; ``from rsdet import x`` counts as an
    import of ``rsdet.x`` when ``x`` is a package of the table, else of the facade.
    """
    here = module if is_package else module.rpartition(".")[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(node, here)
            subs = {f"{base}.{alias.name}" for alias in node.names}
            names = {sub if base == "rsdet" and sub in LAYER_OF else base for sub in subs}
            found += [(node.lineno, name) for name in sorted(names)]
    return [(line, name) for line, name in found if name.split(".")[0] == "rsdet"]


def _from_base(node: ast.ImportFrom, here: str) -> str:
    """The absolute module that ``from ... import`` reads from (``here``: the package)."""
    if node.level == 0:
        return node.module or ""
    parts = here.split(".")
    anchor = ".".join(parts[: len(parts) - node.level + 1])
    return f"{anchor}.{node.module}" if node.module else anchor


def violations(source: str, module: str, where: str, is_package: bool = False) -> list[str]:
    """One message per import in ``source`` (the code of ``module``) that breaks the layers."""
    importer = package_of(module)
    if importer not in LAYER_OF:
        return [f"{where}: {importer} is in no layer (add it to LAYERS)"]
    out = []
    for line, name in rsdet_imports(source, module, is_package):
        why = _why_not(importer, package_of(name))
        if why:
            out.append(f"{where}:{line} imports {name} ({why})")
    return out


def _why_not(importer: str, imported: str) -> str | None:
    """Why ``importer`` may not import ``imported``, or None when it may."""
    if imported == importer:
        return None
    if imported not in LAYER_OF:
        return f"{imported} is in no layer (add it to LAYERS)"
    mine, theirs = LAYER_OF[importer], LAYER_OF[imported]
    if theirs > mine:
        return f"layer {short(imported)} is above {short(importer)}"
    if theirs == mine and (importer, imported) not in SIBLING_IMPORTS:
        return f"{short(imported)} and {short(importer)} are siblings on one layer"
    allowed = ONLY_IMPORTS.get(importer)
    if allowed is not None and imported not in allowed:
        return f"{short(importer)} may import only {', '.join(sorted(allowed))}"
    return None


def source_files() -> list[Path]:
    return sorted(p for folder in SOURCES for p in (ROOT / folder).rglob("*.py"))


def test_every_import_goes_down_the_layers():
    found = []
    for path in source_files():
        found += violations(
            path.read_text(),
            module_name(path),
            str(path.relative_to(ROOT)),
            is_package=path.name == "__init__.py",
        )
    assert not found, "\n".join(found)


def test_every_package_of_the_table_exists():
    modules = {module_name(p) for p in source_files()}
    missing = [p for p in LAYER_OF if p not in modules]
    assert not missing, f"stale LAYERS entries: {missing}"


def test_the_checker_reports_upward_sideways_and_lazy_imports():
    source = (
        "import numpy\n"
        "from rsdet.structures import Sample\n"
        "from rsdet.models.spec import InputSpec\n"
        "def f():\n"
        "    import rsdet.datasets.loader\n"
        "    from rsdet import load_model\n"
    )
    assert violations(source, "rsdet.io.fake", "rsdet/io/fake.py") == [
        "rsdet/io/fake.py:3 imports rsdet.models.spec (layer models is above io)",
        "rsdet/io/fake.py:5 imports rsdet.datasets.loader (layer datasets is above io)",
        "rsdet/io/fake.py:6 imports rsdet (layer rsdet is above io)",
    ]
    sideways = "from rsdet.evaluation import evaluate\n"
    assert violations(sideways, "rsdet.models.fake", "m.py") == [
        "m.py:1 imports rsdet.evaluation (evaluation and models are siblings on one layer)"
    ]


def test_the_checker_resolves_relative_imports_and_holds_the_cli_to_pipelines():
    relative = "from ..models import spec\nfrom . import raster\n"
    assert violations(relative, "rsdet.io.fake", "f.py") == [
        "f.py:1 imports rsdet.models (layer models is above io)"
    ]
    cli = "from rsdet.pipelines.info import describe_model\nfrom rsdet.models import zoo\n"
    assert violations(cli, "rsdet.cli.fake", "c.py") == [
        "c.py:2 imports rsdet.models (cli may import only rsdet.config, rsdet.errors, "
        "rsdet.pipelines)"
    ]
