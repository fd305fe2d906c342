"""Change events as they are sent: one schema for ``POST /api/v1/changes`` and a deploy log.

A deploy pipeline either posts each change or appends it to a log file that
``sentinel change import`` reads: one JSON object a line, exactly the body the API takes,
so a change is described one way wherever it comes from.

>>> ChangeRecord(service="db", summary="pool 50", at="2024-01-01T00:00:00Z").to_change(0.0).at
1704067200.0
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from sentinel.model import Change
from sentinel.schema import describe, parse_time

ChangeKind = Literal["deploy", "config", "feature_flag", "infrastructure", "other"]


class ChangeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    service: StrictStr = Field(min_length=1, max_length=255)
    kind: ChangeKind = "deploy"
    summary: StrictStr = Field(min_length=1, max_length=1024)
    at: StrictStr | None = None  # RFC 3339; when it arrives if not given
    version: StrictStr = Field("", max_length=255)
    author: StrictStr = Field("", max_length=255)

    def to_change(self, now: float) -> Change:
        """The change, dated ``now`` if the record has no time (ValueError if it is bad)."""
        at = parse_time(self.at, "at")
        return Change(
            0, self.service, self.kind, self.summary, now if at is None else at,
            self.version, self.author,
        )  # fmt: skip


class ChangeFileError(ValueError):
    """Every bad line of a change file, each as ``path:line: field: message``."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_changes(path: Path) -> list[Change]:
    """The changes of a JSON Lines file (blank lines and ``#`` comments skipped), each with
    its time, all or none: a file with one bad line is refused whole, naming every bad line."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ChangeFileError([f"{path}:0: cannot read: {exc}"]) from None
    changes: list[Change] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            record = ChangeRecord.model_validate_json(line)
            if record.at is None:  # read again, it would be a new change each time
                raise ValueError("at: a change in a file needs its time (RFC 3339)")
            changes.append(record.to_change(now=0.0))  # never used: ``at`` is given
        except ValidationError as exc:
            invalid = [e["msg"] for e in exc.errors() if e["type"] == "json_invalid"]
            detail = f"not a JSON object: {invalid[0]}" if invalid else describe(exc, whole="line")
            problems.append(f"{path}:{number}: {detail}")
        except ValueError as exc:
            problems.append(f"{path}:{number}: {exc}")
    if problems:
        raise ChangeFileError(problems)
    return changes
