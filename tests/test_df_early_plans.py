"""The df summary's plans made before ``/system/df`` answers (``headless df``): used only where
they are the df snapshot's own plans, and then the summary is the same as without them."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from tests.storegen import container, make_image
from tui.core.model import DiskUsage, Image, Snapshot
from tui.core.usage import summarize, summary_plans


def _unsized(image: Image) -> Image:
    """The image with no layer size known (a history that gives none)."""
    assert image.layers is not None
    return replace(image, layers=tuple(replace(layer, size=None) for layer in image.layers))


def _df(images: list[Image], shared: dict[str, int]) -> DiskUsage:
    return DiskUsage(
        layers_size=sum(i.size for i in images),
        image_shared_size=MappingProxyType(shared),
        image_size=MappingProxyType({i.id: i.size for i in images}),
    )


def test_plans_of_a_store_whose_sizes_the_history_gave_serve_its_df_snapshot():
    a = make_image("a", [("base", 1000), ("a", 10)], tags=["a:1"])
    b = make_image("b", [("base", 1000), ("b", 20)])
    used = make_image("used", [("base", 1000), ("u", 30)], tags=["used:1"])
    images, containers = [a, b, used], [container("c", used, "running")]
    layered = Snapshot(images, containers)
    with_df = Snapshot(images, containers, disk=_df(images, {i.id: 1000 for i in images}))
    early = summary_plans(layered)
    assert early.serve(with_df)
    assert summarize(with_df, early) == summarize(with_df)
    assert summarize(with_df, early).prune_all_bytes == 30  # a's and b's own layers; base is used


def test_plans_made_while_a_size_was_open_do_not_serve_the_snapshot_df_settles():
    # every layer size unknown: the shared base's bytes are settled only by df's SharedSize
    a = _unsized(make_image("a", [("base", 1000), ("a", 10)], tags=["a:1"]))
    b = _unsized(make_image("b", [("base", 1000), ("b", 20)], tags=["b:1"]))
    images = [a, b]
    layered = Snapshot(images)
    with_df = Snapshot(images, disk=_df(images, {a.id: 1000, b.id: 1000}))
    assert layered.sizes_open and not with_df.sizes_open
    early = summary_plans(layered)
    assert not early.serve(with_df)
    assert early.all_plan.unknown_layers  # "at least": made before df's numbers
    summary = summarize(with_df, early)
    assert summary == summarize(with_df)
    assert summary.prune_all_bytes == 1030  # exact: the df snapshot's own plan


def test_plans_of_another_store_do_not_serve():
    a = make_image("a", [("base", 1000), ("a", 10)], tags=["a:1"])
    b = make_image("b", [("base", 1000), ("b", 20)])
    early = summary_plans(Snapshot([a, b]))
    assert not early.serve(Snapshot([a, b], [container("c", b, "running")]))
    assert not early.serve(Snapshot([a]))
    assert summarize(Snapshot([a]), early).prune_all_bytes == 1010
