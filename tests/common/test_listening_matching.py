"""Which group messages mention the project: keywords and hashtags, and their settings."""

from __future__ import annotations

import time

import pytest

from bot.common.matching import Matcher, TermError, project_terms
from bot.settings import SettingsError, load_settings

PROJECT = Matcher(
    keywords=["éolien", "éoliennes", "Trois-Collines", "wind farm", "turbines", "dynamitage"],
    hashtags=["#TroisCollines", "#ParcÉolien"],
)


@pytest.mark.parametrize(
    ("message", "found"),
    [
        ("Les ÉOLIENNES sont trop près du rang", ("éoliennes",)),
        ("une eolienne de plus, vraiment?", ("éoliennes",)),  # no accent, singular
        ("L'éolien, c'est l'avenir", ("éolien",)),
        ("Les éoliens du nord", ("éolien",)),
        ("le parc des trois collines", ("Trois-Collines",)),
        ("TroisCollines en parle", ("Trois-Collines",)),
        ("Trois–Collines (tiret demi-cadratin)", ("Trois-Collines",)),
        ("The windfarm and the wind-farms", ("wind farm",)),
        ("turbine noise at night", ("turbines",)),
        ("Encore des dynamitages hier", ("dynamitage",)),
        ("#ParcÉolien on en parle", ("#ParcÉolien",)),
        ("#parc_eolien c'est nul", ("#ParcÉolien", "éolien")),
        ("#TROISCOLLINES!", ("#TroisCollines", "Trois-Collines")),
        (
            "Dynamitage et éoliennes à #TroisCollines",
            ("dynamitage", "éoliennes", "#TroisCollines", "Trois-Collines"),
        ),
    ],
)
def test_keywords_and_hashtags_are_found_folded_and_in_order(
    message: str, found: tuple[str, ...]
) -> None:
    assert PROJECT.find(message) == found


@pytest.mark.parametrize(
    "message",
    [
        "Qui vient au souper samedi?",
        "Les éolienneries du voisin",  # a longer word is another word
        "aéolien",
        "C#ParcEolien",  # not a hashtag: glued to a word
        "#TroisCollines2026",  # another hashtag
        "#Parc du village",  # "#Parc" is not "#ParcÉolien"
        "",
    ],
)
def test_other_words_are_not_mentions(message: str) -> None:
    assert PROJECT.find(message) == ()


def test_a_hashtag_is_only_a_hashtag() -> None:
    only_tags = Matcher(hashtags=["#ParcEolien"])
    assert only_tags.find("le parc éolien") == ()
    assert only_tags.find("#parc_éolien") == ("#ParcEolien",)


def test_terms_that_cannot_be_matched_reliably_are_refused() -> None:
    with pytest.raises(TermError, match="LISTEN_HASHTAGS"):
        Matcher(keywords=["#éolien"])
    with pytest.raises(TermError, match="too short"):
        Matcher(keywords=["é"])
    with pytest.raises(TermError, match="not a hashtag"):
        Matcher(hashtags=["#parc éolien"])
    assert Matcher(hashtags=["TroisCollines"]).hashtags == ("#TroisCollines",)
    assert not Matcher()


def test_without_keywords_the_project_names_are_listened_for() -> None:
    keywords, hashtags = project_terms(
        {"fr": "Parc éolien des Trois-Collines", "en": "Trois-Collines Wind Farm"}
    )
    assert keywords == (
        "Parc éolien des Trois-Collines",
        "Trois-Collines Wind Farm",
        "Trois-Collines",
    )
    assert hashtags == ("#TroisCollines",)
    names_only = project_terms({"fr": "Ligne bleue du métro", "en": "Blue Line"})
    assert names_only == (("Ligne bleue du métro", "Blue Line"), ())


def test_matching_is_fast_enough_for_busy_groups() -> None:
    message = "Bonjour à tous, quelqu'un sait à quelle heure commence la réunion de ce soir? " * 4
    start = time.perf_counter()
    for _ in range(2000):
        PROJECT.find(message)
    per_message = (time.perf_counter() - start) / 2000
    print(f"\nmatching: {per_message * 1e6:.0f} µs a message of {len(message)} characters")
    assert per_message < 0.002


TOKEN = "123456:" + "A" * 30


@pytest.mark.parametrize(
    ("settings", "named"),
    [
        (
            {"listen_telegram_chats": "-1001234567890, 42", "telegram_token": TOKEN},
            "LISTEN_TELEGRAM_CHATS",
        ),
        ({"listen_telegram_chats": "-1001234567890"}, "LISTEN_TELEGRAM_CHATS needs TELEGRAM_TOKEN"),
        ({"listen_discord_channels": "salon", "discord_token": "a.b.c"}, "LISTEN_DISCORD_CHANNELS"),
        (
            {"listen_discord_channels": "710000000000000002"},
            "LISTEN_DISCORD_CHANNELS needs DISCORD_TOKEN",
        ),
        ({"listen_keywords": "éolien, #TroisCollines"}, "LISTEN_KEYWORDS"),
        ({"listen_hashtags": "#parc éolien"}, "LISTEN_HASHTAGS"),
        ({"project_hashtag": "#Trois Collines"}, "PROJECT_HASHTAG"),
        ({"project_hashtag": "#TroisCollines, #ParcEolien"}, "PROJECT_HASHTAG"),
        (
            {
                "telegram_token": TOKEN,
                "listen_telegram_chats": "-1001234567890",
                "desk_telegram_chat": "-1001234567890",
                "desk_telegram_staff": "42",
            },
            "DESK_TELEGRAM_CHAT",
        ),
        (
            {
                "discord_token": "a.b.c",
                "listen_discord_channels": "710000000000000002",
                "desk_discord_channel": "710000000000000002",
                "desk_discord_role": "1",
            },
            "DESK_DISCORD_CHANNEL",
        ),
        (
            {
                "discord_token": "a.b.c",
                "listen_discord_channels": "710000000000000002",
                "discord_channels": "710000000000000002",
            },
            "DISCORD_CHANNELS",
        ),
    ],
)
def test_a_wrong_listening_setting_is_one_sentence_naming_it(
    settings: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        load_settings(**settings)
    message = str(caught.value)
    assert named in message
    assert "\n" not in message
    assert message.endswith(".")


def test_listening_settings_are_read_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELEGRAM_TOKEN", TOKEN)
    monkeypatch.setenv("LISTEN_TELEGRAM_CHATS", "-1001234567890; -4567")
    monkeypatch.setenv("LISTEN_KEYWORDS", "éolien, éoliennes,, Trois-Collines, wind farm")
    monkeypatch.setenv("LISTEN_HASHTAGS", "#TroisCollines, ParcEolien")
    settings = load_settings()
    assert settings.listen_telegram_chats == (-1001234567890, -4567)
    assert settings.listen_keywords == ("éolien", "éoliennes", "Trois-Collines", "wind farm")
    assert settings.listen_hashtags == ("#TroisCollines", "#ParcEolien")
    assert load_settings(listen_keywords="").listen_keywords == ()


def test_the_projects_hashtag_is_always_listened_for() -> None:
    names = {"fr": "Parc éolien des Trois-Collines", "en": "Trois-Collines Wind Farm"}
    settings = load_settings(project_hashtag="NosCollines")
    assert settings.project_hashtag == "#NosCollines"
    keywords, hashtags, origin = settings.listened_terms(names)
    assert "Trois-Collines" in keywords
    assert hashtags[-2:] == ("#TroisCollines", "#NosCollines")
    assert origin == "the project's names, PROJECT_HASHTAG"
    # Already among the project's names' hashtags: listed once.
    same = load_settings(project_hashtag="#TroisCollines").listened_terms(names)
    assert same[1].count("#TroisCollines") == 1
    chosen = load_settings(listen_keywords="éolien", project_hashtag="#TroisCollines")
    assert chosen.listened_terms(names) == (
        ("éolien",),
        ("#TroisCollines",),
        "LISTEN_KEYWORDS, LISTEN_HASHTAGS, PROJECT_HASHTAG",
    )
    assert load_settings(project_hashtag="").listened_terms(names)[2] == "the project's names"
