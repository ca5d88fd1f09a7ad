"""Layers point down: a stage uses the library (pipelines/*), never another stage, and the library never a stage;
the model needs neither HDF5 nor any stage."""

import ast
import subprocess
import sys
from pathlib import Path

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
STAGES = PIPELINES / "stages"
FRAMEWORK = {"runner"}  # what every stage is built on (reports, caching), not a stage
ORCHESTRATORS = {"run"}  # runs the stages in order: the one stage allowed to call the others
FACADES = {PIPELINES / "api.py"}  # the public Python API sits on top of the stages, like the CLI


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return found


def stage_names() -> set[str]:
    return {p.stem for p in STAGES.glob("*.py")} - {"__init__"} - FRAMEWORK


def test_no_stage_imports_another_stage():
    stages = stage_names()
    edges = [(path.stem, name) for path in sorted(STAGES.glob("*.py")) if path.stem not in ORCHESTRATORS
             for name in imported_modules(path)
             if name.startswith("pipelines.stages.") and name.split(".")[2] in stages - {path.stem}]
    assert edges == [], f"stage -> stage imports: {edges}"


def test_the_library_imports_no_stage():
    edges = [(str(path.relative_to(PIPELINES)), name) for path in sorted(PIPELINES.rglob("*.py"))
             if STAGES not in path.parents and path not in FACADES for name in imported_modules(path) if name.startswith("pipelines.stages")]
    assert edges == [], f"library -> stage imports: {edges}"


def test_the_model_needs_no_hdf5_and_no_stage():
    probe = ("import sys, pipelines.enhancer, pipelines.checkpoints; "
             "print(' '.join(m for m in sys.modules if m == 'h5py' or m.startswith('pipelines.stages')))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], loaded
