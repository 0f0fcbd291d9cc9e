"""The trained text models: shipped artefacts, prediction, safety of loading, and retraining."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from firebreak.core.errors import ConfigurationError, ImportRowError
from firebreak.triage.ml.features import FeatureSettings, FeatureSpace, analyse
from firebreak.triage.ml.model import MANIFEST, SHIPPED_DIR, Batch, LinearModel
from firebreak.triage.ml.predict import load_models
from firebreak.triage.ml.train import (
    CATEGORY_LABELS,
    EXAMPLES_DIR,
    TrainingSet,
    default_data_dir,
    fit_model,
    read_examples,
    total_bytes,
    train_category,
    write_artefacts,
)

DATA_DIR = default_data_dir()
needs_data = pytest.mark.skipif(not DATA_DIR.is_dir(), reason=f"training data not at {DATA_DIR}")

# Unambiguous posts per family of the default guide, none of them in the example files.
CATEGORY_CASES = {
    "praise": "Huge thanks to the Brewhaus crew, best latte I've had all year and so friendly!",
    "careers": "are you hiring? I'd love to apply for a summer internship on your engineering team",
    "account_management": "how do I change the email address on my account?",
    "ideas": "feature request: please add a dark mode to the app",
    "it_issue": "the checkout page keeps throwing an error 500 and the app crashes when I try to pay",
    "order_dispute": "I want a full refund for the charge on my last order, this fee is not what I agreed to",
    "legal_threat": "my lawyer will be in touch, see you in court",
    "security": "someone logged into my account, changed my password and drained my savings",
    "major_account_issue": "my bag never arrived and it's been 5 days, still no sign of it",
    "service_complaint": "the agent hung up on me twice after I waited an hour on hold",
    "negative_news": "BREAKING: regulator fines Pinecrest Bank $20M over data breach, investigation opened",
    "threat": "I'm going to burn your store down",
}


@pytest.fixture(scope="module")
def models():
    return load_models()


@pytest.fixture()
def shipped_copy(tmp_path: Path) -> Path:
    target = tmp_path / "models"
    shutil.copytree(SHIPPED_DIR, target)
    return target


def write_csv(path: Path, rows: list[tuple[str, str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows(rows)
    return path


# -- the shipped models ---------------------------------------------------------------------------


def test_shipped_artefacts_are_small_described_and_pickle_free(models):
    manifest = json.loads((SHIPPED_DIR / MANIFEST).read_text(encoding="utf-8"))
    assert models.version == manifest["version"] and models.version.startswith("text-models-")
    assert models.categories == CATEGORY_LABELS
    assert total_bytes(SHIPPED_DIR, manifest) < 15_000_000
    assert manifest["command"].startswith("firebreak train")
    for name, entry in manifest["models"].items():
        assert entry["train_rows"] == sum(entry["data"].values())
        assert next(iter(entry["val"].values()))[entry["main_metric"]] > 0.6, name
        with np.load(SHIPPED_DIR / entry["file"], allow_pickle=False) as arrays:
            assert all(arrays[key].dtype != object for key in arrays.files)


def test_category_labels_are_the_documented_ones():
    readme = (EXAMPLES_DIR / "README.md").read_text(encoding="utf-8")
    assert tuple(re.findall(r"^\| \w+ \| `(\w+)` \|", readme, re.MULTILINE)) == CATEGORY_LABELS
    labels = [label for _, label in read_examples(EXAMPLES_DIR / "examples_train.csv")]
    assert set(labels) == set(CATEGORY_LABELS)


def test_sentiment_of_clear_posts(models):
    texts = [
        "I love this, best service ever, thank you so much! 😍",
        "worst experience ever, delayed 5 hours and nobody helped. never again",
        "The flight leaves at 5pm from gate 22.",
    ]
    result = models.sentiment(texts)
    assert [label for label, _ in result] == ["positive", "negative", "neutral"]
    assert all(0.34 < p <= 1.0 for _, p in result)
    assert result[0][1] > 0.9 and result[1][1] > 0.9


def test_offensive_scores_abuse_high_and_politeness_low(models):
    abusive, polite = models.offensive(
        [
            "you are a fucking idiot, shut up you stupid bitch",
            "Thank you for your kind help yesterday, have a great day!",
        ]
    )
    assert abusive > 0.8
    assert polite < 0.2


def test_category_top1_for_each_family(models):
    labels = list(CATEGORY_CASES)
    predictions = models.category([CATEGORY_CASES[label] for label in labels])
    got = {label: top[0][0] for label, top in zip(labels, predictions, strict=True)}
    assert got == {label: label for label in labels}
    for top in predictions:
        assert len(top) == 3
        probabilities = [p for _, p in top]
        assert probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1.0 + 1e-9
        assert len({label for label, _ in top}) == 3


def test_empty_input_and_empty_posts(models):
    assert models.sentiment([]) == [] and models.offensive([]) == [] and models.category([]) == []
    ((label, probability),) = models.sentiment([""])
    assert label in ("negative", "neutral", "positive") and 0 < probability <= 1
    assert len(models.category(["   "])[0]) == 3


def test_predictions_do_not_depend_on_the_batch_or_the_process(models):
    texts = [*CATEGORY_CASES.values(), "ok", "meh 😐 http://example.com @someone"]
    together = models.predict(texts)
    alone = [models.predict([text])[0] for text in reversed(texts)][::-1]
    assert together == alone
    # A fresh interpreter with another hash seed and cold caches gives the very same numbers.
    script = (
        "import json, sys; from firebreak.triage.ml.predict import load_models; "
        "m = load_models(); t = json.loads(sys.stdin.read()); "
        "print(json.dumps([m.sentiment(t), m.offensive(t), m.category(t)]))"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps(texts), capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    sentiment, offensive, category = json.loads(done.stdout)
    assert [tuple(s) for s in sentiment] == [(p.sentiment, p.sentiment_probability) for p in together]
    assert offensive == [p.offensive for p in together]
    assert [[tuple(c) for c in top] for top in category] == [p.categories for p in together]


def test_tweet_aware_features():
    settings = FeatureSettings()
    doc = analyse("@SkyLarkAir SOOOO angry!!!! bag #lostbag 😡🏻 order #447181 café https://t.co/x", settings)
    assert doc.tokens[:4] == ["@user", "soo", "angry", "!"]
    assert "httpurl" in doc.tokens and "😡" in doc.tokens and "cafe" in doc.tokens
    assert "#000" in doc.tokens and "lostbag" in doc.words and "#lostbag" in doc.words
    assert doc.words["<caps>"] == 1 and doc.words["<elong>"] == 1 and doc.words["!"] == 4
    assert "soo angry" in doc.words


def test_fast_scoring_matches_the_training_matrix():
    rows = read_examples(EXAMPLES_DIR / "examples_train.csv")[::5]
    data = TrainingSet()
    data.add("sample", [t for t, _ in rows], [label for _, label in rows])
    classes = sorted(set(data.labels))
    from firebreak.triage.ml.train import TrainerConfig

    model = fit_model("category", "softmax", classes, data, TrainerConfig(max_iter=50, min_df=1))
    texts = [t for t, _ in read_examples(EXAMPLES_DIR / "examples_val.csv")[:60]]
    docs = [analyse(t, model.settings) for t in texts]
    expected = model.space.matrix(docs) @ np.vstack([model.coef_word, model.coef_char]) + model.intercept
    np.testing.assert_allclose(model.scores(Batch.of(docs)), expected, rtol=1e-4, atol=1e-5)


def test_feature_space_round_trips_through_npz(tmp_path):
    settings = FeatureSettings(char_ngrams=(2, 4))
    docs = [analyse(t, settings) for t in ["héllo wörld 👋", "hello there", "line\u2028break"]]
    space = FeatureSpace.fit(docs, settings, min_df=1)
    width = 1
    model = LinearModel(
        name="offensive",
        kind="binary",
        classes=["no", "yes"],
        space=space,
        coef_word=np.ones((space.n_words, width), np.float32),
        coef_char=np.ones((len(space.char_terms), width), np.float32),
        intercept=np.zeros(width, np.float32),
    )
    model.save(tmp_path / "m.npz")
    loaded = LinearModel.load(tmp_path / "m.npz")
    assert loaded.space.word_terms == space.word_terms and loaded.space.char_terms == space.char_terms
    np.testing.assert_array_equal(loaded.scores(Batch.of(docs)), model.scores(Batch.of(docs)))


# -- broken artefacts -----------------------------------------------------------------------------


def test_missing_model_file_is_named(shipped_copy):
    (shipped_copy / "category.npz").unlink()
    with pytest.raises(ConfigurationError, match=r"category\.npz is missing"):
        load_models(shipped_copy)


def test_corrupt_model_file_is_named(shipped_copy):
    path = shipped_copy / "sentiment.npz"
    data = bytearray(path.read_bytes())
    data[len(data) // 2 : len(data) // 2 + 64] = b"\0" * 64
    path.write_bytes(bytes(data))
    with pytest.raises(ConfigurationError, match=r"sentiment\.npz is corrupt"):
        load_models(shipped_copy)
    # Without a checksum to compare, reading the damaged file still fails with the same clear error.
    manifest = json.loads((shipped_copy / MANIFEST).read_text(encoding="utf-8"))
    del manifest["models"]["sentiment"]["sha256"]
    (shipped_copy / MANIFEST).write_text(json.dumps(manifest), encoding="utf-8")
    path.write_bytes(b"not a zip file at all")
    with pytest.raises(ConfigurationError, match=r"sentiment\.npz is corrupt"):
        load_models(shipped_copy)


def test_corrupt_manifest_is_named_and_a_dir_without_one_means_shipped(shipped_copy, tmp_path):
    (shipped_copy / MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigurationError, match=r"manifest\.json is unreadable"):
        load_models(shipped_copy)
    empty = tmp_path / "empty"
    empty.mkdir()
    assert load_models(empty) is load_models() is load_models(None)


def test_bad_examples_file_names_line_and_column(tmp_path):
    path = write_csv(tmp_path / "extra.csv", [("fine text", "praise"), ("bad label", "Not A Label")])
    with pytest.raises(ImportRowError) as caught:
        read_examples(path)
    assert caught.value.line == 3 and caught.value.column == "label" and "extra.csv:3" in str(caught.value)


# -- training a brand's own category --------------------------------------------------------------


def test_training_a_new_label_into_a_directory(tmp_path):
    by_label: dict[str, list[tuple[str, str]]] = {}
    for text, label in read_examples(EXAMPLES_DIR / "examples_train.csv"):
        if label in ("praise", "product_criticism", "general", "careers"):
            by_label.setdefault(label, []).append((text, label))
    base = write_csv(tmp_path / "base.csv", [row for rows in by_label.values() for row in rows[:25]])
    loyalty = [
        "how many Sky Points do I need for a free upgrade?",
        "my loyalty points from last month's flights still aren't showing in my points balance",
        "can I transfer my reward points to my husband's loyalty account?",
        "do loyalty points expire if I don't fly for a year?",
        "the points balance on my rewards card looks wrong, where did my 5000 points go",
        "is there a way to buy extra loyalty points to reach gold tier?",
        "redeeming points for a hotel night, how many points is that?",
        "my rewards tier dropped even though I earned enough points",
        "are double points weekends coming back for loyalty members?",
        "can points be used to pay for seat selection or only flights?",
    ]
    extra = write_csv(tmp_path / "brand.csv", [(t, "loyalty_points") for t in loyalty])
    trained = train_category(DATA_DIR, examples=[extra], base_examples=base, airline_limit=0)
    assert trained.model.classes == ("praise", "careers", "product_criticism", "general", "loyalty_points")
    out = tmp_path / "models"
    write_artefacts(out, [trained], command="firebreak train --only category")
    models = load_models(out)
    assert models.version != load_models().version and models.directory == out.resolve()
    assert models.categories[-1] == "loyalty_points"
    ((top, _, _),) = models.category(["how many loyalty points do I have left for an upgrade?"])
    assert top[0] == "loyalty_points"
    # The models that were not retrained come from the shipped set, byte for byte.
    assert (out / "sentiment.npz").read_bytes() == (SHIPPED_DIR / "sentiment.npz").read_bytes()
    manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["models"]["category"]["data"]["examples:brand.csv"] == len(loyalty)
    assert manifest["models"]["sentiment"]["command"].startswith("firebreak train")


@needs_data
def test_train_command_teaches_a_brand_category(tmp_path):
    from firebreak.cli import train as train_cli

    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """Test app."""

    train_cli.register(app)
    extra = write_csv(
        tmp_path / "brand.csv",
        [
            (f"{question} #SkyPoints", "loyalty_points")
            for question in (
                "how many points for an upgrade",
                "my loyalty points are missing from my balance",
                "do my points expire",
                "transfer points to my partner's account",
                "points balance wrong after my last trip",
                "buy points to reach gold tier",
            )
        ],
    )
    out = tmp_path / "models"
    runner = CliRunner()
    result = runner.invoke(
        app,
        ["train", "--data-dir", str(DATA_DIR), "--only", "category", "--examples", str(extra), "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "category   macro_f1 0." in result.output and "(kept from before)" in result.output
    models = load_models(out)
    assert "loyalty_points" in models.categories and len(models.categories) == len(CATEGORY_LABELS) + 1
    assert models.category(["are my loyalty points about to expire? #SkyPoints"])[0][0][0] == "loyalty_points"

    # The brand adds the category to its playbook; triage then assigns it with the playbook's flag.
    from importlib import resources

    from firebreak.playbook.loader import parse_playbook
    from firebreak.triage.assess import Triager

    default = resources.files("firebreak.playbook.defaults").joinpath("default.yaml").read_text("utf-8")
    block = "    - id: loyalty_points\n      label: loyalty points\n      flag: yellow\n      group: customer_support\n"
    brand_yaml = default.replace("    - id: general\n", block + "    - id: general\n", 1)
    playbook = parse_playbook(brand_yaml, source="brand.yaml")
    verdict = Triager(playbook, models).triage_text("do my loyalty points expire at the end of the year? #SkyPoints")
    assert (verdict.category, verdict.flag) == ("loyalty_points", "yellow")

    bad = write_csv(tmp_path / "bad.csv", [("text", "BAD LABEL")])
    result = runner.invoke(app, ["train", "--only", "category", "--examples", str(bad), "--out", str(out)])
    assert result.exit_code == 2
    assert "bad.csv:2 column 'label'" in result.output
