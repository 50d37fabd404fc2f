"""What every chat platform channel is, and how the application keeps it running.

A channel connects to its platform, turns platform updates into our own `IncomingMessage`s
(through the durable intake), and sends the core's replies through its outbox. A missing token
means the channel is not started; a token the platform rejects stops that channel alone, with
one sentence; an unreachable platform is retried with capped back-off and jitter.
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from bot.outbox.delivery import backoff

logger = logging.getLogger(__name__)


class ChannelError(Exception):
    """A channel cannot run."""


class ChannelRejected(ChannelError):
    """The platform refused our credentials or permissions: retrying cannot help. The message
    is one sentence naming the setting or the permission to fix."""


class ChannelUnavailable(ChannelError):
    """The platform cannot be reached for now: the channel will try again."""


@dataclass
class ChannelState:
    """What a channel is doing, for the health endpoint and the logs."""

    state: str = "starting"  # starting, running, retrying, stopped
    detail: str = ""
    # What keeps listening in community groups from working fully (a notice that cannot be
    # pinned, a bot that cannot read every message); empty when all is well or nothing listens.
    listening: str = ""


class ChatChannel(ABC):
    """A chat platform the assistant serves."""

    name: str

    def __init__(self) -> None:
        self.status = ChannelState()

    def wake_ups(self) -> dict[str, Callable[[], None]]:
        """What to wake when another process stores work for this channel, by topic
        (``<table>:<platform>``, see `bot.storage.wakeups`)."""
        return {}

    @abstractmethod
    async def run(self) -> None:
        """Connects and serves until cancelled.

        Raises:
            ChannelRejected: the platform refused the token or a required permission.
            ChannelUnavailable: the platform could not be reached.
        """


async def keep_running(
    channel: ChatChannel, *, retry_base: float = 1.0, retry_cap: float = 300.0
) -> None:
    """Runs `channel` until cancelled: retries an unreachable platform with capped back-off and
    jitter; stops (and says why in one sentence) when the platform rejects it."""
    failures = 0
    while True:
        channel.status.state, channel.status.detail = "starting", ""
        try:
            await channel.run()
            channel.status.state = "stopped"
            return
        except ChannelRejected as exc:
            channel.status.state, channel.status.detail = "stopped", str(exc)
            logger.error("%s", exc)
            return
        except ChannelUnavailable as exc:
            failures += 1
            delay = backoff(failures, base=retry_base, cap=retry_cap)
            channel.status.state, channel.status.detail = "retrying", str(exc)
            logger.warning("%s; trying again in %.0f s", exc, delay)
            await asyncio.sleep(delay)
        except Exception as exc:
            # Broad on purpose: whatever broke one platform must not stop the others or the
            # web chat. It is logged with its traceback and the channel starts again.
            failures += 1
            delay = backoff(failures, base=retry_base, cap=retry_cap)
            channel.status.state = "retrying"
            channel.status.detail = f"{channel.name} failed unexpectedly ({exc!r})"
            logger.exception("%s channel failed; starting it again in %.0f s", channel.name, delay)
            await asyncio.sleep(delay)


class ListeningProblems:
    """What keeps listening from working fully, per group: logged once when it appears and shown
    in the channel's status (the health endpoint's `listening`)."""

    def __init__(self, status: ChannelState, platform: str) -> None:
        self._status = status
        self._platform = platform
        self._problems: dict[tuple[str, str], str] = {}

    def report(self, group_key: str, kind: str, problem: str) -> None:
        """Something of `kind` ("pin", "notice", "privacy"...) does not work in a group."""
        if self._problems.get((group_key, kind)) != problem:
            logger.warning("%s listening, group %s: %s", self._platform, group_key, problem)
        self._problems[(group_key, kind)] = problem
        self._publish()

    def solved(self, group_key: str, kind: str) -> None:
        """That problem is gone (say it in the log if it was there)."""
        if self._problems.pop((group_key, kind), None) is not None:
            logger.info(
                "%s listening, group %s: %s problem solved", self._platform, group_key, kind
            )
            self._publish()

    def _publish(self) -> None:
        self._status.listening = " ".join(
            f"Group {group}: {problem}" for (group, _), problem in sorted(self._problems.items())
        )
