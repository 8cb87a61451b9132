from tests.orchestration.support import platform  # noqa: F401 - the fixture
