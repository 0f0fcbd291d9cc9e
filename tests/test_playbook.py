"""Playbook validation: the default loads, and bad YAML is refused naming file, line and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from firebreak.playbook.loader import PlaybookError, load_playbook, parse_playbook

DEFAULT = load_playbook()
MINIMAL = """\
playbook:
  name: Tiny
  version: 3
risk:
  categories:
    - id: general
      label: general
      flag: green
    - id: legal_threat
      label: legal threat
      flag: red
      phrases: [my lawyer]
  authors: {influencer_category: null, employee_category: null}
  sources: {negative_news_category: null, negative_media_category: null}
examples:
  - {text: "my lawyer will call", flag: red, category: legal_threat}
"""


def test_default_playbook_covers_the_whole_guide():
    ids = {c.id: c.flag for c in DEFAULT.playbook.risk.categories}
    expected_red = {"security", "legal_threat", "threat", "negative_news", "sensitive_topic", "service_complaint",
                    "major_account_issue", "fraud"}
    expected_yellow = {"negative_media", "influencer_negative", "employee_negative", "product_criticism",
                       "campaign_criticism", "transaction_request", "order_dispute", "it_issue"}
    expected_green = {"account_setup", "account_management", "praise", "careers", "company_info", "partner_info",
                      "ideas", "general"}
    assert {k for k, v in ids.items() if v == "red"} == expected_red
    assert {k for k, v in ids.items() if v == "yellow"} == expected_yellow
    assert {k for k, v in ids.items() if v == "green"} == expected_green
    assert DEFAULT.playbook.examples


def test_version_changes_with_content():
    a = parse_playbook(MINIMAL, source="a.yaml")
    b = parse_playbook(MINIMAL.replace("my lawyer]", "my lawyer, my attorney]"), source="a.yaml")
    assert a.version.startswith("3+") and a.version != b.version


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("flag: red", "flag: purple"),
         "x.yaml:11: risk.categories[1].flag: Input should be 'green', 'yellow' or 'red'"),
        (("      phrases: [my lawyer]", "      phrases: [my lawyer]\n      colour: blue"),
         "x.yaml:13: risk.categories[1].colour: Extra inputs are not permitted"),
        (("category: legal_threat}", "category: legal_thret}"), "examples[0] expects unknown category 'legal_thret'"),
        (("      phrases: [my lawyer]", "      patterns: ['(unclosed']"), "is not a valid regular expression"),
        (("    - id: legal_threat", "    - id: general"), "category ids must be unique; repeated: general"),
        (("  version: 3", "  version: 3\n  version: 4"), "x.yaml:4: YAML syntax: duplicate key 'version'"),
        (("  categories:", "  categories: [\n"), "x.yaml:"),
    ],
)
def test_bad_playbooks_are_refused_with_file_line_and_field(change, expected):
    with pytest.raises(PlaybookError) as caught:
        parse_playbook(MINIMAL.replace(*change), source="x.yaml")
    assert expected in str(caught.value)


def test_unknown_reference_is_named():
    bad = MINIMAL.replace("authors: {influencer_category: null", "authors: {influencer_category: famous")
    with pytest.raises(PlaybookError, match="authors.influencer_category names unknown category 'famous'"):
        parse_playbook(bad, source="x.yaml")


def test_missing_and_non_mapping_files(tmp_path: Path):
    with pytest.raises(PlaybookError, match="no such file"):
        load_playbook(tmp_path / "nope.yaml")
    listing = tmp_path / "list.yaml"
    listing.write_text("- just\n- a list\n")
    with pytest.raises(PlaybookError, match="must be a mapping"):
        load_playbook(listing)
