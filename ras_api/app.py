"""The delivery + callback API (FastAPI). `uvicorn ras_api.app:app` in every profile."""

from __future__ import annotations

from fastapi import FastAPI

from ras_api.docs import install_offline_docs
from ras_api.edge import BodyLimit
from ras_api.health import router as health_router
from ras_api.metrics import install_metrics
from ras_api.openapi import install_openapi
from ras_api.problems import install_problem_handlers
from ras_api.request_log import RequestLog
from ras_api.routers import callbacks, events, files, jobs, match, players, recordings, tracking, uploads
from ras_api.routers.pictures import router as pictures_router
from ras_api.routers.video import router as video_router
from ras_core.delivery import DATA_AVAILABILITY, SERVED_PRECISION
from ras_platform.logs import configure_logging
from ras_platform.platform import Platform
from ras_platform.settings import Settings, get_settings


def create_app(settings: Settings | None = None) -> FastAPI:
    platform = Platform(settings or get_settings())
    app = FastAPI(
        title="Recording Analytics API",
        version="1.0.0",
        description="Delivery of EMA match analytics, EMA callbacks, and job control.\n\n"
        + SERVED_PRECISION
        + "\n\n"
        + DATA_AVAILABILITY,
        # Served from local assets by install_offline_docs: the CDN defaults render blank offline.
        docs_url=None,
        redoc_url=None,
    )
    app.state.platform = platform
    install_problem_handlers(app)
    app.add_middleware(
        BodyLimit,
        api_limit=platform.settings.api_max_body_bytes,
        object_limit=platform.settings.object_max_body_bytes,
    )
    delivery = (tracking.router, players.router, match.router, events.router, files.router)
    for router in (recordings.router, jobs.router, callbacks.router, *delivery):
        app.include_router(router)
    app.include_router(uploads.router)
    app.include_router(video_router)
    app.include_router(pictures_router)
    app.include_router(health_router)
    _mount_object_urls(app, platform)
    install_metrics(app, lambda: platform.state_store)
    install_openapi(app)
    install_offline_docs(app)
    app.add_middleware(RequestLog)

    @app.get("/health", tags=["ops"], summary="Liveness (as /health/live, with the profile)")
    def health() -> dict[str, str]:
        return {"status": "ok", "profile": platform.settings.profile}

    return app


def _mount_object_urls(app: FastAPI, platform: Platform) -> None:
    """Local presigned URLs are served by this API; S3's are served by S3."""
    if platform.settings.object_store == "local":
        from ras_api.objects import make_objects_router

        app.include_router(make_objects_router(lambda: platform.object_store))


def __getattr__(name: str) -> FastAPI:
    # `uvicorn ras_api.app:app` builds the app on first access, not at import time (tests import
    # this module with their own settings).
    if name == "app":
        settings = get_settings()
        configure_logging(settings.log_level)
        return create_app(settings)
    raise AttributeError(name)
