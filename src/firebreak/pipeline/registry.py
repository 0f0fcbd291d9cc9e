"""The stages the product runs, in order; later capabilities add theirs here."""

from __future__ import annotations

from firebreak.pipeline.base import Stage
from firebreak.pipeline.runner import Pipeline
from firebreak.pipeline.stages.normalise import LanguageStage, NormaliseStage
from firebreak.pipeline.stages.triage import TriageStage
from firebreak.settings import Settings
from firebreak.triage.factory import build_triager


def default_stages(settings: Settings) -> list[Stage]:
    """Return fresh instances of the built-in stages in pipeline order."""
    return [NormaliseStage(), LanguageStage(), TriageStage(lambda: build_triager(settings))]


def build_pipeline(settings: Settings, stages: list[Stage] | None = None) -> Pipeline:
    """Return the pipeline configured by `settings`."""
    return Pipeline(
        stages if stages is not None else default_stages(settings),
        max_attempts=settings.pipeline_max_attempts,
        retry_base_seconds=settings.pipeline_retry_base_seconds,
    )
