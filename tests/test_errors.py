"""User errors stay one line, also when torch re-raises them from a loader worker."""

import pytest
from torch.utils.data import DataLoader, Dataset

from rsdet.errors import InputError, user_message


class _Broken(Dataset):
    def __len__(self):
        return 1

    def __getitem__(self, index):
        raise InputError("cut.tif: cannot read pixels (band 1: IReadBlock failed)")


def test_an_error_raised_in_a_loader_worker_is_still_one_line():
    with pytest.raises(InputError) as raised:
        next(iter(DataLoader(_Broken(), num_workers=1)))
    assert "Traceback" in str(raised.value)  # what torch makes of the worker's error
    assert user_message(raised.value) == "cut.tif: cannot read pixels (band 1: IReadBlock failed)"
    assert user_message(InputError("x.tif: no such file")) == "x.tif: no such file"
