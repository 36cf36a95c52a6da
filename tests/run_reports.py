"""What the load runs measured, one line each, for the terminal summary tests/conftest.py writes.

Kept apart from the test files so that conftest's hooks import no test module; on a
pytest-xdist worker the lines travel to the controller with the worker's output.
"""

from __future__ import annotations

#: Each soak run (test_soak.py): requests, outcomes, tokens issued against the ideal.
SOAK_REPORT: list[str] = []
#: Each many-process run on one cache (test_cache.py): token calls against the ideal.
CACHE_REPORT: list[str] = []
