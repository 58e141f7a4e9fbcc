"""Mutation score of the core modules: mutmut 3 on each module against that module's own tests.

Each module runs in its own scratch copy of the project (``runs/mutation/<name>/``: the package
without its shipped checkpoints, ``tests/conftest.py``, the module's test files and a generated
``pyproject.toml`` holding only the pytest and ``[tool.mutmut]`` settings), so modules never see
each other's tests and the project's own config is untouched. Prints one table row per module;
``--survivors`` also prints the diff of every surviving mutant.

    nice -n 15 python benchmarks/mutation.py                      # every module, one at a time
    nice -n 15 python benchmarks/mutation.py io/checkpoint.py --survivors
    python benchmarks/mutation.py --report-only                   # re-read the last runs
    nice -n 15 python benchmarks/mutation.py music/midi.py --retest   # rerun what was left, with the current tests
    nice -n 15 python benchmarks/mutation.py music/midi.py --resume   # go on with a run that was cut short

``--retest`` copies the module's current test files into its scratch copy and reruns only the mutants
the last run checked and did not kill; the killed ones keep their verdict, which holds while tests are
only added (after changing or removing a test, run the module afresh). ``--resume`` runs the mutants a
stopped run never reached, keeping every verdict it has.

Killed counts mutants the tests killed or that timed out (an endless loop is caught too);
"no tests" and "survived" both count as not killed. Numbers and judged equivalents: docs/mutation.md.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRATCH = ROOT / "runs" / "mutation"
MUTMUT = Path(sys.executable).with_name("mutmut")

# module (under audiodiff/) -> its own fast test files (no subprocesses: they would import the unmutated install)
MODULES: dict[str, list[str]] = {
    "io/checkpoint.py": ["tests/io/test_checkpoint.py"],
    "io/audio.py": ["tests/io/test_audio_io.py"],
    "io/atomic.py": ["tests/io/test_atomic.py"],
    "batch/rows.py": ["tests/batch/test_rows.py"],
    "batch/directory.py": ["tests/batch/test_rows.py"],
    "diffusion/gaussian.py": ["tests/diffusion/test_gaussian_diffusion.py"],
    "diffusion/masked.py": ["tests/diffusion/test_masked_diffusion.py"],
    "music/plan.py": ["tests/music/test_plan.py"],
    "music/prompt.py": ["tests/music/test_prompt.py"],
    "music/midi.py": ["tests/music/test_midi.py"],
    "seeds.py": ["tests/test_seeds.py"],
}
KILLED = {"killed", "timeout", "segfault", "caught by type check"}
PYPROJECT = """[tool.pytest.ini_options]
testpaths = ["tests"]
filterwarnings = ["ignore::FutureWarning"]

[tool.mutmut]
source_paths = ["audiodiff"]
only_mutate = ["audiodiff/{module}"]
pytest_add_cli_args = ["-p", "no:cacheprovider", "-q"]
pytest_add_cli_args_test_selection = {tests}
use_git_change_detection = false
"""


def scratch_dir(module: str) -> Path:
    return SCRATCH / module.replace("/", "_").removesuffix(".py")


def prepare(module: str) -> Path:
    """A fresh scratch copy of the project for ``module`` (earlier results there are dropped)."""
    work = scratch_dir(module)
    if work.exists():
        shutil.rmtree(work)
    shutil.copytree(ROOT / "audiodiff", work / "audiodiff",
                    ignore=shutil.ignore_patterns("__pycache__", "*.safetensors"))
    (work / "tests").mkdir()
    shutil.copy2(ROOT / "tests" / "conftest.py", work / "tests" / "conftest.py")
    for test in MODULES[module]:
        (work / test).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / test, work / test)
    (work / "pyproject.toml").write_text(PYPROJECT.format(module=module, tests=json.dumps(MODULES[module])))
    return work


def run(module: str, max_children: int) -> None:
    """Mutate ``module`` and run its tests against every mutant (mutmut's output goes to a log)."""
    work = prepare(module)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # mutmut puts mutants/ first itself
    with open(work / "mutmut.log", "w") as log:
        subprocess.run([str(MUTMUT), "run", "--max-children", str(max_children)], cwd=work, env=env,
                       stdout=log, stderr=subprocess.STDOUT, check=False)


def rerun(module: str, names: list[str], max_children: int) -> None:
    """Run mutmut again in the existing scratch copy of ``module`` with its current test files: on the
    named mutants, or (no names) on those without a verdict yet. A module that never ran runs afresh."""
    if not statuses(module):
        return run(module, max_children)
    work = scratch_dir(module)
    for test in ["tests/conftest.py", *MODULES[module]]:
        shutil.copy2(ROOT / test, work / test)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    with open(work / "mutmut.log", "a") as log:
        subprocess.run([str(MUTMUT), "run", "--max-children", str(max_children), *names], cwd=work, env=env,
                       stdout=log, stderr=subprocess.STDOUT, check=False)
    return None


def statuses(module: str) -> dict[str, str]:
    """Mutant name -> status of the last run of ``module`` (empty if it never ran)."""
    from mutmut.stats import status_by_exit_code

    meta = scratch_dir(module) / "mutants" / "audiodiff" / f"{module}.meta"
    if not meta.exists():
        return {}
    codes = json.loads(meta.read_text())["exit_code_by_key"]
    return {name: status_by_exit_code[code] for name, code in codes.items()}


def survivor_diffs(module: str, names: list[str]) -> str:
    """The changed lines of each named mutant against the original function (read from mutmut's
    mutated copy: ``mutmut show`` per mutant would start one process each)."""
    import ast
    import difflib

    source = (scratch_dir(module) / "mutants" / "audiodiff" / module).read_text()
    lines = source.splitlines()
    functions = {node.name: "\n".join(lines[node.lineno - 1: node.end_lineno]) for node in ast.walk(ast.parse(source))
                 if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and "__mutmut_" in node.name}
    out = []
    for name in names:
        short = name.rsplit(".", 1)[-1]
        original = functions[short.rsplit("__mutmut_", 1)[0] + "__mutmut_orig"].splitlines()[1:]
        mutant = functions[short].splitlines()[1:]
        changed = [line for line in difflib.unified_diff(original, mutant, lineterm="", n=0)
                   if line[:1] in "+-" and not line.startswith(("+++", "---"))]
        out.append(f"{short}:\n" + "\n".join(f"    {line.strip()[:1]} {line.strip()[1:].strip()}" for line in changed))
    return "\n".join(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules under audiodiff/ (default: all of {', '.join(MODULES)})")
    parser.add_argument("--report-only", action="store_true", help="read the last runs, run nothing")
    parser.add_argument("--retest", action="store_true",
                        help="rerun the mutants the last run checked and left alive, with the current tests")
    parser.add_argument("--resume", action="store_true", help="run the mutants a stopped run never reached")
    parser.add_argument("--survivors", action="store_true", help="print the diff of every surviving mutant")
    parser.add_argument("--max-children", type=int, default=1, help="parallel mutant runs (default 1)")
    args = parser.parse_args()
    modules = args.modules or list(MODULES)
    unknown = [m for m in modules if m not in MODULES]
    if unknown:
        parser.error(f"unknown module(s) {', '.join(unknown)}; choose from {', '.join(MODULES)}")
    print("| module | tests | mutants | killed | survived | no tests | not run | killed % of those run |")
    print("|---|---|---|---|---|---|---|---|")
    for module in modules:
        if args.retest:
            left = [n for n, s in statuses(module).items() if s not in KILLED and s != "not checked"]
            if left:
                rerun(module, left, args.max_children)
        elif args.resume:
            rerun(module, [], args.max_children)
        elif not args.report_only:
            run(module, args.max_children)
        result = statuses(module)
        counts = Counter(result.values())
        killed = sum(counts[s] for s in KILLED)
        total, not_run = len(result), counts["not checked"]
        share = f"{100 * killed / (total - not_run):.1f}" if total > not_run else "—"
        tests = ", ".join(Path(t).name for t in MODULES[module])
        print(f"| {module} | {tests} | {total} | {killed} | {counts['survived']} | {counts['no tests']} | {not_run} "
              f"| {share} |", flush=True)
        if args.survivors:
            left = sorted(n for n, s in result.items() if s not in KILLED and s != "not checked")
            if left:
                print(survivor_diffs(module, left), flush=True)


if __name__ == "__main__":
    main()
