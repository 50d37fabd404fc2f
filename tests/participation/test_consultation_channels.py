"""A consultation end to end on the platforms, through the real client libraries and the
loopback stand-ins: subscribers on Telegram and Discord get a native poll, vote in it and
change their mind there; a subscribed group gets a notice to answer in private; the web chat
answers in plain text; at closing the polls are stopped and everyone gets the result in their
language."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import Engine

from bot.common.language import LanguageDetector
from bot.common.types import IncomingMessage
from bot.knowledge import KnowledgeBase
from bot.participation.consultations import Consultations, Draft, Option
from bot.participation.service import Participation
from bot.storage.models import utc_now
from bot.updates.subscriptions import Subscriptions
from tests.participation.test_participation import consultations_for
from tests.support.channels import BothChannels, both_channels
from tests.support.dialogue import scripted_core
from tests.support.fake_discord import FakeDiscord
from tests.support.fake_telegram import FakeTelegram
from tests.support.updates import NewsDialogue
from tests.support.waiting import until

MARC = 3001  # Telegram, French
ANNA = 3002  # Telegram, English
GROUP, LEA = -100500, 3003  # a Telegram group where Léa subscribed
ALICE = 810000000000000021  # Discord, English
JULIE = "julie-web-0002"  # the web chat, French


@dataclass
class Hood(BothChannels):
    consultations: Consultations

    async def web(self, text: str) -> list[str]:
        result = await self.core.handle(
            IncomingMessage(channel="web", conversation_key=JULIE, sender_key=JULIE, text=text)
        )
        return [reply.text for reply in result.replies]


@pytest.fixture
async def hood(
    database: Engine, detector: LanguageDetector, knowledge: KnowledgeBase
) -> AsyncIterator[Hood]:
    consultations = consultations_for(database, knowledge)
    core = scripted_core(
        database,
        NewsDialogue(),
        detector,
        knowledge,
        subscriptions=Subscriptions(knowledge.update_topics),
        participation=Participation(consultations),
    )
    async with (
        FakeTelegram() as telegram,
        FakeDiscord() as discord,
        both_channels(
            core, database, telegram, discord,
            telegram_options={"consultations": consultations},
            discord_options={"consultations": consultations},
        ) as channels,
    ):  # fmt: skip
        yield Hood(**vars(channels), consultations=consultations)


async def test_a_consultation_in_native_polls_votes_changes_closing_and_results(
    hood: Hood,
) -> None:
    tg = hood.telegram
    tg.send_text(chat_id=MARC, user_id=MARC, text="/subscribe")
    tg.send_text(chat_id=ANNA, user_id=ANNA, text="/language en")
    tg.send_text(chat_id=ANNA, user_id=ANNA, text="/subscribe")
    tg.send_text(chat_id=GROUP, user_id=LEA, text="/subscribe", chat_type="supergroup")
    hood.discord.dm(user_id=ALICE, content="Keep me posted")
    await hood.web("Tenez-moi au courant")
    await hood.settled()

    created = hood.consultations.create(
        Draft(
            question_fr="Quel nom donner au nouveau chemin d'accès?",
            question_en="What should the new access road be called?",
            options=(
                Option(fr="Chemin des Éoliennes", en="Chemin des Éoliennes"),
                Option(fr="Chemin du Vent", en="Chemin du Vent"),
                Option(fr="Montée des Trois-Collines", en="Montée des Trois-Collines", ideas=4),
            ),
            purpose_fr="Le nom choisi sera proposé au conseil municipal.",
            purpose_en="The chosen name will be put to the municipal council.",
            closes_at=utc_now() + timedelta(days=10),
        ),
        author="staff:web:marie",
    )
    await hood.settled()

    # Telegram: the purpose in words, then a native poll, in each citizen's language.
    (marc_poll,) = tg.polls_sent_to(MARC)
    (anna_poll,) = tg.polls_sent_to(ANNA)
    assert marc_poll.question == "Quel nom donner au nouveau chemin d'accès?"
    assert anna_poll.question == "What should the new access road be called?"
    assert list(marc_poll.options)[2] == "Montée des Trois-Collines"
    assert not marc_poll.is_anonymous  # Telegram tells the bot each vote; only Marc sees his
    assert "proposé au conseil municipal" in hood.on_telegram(MARC)[-1]
    # The group is not polled (its members would see each other's votes): a notice instead.
    assert tg.polls_sent_to(GROUP) == []
    assert f"/vote {created.reference}" in hood.on_telegram(GROUP)[-1]
    # Discord: a native poll in the DM.
    (alice_poll,) = hood.discord.polls_in(hood.discord.dm_channel_id(ALICE))
    assert alice_poll.question == "What should the new access road be called?"

    # Votes in the polls, a change of mind in each, and a plain-text vote on the web.
    tg.answer_poll(chat_id=MARC, message_id=marc_poll.message_id, user_id=MARC, option_ids=[0])
    tg.answer_poll(chat_id=ANNA, message_id=anna_poll.message_id, user_id=ANNA, option_ids=[1])
    tg.answer_poll(chat_id=MARC, message_id=marc_poll.message_id, user_id=MARC, option_ids=[2])
    channel_id = hood.discord.dm_channel_id(ALICE)
    hood.discord.vote_poll(
        channel_id=channel_id, message_id=alice_poll.message_id, user_id=ALICE, answer_id=1
    )
    hood.discord.vote_poll(
        channel_id=channel_id, message_id=alice_poll.message_id, user_id=ALICE, answer_id=3
    )
    said = await hood.web("3")
    assert "« 3. Montée des Trois-Collines »" in said[0]
    await hood.settled()
    await until(lambda: hood.consultations.results(created.reference).participants == 4, "4 voices")
    live = hood.consultations.results(created.reference)
    assert live.counts == (0, 1, 3)
    assert live.by_channel == {"telegram": 2, "discord": 1, "web": 1}
    # Léa answers in private, with the command the group notice gave, in plain text.
    tg.send_text(chat_id=LEA, user_id=LEA, text=f"/vote {created.reference} 2")
    await hood.settled()
    assert "Chemin du Vent" in hood.on_telegram(LEA)[-1]
    assert hood.consultations.results(created.reference).counts == (0, 2, 3)

    hood.consultations.close(created.reference, actor="staff:web:marie")
    await hood.settled()
    stops = tg.calls_of("stopPoll")
    assert sorted(int(c["message_id"]) for c in stops) == sorted(
        [marc_poll.message_id, anna_poll.message_id]
    )
    assert tg.poll_of(chat_id=MARC, message_id=marc_poll.message_id).is_closed
    assert hood.discord.polls_in(channel_id)[0].finalized
    assert "3. Montée des Trois-Collines : 3 (60%)" in hood.on_telegram(MARC)[-1]
    assert "not a representative survey" in hood.on_telegram(ANNA)[-1]
    assert "5 people answered" in hood.on_discord(ALICE)[-1]
    assert "Chemin du Vent : 2 (40%)" in hood.on_telegram(LEA)[-1]
    assert "5 personnes ont répondu" in hood.on_telegram(GROUP)[-1]
    web_notices = [text for _, text in hood.core.notices(channel="web", conversation_key=JULIE)]
    assert "5 personnes ont répondu (Discord 1, Telegram 3, web 1)" in web_notices[-1]
    with pytest.raises(ValueError, match="closed"):
        tg.answer_poll(chat_id=MARC, message_id=marc_poll.message_id, user_id=MARC, option_ids=[1])
