"""Errors of an import: every problem is collected as ``{"file", "problem"}``, then raised at once."""

from __future__ import annotations

MAX_REPORTED_ERRORS = 200




class DicomImportError(Exception):
    """An import that stored nothing. ``errors`` lists every problem as ``{"file", "problem"}``."""

    def __init__(self, errors: list[dict[str, str]]):
        self.errors = errors
        head = "; ".join(f"{e['file']}: {e['problem']}" for e in errors[:3])
        more = f" (and {len(errors) - 3} more)" if len(errors) > 3 else ""
        noun = "problem" if len(errors) == 1 else "problems"
        super().__init__(f"DICOM import failed, nothing was stored; {len(errors)} {noun}: {head}{more}")


class Problems:
    """Collects problems (at most MAX_REPORTED_ERRORS listed) and raises them together."""

    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []
        self.dropped = 0

    def add(self, file: str, problem: str) -> None:
        if len(self.items) < MAX_REPORTED_ERRORS:
            self.items.append({"file": file, "problem": problem})
        else:
            self.dropped += 1

    def __bool__(self) -> bool:
        return bool(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            errors = list(self.items)
            if self.dropped:
                errors.append({"file": "", "problem": f"{self.dropped} more problems not listed"})
            raise DicomImportError(errors)


def fail(file: str, problem: str) -> DicomImportError:
    """One problem as an exception."""
    return DicomImportError([{"file": file, "problem": problem}])

