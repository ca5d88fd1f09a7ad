"""cmkt pipelines: the stages, models, data handling and artifact cache behind the `cmkt` CLI.

The public Python API (pipelines/api.py, docs/api.md) is re-exported here, loaded on first use so that importing a
light module (as the CLI does at start-up) does not load torch: `from pipelines import load_model, enhance`.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

API = ("Model", "SamplingOptions", "enhance", "enhance_file", "enhance_many", "load_model", "prepare", "score")

try:
    __version__ = version("cmkt")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"


def __getattr__(name: str):
    if name in API:
        return getattr(import_module("pipelines.api"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
