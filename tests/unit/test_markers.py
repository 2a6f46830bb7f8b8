"""Every test that uses the official pipeline is marked ``parity``.

``pytest -m "not parity"`` must run without jwst==3.0.0 and its own libraries installed.
A test uses them when it, a fixture it takes or a function it calls (in its file, in
tests/helpers/ or in oracle.py) imports them or runs code that does (a script string).
Read from the source, not run: names are resolved the way the test files use them (a
function or constant of the same module, one imported from helpers or oracle, a fixture
of conftest), which is how every test here reaches the oracle.
"""

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
#: Packages only the test extra brings (the oracle and what it alone depends on).
ORACLE_PACKAGES = ("jwst", "stcal", "stpipe")


def _imports_oracle(node):
    for sub in ast.walk(node):
        if isinstance(sub, ast.Import):
            names = [alias.name for alias in sub.names]
        elif isinstance(sub, ast.ImportFrom):
            names = [sub.module or ""]
        elif isinstance(sub, ast.Constant) and isinstance(sub.value, str):
            names = [line.split()[1] for line in sub.value.splitlines()
                     if line.startswith(("import ", "from ")) and len(line.split()) > 1]
        else:
            continue
        if any(name.split(".")[0] in ORACLE_PACKAGES for name in names):
            return True
    return False


def _modules():
    paths = [*TESTS.glob("*.py"), *TESTS.glob("*/test_*.py"), *TESTS.glob("helpers/*.py")]
    return {f"helpers.{p.stem}" if p.parent.name == "helpers" else p.stem:
            ast.parse(p.read_text()) for p in paths}


def _unmarked_oracle_tests():
    modules = _modules()
    defs, imported, marked = {}, {}, {}
    for mod, tree in modules.items():
        imported[mod] = {}
        for node in tree.body:
            if isinstance(node, ast.FunctionDef):
                defs[(mod, node.name)] = node
            elif isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        defs[(mod, target.id)] = node
                        if target.id == "pytestmark":
                            marked[mod] = "parity" in ast.unparse(node.value)
            elif isinstance(node, ast.ImportFrom) and node.module in modules:
                for alias in node.names:
                    imported[mod][alias.asname or alias.name] = (node.module, alias.name)

    def reached(mod, node):
        for sub in ast.walk(node):
            name = sub.id if isinstance(sub, ast.Name) else \
                sub.arg if isinstance(sub, ast.arg) else None
            for key in ((mod, name), imported[mod].get(name), ("conftest", name)):
                if key in defs and defs[key] is not node:
                    yield key
                    break

    uses = {key for key, node in defs.items() if _imports_oracle(node)}
    grown = True
    while grown:
        grown = False
        for key, node in defs.items():
            if key not in uses and any(k in uses for k in reached(key[0], node)):
                uses.add(key)
                grown = True
    return sorted(
        f"{mod}.py::{name}" for (mod, name), node in defs.items()
        if (mod, name) in uses and name.startswith("test_") and isinstance(node, ast.FunctionDef)
        and not marked.get(mod)
        and not any("parity" in ast.unparse(d) for d in node.decorator_list))


def test_every_test_using_the_official_pipeline_is_marked_parity():
    assert _unmarked_oracle_tests() == []


def test_the_check_sees_a_test_that_reaches_jwst_through_a_helper():
    # the finder itself: this file's own tests are not oracle tests, the helper's is
    tree = _modules()
    assert "helpers.wcs" in tree and "oracle" in tree
    node = next(n for n in tree["helpers.wcs"].body
                if isinstance(n, ast.FunctionDef) and n.name == "official_assign_wcs")
    assert _imports_oracle(node)
    assert not _imports_oracle(tree["test_markers"])
