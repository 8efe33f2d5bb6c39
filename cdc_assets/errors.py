"""The project's error hierarchy.

Every failure that reaches a user is a ``CdcError``: a message that names the thing that is wrong and
the fix, plus context kept as fields (never secrets). Adapters classify driver errors at their edge:

- ``TransientError``: retrying later may succeed (network, server restart, sink overload).
- ``TerminalError``: retrying will not help until somebody changes something.
- ``ConfigError``: the pipeline file or the command line is wrong (CLI exit code 2).
"""

from __future__ import annotations

from typing import Any


class CdcError(Exception):
    """Base of every error this project raises on purpose."""

    #: process exit code the CLI uses for this error (2 = bad configuration or input, 1 = runtime)
    exit_code: int = 1

    def __init__(self, message: str, **context: Any) -> None:
        super().__init__(message)
        self.message = message
        self.context = context

    def __str__(self) -> str:
        return self.message


class TransientError(CdcError):
    """Retrying later may succeed: a dropped connection, an unreachable host, an overloaded sink."""


class TerminalError(CdcError):
    """Retrying cannot help until a person changes something."""


class ConfigError(TerminalError):
    """The pipeline file, an option or a command-line argument is wrong."""

    exit_code = 2


class AuthenticationError(TerminalError):
    """A server refused the user name or password."""

    exit_code = 2


class SourceUnavailableError(TransientError):
    """The MySQL server could not be reached."""


class BinlogConnectionLost(TransientError):
    """The binlog connection broke or could not be opened; the stream reconnects from its restart point."""


class SourceServerConfigError(TerminalError):
    """The MySQL server is configured in a way CDC cannot work with (for example binlog_format)."""

    exit_code = 2


class UnsupportedTypeError(TerminalError):
    """A column type cannot be replicated."""

    exit_code = 2


class SchemaError(TerminalError):
    """A captured table cannot be replicated as it is (for example it has no primary key)."""

    exit_code = 2


class TargetMismatchError(SchemaError):
    """A target table exists but lacks columns of the source table being written into it (a target
    kept from an earlier table of that name)."""


class ServerIdClashError(ConfigError):
    """Another replica or binlog reader connected to the source with this reader's server id."""


class BinlogPurgedError(TerminalError):
    """The restart point is no longer in the server's binlog."""


class SinkError(CdcError):
    """The target refused or failed a write."""


class StateError(TerminalError):
    """The pipeline's state folder is unreadable or from an incompatible version."""
