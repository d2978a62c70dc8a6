"""Table tests for the rule-based profile extraction."""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphs.extract import Statement, extract_statements, may_be_about_the_user

Triple = tuple[str, str, str]

POSITIVE: list[tuple[str, list[Triple]]] = [
    # names
    ("My name is Alice", [("name", "name", "Alice")]),
    ("my name is alice.", [("name", "name", "Alice")]),
    ("My name's Bob!", [("name", "name", "Bob")]),
    ("Name's Bond.", [("name", "name", "Bond")]),
    ("Hi, I'm Alice", [("name", "name", "Alice")]),
    ("Hey I'm Alice Smith!", [("name", "name", "Alice Smith")]),
    ("I am Carol", [("name", "name", "Carol")]),
    ("I'M ALICE", [("name", "name", "Alice")]),
    ("I'm José", [("name", "name", "José")]),
    ("call me Al", [("name", "name", "Al")]),
    ("Call me Al, please.", [("name", "name", "Al")]),
    ("People call me Bobby", [("name", "name", "Bobby")]),
    ("You can call me Jean-Luc.", [("name", "name", "Jean-Luc")]),
    ("Can you call me Al?", [("name", "name", "Al")]),
    ("It's Bob here", [("name", "name", "Bob")]),
    ("Alice here", [("name", "name", "Alice")]),
    ("Hi, this is Carol", [("name", "name", "Carol")]),
    ("I am called Ann", [("name", "name", "Ann")]),
    ("I go by Sam", [("name", "name", "Sam")]),
    ("Could you remember that my name is Zoë?", [("name", "name", "Zoë")]),
    ("I'm Alice, what's your name?", [("name", "name", "Alice")]),
    # locations
    ("I live in Paris", [("location", "location", "Paris")]),
    ("I live in Paris, France.", [("location", "location", "Paris, France")]),
    ("I'm from Paris", [("location", "location", "Paris")]),
    ("I'm based in Berlin.", [("location", "location", "Berlin")]),
    ("I moved to New York City with my wife", [("location", "location", "New York City")]),
    ("I just moved to Lisbon", [("location", "location", "Lisbon")]),
    ("Home is Lisbon", [("location", "location", "Lisbon")]),
    ("I'm living in London now", [("location", "location", "London")]),
    ("I'm from the U.S.", [("location", "location", "the U.S.")]),
    ("No, I live in Rome", [("location", "location", "Rome")]),
    ("Remember that I live in Oslo", [("location", "location", "Oslo")]),
    # jobs
    ("I work as a software engineer", [("job", "job", "software engineer")]),
    ("I'm a teacher", [("job", "job", "teacher")]),
    ("I'm an engineer", [("job", "job", "engineer")]),
    ("I am an engineer.", [("job", "job", "engineer")]),
    ("My job is teaching", [("job", "job", "teaching")]),
    ("I work at Google as a data scientist", [("job", "job", "data scientist at Google")]),
    ("I work at Google", [("job", "job", "works at Google")]),
    ("I'm a nurse at St. Mary's hospital", [("job", "job", "nurse at St Mary's hospital")]),
    ("I'm retired", [("job", "job", "retired")]),
    ("I'm a student", [("job", "job", "student")]),
    # likes and dislikes
    ("I love jazz", [("like", "like:jazz", "jazz")]),
    ("i love python!!!", [("like", "like:python", "python")]),
    ("I enjoy hiking", [("like", "like:hiking", "hiking")]),
    ("I like to cook", [("like", "like:cooking", "cooking")]),
    ("I'm a big fan of jazz", [("like", "like:jazz", "jazz")]),
    ("I'm a fan of the Beatles", [("like", "like:beatles", "the Beatles")]),
    ("I'm a huge Arsenal fan", [("like", "like:arsenal", "Arsenal")]),
    ("I'm into photography", [("like", "like:photography", "photography")]),
    ("I like rock and roll", [("like", "like:rock and roll", "rock and roll")]),
    ("I like Python more than JavaScript", [("like", "like:python", "Python")]),
    (
        "I really like jazz, blues and rock.",
        [
            ("like", "like:jazz", "jazz"),
            ("like", "like:blues", "blues"),
            ("like", "like:rock", "rock"),
        ],
    ),
    (
        "My favourite colour is blue",
        [("like", "like:favourite colour", "blue (favourite colour)")],
    ),
    (
        "Blue is my favorite color",
        [("like", "like:favourite color", "Blue (favourite color)")],
    ),
    ("I hate mornings", [("dislike", "dislike:mornings", "mornings")]),
    ("I don't like jazz", [("dislike", "dislike:jazz", "jazz")]),
    ("I can't stand cilantro!", [("dislike", "dislike:cilantro", "cilantro")]),
    ("I’m not a fan of horror movies", [("dislike", "dislike:horror movies", "horror movies")]),
    # answer preferences
    ("please keep answers short", [("preference", "preference:length", "short answers")]),
    ("I prefer concise answers", [("preference", "preference:length", "short answers")]),
    ("I like short answers", [("preference", "preference:length", "short answers")]),
    ("Could you please keep it short?", [("preference", "preference:length", "short answers")]),
    ("Answer in French", [("preference", "preference:language", "French")]),
    ("Can you answer in Spanish?", [("preference", "preference:language", "Spanish")]),
    ("use bullet points", [("preference", "preference:format", "bullet points")]),
    ("don't use markdown", [("preference", "preference:format", "no markdown")]),
    ("no emojis please", [("preference", "preference:emoji", "no emojis")]),
    ("Be more formal please", [("preference", "preference:tone", "formal")]),
    ("talk to me casually", [("preference", "preference:tone", "casual")]),
    # facts
    ("I'm 30 years old", [("fact", "fact:age", "30 years old")]),
    ("I'm a vegetarian", [("fact", "fact:diet", "vegetarian")]),
    ("I have a dog named Rex", [("fact", "fact:has:dog named rex", "has a dog named Rex")]),
    ("I'm allergic to peanuts", [("fact", "fact:allergy:peanuts", "allergic to peanuts")]),
    ("I speak French and English", [("fact", "fact:speaks", "speaks French and English")]),
    # label style, one per line
    ("Name: Bob", [("name", "name", "Bob")]),
    ("name: bob", [("name", "name", "Bob")]),
    ("Location: Oslo", [("location", "location", "Oslo")]),
    ("City: Bergen", [("location", "location", "Bergen")]),
    ("Job: nurse", [("job", "job", "nurse")]),
    ("Occupation: a software engineer", [("job", "job", "software engineer")]),
    ("Age: 42", [("fact", "fact:age", "42 years old")]),
    (
        "Name: Bob\nLocation: Oslo\nJob: nurse",
        [("name", "name", "Bob"), ("location", "location", "Oslo"), ("job", "job", "nurse")],
    ),
    # a fact not right after the verb
    ("I actually live in Oslo now", [("location", "location", "Oslo")]),
    ("I really do live in Oslo", [("location", "location", "Oslo")]),
    ("I still live in Bergen", [("location", "location", "Bergen")]),
    ("These days I live in Oslo", [("location", "location", "Oslo")]),
    ("I've been living in Oslo for years", [("location", "location", "Oslo")]),
    ("I have been based in Tromsø since 2019", [("location", "location", "Tromsø")]),
    ("I'm currently a nurse", [("job", "job", "nurse")]),
    # a job followed by a clause or a place
    ("I'm a nurse and I love it", [("job", "job", "nurse")]),
    ("I work as a nurse and I love it", [("job", "job", "nurse")]),
    ("I'm a teacher and a mum", [("job", "job", "teacher")]),
    ("I'm a nurse in Oslo", [("job", "job", "nurse"), ("location", "location", "Oslo")]),
    (
        "my name is Bob, I'm a nurse in Oslo",
        [("name", "name", "Bob"), ("job", "job", "nurse"), ("location", "location", "Oslo")],
    ),
    # "for a living"
    ("I teach for a living", [("job", "job", "teaching")]),
    ("I write code for a living", [("job", "job", "writing code")]),
    ("I drive a bus for a living", [("job", "job", "driving a bus")]),
    ("I do plumbing for a living", [("job", "job", "plumbing")]),
    # how the answers should be
    ("keep answers short", [("preference", "preference:length", "short answers")]),
    ("keep it brief", [("preference", "preference:length", "short answers")]),
    ("please answer in bullet points", [("preference", "preference:format", "bullet points")]),
    ("Answer in bullet points please", [("preference", "preference:format", "bullet points")]),
    ("please reply in German", [("preference", "preference:language", "German")]),
    # several in one message
    (
        "I'm Alice. I live in Paris and I work as a nurse. I love jazz but I hate country music.",
        [
            ("name", "name", "Alice"),
            ("location", "location", "Paris"),
            ("job", "job", "nurse"),
            ("like", "like:jazz", "jazz"),
            ("dislike", "dislike:country music", "country music"),
        ],
    ),
]

NEGATIVE = [
    "",
    "   ",
    "hello",
    "What's my name?",
    "what is my name",
    "do I like jazz?",
    "Do I like jazz",
    "where do I live?",
    "what do I do",
    "Is my name Alice?",
    "Am I from Paris?",
    "I'm tired",
    "I'm Sorry",
    "I'm French",
    "I'm OK",
    "Thanks, I'm good",
    "I'm happy to help",
    "I'm Going home",
    "I'm a bit tired",
    "I'm a good cook",
    "I'm a fan",
    "I'm just a human",
    "i'm alice",  # lowercase after "I'm" is too ambiguous to be a name
    "This is Python",
    "This is great",
    "Don't call me Al",
    "Call me maybe",
    "call me later",
    "my name is not Bob",
    "My friend's name is Bob",
    "My wife likes jazz",
    "If I lived in Paris",
    "I used to live in Rome",
    "I'm not a teacher",
    "I like that",
    "I love you",
    "I'd like a coffee",
    "I like your answer",
    "I like it when you answer quickly",
    "I have a question",
    "I'm 5 minutes late",
    "I'm good at chess",
    "show me python code",
    "tell me a story",
    "I'm tired today",
    "My friend's name is Bob, he lives in Oslo",
    "Name: ",
    "Location: unknown",
    "My sister is a nurse in Oslo",
    "If I lived in Oslo I would be a nurse",
    "I'm not a nurse in Oslo",
    "I love it",
    "I do this for a living?",
    "what do you do for a living?",
    "Keep going",
    "Name the capital of Norway",
]


def triples(statements: list[Statement]) -> list[Triple]:
    return [(s.kind, s.key, s.value) for s in statements]


@pytest.mark.parametrize(("text", "expected"), POSITIVE, ids=[t for t, _ in POSITIVE])
def test_positive(text: str, expected: list[Triple]) -> None:
    assert triples(extract_statements(text)) == expected


@pytest.mark.parametrize("text", NEGATIVE)
def test_negative(text: str) -> None:
    assert extract_statements(text) == []


def test_table_is_large_enough() -> None:
    assert len(POSITIVE) + len(NEGATIVE) >= 80
    assert len(NEGATIVE) >= 40


@pytest.mark.parametrize(("text", "expected"), POSITIVE, ids=[t for t, _ in POSITIVE])
def test_every_statement_passes_the_cheap_test_before_a_model_is_asked(
    text: str, expected: list[Triple]
) -> None:
    assert may_be_about_the_user(text)


@pytest.mark.parametrize(
    "text",
    [
        "What is the capital of France?",
        "Summarise the French revolution.",
        "tell a story about dragons",
        "Thanks, that helps",
        "2 + 2 = ?",
        "The sky is blue",
    ],
)
def test_messages_that_cannot_be_about_the_person_fail_the_cheap_test(text: str) -> None:
    assert not may_be_about_the_user(text)


def test_single_valued_kinds_use_the_kind_as_key() -> None:
    first = extract_statements("my name is Alice")
    later = extract_statements("call me Al")
    assert first == [Statement("name", "name", "Alice")]
    assert later == [Statement("name", "name", "Al")]
    assert first[0].key == later[0].key


def test_dislike_replaces_like_and_vice_versa() -> None:
    (dislike,) = extract_statements("I hate jazz")
    assert dislike.key == "dislike:jazz"
    assert dislike.replaces == ("like:jazz",)
    (like,) = extract_statements("I love Jazz")
    assert like.key == "like:jazz"
    assert like.replaces == ("dislike:jazz",)


def test_items_are_normalised_for_keys() -> None:
    (a,) = extract_statements("I love The Beatles")
    (b,) = extract_statements("I don't like the beatles")
    assert a.key == "like:beatles"
    assert "like:beatles" in b.replaces


def test_later_statement_in_the_same_message_wins() -> None:
    assert extract_statements("My name is Alice. Actually, call me Al.") == [
        Statement("name", "name", "Al")
    ]
    assert triples(extract_statements("I love jazz. Actually I hate jazz")) == [
        ("dislike", "dislike:jazz", "jazz")
    ]


def test_favourite_is_single_valued_per_category() -> None:
    (a,) = extract_statements("My favourite colour is blue")
    (b,) = extract_statements("my favorite colour is green")
    assert a.key == b.key


def test_values_are_trimmed_and_names_capitalised() -> None:
    assert extract_statements("call me  al!!!") == [Statement("name", "name", "Al")]
    assert triples(extract_statements("I live in Paris...")) == [("location", "location", "Paris")]


def test_statements_are_frozen() -> None:
    (s,) = extract_statements("I love jazz")
    with pytest.raises(AttributeError):
        s.value = "blues"  # type: ignore[misc]


def test_deterministic() -> None:
    text = "Hi, I'm Alice. I live in Paris, I love jazz and I hate mornings."
    assert extract_statements(text) == extract_statements(text)


def test_huge_and_hostile_input_is_fast() -> None:
    inputs = [
        "a" * 1_000_000,
        "I like " + "a, " * 300_000,
        "my name is " + "A" * 1_000_000,
        "I'm " + "Ab " * 300_000,
        "\x00\x01\x7f" * 300_000,
        "I live in " + "x." * 500_000,
        "call me " * 200_000,
        "I'm a " + "b " * 500_000 + "teacher",
        "?" * 1_000_000,
    ]
    start = time.monotonic()
    for text in inputs:
        extract_statements(text)
    assert time.monotonic() - start < 5


def test_only_the_start_of_a_huge_message_is_scanned() -> None:
    text = "x " * 10_000 + "my name is Alice"
    assert extract_statements(text) == []


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_never_raises(text: str) -> None:
    result = extract_statements(text)
    assert isinstance(result, list)
    for s in result:
        assert s.kind in {"name", "location", "job", "like", "dislike", "preference", "fact"}
        assert s.value and s.value == s.value.strip()


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "I'm",
                "my name is",
                "call me",
                "I love",
                "I live in",
                "Alice",
                "Paris",
                ",",
                "?",
                ".",
                "and",
                "not",
                "don't",
                "jazz",
                "a",
                "teacher",
                "\n",
                "é",
                "\x00",
            ]
        ),
        max_size=30,
    )
)
def test_arbitrary_phrase_soup_never_raises(words: list[str]) -> None:
    extract_statements(" ".join(words))
