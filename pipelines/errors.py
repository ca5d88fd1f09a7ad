"""Error types that map to the CLI's exit codes.

Anything the user can fix (a missing file, silence, a bad option) is `BadInput`
and exits with 2 and one line; everything else is an internal error (exit 1).
"""

import errno


class CmktError(Exception):
    """Base class: an error with a message meant for the user."""

    exit_code = 1


class BadInput(CmktError):
    """The input or the invocation is wrong; the user can fix it."""

    exit_code = 2


class WorkdirBusy(BadInput):
    """Another cmkt process holds the workdir lock."""


def check_choice(option: str, value: object, allowed) -> None:
    """BadInput "OPTION must be one of A, B, got X" unless `value` is one of `allowed` (a registry's names)."""
    if value not in allowed:
        raise BadInput(f"{option} must be one of {', '.join(map(str, allowed))}, got {value!r}")


class SkipItem(Exception):
    """An item cannot be processed but this is not an error (e.g. silence for PESQ): warn and go on."""


class Interrupted(CmktError):
    """Ctrl-C: what was finished is saved; a rerun resumes."""

    exit_code = 130


def no_space_left(err: BaseException, where: object = None) -> BadInput | None:
    """A full disk as the user should hear of it (libraries report it as OSError errno 28, or only in the text of
    their own error), naming the file in the error, else `where`; None for any other failure. Writers are atomic, so
    nothing partial was left behind."""
    if not (getattr(err, "errno", None) == errno.ENOSPC or "No space left on device" in str(err)):
        return None
    where = getattr(err, "filename", None) or where
    return BadInput(f"no space left on {'the device of ' + str(where) if where else 'the device'}: free some space "
                    f"and rerun (finished work is kept)")
