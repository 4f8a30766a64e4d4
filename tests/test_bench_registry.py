"""bench/ is one suite: every benchmark is in run_all.py's registry, with the one entry point of the suite."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1] / "bench"
sys.path.insert(0, str(BENCH))

import run_all  # noqa: E402


def test_every_benchmark_is_registered() -> None:
    scripts = {p.name for p in BENCH.glob("bench_*.py")} | {"validity_panel.py"}
    registered = {bench.script for bench in run_all.REGISTRY.values()}
    assert scripts - registered == set(), "register it in bench/run_all.py's REGISTRY (one line)"
    assert all((BENCH / script).is_file() for script in registered)
    assert set(run_all.SUITE) == {"throughput", "overhead", "scaling", "parallel", "search_quality"}


def _options(script: Path) -> set[str]:
    """The options a script's entry point takes: its own add_argument calls, or common's shared entry points."""
    tree = ast.parse(script.read_text(encoding="utf-8"))
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            if node.func.attr == "add_argument":
                found |= {a.value for a in node.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
            if node.func.attr in ("bench_main", "dated_main"):  # common.py's entry points: --quick, --out
                found |= {"--quick", "--out"}
    return found


def test_every_benchmark_takes_quick_and_out_and_runs_as_a_script() -> None:
    for name, bench in run_all.REGISTRY.items():
        source = (BENCH / bench.script).read_text(encoding="utf-8")
        assert 'if __name__ == "__main__":' in source, f"{bench.script} is not runnable as a script"
        assert {"--quick", "--out"} <= _options(BENCH / bench.script), f"{name}: {bench.script} lacks --quick/--out"
        assert run_all.what_it_measures(bench), f"{bench.script}: its docstring's first line says what it measures"


def test_bench_and_validity_panel_import_no_circle() -> None:
    imports = {}
    for script in ("bench_validity.py", "validity_panel.py"):
        tree = ast.parse((BENCH / script).read_text(encoding="utf-8"))
        imports[script] = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert not ("validity_panel" in imports["bench_validity.py"] and "bench_validity" in imports["validity_panel.py"])


def test_list_names_every_benchmark() -> None:
    listed = subprocess.run(
        [sys.executable, str(BENCH / "run_all.py"), "--list"], capture_output=True, text=True, timeout=60, check=True
    ).stdout.splitlines()
    assert [line.split()[0] for line in listed] == list(run_all.REGISTRY)
