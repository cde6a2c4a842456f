"""A real X screen for tests (Xvfb): one per module, started with libs.xvfb as workers do."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from libs import xvfb


@pytest.fixture(scope="module")
def screen() -> Iterator[xvfb.VirtualScreen]:
    with xvfb.start() as started:
        yield started
