"""schemathesis against the API's own OpenAPI document: every operation's answers must match it.

The app runs in-process (schemathesis's WSGI transport) on the demo registry. Generation is
deterministic and bounded in examples per operation, so the run is stable in CI and takes about a minute.
"""

from __future__ import annotations

import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api import openapi

ROOT = "http://localhost/"  # the WSGI transport's host
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]
CONFIG = schemathesis.Config.from_dict({
    "seed": 11,
    "suppress-health-check": ["too_slow"],  # how fast inputs are generated depends on the machine's load, not the API
    # Valid and invalid inputs, the same ones each run; no example database, so no run depends on an earlier one.
    "generation": {"mode": "all", "max-examples": 20, "deterministic": True, "database": "none"},
    # The coverage phase enumerates boundary values of every parameter: thousands of requests for the
    # items paths' ~50 parameters. Fuzzing alone stays within CI's time.
    "phases": {"coverage": {"enabled": False}},
    # A map is drawn by matplotlib (up to dpi 600), a report set in PDF by WeasyPrint: a few suffice.
    "operations": [{"include-path": "/maps", "generation": {"max-examples": 4}},
                   {"include-tag": "reports", "generation": {"max-examples": 6}}],
})
schema = schemathesis.openapi.from_dict(openapi.document(ROOT), config=CONFIG)


def test_api_serves_the_document_under_test(app):
    """/api serves the very document the operations below are generated from."""
    response = app.test_client().get("/api")
    assert response.status_code == 200
    assert response.get_json(force=True) == openapi.document(ROOT)


@schema.parametrize()
def test_every_answer_matches_the_openapi_document(case, app):
    """No 5xx, and status, media type, body and headers as the document says (one test per operation)."""
    case.call_and_validate(app=app, checks=CHECKS)
