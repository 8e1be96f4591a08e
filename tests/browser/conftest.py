"""Says where the browser tests left their screenshots (when any of them ran)."""

from __future__ import annotations

import pytest

from tests.support import REPO

SCREENSHOTS = REPO / "artifacts" / "screenshots"
_ran: list[str] = []


def pytest_runtest_setup(item: pytest.Item) -> None:
    if item.get_closest_marker("browser"):
        _ran.append(item.nodeid)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    shots = sorted(SCREENSHOTS.glob("*.png")) if _ran and SCREENSHOTS.is_dir() else []
    if shots:
        terminalreporter.write_sep("-", f"browser screenshots in {SCREENSHOTS}")
        terminalreporter.write_line("  " + "  ".join(p.name for p in shots))
