"""The version a caller expects to change (its If-Match, on the HTTP side), and the check.

The web parses the header into an ``Expected`` (app/web/preconditions.py) and renders the two
errors as 412/428 (app/web/problems.py); services only compare numbers.
"""

from dataclasses import dataclass

from app.core import errors


@dataclass(frozen=True, slots=True)
class Expected:
    """The version a caller names (None: no precondition given), and whether one is required."""

    version: int | None = None
    required: bool = False

    def check(self, current_version: int) -> None:
        """Raise ``VersionRequired`` (428) or ``VersionMismatch`` (412) unless the caller
        may change what is at ``current_version``."""
        if self.version is None:
            if self.required:
                raise errors.VersionRequired(current_version=current_version)
            return
        if self.version != current_version:
            raise errors.VersionMismatch(
                current_version=current_version, expected_version=self.version
            )


# Trusted callers (seeds, imports, tests): change whatever version is there.
NO_PRECONDITION = Expected()
