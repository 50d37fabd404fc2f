"""Assembles the assistant from its settings and runs it: database, knowledge base,
language detection, the Rasa engine (managed locally or external), the conversation
core and the HTTP server, all in one event loop."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import signal
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from bot.answering.relevance import GuardedAnswerer, ModelAnswerer
from bot.channels.base import ChatChannel, keep_running
from bot.channels.discord.chat import DiscordChannel
from bot.channels.discord.listening import DiscordListening
from bot.channels.identity import Pseudonyms
from bot.channels.telegram.chat import TelegramChannel
from bot.channels.telegram.listening import TelegramListening
from bot.channels.web.app import create_app
from bot.channels.web.conversations import WebConversations
from bot.channels.web.limits import Rate, WebLimits
from bot.common.calendar import BusinessCalendar
from bot.common.categories import ConcernCategorizer
from bot.common.hours import DeskHours
from bot.common.language import LanguageDetector
from bot.core.actions import ActionServer
from bot.core.conversation import ConversationCore
from bot.desk.hours import DeskSchedule
from bot.desk.relay import alert_loop
from bot.desk.service import Desk
from bot.dialogue.rasa_client import RasaEngine
from bot.dialogue.rasa_runtime import LocalRasaServer, RasaRuntime, RasaRuntimeError
from bot.dialogue.tracker_store import lock_store_for, tracker_store_for
from bot.knowledge import KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from bot.listening.concerns import ModelConcernJudge
from bot.listening.faq_drafts import KnowledgeFiles
from bot.listening.gaps_web import gaps_section
from bot.listening.groups import Listener, listener_for
from bot.listening.intents import GuardedIntentReader, IntentReader
from bot.listening.model import ModelReader, warm_up_in_background
from bot.participation.consultations import Consultations
from bot.participation.ideas import IdeaBox
from bot.participation.service import Participation
from bot.participation.web import participation_section
from bot.perception.report import weekly_gaps
from bot.perception.web import perception_section
from bot.register.hearing import ConcernHearing
from bot.register.reports_web import reports_section
from bot.register.service import Register
from bot.register.web import register_section
from bot.settings import Settings
from bot.staff_web.managers import staff_section
from bot.storage.database import open_database
from bot.storage.roles import Roles
from bot.storage.turns import TurnLocks
from bot.storage.wakeups import Wakeups
from bot.updates.service import UpdateService
from bot.updates.subscriptions import Subscriptions
from bot.updates.web import news_section

logger = logging.getLogger(__name__)

CONCERN_EXAMPLES = Path("nlu") / "conversation" / "report_concern.yml"


def cache_dir() -> Path:
    """The per-user cache shared by clones on this machine (Rasa runtime, trained models)."""
    explicit = os.environ.get("VOISINAGE_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voisinage"


def rasa_runtime(settings: Settings) -> RasaRuntime:
    """The local Rasa runtime described by the settings."""
    return RasaRuntime(
        runtime=settings.rasa_runtime,
        project=settings.rasa_project,
        models_dir=settings.models_dir,
        knowledge_base=settings.knowledge_base,
        cache_dir=cache_dir(),
        log_dir=settings.rasa_project / "var",
    )


@dataclass
class Assistant:
    """The running assistant's parts."""

    settings: Settings
    database: Engine
    knowledge: KnowledgeBase
    detector: LanguageDetector
    dialogue: RasaEngine
    core: ConversationCore
    actions: ActionServer
    web: FastAPI
    web_url: str
    rasa_servers: list[LocalRasaServer]  # the local ones we run (none with RASA_URL)
    channels: list[ChatChannel]
    channel_tasks: list[asyncio.Task[None]]
    desk: Desk
    web_conversations: WebConversations
    roles: Roles  # what one process alone may do, when several share the database
    wakeups: Wakeups  # work stored by another process wakes ours
    consultations: Consultations  # the questions the project puts to the community

    @property
    def rasa_server(self) -> LocalRasaServer | None:
        """The first local Rasa server (the only one unless RASA_WORKERS says more)."""
        return self.rasa_servers[0] if self.rasa_servers else None


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the application decides when to stop."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class WebServerError(Exception):
    """The web server cannot listen where the settings say; the message names them."""


async def serve_http(
    app: FastAPI, host: str, port: int
) -> tuple[uvicorn.Server, asyncio.Task[None], int]:
    """Serves `app` with uvicorn in this event loop; returns the server, its task and its port.

    Raises:
        WebServerError: when the address cannot be bound (taken, not local, not allowed).
    """
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        listener = socket.socket(family, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError as exc:
        listener.close()
        raise WebServerError(
            f"Cannot serve the web chat on {host}:{port} (WEB_HOST, WEB_PORT): {exc.strerror or exc}."
        ) from exc
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
    server = _Server(config)
    task = asyncio.create_task(server.serve(sockets=[listener]))
    while not server.started:
        if task.done():
            task.result()
            raise WebServerError(f"The web server on {host}:{port} stopped while starting.")
        await asyncio.sleep(0.02)
    return server, task, int(listener.getsockname()[1])


@contextlib.asynccontextmanager
async def running_assistant(settings: Settings) -> AsyncIterator[Assistant]:
    """Starts every part of the assistant; the dialogue is not waited for (see `wait_for_dialogue`)."""
    database = open_database(settings.database_url)
    knowledge = load_knowledge_base(settings.knowledge_base)
    detector = LanguageDetector(settings.languages, settings.default_language)
    detector.warm_up()
    categorizer = ConcernCategorizer.from_nlu_file(settings.rasa_project / CONCERN_EXAMPLES)

    runtime: RasaRuntime | None = None
    rasa_servers: list[LocalRasaServer] = []
    if settings.manages_rasa:
        runtime = rasa_runtime(settings)
        runtime.check()
    register = register_for(settings, database)
    desk = desk_for(settings, database, knowledge)
    web_task: asyncio.Task[None] | None = None
    web_server: uvicorn.Server | None = None
    channel_tasks: list[asyncio.Task[None]] = []
    dialogue: RasaEngine | None = None
    # One reader reads every citizen's message (sentiment, topics); its model (about 70 MB) loads
    # in the background from the start, so that the first message does not wait for it.
    reader = ModelReader()
    reader_warm_up = asyncio.create_task(warm_up_in_background(reader), name="reader-warm-up")
    # Every message is heard for a concern during its turn (same embedding model as the reader).
    judge = ModelConcernJudge(categorizer) if settings.hear_concerns else None
    judge_warm_up = asyncio.create_task(
        warm_up_in_background(judge, "Concerns are recognised by the dialogue's intent alone."),
        name="concern-judge-warm-up",
    )
    hearing = ConcernHearing(
        register=register, judge=judge, categorizer=categorizer, knowledge=knowledge
    )
    # Short messages are read for an idea or an offer to help too (same embedding model).
    intent_reader = IntentReader() if settings.hear_ideas else None
    intents_warm_up = asyncio.create_task(
        warm_up_in_background(
            intent_reader, "Ideas are recognised by the dialogue's intent alone."
        ),
        name="intent-reader-warm-up",
    )
    # Every reviewed answer is checked against the question before it goes out (same model);
    # the documents' passages are indexed on the first start, then kept in var/.
    answerer = ModelAnswerer(knowledge) if settings.check_answers else None
    answerer_warm_up = asyncio.create_task(
        warm_up_in_background(answerer, "Reviewed answers are sent as the dialogue chooses them."),
        name="answer-relevance-warm-up",
    )
    core: ConversationCore | None = None
    roles = Roles(database)
    turn_locks = TurnLocks(database)  # one turn per conversation across replicas
    try:
        if runtime is not None:
            # Rasa keeps its conversations beside our database: a restart of Rasa loses none.
            # With several servers, all share that store (and Redis's locks, if set), and
            # each conversation goes to its own unless it is down.
            tracker_store = tracker_store_for(settings.database_url)
            rasa_servers = runtime.servers(
                settings.rasa_workers,
                action_url=None,  # set below, once our port is known
                action_token=settings.action_token,
                port=settings.rasa_port,
                startup_timeout=settings.rasa_startup_timeout,
                tracker_store=tracker_store.endpoint if tracker_store else None,
                lock_store=lock_store_for(settings.redis_url),
            )
            dialogue = RasaEngine(
                [server.url for server in rasa_servers],
                token=rasa_servers[0].token,
                tracker_store=tracker_store,
            )
        else:
            dialogue = RasaEngine(settings.rasa_urls, token=settings.rasa_token)
        updates = UpdateService.from_settings(settings, database, knowledge)
        consultations = Consultations(
            engine=database,
            knowledge=knowledge,
            updates=updates,
            languages=settings.languages,
            default_language=settings.default_language,
        )
        # Ideas and offers to help are heard beside the dialogue's intent, by the turn and by the
        # actions that give way to them (a language switch, a news subscription).
        participation = Participation(consultations, GuardedIntentReader(intent_reader))
        actions = ActionServer(
            engine=database,
            knowledge=knowledge,
            register=register,
            languages=settings.languages,
            default_language=settings.default_language,
            desk=desk,
            participation=participation,
        )
        core = ConversationCore(
            engine=database,
            dialogue=dialogue,
            detector=detector,
            turn_timeout=settings.rasa_turn_timeout,
            project_name=dict(knowledge.name),
            project_notice=dict(knowledge.notice),
            register=register,
            retention_days=settings.retention_days,
            desk=desk,
            subscriptions=Subscriptions(knowledge.update_topics),
            reader=reader,
            hearing=hearing,
            answers=GuardedAnswerer(answerer),
            turn_locks=turn_locks,
            database_threads=settings.database_threads,
            participation=participation,
        )
        # Turns cut short by the last stop (web, terminal) go to a person, not nowhere.
        core.recover_interrupted()
        listener = listener_for(
            settings, database=database, knowledge=knowledge, detector=detector, reader=reader
        )
        channels = chat_channels(
            settings,
            core=core,
            database=database,
            desk=desk,
            listener=listener,
            consultations=consultations,
        )
        web_conversations = WebConversations(
            Pseudonyms.for_installation(
                database, settings.pseudonym_secret, key_file=settings.pseudonym_key_file
            )
        )
        app = create_app(
            core=core,
            actions=actions,
            dialogue=dialogue,
            knowledge=knowledge,
            action_token=settings.action_token,
            channel_status=lambda: {
                c.name: {
                    "state": c.status.state,
                    "detail": c.status.detail,
                    "listening": c.status.listening,
                }
                for c in channels
            },
            dialogue_status=(
                (lambda: rasa_status(rasa_servers))
                if rasa_servers
                else (lambda: {"managed": False, "servers": len(settings.rasa_urls)})
            ),
            roles_status=lambda: roles.held,
            desk=desk,
            database=database,
            desk_session_hours=settings.desk_session_hours,
            desk_idle_minutes=settings.desk_idle_minutes,
            secure_cookies=settings.desk_cookies_secure,
            trusted_proxies=settings.trusted_proxies,
            conversations=web_conversations,
            frame_ancestors=settings.web_chat_frame_ancestors,
            health_token=settings.health_token,
            limits=WebLimits(
                per_client=Rate.per(settings.web_messages_per_minute, 60),
                per_conversation=Rate.per(settings.web_messages_per_minute, 60),
                conversations=Rate.per(settings.web_conversations_per_hour, 3600),
                max_in_flight=settings.web_turns_in_flight,
            ),
            choices_of=consultations.choices_of_messages,
            desk_sections=[
                news_section(updates),
                participation_section(
                    consultations, IdeaBox(engine=database, reader=reader), database
                ),
                perception_section(
                    engine=database,
                    project_name=knowledge.name,
                    gaps=weekly_gaps(reader),
                    consultations=consultations.in_period,
                ),
                gaps_section(
                    engine=database, reader=reader, files=KnowledgeFiles.from_settings(settings)
                ),
                register_section(register, project_channels=("web", "telegram", "discord")),
                reports_section(register, knowledge=knowledge, more=consultations.report_markdown),
                staff_section(engine=database),
            ],
        )
        for channel in channels:
            if isinstance(channel, TelegramChannel) and settings.telegram_webhook_url:
                app.include_router(channel.webhook_router())
        web_server, web_task, port = await serve_http(app, settings.web_host, settings.web_port)
        web_url = f"http://{settings.web_host}:{port}"
        for rasa_server in rasa_servers:
            rasa_server.action_url = settings.action_endpoint_url or f"{web_url}/actions/webhook"
        yield Assistant(
            settings=settings,
            database=database,
            knowledge=knowledge,
            detector=detector,
            dialogue=dialogue,
            core=core,
            actions=actions,
            web=app,
            web_url=web_url,
            rasa_servers=rasa_servers,
            channels=channels,
            channel_tasks=channel_tasks,
            desk=desk,
            web_conversations=web_conversations,
            roles=roles,
            wakeups=Wakeups(database),
            consultations=consultations,
        )
    finally:
        for task in channel_tasks:
            task.cancel()
        await asyncio.gather(*channel_tasks, return_exceptions=True)
        await asyncio.gather(*(rasa_server.stop() for rasa_server in rasa_servers))
        if web_server is not None and web_task is not None:
            web_server.should_exit = True
            with contextlib.suppress(asyncio.CancelledError):
                await web_task
        if dialogue is not None:
            await dialogue.close()
        reader_warm_up.cancel()
        judge_warm_up.cancel()
        intents_warm_up.cancel()
        answerer_warm_up.cancel()
        if core is not None:
            # Readings still under way (milliseconds each) are stored before the database closes.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await core.settle_readings()
        turn_locks.dispose()
        database.dispose()


def register_for(settings: Settings, database: Engine) -> Register:
    """The concern register with the project's calendar and deadlines."""
    return Register(
        engine=database,
        calendar=BusinessCalendar(
            timezone=settings.project_timezone,
            country=settings.holidays_country,
            subdivision=settings.holidays_subdivision,
            extra_holidays=settings.extra_holidays,
        ),
        acknowledge_days=settings.concern_acknowledge_days,
        respond_days=settings.concern_respond_days,
        objection_respond_days=settings.concern_objection_respond_days,
    )


def team_hours(settings: Settings, knowledge: KnowledgeBase) -> DeskHours:
    """The team's opening hours, from one source: the knowledge base's project.contact.hours
    (what citizens are told), which DESK_HOURS may repeat but never contradict.

    Raises:
        KnowledgeBaseError: DESK_HOURS and the knowledge base disagree (one sentence).
    """
    reviewed = DeskHours.parse(knowledge.contact.opening_hours)
    if settings.desk_hours is None:
        return reviewed
    configured = DeskHours.parse(settings.desk_hours)
    if configured != reviewed:
        raise KnowledgeBaseError(
            f"DESK_HOURS '{settings.desk_hours}' disagrees with the knowledge base's "
            f"project.contact.hours '{knowledge.contact.opening_hours}': citizens would be told "
            "one and the desk would keep the other; remove DESK_HOURS or make them the same."
        )
    return configured


def desk_for(settings: Settings, database: Engine, knowledge: KnowledgeBase) -> Desk:
    """The handoff desk with the team's opening hours and rules."""
    calendar = BusinessCalendar(
        timezone=settings.project_timezone,
        country=settings.holidays_country,
        subdivision=settings.holidays_subdivision,
        extra_holidays=settings.extra_holidays,
    )
    hours = team_hours(settings, knowledge)
    return Desk(
        engine=database,
        schedule=DeskSchedule(hours, calendar),
        hours_text={language: hours.describe(language) for language in ("fr", "en")},
        typical_wait_minutes=settings.desk_typical_wait_minutes,
        alert_minutes=settings.desk_alert_minutes,
        staff_anonymous=settings.desk_staff_anonymous,
        handoff_categories=settings.handoff_categories,
        emergency_number=settings.emergency_number,
        default_language=settings.default_language,
    )


def chat_channels(
    settings: Settings,
    *,
    core: ConversationCore,
    database: Engine,
    desk: Desk | None = None,
    listener: Listener | None = None,
    consultations: Consultations | None = None,
) -> list[ChatChannel]:
    """The chat platforms with a token in the settings (none by default); `listener` listens in
    the groups of LISTEN_TELEGRAM_CHATS and LISTEN_DISCORD_CHANNELS (see `listener_for`)."""
    if not (settings.telegram_token or settings.discord_token):
        return []
    pseudonyms = Pseudonyms.for_installation(
        database, settings.pseudonym_secret, key_file=settings.pseudonym_key_file
    )
    channels: list[ChatChannel] = []
    if settings.telegram_token:
        channels.append(
            TelegramChannel(
                token=settings.telegram_token,
                core=core,
                engine=database,
                pseudonyms=pseudonyms,
                base_url=settings.telegram_api_url,
                webhook_url=settings.telegram_webhook_url,
                webhook_secret=settings.telegram_webhook_secret,
                desk=desk,
                desk_chat=settings.desk_telegram_chat,
                desk_staff=settings.desk_telegram_staff,
                listening=(
                    TelegramListening(listener=listener, chats=settings.listen_telegram_chats)
                    if listener is not None and settings.listen_telegram_chats
                    else None
                ),
                consultations=consultations,
            )
        )
    if settings.discord_token:
        channels.append(
            DiscordChannel(
                token=settings.discord_token,
                core=core,
                engine=database,
                pseudonyms=pseudonyms,
                channels=settings.discord_channels,
                command_guilds=settings.discord_command_guilds,
                desk=desk,
                desk_channel=settings.desk_discord_channel,
                desk_role=settings.desk_discord_role,
                listening=(
                    DiscordListening(listener=listener, channels=settings.listen_discord_channels)
                    if listener is not None and settings.listen_discord_channels
                    else None
                ),
                consultations=consultations,
            )
        )
    return channels


def start_channels(assistant: Assistant) -> None:
    """Connects the chat platforms (each keeps itself running; see `keep_running`), and starts
    the desk's alerts and the sweep of missed readings. Each is a role that one process alone
    holds when several share a PostgreSQL database (`Roles`): a platform's connection, intake,
    outbox and staff desk together, so that nothing is received or sent twice."""
    roles = assistant.roles

    def hold(role: str, work: Callable[[], Awaitable[None]]) -> None:
        assistant.channel_tasks.append(asyncio.create_task(roles.run(role, work), name=role))

    for channel in assistant.channels:
        hold(f"channel-{channel.name}", functools.partial(keep_running, channel))
        for topic, wake in channel.wake_ups().items():
            assistant.wakeups.on(topic, wake)
    # Work another process stores (a webhook it received, an answer written on its desk) is
    # taken up at once by the holder of the platform's role (PostgreSQL's LISTEN/NOTIFY).
    assistant.channel_tasks.append(asyncio.create_task(assistant.wakeups.listen(), name="wakeups"))
    hold("desk-alerts", functools.partial(alert_loop, assistant.desk))
    hold("reading-sweep", functools.partial(reading_sweep, assistant.core))
    hold("consultations", functools.partial(consultation_clock, assistant.consultations))


async def consultation_clock(consultations: Consultations, *, every: float = 30.0) -> None:
    """Opens the consultations due to open and closes those due to close (their results are
    then given back), every 30 seconds."""
    while True:
        try:
            await asyncio.to_thread(consultations.tick)
        except Exception:
            # Broad on purpose: the clock must come back after a failed round (a database
            # hiccup); what was due is done at the next one (opening and closing are idempotent).
            logger.exception("opening or closing consultations failed")
        await asyncio.sleep(every)


async def reading_sweep(core: ConversationCore, *, every: float = 600.0) -> None:
    """Every ten minutes, reads the messages whose reading never happened (see
    `ConversationCore.read_missed`): the first round at start, for those a stop cut short."""
    while True:
        try:
            core.read_missed()
        except Exception:
            # Broad on purpose: the sweep must come back after a failed round (a database
            # hiccup); the messages wait for the next one.
            logger.exception("the sweep of messages never read failed")
        await asyncio.sleep(every)


def rasa_status(servers: list[LocalRasaServer]) -> dict[str, Any]:
    """The health details of the local Rasa servers: the first one's as before, and each."""
    statuses = [server.status() for server in servers]
    return {**statuses[0], "servers": statuses} if len(statuses) > 1 else statuses[0]


async def wait_for_dialogue(assistant: Assistant) -> None:
    """Trains the model if needed and starts the local Rasa server, or checks the external one.

    Raises:
        RasaRuntimeError: when the local runtime cannot train or start.
    """
    if assistant.rasa_servers:
        runtime = rasa_runtime(assistant.settings)
        model = await runtime.ensure_model()
        # The first server creates the tracker store's tables (or database) on its start; the
        # others then start side by side (each loads the model: 20-30 s on 2 cores).
        first, *others = assistant.rasa_servers
        await first.start(model)
        await asyncio.gather(*(server.start(model) for server in others))
        # From now on a Rasa server that dies is started again (the conversations wait in its
        # tracker store); the tasks end with the channels' at shutdown, before Rasa is stopped.
        for server in assistant.rasa_servers:
            assistant.channel_tasks.append(
                asyncio.create_task(server.supervise(), name=f"rasa-supervisor-{server.number}")
            )
        return
    deadline = asyncio.get_running_loop().time() + assistant.settings.rasa_startup_timeout
    warned = False
    while not await assistant.dialogue.is_ready():
        if not warned:
            logger.warning(
                "the Rasa server at %s does not answer yet; until it does, citizens are told "
                "plainly that the assistant cannot answer and their messages are kept",
                assistant.settings.rasa_url,
            )
            warned = True
        if asyncio.get_running_loop().time() > deadline:
            raise RasaRuntimeError(
                f"The Rasa server at RASA_URL={assistant.settings.rasa_url} did not answer within "
                f"{assistant.settings.rasa_startup_timeout:.0f} s."
            )
        await asyncio.sleep(2)


async def until_stopped() -> None:
    """Waits for SIGINT or SIGTERM (or the web server stopping on its own)."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
