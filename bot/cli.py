"""The `bot` command: run the assistant, chat in the terminal, parse messages, train, work
the concern register, and manage the web desk's staff logins."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import io
import json
import logging
import sys
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, TextIO, cast
from zoneinfo import ZoneInfo

from bot.answering.relevance import GuardedAnswerer, ModelAnswerer
from bot.app import (
    WebServerError,
    rasa_runtime,
    register_for,
    running_assistant,
    start_channels,
    until_stopped,
    wait_for_dialogue,
)
from bot.common.categories import ConcernCategorizer
from bot.common.language import LanguageDetector
from bot.common.text import clean_text, for_engine, for_terminal, without_secrets
from bot.common.types import Interpretation
from bot.desk import cli as desk_cli
from bot.dialogue.engine import DialogueUnavailable
from bot.dialogue.rasa_client import RasaEngine
from bot.dialogue.rasa_runtime import RasaRuntimeError
from bot.knowledge import (
    KnowledgeBaseError,
    build_domain_file,
    check_training_examples,
    load_knowledge_base,
)
from bot.listening import cli as listen_cli
from bot.listening import faq_drafts
from bot.listening.concerns import GuardedJudge, ModelConcernJudge
from bot.listening.intents import GuardedIntentReader, IntentReader, acted_intent
from bot.participation import cli as consultations_cli
from bot.perception import cli as perception_cli
from bot.perception.report import ReportError
from bot.register import cli as register_cli
from bot.register.service import RegisterError
from bot.settings import Settings, SettingsError, load_settings
from bot.storage.database import DatabaseError, open_database
from bot.updates import cli as updates_cli

logger = logging.getLogger("bot")


class _WithoutSecrets(logging.Formatter):
    """Masks URL passwords and `token=`-like query values in every line logged, tracebacks
    included (an HTTP error's text carries the URL it failed on, Rasa's `?token=` with it)."""

    def format(self, record: logging.LogRecord) -> str:
        return without_secrets(super().format(record))


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s",
        datefmt="%H:%M:%S",
        stream=sys.stderr,
    )
    for handler in logging.getLogger().handlers:
        handler.setFormatter(
            _WithoutSecrets("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    for noisy in ("httpx", "httpcore", "uvicorn.error"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


async def _run(settings: Settings) -> None:
    async with running_assistant(settings) as assistant:
        print(f"Web chat: {assistant.web_url}  (Ctrl-C to stop)", flush=True)
        if settings.manages_rasa:
            print(
                "Starting the local Rasa server (training the model first if the data changed)...",
                flush=True,
            )
        stopped = asyncio.create_task(until_stopped())
        starting = asyncio.create_task(wait_for_dialogue(assistant))
        done, _ = await asyncio.wait({stopped, starting}, return_when=asyncio.FIRST_COMPLETED)
        if starting in done:
            starting.result()  # raises when Rasa could not start
            # Chat platforms connect once the dialogue can answer: until then their messages
            # wait on the platform (Telegram keeps them a day) or in our intake (webhooks).
            start_channels(assistant)
            names = ", ".join(channel.name for channel in assistant.channels)
            print(f"The assistant is ready{f' (channels: {names})' if names else ''}.", flush=True)
            await stopped
        else:
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
        print("Stopping...", flush=True)


async def _chat(settings: Settings) -> None:
    from bot.channels.terminal import chat

    async with running_assistant(settings) as assistant:
        print(
            "Starting the assistant (the first start trains the model: a few minutes)...",
            file=sys.stderr,
        )
        await wait_for_dialogue(assistant)
        print("Ready. Write in French or English; Ctrl-D to leave.\n", file=sys.stderr)
        await chat(assistant.core)


async def _parse(settings: Settings, lines: Iterable[str]) -> None:
    detector = LanguageDetector(settings.languages, settings.default_language)
    categorizer = ConcernCategorizer.from_nlu_file(
        settings.rasa_project / "nlu" / "conversation" / "report_concern.yml"
    )
    judge = GuardedJudge(ModelConcernJudge(categorizer), categorizer)
    intents = GuardedIntentReader(IntentReader() if settings.hear_ideas else None)
    knowledge = load_knowledge_base(settings.knowledge_base)
    answers = GuardedAnswerer(ModelAnswerer(knowledge) if settings.check_answers else None)
    server = None
    if settings.manages_rasa:
        runtime = rasa_runtime(settings)
        model = await runtime.ensure_model()
        server = runtime.server(
            action_url=None, action_token=None, port=settings.rasa_port,
            startup_timeout=settings.rasa_startup_timeout,
        )  # fmt: skip
        await server.start(model)
        engine = RasaEngine(server.url, token=server.token)
    else:
        engine = RasaEngine(settings.rasa_urls, token=settings.rasa_token)
    try:
        for raw in lines:
            text = raw.rstrip("\n")
            cleaned = clean_text(text)
            language = detector.detect(cleaned).language
            record: dict[str, object] = {"text": text, "language": language}
            if cleaned:
                # As in a live turn: the model hears the whole message while the NLU reads it.
                hearing = asyncio.create_task(judge.hear(cleaned))
                reading = asyncio.create_task(intents.hear(cleaned))
                interpretation = await engine.parse(for_engine(cleaned))
                judgement = judge.judge(await hearing, intent=interpretation.intent, text=cleaned)
                # The intent the turn acts on (an idea or an offer to help the intent reader
                # heard where the dialogue understood something else), and the dialogue's own.
                record["intent"] = acted_intent(interpretation.intent, await reading)
                record["dialogue_intent"] = interpretation.intent
                record["confidence"] = round(interpretation.confidence, 4)
                record["concern"] = judgement.concern
                record["concern_kind"] = judgement.kind
                record["concern_score"] = judgement.score
                if judgement.concern:
                    record["category"] = judgement.category
                elif interpretation.intent == "report_concern":
                    record["category"] = categorizer.categorize(cleaned).category
                record.update(await _answer_fields(answers, cleaned, language, interpretation))
                record["ranking"] = [
                    {"intent": name, "confidence": round(conf, 4)}
                    for name, conf in interpretation.ranking
                ]
            else:
                record.update(
                    intent=None,
                    dialogue_intent=None,
                    confidence=0.0,
                    concern=False,
                    concern_kind=None,
                    concern_score=0.0,
                )
                record.update(answer="none", topic=None)
            sys.stdout.write(json.dumps(record, ensure_ascii=False) + "\n")
            sys.stdout.flush()
    finally:
        await engine.close()
        if server is not None:
            await server.stop()


async def _answer_fields(
    answers: GuardedAnswerer, text: str, language: str, interpretation: Interpretation
) -> dict[str, object]:
    """What a live turn would send for the question: `answer` ("reviewed", "passage" or "none"),
    the reviewed answer's `topic`, or the passage's `document` and `page`."""
    intent = interpretation.intent
    if not intent.startswith("faq/"):
        return {"answer": "none", "topic": None}
    choice = await answers.choose(text, language)
    if choice is None:  # the decision is off or cannot be made: the dialogue's answer is sent
        return {"answer": "reviewed", "topic": intent.removeprefix("faq/")}
    fields: dict[str, object] = {
        "answer": choice.kind,
        "topic": choice.topic,
        "answer_score": round(choice.score, 4),
    }
    if choice.passage is not None:
        fields.update(document=choice.passage.document, page=choice.passage.page)
    return fields


async def _train(settings: Settings) -> None:
    """The concern judgement, the intent reader and the answer relevance decision (when their
    examples changed), then the Rasa model (when the NLU data, stories or domain changed); each
    says what it is doing and how far along it is."""
    runtime = rasa_runtime(settings)
    runtime.check()  # a missing runtime is said before minutes of other training
    try:
        from bot.listening import train_concerns
    except ImportError as exc:
        raise SystemExit(
            f"Training the concern judgement needs the dev dependencies ({exc.name} is missing): "
            "run `make train`, which installs them."
        ) from exc
    if train_concerns.main(["--if-changed"]) != 0:
        raise SystemExit("Training the concern judgement failed (see above).")
    from bot.listening import train_intents

    if train_intents.main(["--if-changed"]) != 0:
        raise SystemExit("Training the intent reader failed (see above).")
    from bot.answering import train_relevance

    if train_relevance.main(["--if-changed"]) != 0:
        raise SystemExit("Training the answer relevance decision failed (see above).")
    model = await runtime.ensure_model()
    print(model)


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bot", description="Voisinage: a bilingual citizen-dialogue assistant."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser(
        "run", help="serve the web chat and the assistant (local Rasa unless RASA_URL)"
    )
    commands.add_parser("chat", help="talk to the assistant in the terminal")
    parse = commands.add_parser(
        "parse", help="print language, intent, confidence (and category) as JSON lines"
    )
    parse.add_argument("texts", nargs="*", help="messages; without any, one per line on stdin")
    commands.add_parser("train", help="train the Rasa model if the training data changed")
    kb = commands.add_parser("kb", help="the knowledge base")
    kb.add_argument(
        "action",
        choices=["build", "check", *faq_drafts.KB_ACTIONS],
        help="build: regenerate domain/knowledge.yml; drafts, adopt, drop: new FAQ entries "
        "drafted on the desk",
    )
    kb.add_argument("draft", nargs="?", type=int, help="the FAQ draft (adopt, drop, drafts)")
    kb.add_argument("--all", action="store_true", help="drafts: also adopted and dropped ones")
    db = commands.add_parser("db", help="the database")
    db.add_argument("action", choices=["upgrade"], help="apply pending migrations")
    register_cli.add_commands(commands)
    desk_cli.add_commands(commands)
    updates_cli.add_commands(commands)
    consultations_cli.add_commands(commands)
    listen_cli.add_commands(commands)
    perception_cli.add_commands(commands)
    return parser


class _ForTerminal(io.TextIOBase):
    """Standard output with citizens' words made harmless for a terminal (`for_terminal`): an
    escape sequence in a concern must not recolour, retitle or rewrite a staff member's screen.
    Exports written to standard output go through `buffer`, untouched."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__()
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(for_terminal(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    @property
    def buffer(self) -> Any:
        return getattr(self._stream, "buffer", None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `bot` command."""
    stdout = sys.stdout
    sys.stdout = cast(TextIO, _ForTerminal(stdout))
    try:
        return _main(argv)
    finally:
        sys.stdout = stdout


def _main(argv: Sequence[str] | None) -> int:
    args = _build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    _configure_logging(settings.log_level)
    if args.command in ("run", "chat") and settings.action_token is None:
        # With its own Rasa server (RASA_URL) the action endpoint would accept anyone: fake
        # concerns, handoffs, erasures.
        print(
            "ACTION_TOKEN is required with RASA_URL: set the same secret in Rasa's endpoints.yml "
            "(action_endpoint.token) and in ACTION_TOKEN.",
            file=sys.stderr,
        )
        return 2
    try:
        if args.command == "run":
            asyncio.run(_run(settings))
        elif args.command == "chat":
            asyncio.run(_chat(settings))
        elif args.command == "parse":
            lines: Iterable[str] = args.texts or sys.stdin
            asyncio.run(_parse(settings, lines))
        elif args.command == "train":
            asyncio.run(_train(settings))
        elif args.command == "kb" and args.action in faq_drafts.KB_ACTIONS:
            database = open_database(settings.database_url)
            try:
                return faq_drafts.run_kb(
                    args.action,
                    args.draft,
                    every=args.all,
                    files=faq_drafts.KnowledgeFiles.from_settings(settings),
                    engine=database,
                    actor=f"cli:{getpass.getuser()}",
                    today=datetime.now(ZoneInfo(settings.project_timezone)).date(),
                    out=sys.stdout,
                    err=sys.stderr,
                )
            finally:
                database.dispose()
        elif args.command == "kb":
            if args.action == "build":
                changed = build_domain_file(
                    settings.knowledge_base, settings.rasa_project / "domain" / "knowledge.yml"
                )
                print("domain/knowledge.yml " + ("updated" if changed else "already up to date"))
            else:
                check_training_examples(
                    load_knowledge_base(settings.knowledge_base), settings.rasa_project / "nlu"
                )
                print("The knowledge base is complete.")
        elif args.command == "db":
            open_database(settings.database_url).dispose()
            print("The database schema is up to date.")
        elif args.command in ("concerns", "privacy"):
            database = open_database(settings.database_url)
            try:
                return register_cli.run(args, settings, register_for(settings, database))
            finally:
                database.dispose()
        elif args.command == "staff":
            database = open_database(settings.database_url)
            try:
                return desk_cli.run(args, database)
            finally:
                database.dispose()
        elif args.command == "updates":
            database = open_database(settings.database_url)
            try:
                return updates_cli.run(args, settings, database)
            finally:
                database.dispose()
        elif args.command == "consultations":
            database = open_database(settings.database_url)
            try:
                return consultations_cli.run(args, settings, database)
            finally:
                database.dispose()
        elif args.command == "listen":
            database = open_database(settings.database_url)
            try:
                return listen_cli.run(args, settings, database)
            finally:
                database.dispose()
        elif args.command == "perception":
            database = open_database(settings.database_url)
            try:
                return perception_cli.run(args, settings, database)
            finally:
                database.dispose()
    except KeyboardInterrupt:
        return 130
    except (
        KnowledgeBaseError,
        DatabaseError,
        RasaRuntimeError,
        DialogueUnavailable,
        WebServerError,
        RegisterError,
        ReportError,
    ) as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
