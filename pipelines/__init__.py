"""cmkt pipelines: the stages, models, data handling and artifact cache behind the `cmkt` CLI."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("cmkt")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
