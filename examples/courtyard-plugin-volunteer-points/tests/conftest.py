import pytest

import courtyard_volunteer_points


@pytest.fixture
def courtyard_plugins():
    """The plugin under test; the Courtyard plugin kit (pytest11) does the rest."""
    return [courtyard_volunteer_points]
