"""Pure tests of what the history and the engine's totals prove about layer sizes (core.layers)."""

from __future__ import annotations

from tests.storegen import digest
from tui.core.layers import HistoryStep, build_layers, history_prefix_sums, layer_sizes, solve_sizes
from tui.core.model import EMPTY_LAYER_DIFF_ID

D = [digest(f"d{i}") for i in range(4)]


def steps(*sizes: int) -> list[HistoryStep]:
    return [HistoryStep(f"step {i}", s) for i, s in enumerate(sizes)]


def test_full_history_is_certain():
    assert layer_sizes(D[:3], steps(10, 0, 20, 30, 0), total=60) == [10, 20, 30]


def test_no_history_gives_only_the_total():
    assert history_prefix_sums(D[:3], [], total=90) == [None, None, 90]
    assert layer_sizes(D[:3], [], total=90) == [None, None, None]


def test_short_history_maps_onto_the_first_layers():
    # one step for three layers: the step is layer 0; layers 1..2 hold the rest of the total
    assert layer_sizes(D[:3], steps(10), total=100) == [10, None, None]


def test_layer_flagged_empty_is_the_gap_to_the_total():
    # the last layer's step is flagged empty_layer (shows 0): its bytes are the total minus the rest
    assert layer_sizes(D[:3], steps(10, 20, 0), total=44) == [10, 20, 14]


def test_ambiguous_zero_steps_never_move_bytes():
    # 0-byte step may be a 0-byte layer or metadata: the 20 is on layer 1 or 2, so neither is known
    assert layer_sizes(D[:3], steps(10, 0, 20), total=30) == [10, None, None]
    # ... unless the empty tar pins the 0-byte layer
    diffs = [D[0], EMPTY_LAYER_DIFF_ID, D[1]]
    assert layer_sizes(diffs, steps(10, 0, 20), total=30) == [10, 0, 20]


def test_history_that_cannot_describe_the_layers_is_not_used():
    assert layer_sizes(D[:2], steps(10, 20, 30), total=60) == [None, None]  # more sized steps
    assert layer_sizes(D[:2], steps(10, 20), total=25) == [None, None]  # more bytes than Size


def test_solve_from_shared_prefixes_and_totals():
    base = build_layers(D[:1], steps(100), total=100)
    a = build_layers(D[:3], [], total=180)  # no history: base + 2 layers
    b = build_layers([D[0], D[1], D[3]], [], total=190)
    sizes = solve_sizes([(base, 100), (a, 180), (b, 190)])
    assert sizes.size.get(base[0].chain_id) == 100
    assert a[1].chain_id not in sizes.size  # the layer a and b share: no number pins it
    from tui.core.layers import measure

    assert measure([a[2].chain_id], sizes) == (0, 1)  # a's top alone: unknown
    assert measure([a[1].chain_id, a[2].chain_id], sizes) == (80, 0)  # a above base: exact
    assert measure([a[1].chain_id, a[2].chain_id, b[2].chain_id], sizes) == (0, 3)  # needs a[1]
    # df's SharedSize of a (= bytes up to the layer it shares with b) settles everything
    solved = solve_sizes([(base, 100), (a, 180), (b, 190)], {a[1].chain_id: 130})
    assert [solved.size[x.chain_id] for x in a] == [100, 30, 50]
    assert solved.size[b[2].chain_id] == 60
