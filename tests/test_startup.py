"""The CLI starts without the heavy libraries: a command imports its stage (and torch) only when it runs."""

import subprocess
import sys

HEAVY = ("torch", "h5py", "scipy")


def test_importing_the_cli_loads_no_heavy_library():
    probe = f"import sys, cmkt_cli.main; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == [], f"cmkt_cli.main imports {loaded} at start-up"
