"""The layer-sharing tree: one image's layers (base first) with who shares them, or the whole store
as a trie of chain IDs rooted at shared base layers. Layers a marked removal would free are red."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from tui.core.layers import SharingNode, sharing_tree
from tui.core.model import Snapshot, short_id
from tui.core.usage import human_size
from tui.core.views import display_name


def _names(snapshot: Snapshot, image_ids: tuple[str, ...] | list[str], limit: int = 4) -> str:
    """The first ``limit`` images' names and how many more there are (a base layer shared by a
    thousand images names four of them: only those four names are made)."""
    images = snapshot.images
    present = [i for i in image_ids if i in images]
    shown = ", ".join(display_name(images[i]) for i in present[:limit])
    return shown + (f" +{len(present) - limit}" if len(present) > limit else "")


class LayerTree(Tree[str]):
    """Layer sharing. ``mode`` is "image" (the highlighted image) or "store" (everything)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("layers", id=id)
        self.mode = "image"
        self.show_root = True
        self._key: tuple[object, ...] = ()

    def show(self, snapshot: Snapshot, image_id: str | None, freed: set[str]) -> None:
        key = (
            snapshot,
            snapshot.layers_complete,
            self.mode,
            image_id if self.mode == "image" else None,
            frozenset(freed),
        )
        if key == self._key:
            return
        self._key = key
        self.clear()
        if not snapshot.layers_complete:
            self.root.set_label(Text("Reading layers…", style="dim"))
            return
        if self.mode == "store":
            self._show_store(snapshot, freed)
        else:
            self._show_image(snapshot, image_id, freed)
        self.root.expand_all()

    def _layer_label(self, chain: str, size: int | None, freed: set[str], extra: str = "") -> Text:
        style = "bold red" if chain in freed else ""
        label = Text(f"{short_id(chain)}  {human_size(size):>7}", style=style)
        if chain in freed:
            label.append("  freed", style="red")
        if extra:
            label.append(f"  {extra}", style="dim")
        return label

    def _show_image(self, snapshot: Snapshot, image_id: str | None, freed: set[str]) -> None:
        if image_id is None or image_id not in snapshot.images:
            self.root.set_label(Text("No image highlighted", style="dim"))
            return
        image = snapshot.images[image_id]
        self.root.set_label(Text(f"{display_name(image)} — layers, base first"))
        for layer in image.layers or ():
            others = [i for i in snapshot.images_by_chain.get(layer.chain_id, ()) if i != image_id]
            extra = f"shared with {_names(snapshot, others)}" if others else "only this image"
            self.root.add_leaf(
                self._layer_label(layer.chain_id, snapshot.layer_size(layer.chain_id), freed, extra)
            )

    def _show_store(self, snapshot: Snapshot, freed: set[str]) -> None:
        self.root.set_label(Text(f"Store: {len(snapshot.layers)} layers, shared bases first"))
        roots = sharing_tree([(i.id, i.layers) for i in snapshot.images.values() if i.layers is not None])

        def add(node: TreeNode[str], layer: SharingNode) -> None:
            extra = f"{len(layer.image_ids)} image(s)"
            if layer.ends_here:
                extra += " — " + _names(snapshot, layer.ends_here)
            label = self._layer_label(layer.chain_id, snapshot.layer_size(layer.chain_id), freed, extra)
            if layer.children:
                branch = node.add(label, data=layer.chain_id)
                for child in layer.children:
                    add(branch, child)
            else:
                node.add_leaf(label, data=layer.chain_id)

        for base in roots:
            add(self.root, base)
