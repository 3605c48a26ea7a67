"""The package's layering, read from the source with ast (docs/architecture.md says why).

domain/ and manifest/ are the pure core; services/ are the use cases, which see the world
only through services/ports.py; adapters/ implement the ports over Google Cloud; cli/, web/,
bootstrap.py and main.py sit on top. Imports inside functions count for the layer rules
(only bootstrap.py may reach for the adapters and cloud libraries lazily, inside its
functions); only module-level imports count for cycles, since only they run at import time.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "registration"
ARCHITECTURE = ROOT / "docs" / "architecture.md"

CLOUD_LIBRARIES = ("google", "encord")  # google.cloud, google.api_core, google.auth, ...
BOOTSTRAP = "registration.bootstrap"
LOWER_USE_CASES = (
    "registration.services.intake",
    "registration.services.flush",
    "registration.services.threshold",
    "registration.services.ports",
)
HIGHER_USE_CASES = (
    "registration.services.sweep",
    "registration.services.status",
    "registration.services.attention",
    "registration.services.jobs",
    "registration.services.trace",
    "registration.services.backfill",
    "registration.services.reconcile",
)


@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the module imported (for 'from a import b': a.b if that is a module, else a)
    names: tuple[str, ...]  # what a from-import takes from it
    line: int
    in_function: bool

    def where(self) -> str:
        return f"{self.module}:{self.line} imports {self.target}"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


@cache
def modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def within(name: str, *prefixes: str) -> bool:
    return any(name == prefix or name.startswith(prefix + ".") for prefix in prefixes)


def is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _resolve(module: str, is_package: bool, base: str | None, level: int) -> str:
    if level == 0:
        return base or ""
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{base}" if base else package


class _Collector(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, known: Iterable[str]) -> None:
        self.module, self.is_package, self.known = module, is_package, set(known)
        self.imports: list[Import] = []
        self.private_uses: list[str] = []
        self._depth = 0
        self._module_aliases: set[str] = set()

    def _function(self, node: ast.AST) -> None:
        self._depth += 1
        self.generic_visit(node)
        self._depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function  # noqa: N815

    def _add(self, target: str, names: tuple[str, ...], line: int) -> None:
        self.imports.append(Import(self.module, target, names, line, self._depth > 0))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, (), node.lineno)
            if alias.asname and alias.name in self.known:
                self._module_aliases.add(alias.asname)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve(self.module, self.is_package, node.module, node.level)
        if base == "__future__":
            return
        names = tuple(alias.name for alias in node.names)
        plain = [name for name in names if f"{base}.{name}" not in self.known]
        if plain or not names:
            self._add(base, tuple(plain), node.lineno)
        for alias in node.names:
            if f"{base}.{alias.name}" in self.known:
                self._add(f"{base}.{alias.name}", (), node.lineno)
                self._module_aliases.add(alias.asname or alias.name)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        # module._private, through a name bound to one of our modules.
        if (
            isinstance(node.value, ast.Name)
            and node.value.id in self._module_aliases
            and is_private(node.attr)
        ):
            self.private_uses.append(
                f"{self.module}:{node.lineno} uses {node.value.id}.{node.attr}"
            )
        self.generic_visit(node)


def collect(source: str, module: str, *, is_package: bool = False) -> _Collector:
    collector = _Collector(module, is_package, modules())
    collector.visit(ast.parse(source))
    return collector


@cache
def collected(module: str) -> _Collector:
    path = modules()[module]
    return collect(path.read_text(encoding="utf-8"), module, is_package=path.name == "__init__.py")


def all_imports() -> Iterator[Import]:
    for module in modules():
        yield from collected(module).imports


# -- the rules, as functions of the imports (checked against the package below) ---------


def core_violations(imports: Iterable[Import]) -> list[str]:
    forbidden = (
        "registration.config",
        "registration.services",
        "registration.adapters",
        "registration.cli",
        "registration.web",
        "registration.bootstrap",
        "main",
        *CLOUD_LIBRARIES,
    )
    found = []
    for item in imports:
        if within(item.module, "registration.domain", "registration.manifest") and within(
            item.target, *forbidden
        ):
            found.append(item.where())
        elif within(item.module, "registration.domain") and within(
            item.target, "registration.manifest"
        ):
            found.append(item.where())  # the model is below the manifest format
    return found


def service_violations(imports: Iterable[Import]) -> list[str]:
    forbidden = (
        "registration.adapters",
        "registration.cli",
        "registration.web",
        "registration.bootstrap",
        "main",
    )
    return [
        item.where()
        for item in imports
        if within(item.module, "registration.services") and within(item.target, *forbidden)
    ]


# (importing module, imported module): pairs of layers that must never meet.
EDGE_RULES = (
    ("registration.cli", ("registration.web",)),
    ("registration.services", ("registration.presenters",)),
    ("registration.adapters", ("registration.presenters",)),
    ("registration.domain", ("registration.presenters",)),
    ("registration.presenters", ("registration.adapters", "registration.cli", "registration.web")),
)


def edge_violations(imports: Iterable[Import]) -> list[str]:
    """The CLI never imports the page; the presenters (shared by page, CLI and main.py) sit
    at the edge, so nothing below it imports them, and they import no adapter or CLI."""
    return [
        item.where()
        for item in imports
        for layer, forbidden in EDGE_RULES
        if within(item.module, layer) and within(item.target, *forbidden)
    ]


def use_case_order_violations(imports: Iterable[Import]) -> list[str]:
    return [
        item.where()
        for item in imports
        if item.module in LOWER_USE_CASES and within(item.target, *HIGHER_USE_CASES)
    ]


def adapter_violations(imports: Iterable[Import]) -> list[str]:
    return [
        item.where()
        for item in imports
        if within(item.module, "registration.adapters")
        and within(item.target, "registration.services")
    ]


def cloud_library_violations(imports: Iterable[Import]) -> list[str]:
    found = []
    for item in imports:
        if within(item.module, "registration.adapters"):
            continue
        lazy_bootstrap = item.module == BOOTSTRAP and item.in_function
        reaches_out = within(item.target, *CLOUD_LIBRARIES)
        reaches_adapters = within(item.target, "registration.adapters")
        if reaches_out and not lazy_bootstrap:
            found.append(item.where())
        elif reaches_adapters and item.module == BOOTSTRAP and not item.in_function:
            found.append(f"{item.where()} at module level (bootstrap imports adapters lazily)")
    return found


def dev_code_violations(imports: Iterable[Import]) -> list[str]:
    return [
        item.where()
        for item in imports
        if within(item.module, "registration") and within(item.target, "tests", "bench", "devstack")
    ]


def private_import_violations(imports: Iterable[Import]) -> list[str]:
    found = []
    for item in imports:
        private_names = [name for name in item.names if is_private(name)]
        private_modules = [part for part in item.target.split(".") if is_private(part)]
        if private_names or private_modules:
            found.append(f"{item.where()} {', '.join(private_names + private_modules)}")
    return found


def cycles(imports: Iterable[Import]) -> list[list[str]]:
    """Strongly connected groups of two or more modules (or one importing itself)."""
    graph: dict[str, set[str]] = {}
    for item in imports:
        if not item.in_function and within(item.target, "registration"):
            graph.setdefault(item.module, set()).add(item.target)
            graph.setdefault(item.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:  # Tarjan's algorithm; the graph has a few dozen nodes
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(graph[node]):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph[node]:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


# -- the package obeys them -------------------------------------------------------------


def test_the_walk_sees_every_layer_of_the_package() -> None:
    found = set(modules())
    for module in (
        "registration.domain.model",
        "registration.manifest.build",
        "registration.services.intake",
        "registration.services.ports",
        "registration.adapters.gcs",
        "registration.cli.commands",
        "registration.web.status_page",
        BOOTSTRAP,
    ):
        assert module in found
    # The imports are resolved, or every rule below would pass vacuously.
    targets = {item.target for item in collected("registration.services.intake").imports}
    assert {"registration.services.flush", "registration.domain.dicom"} <= targets


def test_the_domain_and_the_manifest_format_import_no_config_use_case_adapter_or_cloud() -> None:
    assert core_violations(all_imports()) == []


def test_the_use_cases_import_no_adapter_cli_web_bootstrap_or_main() -> None:
    assert service_violations(all_imports()) == []


def test_neither_the_cli_nor_the_use_cases_import_the_page_nor_the_core_the_presenters() -> None:
    assert service_violations(all_imports()) + edge_violations(all_imports()) == []


def test_intake_and_flush_import_no_use_case_built_on_top_of_them() -> None:
    assert use_case_order_violations(all_imports()) == []


def test_the_adapters_import_nothing_from_the_use_cases() -> None:
    assert adapter_violations(all_imports()) == []


def test_only_the_adapters_and_lazily_bootstrap_import_google_cloud_or_encord() -> None:
    assert cloud_library_violations(all_imports()) == []


def test_the_package_imports_no_test_benchmark_or_devstack_code() -> None:
    assert dev_code_violations(all_imports()) == []


def test_no_module_takes_a_private_name_from_another() -> None:
    uses = [use for module in modules() for use in collected(module).private_uses]
    assert private_import_violations(all_imports()) + uses == []


def test_the_package_has_no_import_cycles() -> None:
    assert cycles(all_imports()) == []


def test_the_architecture_the_rules_enforce_is_written_down() -> None:
    assert ARCHITECTURE.is_file(), f"{ARCHITECTURE.relative_to(ROOT)} is missing"


# -- the rules catch what they are for ---------------------------------------------------


def imports_of(source: str, module: str, *, is_package: bool = False) -> list[Import]:
    return collect(source, module, is_package=is_package).imports


@pytest.mark.parametrize(
    ("module", "source", "rule"),
    [
        ("registration.domain.model", "from registration.config import Settings", core_violations),
        ("registration.manifest.build", "import google.cloud.storage", core_violations),
        ("registration.domain.classify", "from ..manifest import urls", core_violations),
        (
            "registration.manifest.render",
            "def f():\n    from registration.services import ports",
            core_violations,
        ),
        (
            "registration.services.flush",
            "from registration.adapters import gcs",
            service_violations,
        ),
        ("registration.services.trace", "import main", service_violations),
        ("registration.cli.status", "from registration.web import status_page", edge_violations),
        (
            "registration.cli.jobs",
            "def f():\n    from registration.web.status_page import Filters",
            edge_violations,
        ),
        (
            "registration.services.status",
            "from registration.presenters import wire",
            edge_violations,
        ),
        ("registration.adapters.gcs", "import registration.presenters.display", edge_violations),
        ("registration.presenters.wire", "from registration.cli import app", edge_violations),
        (
            "registration.services.intake",
            "from registration.services.sweep import sweep",
            use_case_order_violations,
        ),
        ("registration.services.flush", "from . import status", use_case_order_violations),
        (
            "registration.adapters.gcs",
            "from registration.services.ports import SourceBucket",
            adapter_violations,
        ),
        (
            "registration.cli.commands",
            "from google.cloud import firestore",
            cloud_library_violations,
        ),
        ("registration.web.status_page", "def f():\n    import encord", cloud_library_violations),
        ("registration.bootstrap", "from google.cloud import firestore", cloud_library_violations),
        (
            "registration.bootstrap",
            "from registration.adapters.gcs import CloudStorage",
            cloud_library_violations,
        ),
        ("registration.services.sweep", "from tests.support.memory import X", dev_code_violations),
        (
            "registration.services.flush",
            "from registration.manifest.build import _explain",
            private_import_violations,
        ),
    ],
)
def test_each_rule_reports_the_import_it_forbids(
    module: str, source: str, rule: Callable[[list[Import]], list[str]]
) -> None:
    assert rule(imports_of(source, module)) != []


def test_bootstrap_may_import_adapters_and_cloud_libraries_inside_a_function() -> None:
    source = (
        "def build():\n"
        "    from google.cloud import firestore\n"
        "    from registration.adapters.gcs import CloudStorage\n"
    )
    assert cloud_library_violations(imports_of(source, BOOTSTRAP)) == []


def test_a_private_attribute_of_an_imported_module_is_reported() -> None:
    source = "from registration.domain import dicom\nx = dicom._hidden\ny = dicom.__name__\n"
    uses = collect(source, "registration.services.intake").private_uses
    assert uses == ["registration.services.intake:2 uses dicom._hidden"]


def test_a_cycle_of_module_level_imports_is_found_but_one_through_a_function_is_not() -> None:
    a = imports_of("from registration.services import flush", "registration.services.intake")
    b = imports_of("from registration.services import intake", "registration.services.flush")
    lazy = imports_of(
        "def f():\n    from registration.services import intake", "registration.services.flush"
    )
    assert cycles(a + b) == [["registration.services.flush", "registration.services.intake"]]
    assert cycles(a + lazy) == []


# Each vendor SDK has one home, so its quirks are handled in one place.
VENDOR_HOMES = {
    "encord": "registration.adapters.encord_gateway",
    "google.cloud.pubsub": "registration.adapters.pubsub",
    "google.cloud.pubsub_v1": "registration.adapters.pubsub",
}


def test_encord_and_pubsub_are_each_imported_by_their_one_adapter_only() -> None:
    importers: dict[str, set[str]] = {vendor: set() for vendor in VENDOR_HOMES}
    for item in all_imports():
        for vendor in VENDOR_HOMES:
            if within(item.target, vendor):
                importers[vendor].add(item.module)
    for vendor, found in importers.items():
        assert found <= {VENDOR_HOMES[vendor]}, vendor
    # Not vacuous: the homes do import their SDK.
    assert importers["encord"] and importers["google.cloud.pubsub_v1"]
