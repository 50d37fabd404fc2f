"""The web desk, read as a community manager's working day: signing in (and being refused),
the queue, claiming a conversation, answering the citizen, keeping notes and handing back,
with what the database holds and what the citizen receives after each step. Every test runs
on SQLite and PostgreSQL, against the whole web application over HTTP (httpx's ASGI
transport, no network)."""

from __future__ import annotations

import html
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from markupsafe import escape
from sqlalchemy import Engine
from sqlmodel import Session, col, select

from bot.knowledge import cite
from bot.storage import repository
from bot.storage.models import (
    AuditEntry,
    Conversation,
    Handoff,
    HandoffEvent,
    HumanRequest,
    Message,
    StaffSession,
)
from tests.support.desk import (
    CITIZEN_ID,
    HOSTILE_MESSAGE,
    LOUIS_PASSWORD,
    MARIE_PASSWORD,
    SECURITY_HEADERS,
    Stage,
    citizen_says,
    client_for,
    csrf_of,
    desk_app,
    hand_a_conversation_to_the_desk,
    shown_flash,
    sign_in,
)
from tests.support.dialogue import FakeDialogue

# --- the stage: a desk, a citizen, two community managers ------------------------------------


def handoff_row(database: Engine, reference: str) -> Handoff:
    with Session(database) as session:
        return session.exec(select(Handoff).where(Handoff.reference == reference)).one()


def events_of(database: Engine) -> list[tuple[str, str | None, str | None]]:
    with Session(database) as session:
        return [
            (e.kind, e.actor_name, e.text)
            for e in session.exec(select(HandoffEvent).order_by(col(HandoffEvent.id)))
        ]


def project_messages(database: Engine) -> list[tuple[str | None, str]]:
    """(author, text) of what the project sent the citizen on its own initiative."""
    with Session(database) as session:
        rows = session.exec(
            select(Message)
            .where(Message.direction == "out", col(Message.reply_to).is_(None))
            .order_by(col(Message.id))
        ).all()
        return [(m.author, m.text) for m in rows]


def audit_actions(database: Engine) -> list[tuple[str, str]]:
    with Session(database) as session:
        return [(a.actor, a.action) for a in session.exec(select(AuditEntry))]


@pytest.fixture
async def web(stage: Stage, fake_dialogue: FakeDialogue) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(desk_app(stage, fake_dialogue)) as client:
        yield client


@pytest.fixture
async def second_browser(
    stage: Stage, fake_dialogue: FakeDialogue
) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(desk_app(stage, fake_dialogue)) as client:
        yield client


# --- signing in ------------------------------------------------------------------------------


async def test_every_desk_page_asks_to_sign_in_first(web: httpx.AsyncClient, stage: Stage) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    for path in ("/desk", f"/desk/h/{reference}"):
        answer = await web.get(path)
        assert (answer.status_code, answer.headers["location"]) == (303, "/desk/login")
    claim = await web.post(f"/desk/h/{reference}/claim", data={"csrf": "anything"})
    assert (claim.status_code, claim.headers["location"]) == (303, "/desk/login")
    updates = await web.get(f"/desk/h/{reference}/updates")
    assert updates.status_code == 401
    assert updates.json() == {"detail": "Sign in to the desk first."}
    assert handoff_row(stage.database, reference).status == "waiting"

    login = await web.get("/desk/login")
    assert login.status_code == 200
    assert "Sign in to the desk" in login.text


async def test_a_wrong_password_or_an_unknown_name_get_the_same_sentence(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    token = csrf_of((await web.get("/desk/login")).text)
    answers = [
        await web.post("/desk/login", data={"username": name, "password": password, "csrf": token})
        for name, password in (("marie", "not her password"), ("nobody", MARIE_PASSWORD))
    ]
    for answer in answers:
        assert answer.status_code == 401
        assert shown_flash(answer.text) == ["The username or the password is wrong."]
        assert "desk_session" not in answer.headers.get("set-cookie", "")
    assert (await web.get("/desk")).status_code == 303
    assert ("staff:web:marie", "desk.login_failed") in audit_actions(stage.database)


async def test_repeated_failures_lock_the_login_even_with_the_right_password(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    token = csrf_of((await web.get("/desk/login")).text)
    for _ in range(5):
        wrong = await web.post(
            "/desk/login", data={"username": "marie", "password": "guess guess 1", "csrf": token}
        )
        assert wrong.status_code == 401
    locked = await web.post(
        "/desk/login", data={"username": "marie", "password": MARIE_PASSWORD, "csrf": token}
    )
    assert locked.status_code == 429
    assert shown_flash(locked.text) == ["Too many failed sign-ins: wait 15 minutes and try again."]
    assert (await web.get("/desk")).status_code == 303  # still not signed in


async def test_a_login_without_its_form_token_is_refused(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    await web.get("/desk/login")  # the cookie half of the double submit
    for token in ("", "forged-token-forged-token"):
        answer = await web.post(
            "/desk/login", data={"username": "marie", "password": MARIE_PASSWORD, "csrf": token}
        )
        assert answer.status_code == 403
        assert "This form has expired or did not come from the desk" in answer.text
    web.cookies.clear()  # a form posted from another site carries no cookie of ours
    answer = await web.post(
        "/desk/login", data={"username": "marie", "password": MARIE_PASSWORD, "csrf": "x" * 43}
    )
    assert answer.status_code == 403
    assert (await web.get("/desk")).status_code == 303


async def test_the_session_cookie_is_kept_out_of_scripts_and_other_sites(
    stage: Stage, fake_dialogue: FakeDialogue
) -> None:
    for secure in (False, True):
        app = desk_app(stage, fake_dialogue, secure_cookies=secure)
        # A Secure cookie comes back over HTTPS only (the deployment's reverse proxy).
        async with client_for(app, "https://desk.test" if secure else "http://desk.test") as client:
            form = await client.get("/desk/login")
            answer = await client.post(
                "/desk/login",
                data={"username": "marie", "password": MARIE_PASSWORD, "csrf": csrf_of(form.text)},
            )
        [session_cookie] = [
            c for c in answer.headers.get_list("set-cookie") if c.startswith("desk_session=")
        ]
        attributes = {part.strip().lower() for part in session_cookie.split(";")}
        assert {"httponly", "samesite=strict", "path=/desk", "max-age=28800"} <= attributes
        assert ("secure" in attributes) is secure


async def test_signing_out_ends_the_session(web: httpx.AsyncClient, stage: Stage) -> None:
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    token = web.cookies["desk_session"]
    out = await web.post("/desk/logout", data={"csrf": csrf})
    assert (out.status_code, out.headers["location"]) == (303, "/desk/login?signed_out=1")
    assert "You are signed out." in (await web.get(out.headers["location"])).text
    assert (await web.get("/desk")).status_code == 303
    with Session(stage.database) as session:
        assert session.exec(select(StaffSession)).all() == []
    web.cookies.set("desk_session", token, domain="desk.test", path="/desk")  # kept by a thief
    assert (await web.get("/desk")).status_code == 303
    assert ("staff:web:marie", "desk.logout") in audit_actions(stage.database)


# --- CSRF ------------------------------------------------------------------------------------


async def test_forms_without_the_sessions_token_change_nothing(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    conversation_id = handoff_row(stage.database, reference).conversation_id
    with Session(stage.database) as session:
        public_id = session.get(Conversation, conversation_id).public_id  # type: ignore[union-attr]
    await sign_in(web, "marie", MARIE_PASSWORD)
    before = (events_of(stage.database), project_messages(stage.database))
    forms = {
        f"/desk/h/{reference}/claim": {},
        f"/desk/h/{reference}/reply": {"text": "Bonjour"},
        f"/desk/h/{reference}/note": {"text": "une note"},
        f"/desk/h/{reference}/close": {"outcome": "resolved", "ask_rating": "1"},
        f"/desk/h/{reference}/release": {},
        f"/desk/conversations/{public_id}/take-over": {},
        f"/desk/conversations/{public_id}/dismiss": {},
        "/desk/logout": {},
    }
    for path, fields in forms.items():
        for token in (None, "", "wrong-token-of-the-right-length-0123456789ab"):
            data = dict(fields) if token is None else {**fields, "csrf": token}
            answer = await web.post(path, data=data)
            assert answer.status_code == 403, path
            assert "nothing was done" in answer.text
    assert handoff_row(stage.database, reference).status == "waiting"
    assert (events_of(stage.database), project_messages(stage.database)) == before
    assert (await web.get("/desk")).status_code == 200  # still signed in: logout was refused


# --- the work --------------------------------------------------------------------------------


async def test_claim_reply_note_and_hand_back_through_the_web(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)

    queue = (await web.get("/desk")).text
    assert reference in queue
    assert "asked for a person" in queue
    assert "0 min" in queue

    claimed = await web.post(f"/desk/h/{reference}/claim", data={"csrf": csrf})
    assert (claimed.status_code, claimed.headers["location"]) == (303, f"/desk/h/{reference}")
    page = (await web.get(claimed.headers["location"])).text
    assert shown_flash(page) == [f"You own {reference} now; the citizen was told a person joined."]
    assert "You own this conversation." in page
    handoff = handoff_row(stage.database, reference)
    assert (handoff.status, handoff.owner, handoff.owner_name) == (
        "active",
        "staff:web:marie",
        "Marie Tremblay",
    )

    await web.post(
        f"/desk/h/{reference}/reply", data={"csrf": csrf, "text": "Bonjour, je regarde cela."}
    )
    await web.post(
        f"/desk/h/{reference}/note", data={"csrf": csrf, "text": "Voisine du lot 12, à rappeler"}
    )
    page = (await web.get(f"/desk/h/{reference}")).text
    assert shown_flash(page) == [
        "Your answer was sent to the citizen.",
        "Note added: the team sees it, the citizen does not.",
    ]
    assert "Marie : Bonjour, je regarde cela." in page
    assert '<li class="line note"' in page
    assert "Voisine du lot 12, à rappeler" in page

    closed = await web.post(
        f"/desk/h/{reference}/close",
        data={"csrf": csrf, "outcome": "unresolved", "ask_rating": "1"},
    )
    assert (closed.status_code, closed.headers["location"]) == (303, "/desk")
    queue = (await web.get("/desk")).text
    assert shown_flash(queue) == [
        f"{reference} was handed back to the assistant (unresolved). "
        "The citizen was asked to rate the help."
    ]

    handoff = handoff_row(stage.database, reference)
    assert (handoff.status, handoff.outcome, handoff.closed_by) == (
        "closed",
        "unresolved",
        "staff:web:marie",
    )
    assert handoff.rating_requested_at is not None
    assert [(kind, name) for kind, name, _ in events_of(stage.database)] == [
        ("requested", None),
        ("claimed", "Marie Tremblay"),
        ("note", "Marie Tremblay"),
        ("closed", "Marie Tremblay"),
    ]
    sent = project_messages(stage.database)
    assert sent[0][1].startswith("Marie s'est joint(e) à la conversation")
    assert sent[1] == ("staff:web:marie", "Marie : Bonjour, je regarde cela.")
    assert sent[2][1].startswith("Marie a quitté la conversation")
    assert "de 1 (pas utile) à 5" in sent[3][1]
    assert all("lot 12" not in text for _, text in sent)  # the note stayed inside
    actions = audit_actions(stage.database)
    for action in ("desk.login", "desk.claim", "desk.reply", "desk.note", "desk.close"):
        assert ("staff:web:marie", action) in actions

    # What the citizen's page fetches: the team's words, in order.
    notices = (
        await web.get("/api/conversation/notices", headers={"X-Conversation": CITIZEN_ID})
    ).json()
    assert [n["text"] for n in notices] == [text for _, text in sent]
    # And the assistant is back.
    back = await stage.core.handle(citizen_says("Quand commencent les travaux ?"))
    assert back.replies[0].text.startswith("echo[")


async def test_a_reply_to_a_waiting_conversation_claims_it(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    await web.post(f"/desk/h/{reference}/reply", data={"csrf": csrf, "text": "Bonjour !"})
    assert handoff_row(stage.database, reference).owner == "staff:web:marie"
    assert project_messages(stage.database)[-1] == ("staff:web:marie", "Marie : Bonjour !")


async def test_releasing_puts_the_conversation_back_in_the_queue(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    await web.post(f"/desk/h/{reference}/claim", data={"csrf": csrf})
    released = await web.post(f"/desk/h/{reference}/release", data={"csrf": csrf})
    page = (await web.get(released.headers["location"])).text
    assert shown_flash(page)[-1] == f"{reference} is back in the queue for another person."
    assert handoff_row(stage.database, reference).status == "waiting"
    assert "Claim this conversation" in page


async def test_a_second_manager_is_told_who_owns_the_conversation(
    web: httpx.AsyncClient, second_browser: httpx.AsyncClient, stage: Stage
) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    marie = await sign_in(web, "marie", MARIE_PASSWORD)
    louis = await sign_in(second_browser, "louis", LOUIS_PASSWORD)
    await web.post(f"/desk/h/{reference}/claim", data={"csrf": marie})

    page = (await second_browser.get(f"/desk/h/{reference}")).text
    assert "Marie Tremblay</strong> owns this conversation" in page
    assert 'id="reply-form"' not in page  # nothing to send: only the owner answers

    refused = await second_browser.post(f"/desk/h/{reference}/claim", data={"csrf": louis})
    page = (await second_browser.get(refused.headers["location"])).text
    assert shown_flash(page) == [f"Marie Tremblay already owns {reference}."]

    draft = "Je peux aider, je connais ce dossier."
    await second_browser.post(f"/desk/h/{reference}/reply", data={"csrf": louis, "text": draft})
    page = (await second_browser.get(f"/desk/h/{reference}")).text
    assert shown_flash(page) == [f"Marie Tremblay owns {reference}; only they can do that."]
    assert handoff_row(stage.database, reference).owner == "staff:web:marie"
    assert all(author != "staff:web:louis" for author, _ in project_messages(stage.database))

    # A note from the second manager is welcome: the team sees it, the citizen does not.
    await second_browser.post(f"/desk/h/{reference}/note", data={"csrf": louis, "text": draft})
    assert ("note", "Louis", draft) in events_of(stage.database)


async def test_a_refused_reply_gives_its_words_back(web: httpx.AsyncClient, stage: Stage) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    await web.post(f"/desk/h/{reference}/close", data={"csrf": csrf, "outcome": "resolved"})
    words = "Une réponse longue que je ne veux pas retaper"
    await web.post(f"/desk/h/{reference}/reply", data={"csrf": csrf, "text": words})
    page = (await web.get(f"/desk/h/{reference}")).text
    assert shown_flash(page)[-1] == f"{reference} was handed back already."
    assert "Take over again" in page
    assert words not in page  # a closed conversation has no reply box to refill

    other = await hand_a_conversation_to_the_desk(stage, key="browser-citizen-2")
    too_long = "a" * 5_001
    await web.post(f"/desk/h/{other}/reply", data={"csrf": csrf, "text": too_long})
    page = (await web.get(f"/desk/h/{other}")).text
    assert shown_flash(page) == ["The answer is 5001 characters long; shorten it to 5000."]
    assert too_long in page  # the draft is back in the reply box


async def test_a_canned_answer_fills_the_reply_box_without_javascript(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    await sign_in(web, "marie", MARIE_PASSWORD)
    page = (await web.get(f"/desk/h/{reference}", params={"canned": "schedule"})).text
    expected = cite(stage.knowledge.answers["schedule"], "fr")
    box = re.search(r'<textarea id="reply-text"[^>]*>([^<]*)</textarea>', page)
    assert box is not None
    assert html.unescape(box.group(1)) == expected
    assert '<option value="schedule" data-text=' in page
    assert "Source" in expected  # the sources travel with the answer


async def test_the_citizens_words_are_shown_as_text_never_as_markup(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    await sign_in(web, "marie", MARIE_PASSWORD)
    for path in ("/desk", f"/desk/h/{reference}"):
        page = (await web.get(path)).text
        assert "<script>window" not in page
        assert "<img src=x" not in page
        assert str(escape(HOSTILE_MESSAGE)) in page
    page = (await web.get(f"/desk/h/{reference}")).text
    assert page.count("<script") == 1  # desk.js, and nothing else
    assert '<script src="/desk/static/desk.js"></script>' in page
    # The live updates carry the raw text; desk.js shows it with textContent only.
    updates = (await web.get(f"/desk/h/{reference}/updates")).json()
    assert HOSTILE_MESSAGE in [line["text"] for line in updates["lines"]]
    script = (await web.get("/desk/static/desk.js")).text
    assert "textContent" in script
    assert "innerHTML" not in script


async def test_the_transcript_follows_the_conversation(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    await sign_in(web, "marie", MARIE_PASSWORD)
    first = (await web.get(f"/desk/h/{reference}/updates")).json()
    assert [line["who"] for line in first["lines"]] == [
        "citizen",
        "assistant",
        "event",
        "citizen",
        "assistant",
    ]
    assert first["lines"][2]["label"] == "A person was asked to join: asked for a person"
    assert (first["status"], first["owner"], first["mine"]) == ("waiting", None, False)

    await stage.core.handle(citizen_says("Vous êtes là ?"))
    later = (
        await web.get(
            f"/desk/h/{reference}/updates",
            params={"after_message": first["after_message"], "after_event": first["after_event"]},
        )
    ).json()
    assert [(line["who"], line["text"]) for line in later["lines"]] == [
        ("citizen", "Vous êtes là ?")
    ]
    assert later["after_message"] > first["after_message"]


async def test_a_manager_takes_over_a_conversation_to_look_at(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    await stage.core.handle(citizen_says("Voici une photo du chantier"))
    with stage.desk.session() as session:
        conversation = session.exec(select(Conversation)).one()
        repository.open_human_request(
            session=session, conversation=conversation, message_id=None, reason="attachment"
        )
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    queue = (await web.get("/desk")).text
    assert f"/desk/conversations/{conversation.public_id}/take-over" in queue
    taken = await web.post(
        f"/desk/conversations/{conversation.public_id}/take-over", data={"csrf": csrf}
    )
    [handoff] = [handoff_row(stage.database, r) for r in _references(stage.database)]
    assert taken.headers["location"] == f"/desk/h/{handoff.reference}"
    page = (await web.get(taken.headers["location"])).text
    assert shown_flash(page) == [
        f"You took over the conversation ({handoff.reference}): the assistant is silent until "
        "you hand it back."
    ]
    assert "You own this conversation." in page
    assert (handoff.reason, handoff.status, handoff.owner) == ("staff", "active", "staff:web:marie")
    # Taken over, it left the list of conversations to look at.
    assert (
        f"/desk/conversations/{conversation.public_id}/take-over"
        not in (await web.get("/desk")).text
    )
    unknown = await web.post("/desk/conversations/0123456789abcdef/take-over", data={"csrf": csrf})
    assert shown_flash((await web.get(unknown.headers["location"])).text) == [
        "There is no conversation 0123456789abcdef."
    ]


async def test_a_conversation_looked_at_leaves_the_list(
    web: httpx.AsyncClient, stage: Stage
) -> None:
    await stage.core.handle(citizen_says("Voici une photo du chantier"))
    with stage.desk.session() as session:
        conversation = session.exec(select(Conversation)).one()
        repository.open_human_request(
            session=session, conversation=conversation, message_id=None, reason="attachment"
        )
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    dismiss = f"/desk/conversations/{conversation.public_id}/dismiss"
    assert dismiss in (await web.get("/desk")).text
    done = await web.post(dismiss, data={"csrf": csrf})
    queue = (await web.get(done.headers["location"])).text
    assert shown_flash(queue) == ["Marked as looked at: it left the list."]
    assert dismiss not in queue
    assert _references(stage.database) == []  # the assistant still answers it
    with Session(stage.database) as session:
        [request] = session.exec(select(HumanRequest)).all()
        audit = session.exec(
            select(AuditEntry).where(AuditEntry.action == "desk.review_dismissed")
        ).one()
    assert request.status == "dismissed"
    assert audit.actor == "staff:web:marie"


def _references(database: Engine) -> list[str]:
    with Session(database) as session:
        return list(session.exec(select(Handoff.reference)).all())


async def test_an_unknown_handoff_is_one_sentence(web: httpx.AsyncClient, stage: Stage) -> None:
    await sign_in(web, "marie", MARIE_PASSWORD)
    missing = await web.get("/desk/h/H-2020-9999")
    assert missing.status_code == 404
    assert "There is no handoff H-2020-9999." in missing.text
    odd = await web.get("/desk/h/<script>")
    assert odd.status_code in (400, 404)
    assert "<script>" not in odd.text


async def test_desk_pages_carry_the_security_headers(web: httpx.AsyncClient, stage: Stage) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    answers = [await web.get("/desk/login"), await web.get("/desk")]
    csrf = await sign_in(web, "marie", MARIE_PASSWORD)
    answers += [
        await web.get("/desk"),
        await web.get(f"/desk/h/{reference}"),
        await web.get(f"/desk/h/{reference}/updates"),
        await web.post(f"/desk/h/{reference}/claim", data={"csrf": csrf}),
        await web.post(f"/desk/h/{reference}/claim", data={"csrf": "wrong"}),
    ]
    for answer in answers:
        for name, value in SECURITY_HEADERS.items():
            assert answer.headers[name].startswith(value), (answer.request.url, name)
    css = await web.get("/desk/static/desk.css")
    assert css.status_code == 200
    assert ".transcript" in css.text


async def test_the_queue_puts_alerts_in_sight(web: httpx.AsyncClient, stage: Stage) -> None:
    reference = await hand_a_conversation_to_the_desk(stage)
    quiet = await hand_a_conversation_to_the_desk(stage, key="browser-citizen-2")
    with Session(stage.database) as session:
        handoff = session.exec(select(Handoff).where(Handoff.reference == reference)).one()
        handoff.alert_count = 2
        session.add(handoff)
        session.commit()
    await sign_in(web, "marie", MARIE_PASSWORD)
    queue = (await web.get("/desk")).text
    rows = re.findall(
        r'<tr class="(\w*)">\s*<td class="wait">.*?href="/desk/h/([\w-]+)"', queue, re.S
    )
    assert rows == [("alerted", reference), ("", quiet)]  # longest waiting first
    assert '<span class="badge alert">2 alerts</span>' in queue
