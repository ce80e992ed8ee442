"""cfq_shim imports downward only (docs/architecture.md, "Layers"): no import cycle, and never the codemod,
LibCST or Celery.

The graph is read from the source with ``ast``, so it holds for code paths no test runs:

- every ``import`` / ``from ... import`` counts, at module level *and inside functions*; inside a function,
  a cfq_shim module may be imported only when it exists to load a dependency most processes never need
  (:data:`LAZY_FOR_A_DEPENDENCY`); third-party optional dependencies (Django, redis, SQLAlchemy, ...) are
  imported there freely;
- ``from package import name`` is an edge to ``package.name`` when that is a module, else to ``package``;
- imports under ``if TYPE_CHECKING:`` never run, so they are left out (annotations may name a higher
  layer; the ``Runtime`` protocol is how lower layers avoid needing to);
- the graph is read in a fresh interpreter (this file run as a script): CPython 3.11's ``ast.parse`` can
  fail with "AST constructor recursion depth mismatch" in a process where earlier tests used deep
  recursion, which would make this test fail for a reason that is not the graph;
- plug-ins named by string and resolved when used (the CLI's sub-commands, the transports by URL scheme,
  ``Celery.start``'s command line) are not imports: that late binding is what keeps them off the graph.
"""

from __future__ import annotations

import ast
import functools
import json
import subprocess
import sys
from pathlib import Path

import cfq_shim

PACKAGE_DIR = Path(cfq_shim.__file__).parent
FORBIDDEN = ("celery2cfq", "libcst", "celery")
#: cfq_shim modules that may be imported inside a function, each because it loads a third-party package
#: most processes never need: the cloudflare SDK (and httpx) only on cloudflare://; the Django
#: transactional outbox's writer and table, whose models import only once Django is set up with the app
#: installed (the writer checks that first and names the fix).
LAZY_FOR_A_DEPENDENCY = frozenset({"cfq_shim.transport.cloudflare", "cfq_shim.django.outbox.enqueue",
                                   "cfq_shim.django.outbox.store"})


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_DIR.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _is_type_checking_block(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import statement, and whether it is inside a function; ``if TYPE_CHECKING:`` bodies skipped."""
    found: list[tuple[ast.Import | ast.ImportFrom, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if _is_type_checking_block(node):
            for child in node.orelse:  # type: ignore[attr-defined]
                visit(child, in_function)
            return
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append((node, in_function))
        in_function = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, in_function)

    visit(tree, False)
    return found


#: Imports of cfq_shim modules inside functions, as (module, line, target) (filled by _read_graph).
_LATE: list[tuple[str, int, str]] = []


@functools.lru_cache(maxsize=None)
def _graph_from_a_fresh_interpreter() -> str:
    return subprocess.run([sys.executable, __file__], capture_output=True, text=True, check=True).stdout


def _read_graph() -> tuple[dict[str, set[str]], list[str]]:
    """(module -> the cfq_shim modules it imports, imports of forbidden packages as 'module:line name')."""
    data = json.loads(_graph_from_a_fresh_interpreter())
    _LATE[:] = [tuple(item) for item in data["late"]]
    return {module: set(targets) for module, targets in data["edges"].items()}, data["forbidden"]


def _parse_graph() -> tuple[dict[str, set[str]], list[str], list[tuple[str, int, str]]]:
    """Read every module of cfq_shim: (edges, forbidden imports, cfq_shim imports inside functions)."""
    modules = {_module_name(path): path for path in PACKAGE_DIR.rglob("*.py")}
    edges: dict[str, set[str]] = {}
    forbidden: list[str] = []
    late: list[tuple[str, int, str]] = []
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node, in_function in _imports(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            line = node.lineno
            if isinstance(node, ast.Import):
                imported = [alias.name for alias in node.names]
            else:
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                    source = ".".join(base + ([node.module] if node.module else []))
                else:
                    source = node.module or ""
                imported = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                    for alias in node.names
                ]
            for target in imported:
                if target.split(".")[0] in FORBIDDEN:
                    forbidden.append(f"{name}:{line} imports {target}")
                if target in modules and target != name:
                    targets.add(target)
                    if in_function:
                        late.append((name, line, target))
        edges[name] = targets
    return edges, forbidden, late


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    counter = 0
    for root in sorted(edges):
        if root in index:
            continue
        work = [(root, iter(sorted(edges[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return components


def test_the_graph_is_read():
    edges, _ = _read_graph()
    # A sanity check on the reader itself: known edges of each kind are found.
    assert "cfq_shim.app" in edges["cfq_shim"]  # module level, package __init__
    assert "cfq_shim.transport.base" in edges["cfq_shim.sending.producer"]  # relative, two dots
    assert "cfq_shim.transport.cloudflare" in edges["cfq_shim.provision"]  # inside a function
    assert ("cfq_shim.provision" in {module for module, _, _ in _LATE})


def test_no_import_cycle_inside_cfq_shim():
    edges, _ = _read_graph()
    assert _cycles(edges) == []


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


def test_cfq_shim_never_imports_the_codemod_libcst_or_celery():
    _, forbidden = _read_graph()
    assert forbidden == []


def test_imports_inside_functions_are_only_for_optional_dependencies():
    _read_graph()
    late = [f"{module}:{line} imports {target}" for module, line, target in _LATE
            if target not in LAZY_FOR_A_DEPENDENCY]
    assert late == []


def test_the_core_imports_nothing_above_it():
    """exceptions, envelope, limits, naming, states: the bottom layer."""
    edges, _ = _read_graph()
    core = {"cfq_shim.exceptions", "cfq_shim.envelope", "cfq_shim.limits", "cfq_shim.naming", "cfq_shim.states"}
    for module in core:
        assert edges[module] <= core, (module, edges[module] - core)


def test_transport_and_sending_never_import_the_app_or_the_task_layer():
    edges, _ = _read_graph()
    above = {"cfq_shim", "cfq_shim.app", "cfq_shim.task", "cfq_shim.canvas", "cfq_shim.registry",
             "cfq_shim.execution", "cfq_shim.runtime", "cfq_shim.cli", "cfq_shim.loading"}
    for module, targets in edges.items():
        if module.startswith(("cfq_shim.transport", "cfq_shim.sending", "cfq_shim.embedded")):
            assert not targets & above, (module, targets & above)


if __name__ == "__main__":  # how _read_graph reads the graph: in a fresh interpreter, printed as JSON
    edges, forbidden, late = _parse_graph()
    print(json.dumps({"edges": {module: sorted(targets) for module, targets in edges.items()},
                      "forbidden": forbidden, "late": late}))
