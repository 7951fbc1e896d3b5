"""``.rsdz`` files: bit-exact round trips, every loader reads them, damage is a clear error."""

import hashlib

import numpy as np
import pytest
import torch

from rsdet.models.checkpoint import CheckpointError, read_checkpoint
from rsdet.models.rsdz import MAGIC, SharedTensor, read_rsdz, write_rsdz
from rsdet.models.zoo import load_model, load_network


def random_shared(rng, shape, keep, bits):
    """A pruned, weight-shared tensor with ``keep`` of its positions kept."""
    numel = int(np.prod(shape))
    positions = np.flatnonzero(rng.random(numel) < keep)
    codebook = np.sort(rng.normal(0, 0.1, 2**bits)).astype(np.float32)
    return SharedTensor(shape, codebook, positions, rng.integers(0, 2**bits, len(positions)))


@pytest.fixture(scope="module")
def trees():
    network, ckpt = load_network("trees")
    return network, ckpt


@pytest.fixture(scope="module")
def written(trees, tmp_path_factory):
    """The packaged model with every conv weight replaced by a random shared tensor."""
    _, ckpt = trees
    rng = np.random.default_rng(0)
    shared = {}
    for i, (name, t) in enumerate(ckpt.state_dict.items()):
        if t.ndim == 4:  # sparse, very sparse (gaps over 255: fillers) and dense tensors
            keep = (0.3, 0.002, 1.0)[i % 3]
            shared[name] = random_shared(rng, tuple(t.shape), keep, 5)
    path = tmp_path_factory.mktemp("rsdz") / "small.rsdz"
    sizes = write_rsdz(path, ckpt, shared, {"stages": []})
    return path, ckpt, shared, sizes


def test_the_file_decodes_bit_exactly_to_what_was_compressed(written):
    path, ckpt, shared, sizes = written
    back = read_rsdz(path)
    assert set(back.state_dict) == set(ckpt.state_dict) and back.spec == ckpt.spec
    assert back.arch_config == ckpt.arch_config and back.provenance["compression"] == {"stages": []}
    for name, tensor in ckpt.state_dict.items():
        want = shared[name].dense() if name in shared else tensor
        got = back.state_dict[name]
        assert got.dtype == want.dtype and torch.equal(got, want), name
        assert got.numpy().tobytes() == want.numpy().tobytes()  # the same bits, -0.0 included
    assert {s.kind for s in sizes} == {"raw", "shared"}


def test_every_model_loader_reads_the_file(written):
    path, _, shared, _ = written
    network, _ = load_network(path)
    name = next(iter(shared))
    assert torch.equal(network.state_dict()[name], shared[name].dense())
    assert read_checkpoint(path).spec.arch == "rs_tinynet"
    model = load_model(path)  # what rsdet detect / eval run
    boxes = model.predict(np.zeros((64, 64, 3), dtype=np.uint8))
    assert boxes is not None


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda b: b[: len(b) // 2], "checksum mismatch"),
        (lambda b: b[:-40] + bytes([b[-40] ^ 1]) + b[-39:], "checksum mismatch"),
        (lambda b: b[:10], "not an .rsdz file, or truncated"),
        (lambda b: MAGIC + (9).to_bytes(4, "little") + b[12:], "version 9; this rsdet reads 1, 2"),
    ],
)
def test_a_damaged_file_is_one_clear_error_naming_it(written, tmp_path, damage, message):
    path = tmp_path / "bad.rsdz"
    path.write_bytes(damage(written[0].read_bytes()))
    with pytest.raises(CheckpointError, match=message) as err:
        load_network(path)
    assert str(path) in str(err.value)


def test_repeated_values_and_float16_values_are_stored_compactly_and_exactly(trees, tmp_path):
    """Folded BatchNorm: all-zero means, all-one variances, float16-valued scale and shift."""
    _, ckpt = trees
    state = dict(ckpt.state_dict)
    mean, weight = "backbone.stages.2.0.1.running_mean", "backbone.stages.2.0.1.weight"
    mixed = "backbone.stages.2.0.1.bias"
    state[mean] = torch.zeros_like(state[mean])
    state[weight] = state[weight].half().float()
    state[mixed] = torch.zeros_like(state[mixed])
    state[mixed][0] = -0.0  # bitwise different from 0.0: no fill
    small = type(ckpt)(ckpt.spec, ckpt.arch_config, state, ckpt.provenance)
    sizes = {s.name: s.other_bytes for s in write_rsdz(tmp_path / "s.rsdz", small, {}, {})}
    back = read_rsdz(tmp_path / "s.rsdz").state_dict
    for name, tensor in state.items():
        assert back[name].dtype == tensor.dtype, name
        assert back[name].numpy().tobytes() == tensor.numpy().tobytes(), name
    n = state[weight].numel()
    assert sizes[mean] == 0 and sizes[weight] == 2 * n and sizes[mixed] == 2 * n
    assert sizes["backbone.stages.2.0.1.running_var"] == 4 * n  # trained values: float32


def test_a_version_1_file_still_reads(written, tmp_path):
    body = written[0].read_bytes()[:-32]
    old = body[:8] + (1).to_bytes(4, "little") + body[12:]
    path = tmp_path / "v1.rsdz"
    path.write_bytes(old + hashlib.sha256(old).digest())
    assert set(read_rsdz(path).state_dict) == set(written[1].state_dict)
