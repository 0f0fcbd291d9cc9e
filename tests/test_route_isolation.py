"""No route lets one workspace read or change another's data: a walk over every method of every route of the app.

The world (tests/isolation_support.py) has two furnished workspaces, acme and globex. For each route the test
asks, as acme, for globex's data in every way a URL or body can name it, and proves the answer is a refusal and
that not one row of the database changed:

  (a) acme's tokens / signed-in acme admin on globex's workspace slug (with globex's ids)  -> 404 (or 403)
  (b) acme on its own slug with one globex id at a time in the path, then all of them, then
      each field of the body, form or query that names an object with globex's               -> 403, 404 or 422
  (c) no credentials                                               -> API 401; pages 303 to /sign-in
  (d) acme's read-only tokens on every state-changing API route   -> 403 (so bodies are valid: see BODIES)
  (e) a signed-in POST without the CSRF token                      -> 403
Every answer to acme is also searched for globex's secret text and admin's e-mail (unless the request sent it).
So the refusals are not vacuous, acme reading its own data on every GET route answers 2xx.

Routes are classified by path: /api/... needs a bearer token, /w/{slug}/... a signed-in member; anything else
must be listed in PUBLIC or ACCOUNT with the reason. Path parameters are filled from PARAMS by name: a route
with a parameter the table does not know fails the test, so a route added later is never silently skipped.
One test per backend walks every route and lists every offending (method, path, case, status) at once.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import unquote_plus

import httpx
from fastapi.dependencies.models import Dependant
from fastapi.routing import iter_route_contexts

from firebreak.app import create_app
from firebreak.db.engine import Database
from firebreak.mentions import webhook
from firebreak.settings import Settings
from tests.factories import WorkspaceFixture
from tests.isolation_support import (
    Side,
    World,
    browser,
    build_world,
    changed_tables,
    csrf_from,
    default_playbook_text,
    fingerprint,
    secret_text,
    signed_in_browser,
)
from tests.live_server import serve_app

API = "/api/v1/workspaces/{workspace}"
PAGES = "/w/{slug}"

# Routes anyone may call, and why that is safe.
PUBLIC: dict[str, str] = {
    "/health": "load balancers probe it; it says only whether the database answers and the schema version",
    "/openapi.json": "the API's description: routes and schemas, no data",
    "/docs": "the API's documentation page, no data",
    "/docs/oauth2-redirect": "part of the documentation page, no data",
    "/redoc": "the API's documentation page, no data",
    "/static": "our own CSS and JavaScript",
    "/newsroom/{workspace}": "the newsroom publishes responses to the public on purpose",
    "/newsroom/{workspace}/feed.atom": "the newsroom's public feed",
    "/newsroom/{workspace}/{slug}": "one published response, public on purpose",
    "/sign-in": "where people sign in",
    "/setup": "first run: open only while nobody has an account",
}
# Pages of the signed-in person's own account, in no workspace: no workspace data to isolate.
ACCOUNT: dict[str, str] = {
    "/": "sends the signed-in person to their own workspace",
    "/sign-out": "ends the caller's own session",
    "/account/password": "the caller's own password",
}
# Routes authenticated by something other than a token or a session.
SIGNED: dict[tuple[str, str], str] = {
    ("POST", f"{API}/mentions"): "the ingest webhook: each channel signs its deliveries with its own secret",
}
# POSTs that change nothing, so read-only tokens may call them (case (d) expects 2xx and an unchanged database).
READ_ONLY_POSTS: dict[tuple[str, str], str] = {
    ("POST", f"{API}/authority/check"): "says whether the caller may make an offer",
    ("POST", f"{API}/playbook/check"): "validates YAML without applying it",
}
WORKSPACE_PARAMS = frozenset({"workspace", "slug"})
# Path parameter -> the key of Side.ids holding one of that workspace's objects; a list of (path fragment, key)
# where one name means different things on different routes (first fragment found in the path wins).
PARAMS: dict[str, str | list[tuple[str, str]]] = {
    "mention_id": "mention_id",
    "issue_id": "issue_id",
    "task_id": "task_id",
    "draft_id": "draft_id",
    "version_id": [("/playbook/", "playbook_version_id"), ("/issues/", "draft_version_id")],
    "message_id": "message_id",
    "channel": "channel",
    "author_id": "author_id",
    "lesson_id": "lesson_id",
    "token_id": "token_id",
    "user_id": "user_id",
    "publication_id": "publication_id",
    "team": "team",
}
Sample = Callable[[Side], Any]
# Query parameters by route: the required ones, and optional ones that name objects (a GET may ignore a foreign
# one and answer 200, as long as it shows nothing of it).
QUERIES: dict[tuple[str, str], Sample] = {
    ("GET", f"{API}/queue"): lambda s: {"assignee": s.admin_email},
    ("GET", f"{API}/mentions"): lambda s: {"channel": s.ids["channel"]},
    ("GET", f"{API}/issues/{{issue_id}}/drafts/{{draft_id}}/diff"): lambda s: {"from": 1, "to": 2},
    ("DELETE", f"{API}/issues/{{issue_id}}/stakeholders"): lambda s: {"email": s.admin_email,
                                                                      "role": "communications"},
    ("GET", f"{PAGES}/issues/{{issue_id}}"): lambda s: {"draft": s.ids["draft_id"], "from": 1, "to": 2},
    ("GET", f"{PAGES}/issues"): lambda s: {"mention_id": s.ids["mention_id"]},
}


@dataclass(frozen=True)
class Raw:
    """A body that is not JSON."""

    content: bytes
    content_type: str


# Valid JSON bodies (or Raw ones) for the API's writes, so a refusal comes from the authorization check and not
# from validation. Those that name objects (mentions, people, channels) name the given side's.
BODIES: dict[tuple[str, str], Sample] = {
    ("POST", f"{API}/pipeline/retry"): lambda s: {"mention_ids": [s.ids["mention_id"]]},
    ("POST", f"{API}/mentions/{{mention_id}}/assign"): lambda s: {"assignee": s.admin_email},
    ("POST", f"{API}/mentions/{{mention_id}}/state"): lambda s: {"state": "responded"},
    ("POST", f"{API}/mentions/{{mention_id}}/reply"): lambda s: {"text": "Sorry about that, we are on it."},
    ("POST", f"{API}/mentions/{{mention_id}}/private"): lambda s: {"text": "Please send us a direct message."},
    ("POST", f"{API}/mentions/{{mention_id}}/escalate"): lambda s: {"reason": "A legal threat"},
    ("POST", f"{API}/mentions/{{mention_id}}/moderate"): lambda s: {"action": "hide", "reason": "Abuse"},
    ("POST", f"{API}/authority/check"): lambda s: {"kind": "refund", "amount": 10},
    ("PUT", f"{API}/playbook"): lambda s: Raw(default_playbook_text().encode(), "application/yaml"),
    ("POST", f"{API}/playbook/check"): lambda s: Raw(default_playbook_text().encode(), "application/yaml"),
    ("POST", f"{API}/issues"): lambda s: {"title": "Copied issue", "mention_ids": [s.ids["mention_id"]],
                                          "owner": s.admin_email},
    ("PATCH", f"{API}/issues/{{issue_id}}"): lambda s: {"title": "Renamed", "owner": s.admin_email},
    ("POST", f"{API}/issues/{{issue_id}}/stage"): lambda s: {"stage": "discovery", "override_reason": "test"},
    ("POST", f"{API}/issues/{{issue_id}}/decision"): lambda s: {"decision": "systemic", "reason": "test"},
    ("POST", f"{API}/issues/{{issue_id}}/close"): lambda s: {"reason": "test"},
    ("POST", f"{API}/issues/{{issue_id}}/stakeholders"): lambda s: {"email": s.admin_email, "role": "legal"},
    ("POST", f"{API}/issues/{{issue_id}}/tasks"): lambda s: {"title": "Another task", "owner": s.admin_email},
    ("POST", f"{API}/issues/{{issue_id}}/mentions"): lambda s: {"mention_ids": s.ids["mention_ids"]},
    ("POST", f"{API}/issues/{{issue_id}}/drafts"): lambda s: {"kind": "response", "title": "T", "body": "B"},
    ("POST", f"{API}/issues/{{issue_id}}/drafts/{{draft_id}}/versions"): lambda s: {"body": "Changed"},
    ("POST", f"{API}/issues/{{issue_id}}/drafts/versions/{{version_id}}/comments"): lambda s: {"text": "Hm"},
    ("POST", f"{API}/issues/{{issue_id}}/drafts/versions/{{version_id}}/review"): lambda s: {"verdict": "approved"},
    ("POST", f"{API}/issues/{{issue_id}}/publish"): lambda s: {"kind": "response",
                                                               "version_id": s.ids["response_version_id"],
                                                               "channels": [s.ids["channel"]]},
    ("PUT", f"{API}/channels/{{channel}}/outbound"): lambda s: {"url": "http://127.0.0.1:9/elsewhere"},
    ("POST", f"{API}/issues/{{issue_id}}/follow-ups/{{author_id}}/done"): lambda s: {"note": "Called them"},
    ("POST", f"{API}/issues/{{issue_id}}/lessons"): lambda s: {"text": "Learned"},
}
# Form fields for the pages' POSTs (the CSRF token is added), so a refusal comes from looking the objects up and
# not from an empty field; the fallback is an empty form. Fields naming objects name the given side's; the rest
# are the same for both sides (a new e-mail, a new channel), so only the objects are swapped in case (b).
FORMS: dict[tuple[str, str], Sample] = {
    ("POST", f"{PAGES}/mentions/{{mention_id}}/assign"): lambda s: {"assignee": s.admin_email},
    ("POST", f"{PAGES}/mentions/{{mention_id}}/state"): lambda s: {"state": "responded"},
    ("POST", f"{PAGES}/mentions/{{mention_id}}/reply"): lambda s: {"text": "Sorry about that, we are on it."},
    ("POST", f"{PAGES}/mentions/{{mention_id}}/private"): lambda s: {"text": "Please send us a direct message."},
    ("POST", f"{PAGES}/mentions/{{mention_id}}/escalate"): lambda s: {"reason": "A legal threat"},
    ("POST", f"{PAGES}/mentions/{{mention_id}}/moderate"): lambda s: {"action": "hide", "reason": "Abuse"},
    ("POST", f"{PAGES}/mentions/{{mention_id}}/link-issue"): lambda s: {"issue_id": s.ids["issue_id"],
                                                                        "mention_id": s.ids["mention_id"]},
    ("POST", f"{PAGES}/inbox/bulk"): lambda s: {"action": "assign", "mention_id": s.ids["mention_ids"],
                                                "assignee": s.admin_email, "issue_id": s.ids["issue_id"]},
    ("POST", f"{PAGES}/issues"): lambda s: {"title": "Copied", "severity": "high", "mention_id": s.ids["mention_ids"]},
    ("POST", f"{PAGES}/issues/{{issue_id}}/stage"): lambda s: {"stage": "discovery", "override_reason": "test"},
    ("POST", f"{PAGES}/issues/{{issue_id}}/decision"): lambda s: {"decision": "systemic", "reason": "test"},
    ("POST", f"{PAGES}/issues/{{issue_id}}/close"): lambda s: {"reason": "test"},
    ("POST", f"{PAGES}/issues/{{issue_id}}/stakeholders"): lambda s: {"email": s.admin_email, "role": "legal"},
    ("POST", f"{PAGES}/issues/{{issue_id}}/stakeholders/remove"): lambda s: {"email": s.admin_email,
                                                                            "role": "communications"},
    ("POST", f"{PAGES}/issues/{{issue_id}}/tasks"): lambda s: {"title": "Another task", "owner": s.admin_email},
    ("POST", f"{PAGES}/issues/{{issue_id}}/links"): lambda s: {"mention_id": s.ids["mention_ids"]},
    ("POST", f"{PAGES}/issues/{{issue_id}}/links/remove"): lambda s: {"mention_id": s.ids["mention_id"]},
    ("POST", f"{PAGES}/issues/{{issue_id}}/drafts"): lambda s: {"kind": "response", "title": "T", "body": "B"},
    ("POST", f"{PAGES}/issues/{{issue_id}}/drafts/{{draft_id}}/versions"): lambda s: {"body": "Changed"},
    ("POST", f"{PAGES}/issues/{{issue_id}}/versions/{{version_id}}/comments"): lambda s: {"text": "Hm"},
    ("POST", f"{PAGES}/issues/{{issue_id}}/versions/{{version_id}}/review"): lambda s: {"verdict": "approved"},
    ("POST", f"{PAGES}/issues/{{issue_id}}/publish"): lambda s: {"kind": "response",
                                                                 "version_id": s.ids["response_version_id"],
                                                                 "channel": s.ids["channel"]},
    ("POST", f"{PAGES}/issues/{{issue_id}}/follow-ups/{{author_id}}"): lambda s: {"note": "Called them"},
    ("POST", f"{PAGES}/issues/{{issue_id}}/lessons"): lambda s: {"text": "Learned"},
    ("POST", f"{PAGES}/settings/playbook"): lambda s: {"text": default_playbook_text(), "filename": "p.yaml"},
    ("POST", f"{PAGES}/settings/playbook/rollback"): lambda s: {"version_id": s.ids["playbook_version_id"]},
    ("POST", f"{PAGES}/settings/people"): lambda s: {"email": "newcomer@example.test", "role": "agent",
                                                     "password": "a long enough password"},
    ("POST", f"{PAGES}/settings/people/{{user_id}}/roles"): lambda s: {"role": ["agent"]},
    ("POST", f"{PAGES}/settings/people/{{user_id}}/active"): lambda s: {"active": "0"},
    ("POST", f"{PAGES}/settings/teams/{{team}}/members"): lambda s: {"user": s.ids["user_id"], "lead": "1"},
    ("POST", f"{PAGES}/settings/teams/availability/{{user_id}}"): lambda s: {"available": "0"},
    ("POST", f"{PAGES}/settings/channels"): lambda s: {"kind": "webhook", "slug": "brand-new"},
    ("POST", f"{PAGES}/settings/tokens"): lambda s: {"name": "new token", "scope": ["mentions:read"]},
    # Public forms, sent signed out with a valid token: set-up must not run again, a wrong password signs no one in.
    ("POST", "/setup"): lambda s: {"email": "intruder@example.test", "name": "Intruder", "workspace_name": "Mine",
                                   "workspace_slug": "mine", "password": "a long enough password",
                                   "confirmation": "a long enough password"},
    ("POST", "/sign-in"): lambda s: {"email": s.admin_email, "password": "not the password", "next": "/"},
}
PARTS: dict[str, dict[tuple[str, str], Sample]] = {"body": BODIES, "query": QUERIES, "form": FORMS}
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
REFUSED = frozenset({403, 404, 422})
HIDDEN = frozenset({403, 404})
_PARAM = re.compile(r"\{(\w+)(?::\w+)?\}")


@dataclass(frozen=True)
class Answer:
    status: int
    location: str
    text: str
    sent: str  # the request's URL and body, to tell an echo from a leak


@dataclass
class Findings:
    """What went wrong, one line per (method, path, case, status), and which refusals were 422s."""

    db: Database
    failures: list[str] = field(default_factory=list)
    only_422: set[str] = field(default_factory=set)
    state: dict[str, str] = field(default_factory=dict)
    secrets: tuple[str, ...] = ()  # what only globex's own people may ever see
    requests: int = 0
    asked: list[str] = field(default_factory=list)  # this route's cases and their answers

    def fail(self, method: str, path: str, case: str, detail: str) -> None:
        self.failures.append(f"{method} {path} [{case}]: {detail}")

    def unchanged(self, method: str, path: str) -> None:
        """Fail if any row changed while this route was asked (then carry on from the new state).

        Once per route, not per request: a fingerprint reads every table, and a route is asked a dozen times."""
        after = fingerprint(self.db)
        tables = changed_tables(self.state, after)
        if tables:
            self.fail(method, path, "the database", f"changed ({', '.join(tables)}) while answering: "
                                                    + "; ".join(self.asked))
        self.state, self.asked = after, []

    def expect(self, method: str, path: str, case: str, answer: Answer, allowed: frozenset[int]) -> None:
        self.requests += 1
        self.asked.append(f"{case} -> {answer.status}")
        leaked = [secret for secret in self.secrets if secret in answer.text and secret not in answer.sent]
        if leaked:
            self.fail(method, path, case, f"answered {answer.status} showing globex's {', '.join(leaked)}")
        if answer.status not in allowed:
            self.fail(method, path, case, f"answered {answer.status} (wanted {sorted(allowed)}): "
                                          f"{answer.location or answer.text[:160]!r}")
        elif answer.status == 422 and allowed != {422}:
            self.only_422.add(f"{method} {path} [{case}]")


def send(client: httpx.Client, method: str, url: str, *, token: str | None = None, payload: Any = None,
         query: dict[str, Any] | None = None, form: dict[str, Any] | None = None,
         headers: dict[str, str] | None = None) -> Answer:
    """One request; an event stream is not read past its headers."""
    extra = dict(headers or {})
    if token is not None:
        extra["Authorization"] = f"Bearer {token}"
    kwargs: dict[str, Any] = {"params": query or None}
    if isinstance(payload, Raw):
        kwargs["content"] = payload.content
        extra["Content-Type"] = payload.content_type
    elif payload is not None:
        kwargs["json"] = payload
    if form is not None:
        kwargs["data"] = form
    request = client.build_request(method, url, headers=extra, **kwargs)
    request.read()
    response = client.send(request, stream=True)
    try:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            text = "(an event stream)"
        else:
            response.read()
            text = response.text
    finally:
        response.close()
    location = response.headers.get("location", "")
    if response.status_code in (307, 308) and location.startswith("/") and not location.startswith("//"):
        # Handed on with the same method and body: what counts is what the route it points to answers.
        final = send(client, method, location, token=token, payload=payload, form=form, headers=headers)
        return replace(final, location=f"{final.location} (after a {response.status_code} to {location})")
    sent = unquote_plus(f"{request.url} {request.content.decode('utf-8', 'replace')}")
    return Answer(response.status_code, location, text, sent)


# ---------------------------------------------------------------------------------------------- routes


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    params: tuple[str, ...]
    has_body: bool
    required_query: tuple[str, ...]

    @property
    def key(self) -> tuple[str, str]:
        return self.method, self.path

    @property
    def id_params(self) -> tuple[str, ...]:
        return tuple(name for name in self.params if name not in WORKSPACE_PARAMS)


def app_routes(app: Any) -> list[Route]:
    """Every (method, path) the app answers, with what its requests need."""
    found = []
    for context in iter_route_contexts(app.routes):
        path = context.path
        parts = list(_dependants(getattr(context, "dependant", None)))
        required = tuple(p.alias for d in parts for p in d.query_params if p.field_info.is_required())
        has_body = any(d.body_params for d in parts)
        for method in sorted(context.methods or {"GET"}):
            found.append(Route(method, path, tuple(_PARAM.findall(path)), has_body, required))
    return found


def _dependants(dependant: Dependant | None) -> Any:
    """The endpoint's dependant and all it depends on."""
    if dependant is not None:
        yield dependant
        for sub in dependant.dependencies:
            yield from _dependants(sub)


def sample(route: Route, name: str, side: Side) -> Any:
    """The value of path parameter `name` naming `side`'s object; KeyError when the tables cannot say."""
    if name in WORKSPACE_PARAMS:
        return side.slug
    rule = PARAMS[name]
    if isinstance(rule, str):
        return side.ids[rule]
    for fragment, key in rule:
        if fragment in route.path:
            return side.ids[key]
    raise KeyError(name)


def url(route: Route, values: dict[str, Any]) -> str:
    return _PARAM.sub(lambda m: str(values[m.group(1)]), route.path)


def values_for(route: Route, slug_side: Side, ids_side: Side, *, foreign: frozenset[str] = frozenset(),
               other: Side | None = None) -> dict[str, Any]:
    """Path values: the workspace of `slug_side`, ids of `ids_side`, except the `foreign` ones from `other`."""
    values = {}
    for name in route.params:
        side = slug_side if name in WORKSPACE_PARAMS else (other if name in foreign and other else ids_side)
        values[name] = sample(route, name, side)
    return values


@dataclass(frozen=True)
class Payload:
    """What a request carries besides its path: one side's body, query and form, with at most one field swapped
    for the other side's value."""

    key: tuple[str, str]
    side: Side
    swap: tuple[str, str, Any] | None = None  # (part, field, value)

    def part(self, name: str) -> Any:
        make = PARTS[name].get(self.key)
        value = make(self.side) if make else None
        if self.swap is not None and self.swap[0] == name:
            value = {**value, self.swap[1]: self.swap[2]}
        return value


def variants(route: Route, own: Side, victim: Side) -> list[tuple[str, dict[str, Any], Payload, frozenset[int]]]:
    """Case (b): acme's slug with globex ids, one at a time, then all, then each field of the body, query or form
    that names an object with globex's instead. A GET may ignore a query naming a foreign object (200), as long
    as it shows nothing of it."""
    cases = []
    for name in route.id_params:
        cases.append((f"b: globex {name}", values_for(route, own, own, foreign=frozenset({name}), other=victim),
                      Payload(route.key, own), REFUSED))
    if len(route.id_params) > 1:
        cases.append(("b: all ids globex", values_for(route, own, victim), Payload(route.key, own), REFUSED))
    mine = values_for(route, own, own)
    for part, table in PARTS.items():
        make = table.get(route.key)
        ours, theirs = (make(own), make(victim)) if make else (None, None)
        allowed = REFUSED | {200} if part == "query" and route.method == "GET" else REFUSED
        if isinstance(ours, dict) and isinstance(theirs, dict):
            for name in sorted(ours):
                if ours[name] != theirs.get(name):
                    cases.append((f"b: globex {name!r} in the {part}", mine,
                                  Payload(route.key, own, (part, name, theirs.get(name))), allowed))
    return cases


# ---------------------------------------------------------------------------------------------- the checks


class Walk:
    """Runs every case of every route against the served app and collects what went wrong."""

    def __init__(self, world: World, base_url: str, findings: Findings) -> None:
        self.world, self.base_url, self.findings = world, base_url, findings
        self.own, self.victim = world.acme, world.globex
        self.api = browser(base_url)
        self.anonymous = browser(base_url)
        self.member = signed_in_browser(base_url, world.web_attacker)
        # The token is the session's: any page with a form shows it.
        self.csrf = csrf_from(self.member, "/account/password", f"/w/{self.own.slug}/inbox",
                              f"/w/{self.own.slug}/settings")

    def close(self) -> None:
        for client in (self.api, self.anonymous, self.member):
            client.close()

    def route(self, route: Route) -> None:
        method, path = route.key
        if route.key in SIGNED:
            self.webhook(route)
        elif path in PUBLIC or path.rstrip("/") in PUBLIC:
            self.public(route)
        elif path in ACCOUNT:
            self.account(route)
        elif path.startswith("/api/"):
            self.api_route(route)
        elif path == PAGES or path.startswith(PAGES + "/"):
            self.page(route)
        else:
            self.findings.fail(method, path, "classify", "neither /api/... nor /w/{slug}/...: add it to PUBLIC or "
                                                         "ACCOUNT with the reason it needs no workspace")
            return
        self.findings.unchanged(method, path)

    # -- the JSON API

    def api_route(self, route: Route) -> None:
        method, path = route.key
        if "workspace" not in route.params:
            self.findings.fail(method, path, "classify", "an API route outside /api/v1/workspaces/{workspace}")
            return
        own, victim = self.own, self.victim
        writes = method in WRITE_METHODS
        query = QUERIES.get(route.key)
        missing = [name for name in route.required_query if query is None or name not in query(own)]
        if missing:
            self.findings.fail(method, path, "setup", f"add a QUERIES sample for {', '.join(missing)}")
            return

        def ask(case: str, values: dict[str, Any], payload: Payload, token: str | None,
                allowed: frozenset[int]) -> Answer:
            body = payload.part("body")
            if body is None and route.has_body:
                body = {}
            answer = send(self.api, method, url(route, values), token=token, payload=body,
                          query=payload.part("query"))
            self.findings.expect(method, path, case, answer, allowed)
            return answer

        mine, ours = values_for(route, own, own), Payload(route.key, own)
        ask("c: no token", mine, ours, None, frozenset({401}))
        for who, token in self.world.attacker_tokens.items():
            ask(f"a: {who} on globex", values_for(route, victim, victim), Payload(route.key, victim), token, HIDDEN)
        # Past the workspace check both attackers are acme admins: the integration token stands for both.
        attacker = self.world.attacker_tokens["acme admin token"]
        for case, values, payload, allowed in variants(route, own, victim):
            ask(case, values, payload, attacker, allowed)
        if not writes:
            ask("own data answers", mine, ours, attacker, frozenset(range(200, 300)))
            return
        for who, token in self.world.read_only_tokens.items():
            if route.key in READ_ONLY_POSTS:
                ask(f"d: {who}, a read-only POST", mine, ours, token, frozenset(range(200, 300)))
                continue
            answer = ask(f"d: {who}", mine, ours, token, frozenset({403, 422}))
            if answer.status == 422:
                self.findings.fail(method, path, f"d: {who}", "answered 422: the body did not validate, so the scope "
                                                              "check was not reached: add a valid body to BODIES")

    # -- the pages

    def page(self, route: Route) -> None:
        method, path = route.key
        own, victim = self.own, self.victim
        writes = method in WRITE_METHODS

        def ask(client: httpx.Client, case: str, values: dict[str, Any], payload: Payload, allowed: frozenset[int],
                *, csrf: bool = True) -> Answer:
            fields = None
            if writes:
                fields = dict(payload.part("form") or {})
                if csrf:
                    fields["csrf_token"] = self.csrf
            answer = send(client, method, url(route, values), query=payload.part("query"), form=fields)
            self.findings.expect(method, path, case, answer, allowed)
            return answer

        mine, ours = values_for(route, own, own), Payload(route.key, own)
        answer = ask(self.anonymous, "c: signed out", mine, ours, frozenset({303, 403} if writes else {303}),
                     csrf=False)
        if answer.status == 303 and not answer.location.startswith("/sign-in"):
            self.findings.fail(method, path, "c: signed out", f"redirected to {answer.location!r}, not /sign-in")
        ask(self.member, "a: acme admin on globex", values_for(route, victim, victim), Payload(route.key, victim),
            HIDDEN)
        for case, values, payload, allowed in variants(route, own, victim):
            ask(self.member, f"{case} (acme admin)", values, payload, allowed)
        if writes:
            ask(self.member, "e: no CSRF token", mine, ours, frozenset({403}), csrf=False)
        else:
            ask(self.member, "own page answers", mine, ours, frozenset({200}))

    def account(self, route: Route) -> None:
        """Signed out: sent to sign in; signed in: a POST without the CSRF token is refused."""
        method, path = route.key
        writes = method in WRITE_METHODS
        someone = signed_in_browser(self.base_url, self.world.web_attacker) if writes else None
        # Its own browser (if sign-out wrongly went through, the walk's stays signed in); signing in notes the
        # time, which is not under test here.
        self.findings.state = fingerprint(self.findings.db)
        answer = send(self.anonymous, method, path, form={} if writes else None)
        self.findings.expect(method, path, "c: signed out", answer, frozenset({303, 403} if writes else {303}))
        if answer.status == 303 and not answer.location.startswith("/sign-in"):
            self.findings.fail(method, path, "c: signed out", f"redirected to {answer.location!r}, not /sign-in")
        if someone is not None:
            try:
                answer = send(someone, method, path, form={})
            finally:
                someone.close()
            self.findings.expect(method, path, "e: no CSRF token", answer, frozenset({403}))

    def public(self, route: Route) -> None:
        """Public pages are not probed for data, but their forms must change nothing for a stranger: neither
        without the CSRF token nor with one (set-up is over; the password is wrong)."""
        method, path = route.key
        if method not in WRITE_METHODS or route.params:
            return
        answer = send(self.anonymous, method, path, form={})
        self.findings.expect(method, path, "public POST, no CSRF token", answer, frozenset(range(400, 500)))
        form = FORMS.get(route.key)
        if form is None:
            self.findings.fail(method, path, "setup", "add a FORMS sample for this public form")
            return
        fields = {**form(self.victim), "csrf_token": csrf_from(self.anonymous, "/sign-in")}
        answer = send(self.anonymous, method, path, form=fields)
        self.findings.expect(method, path, "public POST by a stranger", answer, frozenset(range(400, 500)))

    def webhook(self, route: Route) -> None:
        """acme's channel secret signs a delivery to globex's workspace: refused, nothing stored."""
        method, path = route.key
        body = b'{"external_id": "isolation-1", "text": "injected into another brand"}'
        now = str(int(time.time()))
        secret = self.world.acme.fixture.webhook_secret
        for case, slug, signature in (
            ("c: unsigned", self.own.slug, None),
            ("a: acme's signature on globex", self.victim.slug, webhook.sign(secret, now, body)),
        ):
            headers = {"Content-Type": "application/json", "X-Firebreak-Channel": "hooks",
                       "X-Firebreak-Timestamp": now}
            if signature:
                headers["X-Firebreak-Signature"] = signature
            answer = send(self.api, method, path.replace("{workspace}", slug), payload=Raw(body, "application/json"),
                          headers=headers)
            self.findings.expect(method, path, case, answer, frozenset({401, 404}))


def test_no_route_reads_or_changes_another_workspace(db: Database, settings: Settings, acme: WorkspaceFixture,
                                                     globex: WorkspaceFixture) -> None:
    app = create_app(settings, db=db, run_worker=False)
    routes = app_routes(app)
    with serve_app(app, timeout_graceful_shutdown=2) as base_url:
        world = build_world(app, db, acme, globex, base_url)
        findings = Findings(db, secrets=(secret_text(world.globex.slug), world.globex.admin_email))
        unknown = [f"add a sample for path parameter {name} of {route.method} {route.path} (PARAMS)"
                   for route in routes for name in route.params if not _samplable(route, name, world)]
        walk = Walk(world, base_url, findings)
        findings.state = fingerprint(db)  # after the walk's browser signed in
        try:
            for route in routes:
                if all(_samplable(route, name, world) for name in route.params):
                    walk.route(route)
        finally:
            walk.close()
    problems = unknown + findings.failures
    assert not problems, f"{len(problems)} isolation problem(s) in {len(routes)} routes:\n" + "\n".join(problems)
    assert findings.requests > 4 * len(routes)  # the walk really asked


def _samplable(route: Route, name: str, world: World) -> bool:
    """Whether PARAMS gives the parameter a value in both workspaces (public and signed routes need none)."""
    if route.path in PUBLIC or route.key in SIGNED:
        return True
    try:
        sample(route, name, world.acme)
        sample(route, name, world.globex)
    except KeyError:
        return False
    return True
