"""What the core does for chat platforms: redeliveries, commands, attachments, edits, groups."""

from __future__ import annotations

import pytest
from sqlmodel import col, select

from bot.common.types import Attachment
from bot.core.conversation import ConversationCore
from bot.storage import repository
from bot.storage.models import Concern, Conversation, Direction, HumanRequest, Message
from tests.support.crash import replies_fail_to_store_once
from tests.support.dialogue import FakeDialogue
from tests.support.telegram import telegram


def records_a_concern(fake_dialogue: FakeDialogue, core: ConversationCore) -> None:
    """Makes the fake dialogue behave like Rasa understanding `report_concern`: its action says
    nothing, the core's concern step records the concern and acknowledges it."""
    fake_dialogue.intent = "report_concern"
    fake_dialogue.answer = lambda text, metadata: []


async def test_a_redelivered_message_gets_the_stored_answer_without_a_second_turn(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    first = await core.handle(telegram("Quand commencent les travaux?", external_id="1001:5"))
    again = await core.handle(telegram("Quand commencent les travaux?", external_id="1001:5"))
    assert len(fake_dialogue.calls) == 1
    assert again.replayed
    assert not first.replayed
    assert [r.text for r in again.replies] == [r.text for r in first.replies]
    with core.session() as session:
        assert len(session.exec(select(Message)).all()) == 2


async def test_a_message_stored_but_never_answered_is_answered_on_retry(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    fake_dialogue.failing = False
    with core.session() as session:  # a crash right after the message was stored
        conversation = repository.get_or_create_conversation(
            session=session, channel="telegram", external_id="1001", citizen_id="tg-1001"
        )
        repository.add_message(
            session=session,
            conversation=conversation,
            direction="in",  # type: ignore[arg-type]
            text="Allo",
            language="fr",
            status="received",  # type: ignore[arg-type]
            external_id="1001:9",
        )
    result = await core.handle(telegram("Allo", external_id="1001:9"))
    assert not result.replayed
    assert len(fake_dialogue.calls) == 1
    with core.session() as session:
        incoming = session.exec(select(Message).where(Message.external_id == "1001:9")).all()
        assert len(incoming) == 1
        assert incoming[0].status == "answered"


async def test_a_turn_cut_short_while_storing_its_replies_is_done_again_not_replayed_empty(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    """The message is never left handled without its replies: a redelivery (the intake after a
    crash) does the turn again and the citizen gets the answer, not a silent replay."""
    message = telegram("Quand commencent les travaux?", external_id="1001:20")
    with replies_fail_to_store_once(), pytest.raises(RuntimeError):
        await core.handle(message)
    again = await core.handle(message)
    assert not again.replayed
    assert again.replies
    assert again.answered
    with core.session() as session:
        incoming = session.exec(select(Message).where(Message.external_id == "1001:20")).one()
        assert incoming.status == "answered"
        assert len(repository.replies_to(session=session, message_id=incoming.id or 0)) == len(
            again.replies
        )
    assert [r.text for r in (await core.handle(message)).replies] == [
        r.text for r in again.replies
    ]  # and from then on, the stored answer


async def test_a_command_cut_short_while_storing_its_answer_is_answered_on_redelivery(
    core: ConversationCore,
) -> None:
    message = telegram("/help", external_id="1001:21")
    with replies_fail_to_store_once(), pytest.raises(RuntimeError):
        await core.command(message, "help")
    again = await core.command(message, "help")
    assert not again.replayed
    assert "/start" in again.replies[0].text
    with core.session() as session:
        assert (
            len(session.exec(select(Message).where(Message.direction == Direction.INCOMING)).all())
            == 1
        )


async def test_a_retried_concern_keeps_one_reference(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    records_a_concern(fake_dialogue, core)
    message = telegram("Les camions passent à 5 h du matin", external_id="1001:12")
    await core.handle(message)
    with core.session() as session:
        stored = session.exec(select(Message).where(Message.external_id == "1001:12")).one()
        stored.status = "received"  # type: ignore[assignment]
        session.add(stored)
        session.commit()
    await core.handle(message)  # the turn runs again (crash before it was finished)
    with core.session() as session:
        assert len(session.exec(select(Concern)).all()) == 1


async def test_start_presents_a_bot_and_offers_both_languages(core: ConversationCore) -> None:
    result = await core.command(telegram("/start", language_hint="en-US"), "start")
    assert result.language == "en"
    assert "a bot, not a person" in result.replies[0].text
    assert "Trois-Collines" in result.replies[0].text
    assert [c.value for c in result.replies[-1].choices] == ["language:fr", "language:en"]


async def test_choosing_a_language_holds_for_the_next_turns(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    chosen = await core.command(telegram("[language:en]"), "language", "en")
    assert chosen.replies[0].text.startswith("All right")
    result = await core.handle(telegram("ok"))
    assert result.language == "en"
    assert fake_dialogue.calls[-1][2]["language"] == "en"


async def test_help_lists_the_commands_in_the_citizen_language(core: ConversationCore) -> None:
    result = await core.command(telegram("/help"), "help")
    assert "/start" in result.replies[0].text
    assert "/language" in result.replies[0].text
    assert "assistant automatisé" in result.replies[0].text


async def test_an_unknown_command_says_so_and_helps(core: ConversationCore) -> None:
    result = await core.command(telegram("/weather"), "weather")
    assert "ne connais pas cette commande" in result.replies[0].text
    assert "/help" in result.replies[1].text


async def test_a_photo_is_kept_for_a_person_with_a_polite_answer(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    photo = Attachment(kind="photo", details={"file_id": "AgAD", "file_size": 52011})
    result = await core.handle(telegram("", attachments=(photo,), language_hint="en"))
    assert "I cannot read your photo" in result.replies[0].text
    assert not fake_dialogue.calls
    with core.session() as session:
        message = session.exec(select(Message).where(Message.direction == "in")).one()
        assert message.attachments == [{"kind": "photo", "file_id": "AgAD", "file_size": 52011}]
        request = session.exec(select(HumanRequest)).one()
        assert request.reason == "attachment"
        assert request.message_id == message.id


async def test_a_captioned_photo_is_answered_and_kept(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    photo = Attachment(kind="photo", details={"file_id": "AgAD"})
    result = await core.handle(
        telegram("De la poussière partout sur ma galerie à cause du chantier", attachments=(photo,))
    )
    assert len(fake_dialogue.calls) == 1
    assert result.replies[-1].text.startswith("Je ne peux pas lire votre photo")


async def test_a_sticker_gets_a_smile_and_no_request_for_a_person(
    core: ConversationCore,
) -> None:
    sticker = Attachment(kind="sticker", details={"emoji": "👍"})
    result = await core.handle(telegram("", attachments=(sticker,)))
    assert "je ne comprends que le texte" in result.replies[0].text
    with core.session() as session:
        assert not session.exec(select(HumanRequest)).all()


async def test_an_edited_question_is_answered_again(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    await core.handle(telegram("Quand comencent les travaux?", external_id="1001:20"))
    result = await core.handle(
        telegram("Quand commencent les travaux?", external_id="1001:20:edit:1", edit_of="1001:20")
    )
    assert [call[1] for call in fake_dialogue.calls] == [
        "Quand comencent les travaux?",
        "Quand commencent les travaux?",
    ]
    assert result.replies
    with core.session() as session:
        edit = session.exec(select(Message).where(Message.external_id == "1001:20:edit:1")).one()
        original = session.exec(select(Message).where(Message.external_id == "1001:20")).one()
        assert edit.edit_of == original.id


async def test_an_edit_that_changes_nothing_gets_no_reply(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    await core.handle(telegram("Où est le site?", external_id="1001:30"))
    result = await core.handle(
        telegram("Où est le site?", external_id="1001:30:edit:1", edit_of="1001:30")
    )
    assert result.replies == ()
    assert len(fake_dialogue.calls) == 1


async def test_an_edited_concern_keeps_its_reference(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    records_a_concern(fake_dialogue, core)
    await core.handle(telegram("Les camions passent à 5h", external_id="1001:40"))
    result = await core.handle(
        telegram(
            "Les camions passent à 5 h chaque matin",
            external_id="1001:40:edit:1",
            edit_of="1001:40",
        )
    )
    assert "C-" in result.replies[0].text
    assert "modifié votre message" in result.replies[0].text
    with core.session() as session:
        assert len(session.exec(select(Concern)).all()) == 1


async def test_in_a_group_a_concern_is_acknowledged_without_being_repeated(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    records_a_concern(fake_dialogue, core)
    result = await core.handle(
        telegram(
            "Mon puits est à sec depuis le dynamitage",
            place="group",
            private_link="https://t.me/trois_collines_bot?start=private",
        )
    )
    text = " ".join(r.text for r in result.replies)
    assert "C-2026-0001" in text
    assert "puits" not in text
    assert "https://t.me/trois_collines_bot?start=private" in text
    with core.session() as session:
        conversation = session.exec(select(Conversation)).one()
        assert conversation.place == "group"
        outgoing = session.exec(select(Message).where(Message.direction == "out")).all()
        assert [m.text for m in outgoing] == [r.text for r in result.replies]


async def test_in_a_group_general_questions_are_answered_in_full(
    core: ConversationCore, fake_dialogue: FakeDialogue
) -> None:
    result = await core.handle(telegram("C'est quoi le niveau de bruit?", place="group"))
    assert result.replies[0].text.startswith("echo[fr]")


async def test_each_group_member_has_their_own_conversation(core: ConversationCore) -> None:
    await core.handle(telegram("Bonjour", key="a", place="group"))
    await core.handle(telegram("Hello there", key="b", place="group"))
    with core.session() as session:
        keys = session.exec(select(Conversation.external_id).order_by(col(Conversation.id))).all()
    assert keys == ["-500:a", "-500:b"]
