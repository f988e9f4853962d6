"""The receptive-field claims (``rf.<model>.<node>``): one per node of lenet and resnet20,
each passing, and each able to fail — a field off by a pixel, or a support that strays
outside, is caught."""

import dataclasses
import re

import pytest

from cnnmath import models
from cnnmath.receptive import model_nodes
from cnnmath.results import receptive
from cnnmath.results._run import check


@pytest.fixture(scope="module")
def rows():
    return {c.id: check(c) for c in receptive.claims()}


def test_one_claim_per_node_of_each_model_every_one_passing(rows):
    for name in receptive.MODELS:
        nodes = model_nodes(getattr(models, name)())
        ids = [i for i in rows if i.startswith(f"rf.{name}.")]
        assert len(ids) == len(nodes) == len(set(ids))
    assert "rf.resnet20.layer2.0.downsample" in rows and "rf.lenet.0" in rows
    failed = {i: r.detail for i, r in rows.items() if not r.passed}
    assert not failed, failed
    # the early layers fit the image: compared exactly, not only bounded
    exact = sum(int(re.search(r"(\d+) compared exactly", r.detail)[1]) for r in rows.values())
    assert exact >= 30


def test_a_wrong_field_fails():
    field, boxes = receptive._empirical("lenet")["2"]  # conv 5×5 after conv 3×3: 5×5 field
    shape = receptive.MODELS["lenet"]
    assert receptive.verdict(field, boxes, shape).passed
    for wrong in (
        dataclasses.replace(field, size=(3, 5)),
        dataclasses.replace(field, start=(field.start[0] + 1, field.start[1])),
        dataclasses.replace(field, jump=(2, 1)),
    ):
        outcome = receptive.verdict(wrong, boxes, shape)
        assert not outcome.passed and outcome.max_abs_error >= 1, wrong


def test_a_support_outside_a_border_field_fails():
    field, boxes = receptive._empirical("lenet")["2"]
    (pixel, box), *rest = boxes  # pixel (0, 0): the field reaches into the padding
    assert pixel == (0, 0)
    shape = receptive.MODELS["lenet"]
    wider = ((box[0][0], box[0][1] + 1), box[1])
    assert not receptive.verdict(field, [(pixel, wider), *rest], shape).passed


def test_ids_are_checked():
    with pytest.raises(ValueError, match=r"expected 'rf.<model>.<node>'"):
        receptive.FieldClaim("r1.x", 0, "s", lambda photo=None: None)
