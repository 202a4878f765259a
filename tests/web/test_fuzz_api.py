"""The OpenAPI document, fuzzed: schemathesis generates requests for every documented
operation from ``/api/openapi.json`` (valid and invalid ones) and sends them through the
WSGI app, errors handled as in production, as an anonymous visitor, a resident and an
admin (bearer API tokens), on SQLite and PostgreSQL. No answer may be a server error,
and every documented answer must match its documented schema. Bounded: a fixed number of
examples, no example database, no shrinking; about 30 s per database."""

from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from core.db import session_scope
from tests.conftest import World, make_app

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.generation.modes import GenerationMode  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

EXAMPLES = 100  # per generation mode over all operations; each request is sent as every identity
CHECKS = [not_a_server_error, response_schema_conformance]


@pytest.fixture(params=["sqlite", "postgres"])
def fuzzed_app(request, tmp_path) -> Iterator[tuple[Any, World, dict[str, dict[str, str]]]]:
    """The app (errors handled as in production, not raised into the test) with a world
    and a bearer token for a resident and for an admin."""
    from core.models import Member
    from core.services.auth import issue_api_token

    overrides: dict[str, Any] = {"TESTING": False}
    if request.param == "postgres":
        overrides["DATABASE_URL"] = request.getfixturevalue("fresh_postgres")
    app = make_app(tmp_path, **overrides)
    world = World(app)
    identities: dict[str, dict[str, str]] = {"anonymous": {}}
    with session_scope(app.extensions["courtyard"].sessionmaker) as db:
        for role in ("resident2", "admin"):
            token = issue_api_token(db, member=db.get(Member, world.ids[role]), label="fuzz")
            identities[role] = {"Authorization": f"Bearer {token}"}
    yield app, world, identities
    app.extensions["courtyard"].engine.dispose()


def test_fuzz_the_openapi_document(fuzzed_app):
    """Valid and invalid requests (positive and negative generation) drawn over every
    operation; each generated request is sent once per identity."""
    app, world, identities = fuzzed_app
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 40  # the whole API is documented, not a corner of it
    failures: list[str] = []
    sent: list[str] = []
    started = time.monotonic()
    def send(case: Any, mode: GenerationMode) -> None:
        for identity, headers in identities.items():
            response = case.call(headers=headers)
            sent.append(f"{case.operation.method.upper()} {case.operation.path}")
            try:
                case.validate_response(response, checks=CHECKS)
            except (Exception, BaseExceptionGroup) as exc:  # collected, reported all at once
                failures.append(f"{identity} {mode} {case.operation.method.upper()} {case.operation.path} "
                                f"-> {response.status_code}: {str(exc)[:800]}")

    def fuzz(strategy: Any, mode: GenerationMode, examples: int) -> None:
        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        @given(case=strategy)
        def run(case: Any) -> None:
            send(case, mode)

        try:
            run()
        except Unsatisfiable:  # an operation with nothing that can be made invalid
            assert mode is GenerationMode.NEGATIVE

    for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
        # one hypothesis run over all operations per mode (a run per operation costs most
        # of the time in start-up), then a short run for each operation it did not reach;
        # a request under /communities/{slug} is tried on the world's community too
        strategies = []
        for operation in operations:
            strategies.append(operation.as_strategy(mode))
            if "{slug}" in operation.path and mode is GenerationMode.POSITIVE:
                strategies.append(operation.as_strategy(mode, path_parameters={"slug": world.slug}))
        first = len(sent)
        fuzz(st.sampled_from(strategies).flatmap(lambda strategy: strategy), mode, EXAMPLES)
        reached = set(sent[first:])
        for operation in operations:
            if f"{operation.method.upper()} {operation.path}" not in reached:
                fuzz(operation.as_strategy(mode), mode, 1)
    elapsed = time.monotonic() - started
    assert not failures, f"{len(failures)} of {len(sent)} requests failed:\n" + "\n\n".join(failures[:20])
    covered = {f"{o.method.upper()} {o.path}" for o in operations} & set(sent)
    assert covered == {f"{o.method.upper()} {o.path}" for o in operations}, "an operation was not reached"
    assert elapsed < 60, f"the fuzz took {elapsed:.0f} s"
