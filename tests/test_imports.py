"""The import graph of cloudorm/, read with ``ast`` (type-only and function-level imports count): nothing but the
package imports the Session, so no cycle runs through ``cloudorm/session.py``."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SESSION = "cloudorm.session"
MAY_IMPORT_SESSION = {"cloudorm"}
"""The modules that may import the Session: the package itself (the CLI and test helpers need none today)."""
ENTITY_AREAS = ("cloudorm.iam.", "cloudorm.nosql.", "cloudorm.storage.", "cloudorm.serverless.", "cloudorm.compute.")
SESSION_WIRING = {"cloudorm.iam.listings", "cloudorm.nosql.listings", "cloudorm.nosql.open",
                  "cloudorm.storage.listings", "cloudorm.serverless.listings", "cloudorm.compute.listings"}
"""Modules in the entity areas that are part of the Session's wiring, not of the entities' rewrite."""


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    """Every module under cloudorm/, by dotted name."""
    return {module_name(p): p for p in sorted((ROOT / "cloudorm").rglob("*.py"))}


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The cloudorm modules ``name`` imports anywhere in its source (``from a import b`` is ``a.b`` when that is a
    module, else ``a``); a package's own ``__init__`` run by importing a submodule does not count."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            for alias in node.names:
                found.add(f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base)
    return {m for m in found if m in known and m != name}


def graph() -> dict[str, set[str]]:
    """``module -> the cloudorm modules it imports``."""
    found = modules()
    known = set(found)
    return {name: imports(name, path, known) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module (Tarjan), each one or more import cycles."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def importers_of_session(entity_modules: bool) -> list[str]:
    return sorted(name for name, deps in graph().items()
                  if SESSION in deps and name not in MAY_IMPORT_SESSION
                  and (name.startswith(ENTITY_AREAS) and name not in SESSION_WIRING) == entity_modules)


def test_nothing_outside_the_entities_imports_the_session() -> None:
    assert importers_of_session(entity_modules=False) == []


def test_no_entity_imports_the_session() -> None:
    assert importers_of_session(entity_modules=True) == []


def test_no_import_cycle_runs_through_the_session() -> None:
    assert [sorted(c) for c in cycles(graph()) if SESSION in c] == []


def test_the_graph_sees_type_only_and_relative_imports() -> None:
    edges = graph()
    assert "cloudorm.providers.base" in edges["cloudorm.core.bound"]  # under TYPE_CHECKING
    assert SESSION in edges["cloudorm"]
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [{"a", "b"}]


SDKS = ("boto3", "botocore", "s3transfer", "pydo", "azure", "paramiko", "docker")
"""The cloud SDKs: DESIGN.md keeps them behind the provider services."""
MAY_IMPORT_SDKS = ("cloudorm.providers", "cloudorm.compute.ssh.ssh_sdk", "cloudorm.serverless.bundle_docker")
"""Where an SDK may be imported: the providers; the one module that owns SSH loads paramiko, the one that
builds bundles in Docker drives the docker SDK (DESIGN.md: one module owns SSH, one owns Lambda bundling). Nodes'
Docker engines (``node.containers``) are reached through ``cloudorm.providers.docker_engine``."""


def sdk_importers() -> dict[str, set[str]]:
    """The modules outside ``MAY_IMPORT_SDKS`` that import an SDK anywhere in their source, with the SDKs."""
    found: dict[str, set[str]] = {}
    for name, path in modules().items():
        if name in MAY_IMPORT_SDKS or name.startswith(f"{MAY_IMPORT_SDKS[0]}."):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) and not node.level else []
            found.setdefault(name, set()).update(n.split(".")[0] for n in names if n.split(".")[0] in SDKS)
    return {name: sdks for name, sdks in found.items() if sdks}


def test_sdks_are_imported_only_behind_the_provider_services() -> None:
    assert sdk_importers() == {}
