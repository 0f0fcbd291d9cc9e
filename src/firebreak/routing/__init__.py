"""Routing, roles and authority: where a mention goes, who takes it, who is on call, who may offer what.

Pure code over the playbook's `roles:`, `teams:`, `queues:` and `routing:` sections; the workflow
supplies the people (memberships, availability, open items) and stores the results.
"""

from firebreak.routing.assign import Assigner, Candidate, choose
from firebreak.routing.authority import OFFER_KINDS, AuthorityDecision, Offer, check_authority, permits
from firebreak.routing.oncall import next_handover, on_call_at
from firebreak.routing.router import RouteDecision, Router
from firebreak.routing.schema import (
    ASSIGNMENT_STRATEGIES,
    PERMISSIONS,
    PRIORITIES,
    ROLES,
    Authority,
    OnCallSpec,
    QueueSpec,
    RoleSpec,
    RolesSpec,
    RoutingRule,
    RoutingSpec,
    TeamSpec,
    check_references,
    referenced_calendars,
    referenced_users,
)

__all__ = [
    "ASSIGNMENT_STRATEGIES",
    "OFFER_KINDS",
    "PERMISSIONS",
    "PRIORITIES",
    "ROLES",
    "Assigner",
    "Authority",
    "AuthorityDecision",
    "Candidate",
    "Offer",
    "OnCallSpec",
    "QueueSpec",
    "RoleSpec",
    "RolesSpec",
    "RouteDecision",
    "Router",
    "RoutingRule",
    "RoutingSpec",
    "TeamSpec",
    "check_authority",
    "check_references",
    "choose",
    "next_handover",
    "on_call_at",
    "permits",
    "referenced_calendars",
    "referenced_users",
]
