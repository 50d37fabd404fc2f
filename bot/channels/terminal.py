"""`bot chat`: talk to the assistant in the terminal, through the same core as every channel."""

from __future__ import annotations

import asyncio
import getpass
import secrets
import sys
from typing import TextIO

from bot.common.types import IncomingMessage
from bot.core.conversation import ConversationCore

PROMPT = "vous/you> "


async def chat(
    core: ConversationCore, *, stdin: TextIO = sys.stdin, stdout: TextIO = sys.stdout
) -> int:
    """Reads lines until end of input (Ctrl-D) and prints the assistant's replies; returns turns."""
    conversation = f"{getpass.getuser()}-{secrets.token_hex(4)}"
    interactive = stdin.isatty()
    turns = 0
    while True:
        if interactive:
            stdout.write(PROMPT)
            stdout.flush()
        line = await asyncio.to_thread(stdin.readline)
        if not line:
            break
        result = await core.handle(
            IncomingMessage(
                channel="terminal",
                conversation_key=conversation,
                sender_key=conversation,
                text=line.rstrip("\n"),
            )
        )
        turns += 1
        for reply in result.replies:
            stdout.write(f"bot> {reply.text}\n\n")
        stdout.flush()
    return turns
