"""The Telegram stand-in answers python-telegram-bot 22.8 the way the real Bot API does."""

from __future__ import annotations

import asyncio
import datetime as dt
import html
from collections.abc import AsyncIterator, Callable

import pytest
import telegram
from aiohttp import web
from telegram import (
    BotCommand,
    BotCommandScopeAllPrivateChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputPollOption,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import Application, CommandHandler, ContextTypes
from telegram.helpers import escape_markdown

from tests.support.fake_telegram import FakeTelegram


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def bot(fake: FakeTelegram) -> AsyncIterator[telegram.Bot]:
    async with telegram.Bot(fake.token, base_url=fake.base_url) as client:
        yield client


async def eventually(condition: Callable[[], bool], within: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def ids(updates: tuple[Update, ...]) -> list[int]:
    return [update.update_id for update in updates]


async def test_get_me_describes_the_bot(fake: FakeTelegram, bot: telegram.Bot) -> None:
    me = await bot.get_me()

    assert (me.id, me.username, me.first_name) == (123456, "trois_collines_bot", fake.first_name)
    assert me.is_bot
    assert me.can_join_groups
    assert me.can_read_all_group_messages is False
    assert me.supports_inline_queries is False
    assert fake.calls_of("getMe")  # Bot.initialize() already asked once


async def test_wrong_token_and_unknown_method(fake: FakeTelegram, bot: telegram.Bot) -> None:
    with pytest.raises(InvalidToken, match="rejected by the server"):
        async with telegram.Bot("654321:revoked", base_url=fake.base_url):
            pass

    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")
    assert ("sendTelepathy", 404, "Not Found") in fake.errors


async def test_offset_confirms_and_forgets_updates(fake: FakeTelegram, bot: telegram.Bot) -> None:
    first = fake.send_text(chat_id=7, user_id=7, text="un")
    second = fake.send_text(chat_id=7, user_id=7, text="deux")
    third = fake.send_text(chat_id=7, user_id=7, text="trois")
    assert (first, second, third) == (1000, 1001, 1002)

    assert ids(await bot.get_updates()) == [1000, 1001, 1002]
    assert ids(await bot.get_updates()) == [1000, 1001, 1002]  # nothing confirmed yet
    assert ids(await bot.get_updates(offset=1001, limit=1)) == [1001]
    assert fake.confirmed_offset == 1001
    assert fake.pending_update_ids() == [1001, 1002]
    assert ids(await bot.get_updates(offset=1000)) == [1001, 1002]  # 1000 is gone for good
    assert await bot.get_updates(offset=1003) == ()
    assert fake.pending_update_ids() == []


async def test_allowed_updates_persist_like_telegram(fake: FakeTelegram, bot: telegram.Bot) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Oui", callback_data="yes")]])
    question = await bot.send_message(7, "D'accord ?", reply_markup=keyboard)
    fake.send_text(chat_id=7, user_id=7, text="texte")
    pressed = fake.press_button(chat_id=7, user_id=7, message_id=question.message_id, data="yes")

    updates = await bot.get_updates(allowed_updates=["callback_query"])
    assert ids(updates) == [pressed]
    assert updates[0].callback_query is not None
    assert updates[0].callback_query.data == "yes"
    fake.send_text(chat_id=7, user_id=7, text="encore")
    assert await bot.get_updates(offset=pressed + 1) == ()  # the list still applies


async def test_long_poll_returns_as_soon_as_an_update_arrives(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    loop = asyncio.get_running_loop()
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.2)
    assert not poll.done()

    started = loop.time()
    fake.send_text(chat_id=9, user_id=9, text="Bonjour")
    updates = await asyncio.wait_for(poll, 2)
    assert loop.time() - started < 1
    assert updates[0].message is not None
    assert updates[0].message.text == "Bonjour"

    started = loop.time()
    assert await bot.get_updates(offset=updates[0].update_id + 1, timeout=1) == ()
    assert loop.time() - started >= 0.9


async def test_conflicts_with_another_poll_and_with_a_webhook(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    async with telegram.Bot(fake.token, base_url=fake.base_url) as other:
        older = asyncio.create_task(bot.get_updates(timeout=5))
        await asyncio.sleep(0.2)
        newer = asyncio.create_task(other.get_updates(timeout=5))
        with pytest.raises(Conflict, match="terminated by other getUpdates request"):
            await older
        fake.send_text(chat_id=3, user_id=3, text="salut")
        assert ids(await newer) == [1000]

    assert await bot.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(Conflict, match="can't use getUpdates method while webhook is active"):
        await bot.get_updates()
    info = await bot.get_webhook_info()
    assert info.url == "http://127.0.0.1:9/hook"
    assert info.has_custom_certificate is False
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


async def test_html_is_parsed_into_visible_text_and_utf16_entities(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    message = await bot.send_message(
        42, "<b>Réunion</b> 😀 <i>jeudi</i> &lt;18h&gt; &amp; café", parse_mode="HTML"
    )

    assert message.text == "Réunion 😀 jeudi <18h> & café"
    bold, italic = message.entities
    assert (bold.type, bold.offset, bold.length) == ("bold", 0, 7)
    assert (italic.type, italic.offset, italic.length) == ("italic", 11, 5)  # 😀 counts 2
    assert message.parse_entity(italic) == "jeudi"
    sent = fake.sent[-1]
    assert (sent.chat_id, sent.message_id, sent.parse_mode) == (42, message.message_id, "HTML")
    assert sent.entities_text == message.text
    assert sent.text.startswith("<b>Réunion</b>")

    for broken, error in [
        ("a < b", r"unsupported start tag \"\" at byte offset 2"),
        ("<b>gras</i>", "unmatched end tag"),
        ("ligne<br>suivante", r"unsupported start tag \"br\""),
        ("Q&A", "character '&' at byte offset 1 does not start an html entity"),
    ]:
        with pytest.raises(BadRequest, match=f"(?i)can't parse entities: {error}"):
            await bot.send_message(42, broken, parse_mode="HTML")
    assert len(fake.sent) == 1  # refused messages are not recorded


async def test_markdown_v2_needs_escaping(fake: FakeTelegram, bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)character '\.' is reserved and must be escaped"):
        await bot.send_message(42, "Merci.", parse_mode="MarkdownV2")

    text = escape_markdown("Fin du chantier (phase 2-3) : 15.06!", version=2) + " *bientôt*"
    message = await bot.send_message(42, text, parse_mode="MarkdownV2")
    assert message.text == "Fin du chantier (phase 2-3) : 15.06! bientôt"
    assert [entity.type for entity in message.entities] == ["bold"]


async def test_text_must_be_non_empty_and_at_most_4096_utf16_units(bot: telegram.Bot) -> None:
    long_markup = "<b>" + "a" * 4096 + "</b>"
    assert len((await bot.send_message(1, long_markup, parse_mode="HTML")).text) == 4096

    for too_long in ["a" * 4097, "😀" * 2049]:  # 2049 characters, 4098 UTF-16 code units
        with pytest.raises(BadRequest, match="Message is too long"):
            await bot.send_message(1, too_long)
    for empty, mode in [("  \n ", None), ("<b> </b>", "HTML")]:
        with pytest.raises(BadRequest, match="Message text is empty"):
            await bot.send_message(1, empty, parse_mode=mode)


async def test_injected_faults_and_blocked_chats(
    fake: FakeTelegram, bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.fail_next("sendMessage", retry_after=3)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(1, "vite")
    assert flood.value.retry_after == dt.timedelta(seconds=3)
    assert fake.errors[-1] == ("sendMessage", 429, "Too Many Requests: retry after 3")

    fake.fail_next("sendMessage", status=502, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match="Bad Gateway"):
            await bot.send_message(1, "encore")
    assert (await bot.send_message(1, "enfin")).text == "enfin"

    fake.block_chat(5)
    fake.block_chat(-6)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_message(5, "coucou")
    with pytest.raises(Forbidden, match="bot was kicked from the group chat"):
        await bot.send_message(-6, "coucou")
    assert [message.text for message in fake.sent] == ["enfin"]
    assert len(fake.calls_of("sendMessage")) == 6


async def test_commands_are_recorded_by_scope_and_language(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    await bot.set_my_commands(
        [("start", "Commencer"), ("aide", "Obtenir de l'aide")], language_code="fr"
    )
    await bot.set_my_commands(
        [BotCommand("start", "Start"), BotCommand("help", "Get help")],
        scope=BotCommandScopeAllPrivateChats(),
        language_code="en",
    )
    await bot.set_my_commands([("start", "Start")])

    assert fake.commands[("default", "fr")] == [
        {"command": "start", "description": "Commencer"},
        {"command": "aide", "description": "Obtenir de l'aide"},
    ]
    assert [c["command"] for c in fake.commands[("all_private_chats", "en")]] == ["start", "help"]
    assert fake.commands[("default", None)] == [{"command": "start", "description": "Start"}]
    assert fake.calls_of("setMyCommands")[0]["commands"][1]["command"] == "aide"  # JSON decoded
    french = await bot.get_my_commands(language_code="fr")
    assert [command.command for command in french] == ["start", "aide"]
    assert await bot.get_my_commands(language_code="de") == ()

    assert await bot.delete_my_commands(language_code="fr")
    assert ("default", "fr") not in fake.commands
    with pytest.raises(BadRequest, match=r"(?i)bot_command_invalid"):
        await bot.set_my_commands([("Démarrer", "Commencer")])


async def test_webhook_gets_secret_header_and_retries_until_2xx(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    received: list[tuple[str | None, dict[str, object]]] = []
    statuses = [500, 200]

    async def hook(request: web.Request) -> web.Response:
        received.append(
            (request.headers.get("X-Telegram-Bot-Api-Secret-Token"), await request.json())
        )
        return web.Response(status=statuses.pop(0) if statuses else 200)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        first = fake.send_text(chat_id=11, user_id=11, text="premier")
        second = fake.send_text(chat_id=11, user_id=11, text="second")
        assert await bot.set_webhook(url, secret_token="s3cret_-token")

        await eventually(lambda: len(fake.webhook_deliveries) >= 3)
        assert fake.webhook_deliveries[:3] == [(first, 500), (first, 200), (second, 200)]
        assert {secret for secret, _ in received} == {"s3cret_-token"}
        texts = [Update.de_json(body, bot).effective_message.text for _, body in received]
        assert texts[:3] == ["premier", "premier", "second"]
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 0
        assert (
            info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        )
    finally:
        await bot.delete_webhook()
        await runner.cleanup()


async def test_rate_limits_follow_telegram_guidance(
    fake: FakeTelegram, bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    now = [1000.0]
    fake.clock = lambda: now[0]
    fake.enforce_rate_limits = True

    for _ in range(3):  # a burst of three in a private chat is fine...
        await bot.send_message(5, "x")
    with pytest.raises(RetryAfter) as flood:  # ...a fourth in the same second is not
        await bot.send_message(5, "x")
    assert flood.value.retry_after == dt.timedelta(seconds=1)
    now[0] += 1.0
    await bot.send_message(5, "x")  # sustained: one per second

    for index in range(20):  # 20 per minute in a group, even when spaced by a second
        now[0] += 1.0
        await bot.send_message(-77, f"m{index}")
    now[0] += 1.0
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(-77, "one too many")
    assert flood.value.retry_after == dt.timedelta(seconds=40)

    now[0] += 100.0
    for chat_id in range(100, 130):  # 30 per second overall
        await bot.send_message(chat_id, "annonce")
    with pytest.raises(RetryAfter):
        await bot.send_message(130, "annonce")
    assert [chat for chat, _ in fake.rate_limited] == [5, -77, 130]
    assert fake.sent[-1].at == now[0]


async def test_citizen_helpers_build_updates_that_ptb_parses(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Oui", callback_data="vote:oui")]])
    question = await bot.send_message(21, "Êtes-vous d'accord ?", reply_markup=keyboard)

    fake.send_text(chat_id=21, user_id=21, text="😀 /aide@trois_collines_bot", language_code="fr")
    fake.send_text(
        chat_id=-100500,
        user_id=22,
        text="bonjour",
        chat_type="supergroup",
        mention_bot=True,
        reply_to_bot=True,
        thread_id=4,
    )
    fake.send_text(chat_id=-600, user_id=23, text="/start", chat_type="group", first_name="Zoé")
    for kind in ["photo", "voice", "sticker", "document", "location", "video", "audio", "contact"]:
        fake.send_media(
            chat_id=21, user_id=21, kind=kind, caption="vue" if kind == "photo" else None
        )
    fake.edit_text(
        chat_id=21, message_id=fake.last_citizen_message_id(21) - 8, text="/aide corrigé"
    )
    fake.press_button(chat_id=21, user_id=21, message_id=question.message_id, data="vote:oui")
    fake.block_chat(24, notify=True)

    raw = fake.pending_updates()
    parsed = [Update.de_json(update, bot) for update in raw]
    assert all(update is not None for update in parsed)
    assert [update.update_id for update in await bot.get_updates()] == fake.pending_update_ids()

    command, mention, group, *media, edited, button, member = parsed
    assert (
        command.message.parse_entities(["bot_command"]).popitem()[1] == "/aide@trois_collines_bot"
    )
    assert command.message.entities[0].offset == 3  # after a 2-unit emoji and a space
    assert command.effective_user.language_code == "fr"
    assert mention.message.text == "@trois_collines_bot bonjour"
    assert mention.message.entities[0].type == "mention"
    assert mention.message.reply_to_message.from_user.id == fake.bot_id
    assert mention.message.chat.title
    assert mention.message.chat.type == "supergroup"
    assert mention.message.message_thread_id == 4
    assert (group.message.chat.type, group.effective_user.first_name) == ("group", "Zoé")
    assert all(update.message.effective_attachment for update in media)
    assert media[0].message.caption == "vue"
    assert media[2].message.sticker.emoji == "👍"
    assert edited.edited_message.edit_date is not None
    assert edited.edited_message.message_id == command.message.message_id
    query = button.callback_query
    assert (query.data, query.message.message_id) == ("vote:oui", question.message_id)
    assert member.my_chat_member.new_chat_member.status == "kicked"

    assert await bot.answer_callback_query(query.id, text="Merci !")
    assert fake.callback_answers[0]["text"] == "Merci !"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await bot.answer_callback_query(query.id)
    edited_question = await bot.edit_message_text("Merci d'avoir voté", 21, question.message_id)
    assert edited_question.edit_date is not None
    assert edited_question.reply_markup is None  # an edit without markup drops the keyboard
    with pytest.raises(BadRequest, match=r"(?i)message is not modified"):
        await bot.edit_message_text("Merci d'avoir voté", 21, question.message_id)


async def test_application_polls_and_replies_end_to_end(fake: FakeTelegram) -> None:
    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        name = html.escape(update.effective_user.first_name)
        await update.message.reply_html(f"Bonjour <b>{name}</b> !")

    application = Application.builder().token(fake.token).base_url(fake.base_url).build()
    application.add_handler(CommandHandler("start", start))
    async with application:
        await application.start()
        await application.updater.start_polling(poll_interval=0, timeout=5)
        fake.send_text(chat_id=5, user_id=5, text="/start", first_name="<Zoé>")
        (reply,) = await fake.wait_for_sent(1, chat_id=5, timeout=5)
        await application.updater.stop()
        await application.stop()

    assert reply.entities_text == "Bonjour <Zoé> !"
    assert fake.calls_of("deleteWebhook")  # the updater's bootstrap
    assert fake.pending_update_ids() == []
    assert fake.confirmed_offset == 1001  # confirmed by the updater's last getUpdates


STAFF_FORUM = -1001987654321
MANAGER = 501


async def test_forum_topics_live_and_die_like_telegrams(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    fake.add_forum(STAFF_FORUM, title="Accueil citoyens — équipe")
    chat = await bot.get_chat(STAFF_FORUM)
    assert (chat.type, chat.is_forum, chat.title) == (
        "supergroup",
        True,
        "Accueil citoyens — équipe",
    )

    topic = await bot.create_forum_topic(STAFF_FORUM, "  Amélie — stationnement  ")
    assert isinstance(topic, telegram.ForumTopic)
    assert topic.name == "Amélie — stationnement"  # trimmed, as TDLib cleans names
    assert topic.icon_color in (0x6FB9F0, 0xFFD67E, 0xCB86DB, 0x8EEE98, 0xFF93B2, 0xFB6F5F)
    thread = topic.message_thread_id

    sent = await bot.send_message(STAFF_FORUM, "Nouvelle demande", message_thread_id=thread)
    assert (sent.message_thread_id, sent.is_topic_message) == (thread, True)
    assert sent.reply_to_message is not None  # a topic message answers the topic's first one
    assert sent.reply_to_message.message_id == thread
    assert sent.reply_to_message.forum_topic_created is not None
    assert sent.reply_to_message.forum_topic_created.name == "Amélie — stationnement"
    assert [m.entities_text for m in fake.sent_to_topic(STAFF_FORUM, thread)] == [
        "Nouvelle demande"
    ]
    history = fake.topic_history(STAFF_FORUM, thread)
    assert [m["message_id"] for m in history] == [thread, sent.message_id]
    assert history[0]["forum_topic_created"]["name"] == "Amélie — stationnement"

    assert await bot.edit_forum_topic(STAFF_FORUM, thread, name="Amélie — en cours")
    with pytest.raises(BadRequest, match=r"(?i)^topic_not_modified$"):
        await bot.edit_forum_topic(STAFF_FORUM, thread, name="Amélie — en cours")
    assert await bot.close_forum_topic(STAFF_FORUM, thread)
    with pytest.raises(BadRequest, match=r"(?i)^topic_not_modified$"):
        await bot.close_forum_topic(STAFF_FORUM, thread)
    closed = fake.topic(STAFF_FORUM, thread)
    assert (closed.name, closed.closed, closed.deleted) == ("Amélie — en cours", True, False)
    # An admin with can_manage_topics may still write in a closed topic.
    await bot.send_message(STAFF_FORUM, "Note interne", message_thread_id=thread)
    assert await bot.reopen_forum_topic(STAFF_FORUM, thread)
    assert [
        next(key for key in m if key.startswith("forum_topic_") or key == "text")
        for m in fake.topic_history(STAFF_FORUM, thread)
    ] == [
        "forum_topic_created",
        "text",
        "forum_topic_edited",
        "forum_topic_closed",
        "text",
        "forum_topic_reopened",
    ]

    assert await bot.delete_forum_topic(STAFF_FORUM, thread)
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_message(STAFF_FORUM, "Encore là ?", message_thread_id=thread)
    with pytest.raises(BadRequest, match=r"(?i)^topic_id_invalid$"):
        await bot.close_forum_topic(STAFF_FORUM, thread)
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_message(STAFF_FORUM, "Nulle part", message_thread_id=424242)
    assert [(t.thread_id, t.name, t.closed, t.deleted) for t in fake.topics(STAFF_FORUM)] == [
        (thread, "Amélie — en cours", False, True)
    ]
    assert fake.topic_history(STAFF_FORUM, thread) == []  # its messages went with it
    with pytest.raises(BadRequest, match=r"(?i)message to be replied not found"):
        await bot.send_message(STAFF_FORUM, "Réponse", reply_to_message_id=sent.message_id)
    assert len(fake.sent_to_topic(STAFF_FORUM, thread)) == 2  # what the bot did stays recorded


async def test_topics_need_a_forum_and_the_right_rights(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    with pytest.raises(BadRequest, match=r"^The chat is not a forum$"):
        await bot.create_forum_topic(-1001000000001, "Sujet")  # a supergroup without topics
    with pytest.raises(BadRequest, match=r"^The chat is not a forum$"):
        await bot.create_forum_topic(42, "Sujet")

    fake.add_forum(STAFF_FORUM)
    with pytest.raises(BadRequest, match=r"^Title must be non-empty$"):
        await bot.create_forum_topic(STAFF_FORUM, " \n ")
    long = await bot.create_forum_topic(STAFF_FORUM, "x" * 200)
    assert len(long.name) == 128

    fake.add_forum(-1001000000002, can_manage_topics=False)
    with pytest.raises(BadRequest, match=r"^Not enough rights to create a topic$"):
        await bot.create_forum_topic(-1001000000002, "Sujet")

    members_forum = -1001000000003
    fake.add_forum(members_forum, can_manage_topics=False, members_can_create_topics=True)
    own = await bot.create_forum_topic(members_forum, "Créé par le bot")
    assert await bot.close_forum_topic(members_forum, own.message_thread_id)  # its creator
    with pytest.raises(BadRequest, match=r"(?i)^topic_closed$"):
        await bot.send_message(members_forum, "Fermé ?", message_thread_id=own.message_thread_id)
    someone_elses = fake.create_topic(chat_id=members_forum, name="Créé par Claire", user_id=77)
    with pytest.raises(BadRequest, match=r"^Not enough rights to close or open the topic$"):
        await bot.close_forum_topic(members_forum, someone_elses)
    with pytest.raises(BadRequest, match=r"^Invalid message thread identifier specified$"):
        await bot.close_forum_topic(members_forum, 0)
    assert [t.closed for t in fake.topics(members_forum)] == [True, False]
    assert fake.errors[-1] == (
        "closeForumTopic",
        400,
        "Bad Request: invalid message thread identifier specified",
    )


async def test_people_write_in_topics_and_the_bot_answers_there(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    fake.add_forum(STAFF_FORUM)
    topic = await bot.create_forum_topic(STAFF_FORUM, "Zoé — bruit")
    thread = topic.message_thread_id
    relayed = await bot.send_message(
        STAFF_FORUM, "Zoé : « Trop de bruit »", message_thread_id=thread
    )

    fake.send_text(
        chat_id=STAFF_FORUM,
        user_id=MANAGER,
        first_name="Claire",
        username="claire_cm",
        language_code="fr",
        text="Je prends ce dossier",
        thread_id=thread,
    )
    fake.send_text(
        chat_id=STAFF_FORUM, user_id=MANAGER, text="Réponse", thread_id=thread, reply_to_bot=True
    )
    fake.send_text(
        chat_id=STAFF_FORUM,
        user_id=MANAGER,
        text="Précision",
        reply_to_message_id=relayed.message_id,
    )
    other = fake.create_topic(chat_id=STAFF_FORUM, name="Sujet libre", user_id=MANAGER)
    fake.close_topic(chat_id=STAFF_FORUM, thread_id=other, user_id=MANAGER)
    with pytest.raises(LookupError):
        fake.send_text(chat_id=STAFF_FORUM, user_id=MANAGER, text="?", thread_id=999)

    plain, reply, quoted, created, closed = (u.message for u in await bot.get_updates())
    assert plain is not None
    assert (plain.chat.id, plain.chat.type, plain.chat.is_forum) == (
        STAFF_FORUM,
        "supergroup",
        True,
    )
    assert (plain.message_thread_id, plain.is_topic_message) == (thread, True)
    assert plain.reply_to_message is not None
    assert plain.reply_to_message.forum_topic_created is not None
    assert plain.reply_to_message.forum_topic_created.name == "Zoé — bruit"
    assert plain.from_user is not None
    assert (plain.from_user.id, plain.from_user.username) == (MANAGER, "claire_cm")
    assert (plain.from_user.first_name, plain.from_user.language_code) == ("Claire", "fr")
    assert reply.reply_to_message.message_id == relayed.message_id  # the bot's last, in the topic
    assert reply.message_thread_id == thread
    assert quoted.message_thread_id == thread  # a reply lands in the replied message's topic
    assert created.forum_topic_created.name == "Sujet libre"
    assert created.message_thread_id == other
    assert closed.forum_topic_closed is not None
    assert closed.message_thread_id == other
    assert fake.topic(STAFF_FORUM, other).closed

    answer = await bot.send_message(STAFF_FORUM, "Bien noté", reply_to_message_id=plain.message_id)
    assert answer.message_thread_id == thread  # no message_thread_id needed for a reply
    assert fake.sent[-1].message_thread_id == thread
    with pytest.raises(BadRequest, match=r"^Message can't be deleted$"):
        await bot.delete_message(STAFF_FORUM, thread)  # a topic's creation message

    fake.delete_topic(chat_id=STAFF_FORUM, thread_id=thread)  # an admin, in the app
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_message(STAFF_FORUM, "Toujours là ?", message_thread_id=thread)


COMMUNITY = -1001000000077
ALICE, BOB = 3001, 3002


async def test_pins_need_an_administrator_allowed_to_pin(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    fake.send_text(chat_id=COMMUNITY, user_id=ALICE, chat_type="supergroup", text="Bonjour")
    notice = await bot.send_message(COMMUNITY, "Avis : l'assistant écoute ce groupe.")
    with pytest.raises(
        BadRequest, match=r"^Not enough rights to manage pinned messages in the chat$"
    ):
        await bot.pin_chat_message(COMMUNITY, notice.message_id)  # a plain member
    fake.set_bot_rights(COMMUNITY, administrator=True, can_pin_messages=False)
    with pytest.raises(BadRequest, match=r"^Not enough rights to manage pinned messages"):
        await bot.pin_chat_message(COMMUNITY, notice.message_id)
    assert fake.pins.get(COMMUNITY, []) == []

    fake.set_bot_rights(COMMUNITY, administrator=True, can_pin_messages=True)
    assert await bot.pin_chat_message(COMMUNITY, notice.message_id, disable_notification=True)
    assert fake.calls_of("pinChatMessage")[-1]["disable_notification"] is True
    chat = await bot.get_chat(COMMUNITY)
    assert chat.pinned_message is not None
    assert chat.pinned_message.text == "Avis : l'assistant écoute ce groupe."
    with pytest.raises(BadRequest, match=r"^Message to pin not found$"):
        await bot.pin_chat_message(COMMUNITY, 9999)

    assert await bot.unpin_chat_message(COMMUNITY, notice.message_id)
    assert (await bot.get_chat(COMMUNITY)).pinned_message is None
    with pytest.raises(BadRequest, match=r"^Message to unpin not found$"):
        await bot.unpin_chat_message(COMMUNITY, notice.message_id)

    assert await bot.pin_chat_message(COMMUNITY, notice.message_id)
    fake.delete_by_person(chat_id=COMMUNITY, message_id=notice.message_id)  # no update for it
    assert fake.pins[COMMUNITY] == []
    with pytest.raises(BadRequest, match=r"^Message to pin not found$"):
        await bot.pin_chat_message(COMMUNITY, notice.message_id)

    private = await bot.send_message(ALICE, "Épinglé en privé")
    assert await bot.pin_chat_message(ALICE, private.message_id)  # no rights needed in private


async def test_chat_member_describes_the_bots_place_in_a_group(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    fake.send_text(chat_id=COMMUNITY, user_id=ALICE, chat_type="supergroup", text="Bonjour")
    member = await bot.get_chat_member(COMMUNITY, fake.bot_id)
    assert isinstance(member, telegram.ChatMemberMember)
    fake.set_bot_rights(COMMUNITY, can_pin_messages=True)
    admin = await bot.get_chat_member(COMMUNITY, fake.bot_id)
    assert isinstance(admin, telegram.ChatMemberAdministrator)
    assert admin.can_pin_messages
    assert (await bot.get_chat_member(COMMUNITY, ALICE)).user.first_name == "Citizen"
    with pytest.raises(BadRequest, match=r"^User not found$"):
        await bot.get_chat_member(COMMUNITY, 404404)


async def test_privacy_mode_withholds_group_chatter_from_a_bot_that_is_not_admin(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    assert not (await bot.get_me()).can_read_all_group_messages
    fake.enforce_privacy_mode = True
    chatter = fake.send_text(
        chat_id=COMMUNITY, user_id=ALICE, chat_type="supergroup", text="Les éoliennes, encore"
    )
    command = fake.send_text(
        chat_id=COMMUNITY, user_id=BOB, chat_type="supergroup", text="/optout@trois_collines_bot"
    )
    mention = fake.send_text(
        chat_id=COMMUNITY, user_id=BOB, chat_type="supergroup", text="ça?", mention_bot=True
    )
    reply = fake.send_text(
        chat_id=COMMUNITY, user_id=ALICE, chat_type="supergroup", text="Oui", reply_to_bot=True
    )
    private = fake.send_text(chat_id=ALICE, user_id=ALICE, text="En privé, tout arrive")
    updates = await bot.get_updates(timeout=0)
    assert ids(updates) == [command, mention, reply, private]
    assert fake.withheld == [chatter]
    assert [u.message.from_user.id for u in updates if u.message and u.message.from_user] == [
        BOB,
        BOB,
        ALICE,
        ALICE,
    ]

    fake.set_bot_rights(COMMUNITY, can_pin_messages=False)  # administrators get everything
    seen = fake.send_text(
        chat_id=COMMUNITY, user_id=BOB, chat_type="supergroup", text="Le parc, vous en pensez quoi"
    )
    fake.privacy_mode = False
    assert (await bot.get_me()).can_read_all_group_messages
    fake.set_bot_rights(COMMUNITY, administrator=False)
    everything = fake.send_text(
        chat_id=COMMUNITY, user_id=ALICE, chat_type="supergroup", text="Privacy off: reçu"
    )
    later = await bot.get_updates(offset=updates[-1].update_id + 1, timeout=0)
    assert ids(later) == [seen, everything]


PARK_QUESTION = "Quel jour pour la réunion sur le parc ?"
DAYS = ["Mardi", "Jeudi", "Samedi"]


async def test_send_poll_returns_the_poll_as_people_see_it(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    message = await bot.send_poll(
        COMMUNITY,
        PARK_QUESTION,
        ["Mardi", InputPollOption("  Jeudi  "), "Samedi"],
        is_anonymous=False,
        protect_content=True,
    )

    poll = message.poll
    assert poll is not None
    assert (message.chat.id, message.from_user.id, message.text) == (COMMUNITY, fake.bot_id, None)
    assert message.has_protected_content
    assert poll.question == PARK_QUESTION
    assert [option.text for option in poll.options] == DAYS  # "  Jeudi  " trimmed
    assert [option.voter_count for option in poll.options] == [0, 0, 0]
    assert [option.persistent_id for option in poll.options] == ["0", "1", "2"]
    assert (poll.total_voter_count, poll.is_closed, poll.is_anonymous) == (0, False, False)
    assert (poll.type, poll.allows_multiple_answers, poll.allows_revoting) == (
        "regular",
        False,
        True,
    )
    assert poll.members_only is False
    # python-telegram-bot 22 sends InputPollOption objects, even for plain strings.
    assert fake.calls_of("sendPoll")[0]["options"][0] == {"text": "Mardi"}

    (recorded,) = fake.polls_sent_to(COMMUNITY)
    assert (recorded.message_id, recorded.poll_id) == (message.message_id, poll.id)
    assert (recorded.question, recorded.options, recorded.votes) == (PARK_QUESTION, DAYS, {})
    assert (recorded.is_anonymous, recorded.is_closed) == (False, False)
    assert fake.sent == []  # `sent` keeps sendMessage calls only
    assert "Samedi" in fake.still_visible(COMMUNITY)

    default = await bot.send_poll(ALICE, "Un café ?", ["Oui"])  # one option: Bot API 10.0
    assert default.poll.is_anonymous  # Telegram's default
    assert default.poll.id != poll.id
    assert [p.question for p in fake.polls_sent_to(ALICE)] == ["Un café ?"]

    quiz = await bot.send_poll(
        ALICE,
        "Combien de collines ?",
        ["Deux", "Trois"],
        type=telegram.Poll.QUIZ,
        correct_option_ids=[1],
        explanation="Trois-Collines, bien sûr",
    )
    assert quiz.poll.type == "quiz"
    assert quiz.poll.correct_option_ids == (1,)  # the bot that sent a quiz sees its solution
    assert quiz.poll.explanation == "Trois-Collines, bien sûr"
    assert quiz.poll.allows_revoting is False  # a quiz's default


async def test_send_poll_refuses_what_telegram_refuses(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    thirteen = [f"Option {n}" for n in range(13)]
    with pytest.raises(BadRequest, match=r"^Poll can't have more than 12 options$"):
        await bot.send_poll(ALICE, PARK_QUESTION, thirteen)
    with pytest.raises(BadRequest, match=r"^Poll must have at least one answer option$"):
        await bot.send_poll(ALICE, PARK_QUESTION, [])
    for question in ["", "  \n "]:
        with pytest.raises(BadRequest, match=r"^Text must be non-empty$"):
            await bot.send_poll(ALICE, question, DAYS)
    with pytest.raises(BadRequest, match=r"^Poll question length must not exceed 300$"):
        await bot.send_poll(ALICE, "?" * 301, DAYS)
    with pytest.raises(BadRequest, match=r"^Text must be non-empty$"):
        await bot.send_poll(ALICE, PARK_QUESTION, ["Mardi", " "])
    with pytest.raises(BadRequest, match=r"^Poll options length must not exceed 100$"):
        await bot.send_poll(ALICE, PARK_QUESTION, ["Mardi", "x" * 101])
    with pytest.raises(BadRequest, match=r"^Correct quiz option list must be non-empty$"):
        await bot.send_poll(ALICE, "Combien ?", ["Deux", "Trois"], type=telegram.Poll.QUIZ)
    with pytest.raises(BadRequest, match=r"^Wrong quiz correct_option_id$"):
        await bot.send_poll(
            ALICE, "Combien ?", ["Deux", "Trois"], type="quiz", correct_option_ids=[2]
        )
    with pytest.raises(BadRequest, match=r"^Unsupported poll type specified$"):
        await bot.send_poll(ALICE, PARK_QUESTION, DAYS, type="survey")
    assert fake.polls_sent_to(ALICE) == []  # nothing refused was sent
    assert fake.still_visible(ALICE) == ""

    twelve = await bot.send_poll(ALICE, "?" * 300, ["x" * 100, *thirteen[:11]])
    assert len(twelve.poll.options) == 12


async def test_votes_in_a_public_poll_reach_the_bot_as_poll_answers(
    fake: FakeTelegram, bot: telegram.Bot
) -> None:
    sent = await bot.send_poll(COMMUNITY, PARK_QUESTION, DAYS, is_anonymous=False)
    where = {"chat_id": COMMUNITY, "message_id": sent.message_id}

    first = fake.answer_poll(**where, user_id=ALICE, option_ids=[0], first_name="Alice")
    fake.answer_poll(**where, user_id=BOB, option_ids=[2], first_name="Bob")
    fake.answer_poll(**where, user_id=ALICE, option_ids=[1])  # Alice changes her mind
    fake.answer_poll(**where, user_id=BOB, option_ids=[])  # Bob retracts his vote
    assert fake.answer_poll(**where, user_id=ALICE, option_ids=[1]) == []  # no change, no update

    updates = await bot.get_updates()
    answers = [update.poll_answer for update in updates if update.poll_answer is not None]
    assert [(a.user.id, a.option_ids) for a in answers] == [
        (ALICE, (0,)),
        (BOB, (2,)),
        (ALICE, (1,)),
        (BOB, ()),
    ]
    assert {a.poll_id for a in answers} == {sent.poll.id}
    assert answers[0].user.first_name == "Alice"
    assert answers[2].option_persistent_ids == ("1",)
    assert ids(updates)[:2] == first  # a poll_answer, then the poll's new state
    states = [update.poll for update in updates if update.poll is not None]
    assert [[o.voter_count for o in state.options] for state in states] == [
        [1, 0, 0],
        [1, 0, 1],
        [0, 1, 1],
        [0, 1, 0],
    ]
    assert states[-1].total_voter_count == 1

    recorded = fake.poll_of(**where)
    assert recorded.votes == {ALICE: [1]}
    assert (recorded.voter_counts, recorded.total_voter_count) == ([0, 1, 0], 1)

    with pytest.raises(ValueError, match="only one answer"):
        fake.answer_poll(**where, user_id=BOB, option_ids=[0, 2])
    with pytest.raises(ValueError, match="options 0 to 2"):
        fake.answer_poll(**where, user_id=BOB, option_ids=[3])
    with pytest.raises(LookupError):
        fake.answer_poll(chat_id=COMMUNITY, message_id=999, user_id=BOB, option_ids=[0])
    assert fake.poll_of(**where).votes == {ALICE: [1]}  # refused votes change nothing


async def test_votes_follow_the_kind_of_poll(fake: FakeTelegram, bot: telegram.Bot) -> None:
    anonymous = await bot.send_poll(ALICE, "Un café ?", ["Oui", "Non"])
    (state_only,) = fake.answer_poll(
        chat_id=ALICE, message_id=anonymous.message_id, user_id=ALICE, option_ids=[0]
    )
    (update,) = await bot.get_updates()
    assert update.update_id == state_only
    assert update.poll_answer is None  # nobody learns who voted in an anonymous poll
    assert update.poll is not None
    assert [option.voter_count for option in update.poll.options] == [1, 0]
    with pytest.raises(ValueError, match="only user 3001 can vote"):
        fake.answer_poll(
            chat_id=ALICE, message_id=anonymous.message_id, user_id=BOB, option_ids=[1]
        )

    several = await bot.send_poll(
        COMMUNITY, "Quels jours ?", DAYS, is_anonymous=False, allows_multiple_answers=True
    )
    fake.answer_poll(
        chat_id=COMMUNITY, message_id=several.message_id, user_id=BOB, option_ids=[2, 0, 2]
    )
    answer = (await bot.get_updates(offset=update.update_id + 1))[0].poll_answer
    assert answer is not None
    assert answer.option_ids == (0, 2)

    quiz = await bot.send_poll(
        COMMUNITY, "Combien ?", ["Deux", "Trois"], type="quiz", correct_option_ids=[1]
    )
    where = {"chat_id": COMMUNITY, "message_id": quiz.message_id}
    fake.answer_poll(**where, user_id=BOB, option_ids=[0])
    with pytest.raises(ValueError, match="already voted"):
        fake.answer_poll(**where, user_id=BOB, option_ids=[1])
    with pytest.raises(ValueError, match="cannot be retracted"):
        fake.answer_poll(**where, user_id=BOB, option_ids=[])


async def test_poll_answers_respect_allowed_updates(fake: FakeTelegram, bot: telegram.Bot) -> None:
    sent = await bot.send_poll(COMMUNITY, PARK_QUESTION, DAYS, is_anonymous=False)
    where = {"chat_id": COMMUNITY, "message_id": sent.message_id}
    fake.answer_poll(**where, user_id=ALICE, option_ids=[0])
    said = fake.send_text(chat_id=COMMUNITY, user_id=BOB, chat_type="supergroup", text="Jeudi!")

    updates = await bot.get_updates(allowed_updates=["message"])
    assert ids(updates) == [said]
    assert updates[0].message.text == "Jeudi!"
    fake.answer_poll(**where, user_id=BOB, option_ids=[1])
    assert await bot.get_updates(offset=said + 1) == ()  # the list still applies

    (changed, _) = fake.answer_poll(**where, user_id=ALICE, option_ids=[2])
    (update,) = await bot.get_updates(offset=said + 1, allowed_updates=["poll_answer"])
    assert update.update_id == changed
    assert update.poll_answer is not None
    assert (update.poll_answer.user.id, update.poll_answer.option_ids) == (ALICE, (2,))
    assert fake.poll_of(**where).voter_counts == [0, 1, 1]  # withheld updates still counted


async def test_stop_poll_closes_it_for_good(fake: FakeTelegram, bot: telegram.Bot) -> None:
    sent = await bot.send_poll(
        COMMUNITY,
        PARK_QUESTION,
        DAYS,
        is_anonymous=False,
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Détails", url="https://tc.ca")]]),
    )
    where = {"chat_id": COMMUNITY, "message_id": sent.message_id}
    fake.answer_poll(**where, user_id=ALICE, option_ids=[1])
    fake.answer_poll(**where, user_id=BOB, option_ids=[1])

    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Résultats", callback_data="res")]])
    closed = await bot.stop_poll(COMMUNITY, sent.message_id, reply_markup=keyboard)
    assert isinstance(closed, telegram.Poll)
    assert (closed.id, closed.is_closed, closed.total_voter_count) == (sent.poll.id, True, 2)
    assert [option.voter_count for option in closed.options] == [0, 2, 0]
    recorded = fake.poll_of(**where)
    assert (recorded.is_closed, recorded.voter_counts) == (True, [0, 2, 0])

    with pytest.raises(BadRequest, match=r"^Poll has already been closed$"):
        await bot.stop_poll(COMMUNITY, sent.message_id)
    with pytest.raises(ValueError, match="is closed"):
        fake.answer_poll(**where, user_id=BOB, option_ids=[0])
    assert fake.poll_of(**where).votes == {ALICE: [1], BOB: [1]}

    # The bot is told about the stopped poll; a person pressing the new button sees it closed.
    updates = await bot.get_updates(allowed_updates=["poll", "callback_query"])
    assert updates[-1].poll is not None
    assert updates[-1].poll.is_closed
    fake.press_button(
        chat_id=COMMUNITY,
        user_id=ALICE,
        message_id=sent.message_id,
        data="res",
        chat_type="supergroup",
    )
    (pressed,) = await bot.get_updates(offset=updates[-1].update_id + 1)
    assert pressed.callback_query.message.poll.is_closed

    with pytest.raises(BadRequest, match=r"^Message with poll to stop not found$"):
        await bot.stop_poll(COMMUNITY, 9999)
    text = await bot.send_message(COMMUNITY, "Pas un sondage")
    with pytest.raises(BadRequest, match=r"^Message is not a poll$"):
        await bot.stop_poll(COMMUNITY, text.message_id)
    with pytest.raises(BadRequest, match=r"^There is no text in the message to edit$"):
        await bot.edit_message_text("Sondage ?", COMMUNITY, sent.message_id)


async def test_send_poll_goes_through_the_checks_of_send_message(
    fake: FakeTelegram, bot: telegram.Bot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    fake.block_chat(5)
    fake.block_chat(-6)
    with pytest.raises(Forbidden, match="bot was blocked by the user"):
        await bot.send_poll(5, PARK_QUESTION, DAYS)
    with pytest.raises(Forbidden, match="bot was kicked from the group chat"):
        await bot.send_poll(-6, PARK_QUESTION, DAYS)

    fake.fail_next("sendPoll", retry_after=4)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_poll(7, PARK_QUESTION, DAYS)
    assert flood.value.retry_after == dt.timedelta(seconds=4)
    assert fake.errors[-1] == ("sendPoll", 429, "Too Many Requests: retry after 4")
    fake.fail_next("stopPoll", status=502)
    with pytest.raises(NetworkError, match="Bad Gateway"):
        await bot.stop_poll(7, 1)
    assert fake.polls_sent_to(5) == fake.polls_sent_to(-6) == fake.polls_sent_to(7) == []

    now = [1000.0]
    fake.clock = lambda: now[0]
    fake.enforce_rate_limits = True
    await bot.send_message(8, "Un sondage arrive")
    await bot.send_poll(8, PARK_QUESTION, DAYS)
    await bot.send_poll(8, "Et l'heure ?", ["18h", "19h"])
    with pytest.raises(RetryAfter) as flood:  # polls and messages share the per-chat limit
        await bot.send_poll(8, "Un de trop ?", ["Oui", "Non"])
    assert flood.value.retry_after == dt.timedelta(seconds=1)
    assert [p.question for p in fake.polls_sent_to(8)] == [PARK_QUESTION, "Et l'heure ?"]
    assert fake.rate_limited == [(8, 1000.0)]

    fake.add_forum(STAFF_FORUM)
    topic = await bot.create_forum_topic(STAFF_FORUM, "Sondage du parc")
    in_topic = await bot.send_poll(
        STAFF_FORUM, PARK_QUESTION, DAYS, message_thread_id=topic.message_thread_id
    )
    assert (in_topic.message_thread_id, in_topic.is_topic_message) == (
        topic.message_thread_id,
        True,
    )
    assert fake.polls_sent_to(STAFF_FORUM)[0].message_thread_id == topic.message_thread_id
    with pytest.raises(BadRequest, match=r"^Message thread not found$"):
        await bot.send_poll(STAFF_FORUM, PARK_QUESTION, DAYS, message_thread_id=424242)


async def test_poll_answers_go_to_the_webhook(fake: FakeTelegram, bot: telegram.Bot) -> None:
    received: list[dict[str, object]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    try:
        sent = await bot.send_poll(COMMUNITY, PARK_QUESTION, DAYS, is_anonymous=False)
        assert await bot.set_webhook(url, allowed_updates=["poll_answer"])
        fake.answer_poll(chat_id=COMMUNITY, message_id=sent.message_id, user_id=BOB, option_ids=[2])

        await eventually(lambda: len(received) >= 1)
        await asyncio.sleep(0.1)  # the poll update is not for this webhook
        (body,) = received
        answer = Update.de_json(body, bot).poll_answer
        assert answer is not None
        assert (answer.poll_id, answer.user.id, answer.option_ids) == (sent.poll.id, BOB, (2,))
        assert fake.pending_update_ids() == []
    finally:
        await bot.delete_webhook()
        await runner.cleanup()
