"""Random states and deployed weights, as stored in checkpoints."""

import random

import numpy as np
import torch

from rsdet.engine.state import deployed_weights, get_rng_state, seed_everything, set_rng_state
from tests.engine.fake_network import FakeConfig, FakeNet


def test_rng_states_round_trip_and_load_with_weights_only(tmp_path):
    seed_everything(3)
    state = get_rng_state()
    torch.save(state, tmp_path / "s.pt")
    first = (torch.rand(3), np.random.rand(3), random.random())
    set_rng_state(torch.load(tmp_path / "s.pt", weights_only=True))
    again = (torch.rand(3), np.random.rand(3), random.random())
    assert torch.equal(first[0], again[0]) and np.array_equal(first[1], again[1])
    assert first[2] == again[2]


def test_deployed_weights_drop_training_only_parts_and_leave_the_model_alone():
    net = FakeNet(FakeConfig())
    weights = deployed_weights(net)
    assert not any(k.startswith("aux.") for k in weights)
    assert net.aux is not None and net.training
