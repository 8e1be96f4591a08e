"""Says where the browser tests left their screenshots."""

from __future__ import annotations

import pytest

from tests.support import REPO

SCREENSHOTS = REPO / "artifacts" / "screenshots"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = sorted(SCREENSHOTS.glob("*.png")) if SCREENSHOTS.is_dir() else []
    if shots:
        terminalreporter.write_sep("-", f"browser screenshots in {SCREENSHOTS}")
        terminalreporter.write_line("  " + "  ".join(p.name for p in shots))
