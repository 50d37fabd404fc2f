"""Messages the project sends first (a team's answer, a closure), on the citizen's channel.

The message is stored in the conversation like any reply. On Telegram and Discord it is also
queued in the platform's outbox, which the running assistant sends (it looks for messages
queued by other processes, such as the `bot concerns` command, every few seconds). The web
chat shows it when the citizen comes back to the page.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session

from bot.outbox.delivery import Outgoing, outbox_row
from bot.outbox.text import PLATFORM_LIMITS, split_for
from bot.storage import repository
from bot.storage.models import Conversation


def destination_of(conversation: Conversation) -> str | None:
    """Where a platform message to this conversation goes (None for the web chat).

    Telegram: the chat id (the first part of a group conversation's key). Discord: the DM
    channel, or the server channel a conversation lives in.
    """
    return destination_for(conversation.channel, conversation.external_id)


def destination_for(channel: str, external_id: str) -> str | None:
    """`destination_of` from a conversation's channel and key alone (for bulk reads)."""
    if channel == "telegram":
        return external_id.split(":", 1)[0]
    if channel == "discord":
        return external_id.removeprefix("dm:").split(":", 1)[0]
    return None


def send_to_conversation(
    *,
    session: Session,
    conversation: Conversation,
    texts: Sequence[str],
    language: str,
    author: str | None = None,
    commit: bool = True,
) -> list[int]:
    """Stores `texts` as the project's messages in the conversation (the assistant's, or with
    `author` a person's) and queues them on its platform, in one transaction (without `commit`,
    the caller's: it commits with the rest of its work). Returns the stored messages' ids."""
    stored = repository.add_outgoing_messages(
        session=session,
        conversation=conversation,
        texts=texts,
        language=language,
        author=author,
        commit=False,
    )
    ids = [message.id for message in stored if message.id is not None]
    destination = destination_of(conversation)
    if destination is None or conversation.channel not in PLATFORM_LIMITS:
        if commit:
            session.commit()
        return ids
    session.add_all(
        outbox_row(
            conversation.channel,
            Outgoing(
                destination=destination,
                text=part,
                conversation_id=conversation.id,
                message_id=message.id,
            ),
        )
        for message in stored
        for part in split_for(conversation.channel, message.text)
    )
    if commit:
        session.commit()
    return ids
