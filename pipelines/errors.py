"""Error types that map to the CLI's exit codes.

Anything the user can fix (a missing file, silence, a bad option) is `BadInput`
and exits with 2 and one line; everything else is an internal error (exit 1).
"""


class CmktError(Exception):
    """Base class: an error with a message meant for the user."""

    exit_code = 1


class BadInput(CmktError):
    """The input or the invocation is wrong; the user can fix it."""

    exit_code = 2


class WorkdirBusy(BadInput):
    """Another cmkt process holds the workdir lock."""


class SkipItem(Exception):
    """An item cannot be processed but this is not an error (e.g. silence for PESQ): warn and go on."""


class Interrupted(CmktError):
    """Ctrl-C: what was finished is saved; a rerun resumes."""

    exit_code = 130
