from pathlib import Path

import pytest

from tests.browser.conftest import browser, page  # noqa: F401  (Chromium fixtures shared with tests/browser)


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if item.path.name.endswith("_browser.py") and here in item.path.parents:
            item.add_marker(pytest.mark.browser)
