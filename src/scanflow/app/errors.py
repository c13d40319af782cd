"""Problems found in an application spec, reported one clear line each."""

from __future__ import annotations

from dataclasses import dataclass

from scanflow.errors import ScanflowError


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a spec: where it is, what is wrong and how to fix it."""

    location: str
    message: str
    fix: str = ""
    line: int | None = None
    file: str | None = None

    def __str__(self) -> str:
        where = self.location
        if self.file:
            where = f"{self.file}:{self.line}: {where}" if self.line else f"{self.file}: {where}"
        elif self.line:
            where = f"line {self.line}: {where}"
        text = f"{where}: {self.message}"
        if self.fix:
            text += f" ({self.fix})"
        return text


class SpecError(ScanflowError, ValueError):
    """Raised when an application spec is invalid; ``problems`` lists every problem found."""

    def __init__(self, problems: list[Problem]):
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))
