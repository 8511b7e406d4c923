"""The package layout as a checked fact: no import cycle anywhere in qa/, and the layers
contract in pyproject.toml (run by lint-imports in CI) is the one docs/design.md shows."""

from __future__ import annotations

import re
import tomllib

import grimp

from tests.helpers import ROOT


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), i.e. import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in edges[module]:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(edges):
        if module not in index:
            visit(module)
    return found


def test_no_import_cycle_in_qa() -> None:
    graph = grimp.build_graph("qa")
    edges = {
        module: set(graph.find_modules_directly_imported_by(module)) for module in graph.modules
    }
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    # So the test above cannot pass by never finding anything.
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _layers_contracts() -> list[list[str]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    return [
        [" | ".join(part.strip() for part in layer.split("|")) for layer in contract["layers"]]
        for contract in contracts
        if contract["type"] == "layers"
    ]


def _documented_layers(markdown: str) -> list[list[str]]:
    """The numbered lists of the "## Layers" section, each item's `names` joined by " | "."""
    section = markdown.split("\n## Layers\n", 1)[1].split("\n## ", 1)[0]
    lists: list[list[str]] = []
    previous = 0
    for line in section.splitlines():
        item = re.match(r"^(\d+)\. (.+)$", line)
        if item is None:
            continue
        number = int(item.group(1))
        if number == 1:
            lists.append([])
        assert number == previous + 1 or number == 1, f"docs/design.md: item {number} out of order"
        previous = number
        names = re.findall(r"`([^`]+)`", item.group(2))
        lists[-1].append(" | ".join(part.strip() for name in names for part in name.split("|")))
    return lists


def test_docs_design_shows_the_layers_contracts() -> None:
    documented = _documented_layers((ROOT / "docs" / "design.md").read_text(encoding="utf-8"))
    assert documented == _layers_contracts()


def test_the_layer_reader_sees_a_difference() -> None:
    # So the test above cannot pass by reading nothing: a swapped layer is noticed.
    page = "# D\n\n## Layers\n\n1. `qa.cli`\n2. `qa.api | qa.eval`\n\n## Next\n\n1. `x`\n"
    assert _documented_layers(page) == [["qa.cli", "qa.api | qa.eval"]]
    assert _documented_layers(page) != [["qa.cli", "qa.eval", "qa.api"]]
