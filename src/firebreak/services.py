"""The long-lived parts one process shares, built from settings: playbooks in force, triagers, compiled
workflows, and the pipeline, SLA scheduler and alert dispatcher that use them.

`firebreak serve`, the CLI and a Celery worker build one `Services` each, so every entry point runs
the same code with the same caches.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property, partial
from urllib.parse import quote

from sqlalchemy.orm import Session

from firebreak.db.engine import Database
from firebreak.issues.notices import issue_notices
from firebreak.notify.delivery import AlertDispatcher
from firebreak.notify.schema import ALERT_KINDS, TargetSpec
from firebreak.outbox.delivery import OutboxDispatcher
from firebreak.pipeline.base import Stage
from firebreak.pipeline.runner import Pipeline
from firebreak.pipeline.stages.issues import IssuesStage
from firebreak.pipeline.stages.normalise import LanguageStage, NormaliseStage
from firebreak.pipeline.stages.triage import TriageStage
from firebreak.pipeline.stages.workflow import WorkflowStage
from firebreak.playbook.loader import LoadedPlaybook, load_playbook
from firebreak.playbook.service import PlaybookStore
from firebreak.settings import Settings
from firebreak.triage.factory import TriagerCache
from firebreak.workflow.notices import PERSON_PREFIX
from firebreak.workflow.runtime import RuntimeCache, WorkflowRuntime
from firebreak.workflow.scheduler import SlaScheduler

EMAIL_URL_ENV = "FIREBREAK_ALERT_EMAIL_URL"


@dataclass
class Services:
    settings: Settings

    @cached_property
    def playbooks(self) -> PlaybookStore:
        return PlaybookStore(lambda: load_playbook(self.settings.playbook_path))

    @cached_property
    def triagers(self) -> TriagerCache:
        return TriagerCache(self.settings, self.playbooks)

    @cached_property
    def workflows(self) -> RuntimeCache:
        return RuntimeCache(self.playbooks)

    def playbook(self, session: Session, workspace_id: int) -> LoadedPlaybook:
        return self.playbooks.for_workspace(session, workspace_id)

    def workflow(self, session: Session, workspace_id: int) -> WorkflowRuntime:
        return self.workflows.for_workspace(session, workspace_id)

    def stages(self) -> list[Stage]:
        """The built-in stages in pipeline order."""
        return [
            NormaliseStage(),
            LanguageStage(),
            TriageStage(triager_for=self.triagers),
            WorkflowStage(self.workflows, public_url=self.settings.base_url),
            IssuesStage(),
        ]

    def pipeline(self, stages: list[Stage] | None = None) -> Pipeline:
        return Pipeline(
            stages if stages is not None else self.stages(),
            max_attempts=self.settings.pipeline_max_attempts,
            retry_base_seconds=self.settings.pipeline_retry_base_seconds,
        )

    def scheduler(self) -> SlaScheduler:
        return SlaScheduler(self.workflows, public_url=self.settings.base_url,
                            issue_notices=partial(issue_notices, public_url=self.settings.base_url))

    def outbox_dispatcher(self, db: Database) -> OutboxDispatcher:
        """The sender of queued posts and replies (webhook connector per channel)."""
        return OutboxDispatcher(db)

    def dispatcher(self, db: Database) -> AlertDispatcher:
        def targets(workspace_id: int) -> Mapping[str, TargetSpec]:
            with db.read() as session:
                loaded = self.playbooks.for_workspace(session, workspace_id)
            return _TargetsWithPeople(loaded.playbook.alerts.by_id, self.settings.alert_email_url)

        return AlertDispatcher(targets)


class _TargetsWithPeople(Mapping[str, TargetSpec]):
    """The playbook's alert targets, plus `email:<address>` for alerts to one person.

    A person is e-mailed through FIREBREAK_ALERT_EMAIL_URL (an apprise mailto URL holding the SMTP
    server and sender); without it, their alerts fail with a message that names the setting.
    """

    def __init__(self, targets: Mapping[str, TargetSpec], email_url: str | None) -> None:
        self._targets = targets
        self._email_url = email_url

    def __getitem__(self, key: str) -> TargetSpec:
        if key.startswith(PERSON_PREFIX):
            address = key.removeprefix(PERSON_PREFIX)
            url = None
            if self._email_url:
                joiner = "&" if "?" in self._email_url else "?"
                url = f"{self._email_url}{joiner}to={quote(address, safe='@')}"
            # Built without validation: "person" is not a playbook target id, and without a URL the
            # delivery fails with a message naming FIREBREAK_ALERT_EMAIL_URL.
            return TargetSpec.model_construct(id="person", label=address, url=url,
                                              url_env=None if url else EMAIL_URL_ENV,
                                              kinds=list(ALERT_KINDS), rate_limit=_PERSON_LIMIT)
        return self._targets[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)


_PERSON_LIMIT = TargetSpec.model_fields["rate_limit"].default


def default_stages(settings: Settings) -> list[Stage]:
    """Fresh instances of the built-in stages, for callers that need no shared caches."""
    return Services(settings).stages()


def build_pipeline(settings: Settings, stages: list[Stage] | None = None) -> Pipeline:
    """The pipeline configured by `settings` (a new Services; pass one around to share its caches)."""
    return Services(settings).pipeline(stages)
