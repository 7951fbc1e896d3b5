"""DistributedDataParallel on CPU: two gloo processes train in step; rank 0 writes the run."""

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from rsdet.config import from_dict
from rsdet.engine.recipe import TrainRecipe
from tests.engine.fake_network import ARCH, FakeConfig, build_fake, tiny_recipe_dict


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(WORLD_SIZE=str(world), RANK=str(rank), LOCAL_RANK=str(rank))
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    from rsdet.engine.train import train
    from rsdet.models import zoo

    built = []

    def build(config, load_weights=True):
        built.append(build_fake(config))
        return built[-1]

    zoo.ARCHITECTURES[ARCH] = lambda: zoo.Architecture(FakeConfig, build)
    train(from_dict(TrainRecipe, tiny_recipe_dict(epochs=1, batch_size=2)), Path(out))
    torch.save(built[0].state_dict(), f"{out}/rank{rank}.pt")
    torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_two_gloo_processes_train_in_step(tmp_path):
    mp.spawn(_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a, b = torch.load(tmp_path / "rank0.pt"), torch.load(tmp_path / "rank1.pt")
    # Parameters stay in step; BatchNorm statistics are local (DDP broadcasts rank 0's).
    params = [k for k in a if "running_" not in k and "num_batches" not in k]
    assert all(torch.equal(a[k], b[k]) for k in params)
    assert (tmp_path / "best.pt").is_file() and (tmp_path / "metrics.csv").is_file()
    first = torch.load(tmp_path / "last.pt", weights_only=True)["train_state"]["position"]
    assert first[:3] == [1, 0, 2]  # 8 windows / 2 processes / batch 2 = 2 iterations
