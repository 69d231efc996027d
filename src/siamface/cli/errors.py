"""The command line's own errors: options that do not go together or are out of range."""

from siamface.errors import SiamfaceError


class UsageError(SiamfaceError, ValueError):
    """A command was given options it cannot run with; the message says which and why."""
