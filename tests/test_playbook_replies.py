"""The playbook's `replies:` section: saved replies to a mention, validated like the other sections."""

from __future__ import annotations

import pytest

from firebreak.playbook.loader import PlaybookError, load_playbook, parse_playbook

MINIMAL = """\
playbook:
  name: Tiny
  version: 3
risk:
  categories:
    - id: general
      label: general
      flag: green
  authors: {influencer_category: null, employee_category: null}
  sources: {negative_news_category: null, negative_media_category: null}
"""


def test_the_default_ships_the_four_saved_replies():
    replies = load_playbook().playbook.replies
    assert list(replies) == ["thank", "apologise-and-help", "take-it-private", "facts-with-source"]
    assert all("{author}" in text for text in replies.values())


def test_a_playbook_without_replies_takes_the_default_ones():
    assert parse_playbook(MINIMAL, source="tiny.yaml").playbook.replies == load_playbook().playbook.replies


def test_a_playbook_can_have_its_own_replies_or_none():
    own = parse_playbook(MINIMAL + 'replies:\n  hello: "Hi {author}, {brand} here."\n', source="own.yaml")
    assert own.playbook.replies == {"hello": "Hi {author}, {brand} here."}
    assert parse_playbook(MINIMAL + "replies: {}\n", source="none.yaml").playbook.replies == {}


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        ('replies:\n  hello: "Hi {name}"\n',
         "x.yaml:12: replies.hello: unknown placeholder {name}; known: {author}, {brand}"),
        ('replies:\n  Hello: "Hi"\n', "x.yaml:12: replies.Hello.[key]: String should match pattern"),
        ('replies:\n  hello: "   "\n', "x.yaml:12: replies.hello: a saved reply needs some text"),
        ('replies:\n  hello: ""\n', "replies.hello: String should have at least 1 character"),
        (f'replies:\n  hello: "{"x" * 2001}"\n', "replies.hello: String should have at most 2000 characters"),
        ("replies: [thank]\n", "x.yaml:11: replies: Input should be a valid dictionary"),
    ],
)
def test_bad_replies_are_refused_with_file_line_and_field(section, expected):
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(MINIMAL + section, source="x.yaml")
    assert expected in str(caught.value)


def test_literal_braces_are_not_placeholders():
    loaded = parse_playbook(MINIMAL + 'replies:\n  code: "Use code {{SAVE10}}, {author}"\n', source="x.yaml")
    assert loaded.playbook.replies["code"] == "Use code {{SAVE10}}, {author}"
