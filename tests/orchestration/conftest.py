from tests.orchestration.support import ema_url, platform  # noqa: F401 - fixtures
