import pytest
import torch

from rsdet.models.arb import AuxiliaryReversibleBranch
from rsdet.models.rs_tinynet import RSTinyNetConfig, build_rs_tinynet
from rsdet.models.spec import Postprocess
from rsdet.structures import HBoxes, Targets

pytestmark = pytest.mark.usefixtures("one_thread")  # small tensors: threads only spin


def _targets():
    return [
        Targets(HBoxes([[10.0, 12, 18, 19]]), torch.tensor([0]), torch.tensor([False])),
        Targets(HBoxes([[30.0, 30, 44, 40]]), torch.tensor([0]), torch.tensor([False])),
    ]


def test_aux_loss_reaches_the_main_backbone_but_not_the_main_head():
    torch.manual_seed(0)
    model = build_rs_tinynet(RSTinyNetConfig()).train()
    losses = model(torch.randn(2, 3, 64, 64), _targets())
    assert {"aux_cls", "aux_box"} <= set(losses)
    (losses["aux_cls"] + losses["aux_box"]).backward()
    stem = model.backbone.stem[0].weight.grad
    assert stem is not None and stem.abs().sum() > 0  # through the CBLinear projections
    assert all(p.grad is None for p in model.head.parameters())
    assert all(p.grad is None for p in model.neck.parameters())


def test_cbfuse_adds_projections_of_every_coarser_main_level():
    torch.manual_seed(0)
    model = build_rs_tinynet(RSTinyNetConfig(strides=(8, 16, 32)))
    arb = model.aux_branch
    assert isinstance(arb, AuxiliaryReversibleBranch)
    assert arb.first_level == 1  # the /4 stage of the auxiliary backbone is not a level
    # main level j projects into j + 1 splits, one per auxiliary level 0..j
    assert [len(s) for s in arb.splits] == [1, 2, 3]
    main_feats = [
        torch.randn(2, c, 64 // s, 64 // s)
        for c, s in zip((64, 128, 128), (8, 16, 32), strict=True)
    ]
    out = arb(torch.randn(2, 3, 64, 64), main_feats)
    assert out.level_sizes == (64, 16, 4)


def test_deploy_drops_the_branch_and_keeps_outputs_identical():
    torch.manual_seed(0)
    model = build_rs_tinynet(RSTinyNetConfig(num_classes=2))
    model.train()
    model(torch.randn(2, 3, 64, 64), _targets())  # move BN statistics away from their init
    model.eval()
    post = Postprocess(score_thr=0.0)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        before = model.detect(images, post)
        params_before = sum(p.numel() for p in model.parameters())
        aux = sum(p.numel() for p in model.aux_branch.parameters())
        model.deploy()
        after = model.detect(images, post)
    assert model.aux_branch is None
    assert sum(p.numel() for p in model.parameters()) == params_before - aux
    assert not any(k.startswith("aux_branch.") for k in model.state_dict())
    for a, b in zip(before, after, strict=True):
        assert len(a) > 0
        assert torch.equal(a.boxes.tensor, b.boxes.tensor)
        assert torch.equal(a.scores, b.scores) and torch.equal(a.labels, b.labels)


def test_deployed_model_still_trains_without_aux_losses():
    model = build_rs_tinynet(RSTinyNetConfig()).deploy().train()
    assert set(model(torch.randn(2, 3, 64, 64), _targets())) == {"cls", "box"}
