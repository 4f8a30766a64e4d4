"""Property-based fuzzing of every endpoint from the served OpenAPI schema (schemathesis).

It drives the real app with real run processes: a generated valid start really starts a
(tiny) run, a stop really stops it, so the fuzz meets every state a run can be in. The
contract checked: never a 5xx, and every answer matches the schema.

(schemathesis' own pytest plugin does not load under pytest 9, so each operation's
hypothesis strategy is driven by `given` directly.)
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from hyperopt_cli.server.app import API, create_app
from server_helpers import long_config, stop_all_runs

pytestmark = pytest.mark.slow

OPERATIONS = [
    ("POST", f"{API}/start"),
    ("POST", f"{API}/stop"),
    ("POST", f"{API}/resume"),
    ("GET", f"{API}/status"),
    ("GET", f"{API}/results"),
    ("GET", f"{API}/runs"),
    ("POST", f"{API}/stop"),
    ("POST", f"{API}/start"),
    ("POST", f"{API}/resume"),
]  # twice: both states


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Iterator[schemathesis.BaseSchema]:
    folder = tmp_path_factory.mktemp("fuzz")
    app = create_app(folder / "runs", config=long_config(folder))
    yield schemathesis.openapi.from_asgi("/openapi.json", app)
    stop_all_runs(folder / "runs")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=lambda m: m.value)
@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_no_endpoint_answers_5xx(
    api_schema: schemathesis.BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    if path.endswith("/runs") and mode is GenerationMode.NEGATIVE:
        pytest.skip("GET /runs takes no input: there is nothing invalid to send")
    operation = api_schema[path][method]
    # A schema-valid start can still be refused with 422: the config file must exist, and mode
    # 'group' needs target_group. Every other check runs, not_a_server_error first of all.
    excluded = [positive_data_acceptance] if path.endswith("/start") else []

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=20, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def fuzz(case: schemathesis.Case) -> None:
        case.call_and_validate(excluded_checks=excluded, timeout=120)  # start/stop wait on real processes

    fuzz()
