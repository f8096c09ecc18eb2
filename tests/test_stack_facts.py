"""The snapshot's one pass over the layers (``Snapshot.stack_facts``) gives what the two passes it
replaced gave: each image's top chain ID, the images without layers, and the layer sizes solved from
the same reading as ``solve_sizes`` (first size seen per chain, first parent, one prefix sum per
stack top), on stores where the history leaves sizes open and chains are shared or repeated."""

from __future__ import annotations

import random

import pytest

from tests.storegen import make_image
from tui.core.layers import solve_sizes
from tui.core.model import Image, Layer, Snapshot


def _store(seed: int) -> list[Image]:
    rnd = random.Random(seed)
    images = []
    for n in range(rnd.randint(5, 40)):
        diffs = [(f"base{rnd.randint(0, 3)}", 100)] + [
            (f"d{rnd.randint(0, 12)}", rnd.choice([0, 10, 25])) for _ in range(rnd.randint(0, 3))
        ]
        image = make_image(f"s{seed}i{n}", diffs)
        assert image.layers is not None
        roll = rnd.random()
        if roll < 0.15:  # layers not read yet
            image = Image(image.id, size=image.size)
        elif roll < 0.45:  # sizes the history does not give
            layers = tuple(
                Layer(x.chain_id, x.diff_id, None if rnd.random() < 0.5 else x.size) for x in image.layers
            )
            image = Image(image.id, size=image.size + rnd.choice([0, 0, 7]), layers=layers)
        elif roll < 0.5:
            image = Image(image.id, size=0, layers=())
        images.append(image)
    return images


@pytest.mark.parametrize("seed", range(60))
def test_one_pass_gives_what_the_two_passes_gave(seed):
    images = _store(seed)
    snap = Snapshot(images)
    facts = snap.stack_facts
    assert dict(facts.tops) == {i.id: i.chain_ids[-1] for i in images if i.layers}
    assert facts.without_layers == frozenset(i.id for i in images if i.layers is None)
    assert snap.images_without_layers == facts.without_layers
    expected = solve_sizes([(i.layers, i.size) for i in images if i.layers is not None], {})
    solved = snap.layer_sizes
    assert (dict(solved.size), dict(solved.prefix), dict(solved.parent)) == (
        dict(expected.size),
        dict(expected.prefix),
        dict(expected.parent),
    )
    again = Snapshot(images).layer_sizes  # the reading is not changed by solving from it
    assert dict(again.size) == dict(solved.size) and dict(again.prefix) == dict(solved.prefix)
