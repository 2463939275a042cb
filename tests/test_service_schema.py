"""schemathesis against the service's own OpenAPI schema (a bounded number of examples per route):
no 5xx, documented status codes and content types, responses matching their schemas."""
from __future__ import annotations

import tempfile

import pytest

schemathesis = pytest.importorskip("schemathesis")
from hypothesis import HealthCheck  # noqa: E402
from hypothesis import settings as hsettings  # noqa: E402

from sleuth.service import create_app  # noqa: E402

from .service_util import live_server, settings  # noqa: E402

_SPEC = create_app(settings(tempfile.mkdtemp(prefix="sleuth-schema-"), no_auth=True)).openapi()
# the deprecated v0.1 routes keep their v0.1 contract (a bad file is an error inside a 200 answer)
schema = schemathesis.openapi.from_dict(_SPEC).exclude(path_regex="^/api/")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    from sleuth.service.store import Store

    d = tmp_path_factory.mktemp("schema")
    _, key = Store(d).create_key("schemathesis")
    with live_server(settings(d, rate_per_minute=0, max_request_bytes=2_000_000)) as (url, _):
        yield url, {"Authorization": f"Bearer {key}"}


@schema.parametrize()
@hsettings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_conforms_to_its_schema(case, live):
    from schemathesis.specs.openapi.checks import positive_data_acceptance

    url, headers = live
    case.call_and_validate(base_url=url, headers=headers, excluded_checks=[positive_data_acceptance], timeout=60)
