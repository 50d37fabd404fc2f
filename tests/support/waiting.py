"""Waiting in tests for something that happens in the background (a reply through a stand-in, a
relay's copy, a row written by a worker)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any


async def until(
    condition: Callable[[], Any], what: str = "the condition", timeout: float = 15.0
) -> Any:
    """Waits until `condition()` is truthy and returns its value; fails the test, naming
    `what`, after `timeout` seconds."""
    try:
        async with asyncio.timeout(timeout):
            while not (found := condition()):
                await asyncio.sleep(0.02)
            return found
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
