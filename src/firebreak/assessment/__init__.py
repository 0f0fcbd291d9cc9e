"""Decide the response: the playbook's assessment tree, walked once per mention.

    spec = AssessmentSpec.model_validate(document["assessment"])
    tree = AssessmentTree.from_spec(spec)
    assessment = tree.evaluate({"flag": "yellow", "sentiment": "negative", "category": "order_dispute"})
    assessment.action, assessment.summary(), assessment.as_dict()
"""

from __future__ import annotations

from firebreak.assessment.schema import AssessmentSpec
from firebreak.assessment.tree import Assessment, AssessmentTree, Step

__all__ = ["Assessment", "AssessmentSpec", "AssessmentTree", "Step"]
