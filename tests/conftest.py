"""Fixtures shared by the whole suite."""

import pytest
import torch


@pytest.fixture
def one_thread():
    """One torch thread for the test: on a shared 2-core machine extra threads mostly spin,
    and small tensors gain nothing from them."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
