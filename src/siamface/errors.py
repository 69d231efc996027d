"""siamface's own error types: bad input or environment, never a bug.

Every error that siamface raises about something a user gave it (a file, a config value, an
image, a run folder) derives from ``SiamfaceError``, and its message names the file, line or
key and what was expected. The command line prints such an error as one line and exits 2 (1
for a ``WorkFailedError``: the input was accepted, the work on it failed); any other exception
is a bug and shows its traceback. siamface's own warnings derive from
``SiamfaceWarning`` in the same way.

Each subclass also derives from the built-in type it refines (``ValueError`` for a bad value,
``KeyError`` for an unknown name), so that code catching the built-in keeps working.
"""

from __future__ import annotations


def reason_of(err: BaseException, last: bool = False) -> str:
    """One line of another library's error ``err`` to quote in a SiamfaceError's message: its
    first non-blank line (its last with ``last``: torch's load_state_dict ends with the
    reason), or the name of its type when it says nothing."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (lines[-1] if last else lines[0]) if lines else type(err).__name__


class SiamfaceError(Exception):
    """Base class: the message is complete and fits on one line."""


class WorkFailedError(SiamfaceError, RuntimeError):
    """What was given was accepted, and the work on it failed (a training that diverged): the
    command line exits 1 for it, where bad input exits 2."""


class ConfigError(SiamfaceError, ValueError):
    """A configuration value or override is invalid; the message names the dotted key (or the
    override) and what is valid."""


class UnknownNameError(ConfigError, KeyError):
    """A registry has no component of that name; the message lists the valid names."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0]) if self.args else ""


class SiamfaceWarning(UserWarning):
    """Base class of siamface's own warnings: something a user should know that does not stop
    the work. The message is complete and fits on one line; the command line prints it as a
    ``siamface: note:`` line, the Python API leaves it a Python warning."""
