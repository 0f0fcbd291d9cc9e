"""Import every ORM module so `Base.metadata` describes the whole schema (migrations, tests)."""

from __future__ import annotations

from firebreak.accounts import models as account_models
from firebreak.audit import models as audit_models
from firebreak.channels import models as channel_models
from firebreak.db.base import Base
from firebreak.insights import models as insight_models
from firebreak.issues import models as issue_models
from firebreak.mentions import models as mention_models
from firebreak.notify import models as notify_models
from firebreak.outbox import models as outbox_models
from firebreak.playbook import models as playbook_models
from firebreak.triage import models as triage_models
from firebreak.workflow import models as workflow_models
from firebreak.workspaces import models as workspace_models

metadata = Base.metadata

__all__ = [
    "account_models", "audit_models", "channel_models", "insight_models", "issue_models", "mention_models", "metadata",
    "notify_models", "outbox_models", "playbook_models", "triage_models", "workflow_models", "workspace_models",
]
