"""Triage throughput: posts per second through rules + models, and the validation scores of the full triager.

Usage: .venv/bin/python bench/triage_throughput.py [--data-dir ../shared/data] [--batch 256]

Prints: load time, posts/s for the whole triager (rules + three models + combination) on real tweets,
the split between rules and models, and category/flag accuracy and red recall/precision on the
project's validation examples (src/firebreak/triage/data/examples_val.csv).
"""

from __future__ import annotations

import argparse
import csv
import platform
import time
from pathlib import Path

from firebreak.playbook.loader import load_playbook
from firebreak.triage.assess import Triager
from firebreak.triage.ml.predict import load_models
from firebreak.triage.result import PostInput
from firebreak.triage.rules import RuleSet

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    started = time.perf_counter()
    playbook = load_playbook()
    models = load_models()
    triager = Triager(playbook, models)
    triager.triage_text("warm up")
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, python {platform.python_version()}")
    print(f"load playbook + models: {time.perf_counter() - started:.2f} s (models {models.version})")

    texts = (args.data_dir / "tweeteval" / "sentiment" / "val_text.txt").read_text("utf-8").splitlines()
    texts += [row["text"] for row in csv.DictReader((args.data_dir / "airline" / "airline_train.csv").open())][:4000]
    posts = [PostInput(text=t) for t in texts if t.strip()]
    best = float("inf")
    for _ in range(args.repeat):
        started = time.perf_counter()
        for start in range(0, len(posts), args.batch):
            triager.triage(posts[start : start + args.batch])
        best = min(best, time.perf_counter() - started)
    print(f"triage: {len(posts):,} posts in {best:.2f} s = {len(posts) / best:,.0f} posts/s "
          f"({best / len(posts) * 1e6:.0f} µs/post, batches of {args.batch})")

    rules = RuleSet(playbook.playbook)
    started = time.perf_counter()
    for post in posts:
        rules.match(post.text)
    rule_time = time.perf_counter() - started
    started = time.perf_counter()
    for start in range(0, len(posts), args.batch):
        models.predict([p.text for p in posts[start : start + args.batch]])
    model_time = time.perf_counter() - started
    per_rule, per_model = rule_time / len(posts) * 1e6, model_time / len(posts) * 1e6
    print(f"  of which rules {per_rule:.0f} µs/post, models {per_model:.0f} µs/post")

    rows = list(csv.DictReader((ROOT / "src/firebreak/triage/data/examples_val.csv").open(encoding="utf-8")))
    flags = {c.id: c.flag for c in playbook.playbook.risk.categories}
    results = triager.triage([PostInput(text=r["text"]) for r in rows])
    category = sum(r.category == x["label"] for r, x in zip(results, rows, strict=True)) / len(rows)
    flag = sum(r.flag == flags[x["label"]] for r, x in zip(results, rows, strict=True)) / len(rows)
    reds = [r for r, x in zip(results, rows, strict=True) if flags[x["label"]] == "red"]
    said_red = [x for r, x in zip(results, rows, strict=True) if r.flag == "red"]
    print(f"examples_val ({len(rows)} posts): category accuracy {category:.3f}, flag accuracy {flag:.3f}, "
          f"red recall {sum(r.flag == 'red' for r in reds) / len(reds):.3f}, "
          f"red precision {sum(flags[x['label']] == 'red' for x in said_red) / len(said_red):.3f}")


if __name__ == "__main__":
    main()
