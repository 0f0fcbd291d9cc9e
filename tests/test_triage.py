"""The triager with the shipped playbook and the shipped models: flags, categories and reasons."""

from __future__ import annotations

from functools import lru_cache

import pytest

from firebreak.playbook.loader import load_playbook, parse_playbook
from firebreak.triage.assess import Triager
from firebreak.triage.ml.predict import load_models
from firebreak.triage.result import PostInput


@lru_cache(maxsize=1)
def triager() -> Triager:
    return Triager(load_playbook(), load_models())


def one(text: str, **context) -> object:
    return triager().triage([PostInput(text=text, **context)])[0]


def labels(result) -> list[str]:
    return [reason.label for reason in result.reasons]


def test_every_example_of_the_default_playbook_passes():
    playbook = load_playbook().playbook
    posts = [PostInput(text=e.text, author_followers=e.author.followers if e.author else None,
                       author_tags=tuple(e.author.tags) if e.author else ()) for e in playbook.examples]
    for example, result in zip(playbook.examples, triager().triage(posts), strict=True):
        assert example.flag in (None, result.flag), (example.text, result.explain())
        assert example.category in (None, result.category), (example.text, result.category, result.explain())


def test_result_has_every_field_and_an_explanation():
    result = one("see you in court @acme, my lawyer has the receipts")
    data = result.to_dict()
    assert {"flag", "category", "sentiment", "offensive", "confidence", "reasons", "intent"} <= set(data)
    assert data["flag"] == "red" and data["category"] == "legal_threat"
    assert any(label.startswith("legal threat: matched") and "'my lawyer'" in label and "'see you in court'" in label
               for label in labels(result))
    assert result.explain().startswith("red — legal threat: matched")
    assert result.intent == "threat"


def test_author_signals_are_explained():
    result = one("your product is garbage and broke in a week, never buying again", author_followers=120_400)
    assert result.flag in ("yellow", "red")
    assert "influencer: 120,400 followers ≥ 50,000" in labels(result)
    troll = one("lol ur company is trash", author_tags=("troll",))
    assert "known troll: monitor, do not feed" in labels(troll)
    press = one("Acme's support has been terrible, customers are furious", author_tags=("journalist",))
    assert "author is a journalist" in labels(press) and press.flag != "green"


def test_a_model_never_lowers_a_rule_red():
    # Friendly, positive wording around a real legal threat: the model says praise, the rule says red.
    result = one("love you guys but my lawyer will be in touch about the contract 😊")
    assert result.flag == "red" and result.category == "legal_threat"


def test_negated_threat_is_explained_and_not_red():
    result = one("I'm not going to sue, I just want help with my order #44718")
    assert result.flag != "red"
    assert any("negated by 'not'" in label for label in labels(result))


def test_news_source_with_negative_tone_is_at_least_yellow():
    result = one("Customers say the app has been unusable for days and support is silent", channel_kind="news")
    assert result.flag in ("yellow", "red")
    assert any(label.startswith("news site with a negative tone") for label in labels(result))


def test_repeated_complaints_raise_the_flag():
    calm = one("the app is slow again today", prior_negative_by_author=0)
    third = one("the app is slow again today", prior_negative_by_author=2)
    if calm.sentiment == "negative":
        assert third.flag in ("yellow", "red")
        assert any("3rd negative post from this author" in label for label in labels(third))


def test_offensive_language_is_scored():
    rude = one("you are all useless f***ing idiots, go to hell")
    polite = one("thanks for the quick help this morning, much appreciated")
    assert rude.offensive_score > polite.offensive_score
    assert not polite.offensive


def test_batch_keeps_input_order_and_is_deterministic():
    texts = ["thank you so much!", "my account was hacked", "how do I change my email?", "see you in court"]
    first = [r.to_dict() for r in triager().triage([PostInput(text=t) for t in texts])]
    second = [r.to_dict() for r in triager().triage([PostInput(text=t) for t in reversed(texts)])]
    assert first == list(reversed(second))
    assert first[1]["flag"] == "red" and first[3]["flag"] == "red"


@pytest.mark.parametrize("threshold", ["0.99"])
def test_playbook_thresholds_change_the_outcome(threshold):
    strict = parse_playbook(
        _default_text().replace("category_min_confidence: 0.2", f"category_min_confidence: {threshold}")
        .replace("red_min_confidence: 0.15", f"red_min_confidence: {threshold}"),
        source="strict.yaml",
    )
    strict_triager = Triager(strict, load_models())
    post = PostInput(text="the checkout page gives me a blank screen every time")
    assert not any(r.kind == "model" for r in strict_triager.triage([post])[0].reasons)


def _default_text() -> str:
    from importlib import resources

    return resources.files("firebreak.playbook.defaults").joinpath("default.yaml").read_text("utf-8")


def test_the_brands_own_posts_are_scored_but_never_flagged():
    result = one("we're sorry, see you in court is not what we want; DM us your order number", direction="outbound")
    assert result.flag == "green"
    assert "the brand's own post: not flagged" in labels(result)
