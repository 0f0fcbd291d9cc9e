"""`firebreak triage`, `eval` and `playbook check` as a user runs them."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from firebreak.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("FIREBREAK_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("FIREBREAK_PLAYBOOK_PATH", raising=False)
    from firebreak.settings import get_settings

    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


POSTS = ["thank you for the quick fix!", "see you in court", "how do I change my email?", "my account was hacked"]


def _rows(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


@pytest.mark.parametrize("fmt", ["txt", "csv", "jsonl"])
def test_triage_file_writes_one_result_per_post_in_order(tmp_path: Path, fmt: str):
    path = tmp_path / f"posts.{fmt}"
    if fmt == "txt":
        path.write_text("\n".join(POSTS) + "\n")
    elif fmt == "csv":
        with path.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["id", "text"])
            writer.writerows([[i, t] for i, t in enumerate(POSTS)])
    else:
        path.write_text("\n".join(json.dumps({"text": t, "channel_kind": "x"}) for t in POSTS) + "\n")
    out = tmp_path / "out.jsonl"
    result = runner.invoke(app, ["triage", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    rows = _rows(out.read_text())
    assert [r["text"] for r in rows] == POSTS
    for row in rows:
        assert {"flag", "category", "sentiment", "offensive", "confidence", "reasons"} <= set(row)
    assert rows[1]["flag"] == "red" and rows[1]["category"] == "legal_threat"
    assert rows[3]["flag"] == "red"


def test_triage_to_stdout(tmp_path: Path):
    path = tmp_path / "posts.txt"
    path.write_text("see you in court\n")
    result = runner.invoke(app, ["triage", str(path)])
    assert result.exit_code == 0
    assert _rows(result.stdout)[0]["flag"] == "red"


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("bad.csv", "body,label\nhello,praise\n", "CSV needs a 'text' column"),
        ("bad.jsonl", '{"text": "ok"}\n{"text": \n', "bad.jsonl:2: malformed JSON"),
        ("bad2.jsonl", '{"text": ""}\n', "bad2.jsonl:1 column 'text': text is missing or empty"),
        ("bad3.jsonl", '{"text": "hi", "author_followers": "lots"}\n', "column 'author_followers': not a whole number"),
    ],
)
def test_triage_bad_input_is_named(tmp_path: Path, name: str, content: str, message: str):
    path = tmp_path / name
    path.write_text(content)
    result = runner.invoke(app, ["triage", str(path), "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2
    assert message in result.output


def test_eval_prints_scores_confusion_and_mistakes(tmp_path: Path):
    path = tmp_path / "labelled.csv"
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        writer.writerows([
            ["see you in court", "legal_threat"],
            ["my account was hacked and drained", "security"],
            ["thank you, amazing service!", "praise"],
            ["this deal is killer", "legal_threat"],  # deliberately wrong label: must show as a mistake
        ])
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 0, result.output
    for expected in ("By category", "precision", "recall", "F1", "Confusion", "Misclassified", "this deal is killer",
                     "By flag (from category)"):
        assert expected in result.output


def test_eval_refuses_a_file_without_labels(tmp_path: Path):
    path = tmp_path / "labelled.csv"
    path.write_text("text\nhello\n")
    result = runner.invoke(app, ["eval", str(path)])
    assert result.exit_code == 2 and "needs columns text,label" in result.output


def test_playbook_check_passes_on_the_default():
    result = runner.invoke(app, ["playbook", "check"])
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "examples pass" in result.output


def test_playbook_check_shows_a_readable_diff_for_failing_examples(tmp_path: Path):
    from importlib import resources

    text = resources.files("firebreak.playbook.defaults").joinpath("default.yaml").read_text("utf-8")
    text += '  - {text: "thank you so much for the help", flag: red, category: fraud}\n'
    path = tmp_path / "mine.yaml"
    path.write_text(text)
    result = runner.invoke(app, ["playbook", "check", str(path)])
    assert result.exit_code == 1
    assert "thank you so much for the help" in result.output
    assert "flag: expected red, got green" in result.output
    assert "category: expected fraud, got" in result.output
    assert "because:" in result.output


def test_playbook_check_refuses_invalid_yaml_naming_the_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("playbook:\n  name: x\nrisk:\n  categories:\n    - id: general\n      label: g\n      flag: blue\n")
    result = runner.invoke(app, ["playbook", "check", str(path)])
    assert result.exit_code == 2
    assert f"{path}:7: risk.categories[0].flag" in result.output
