"""The stages the product runs, in order; later capabilities add theirs here."""

from __future__ import annotations

from firebreak.pipeline.base import Stage
from firebreak.pipeline.runner import Pipeline
from firebreak.pipeline.stages.normalise import LanguageStage, NormaliseStage
from firebreak.settings import Settings


def default_stages() -> list[Stage]:
    """Return fresh instances of the built-in stages in pipeline order."""
    return [NormaliseStage(), LanguageStage()]


def build_pipeline(settings: Settings, stages: list[Stage] | None = None) -> Pipeline:
    """Return the pipeline configured by `settings`."""
    return Pipeline(
        stages if stages is not None else default_stages(),
        max_attempts=settings.pipeline_max_attempts,
        retry_base_seconds=settings.pipeline_retry_base_seconds,
    )
