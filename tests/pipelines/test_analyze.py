"""``run_sparsity``: the report's shape, the pruning curve, the plot, and refused options."""

import pytest
from rsdet.pipelines.analyze import SparsityOptions, parse_eps, run_sparsity

from rsdet.errors import InputError, OutputExistsError

pytestmark = pytest.mark.usefixtures("one_thread")

DATA = "synthetic:?n=1&size=128&seed=1&kind=trees"


def test_report_of_the_tree_model_with_a_plot(tmp_path):
    plot = tmp_path / "sparsity.png"
    opts = SparsityOptions("trees", DATA, images=1, eps=(0.05,), plot=plot)
    report = run_sparsity(opts)
    assert report["eps"] == [0.0, 0.05]  # the exact-zero baseline is always there
    assert report["ap50_scored"]  # synthetic "tree" is the model's "Tree"
    base, pruned = report["curve"]
    assert base["ap50_change"] == 0.0 and base["ap50"] is not None
    # zeroing inputs within 0.05 removes loads; the pruned run counts them itself
    assert 0 < pruned["removed_elements"] < 1
    assert report["feature_maps"]["convs"] == len(report["feature_maps"]["layers"]) == 88
    assert report["parameters"]["elements"] > 1_000_000
    assert set(report["bandwidth"]) == {"conv", "pointwise", "depthwise"}
    assert plot.read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(OutputExistsError, match=r"sparsity\.png: already exists"):
        run_sparsity(opts)


def test_data_of_other_classes_is_run_but_not_scored():
    opts = SparsityOptions("trees", "synthetic:?n=1&size=64&kind=vehicles", images=1, eps=())
    report = run_sparsity(opts)
    assert not report["ap50_scored"]
    assert report["curve"][0]["ap50"] is None and report["eps_one_point"] is None


def test_parse_eps():
    assert parse_eps("1e-2, 0.001") == (0.0, 0.001, 0.01)
    with pytest.raises(InputError, match="--eps 'a,1': expected comma-separated numbers"):
        parse_eps("a,1")
    with pytest.raises(InputError, match="must be >= 0"):
        parse_eps("-0.1")
