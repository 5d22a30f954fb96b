from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text

from service.api.deps import DatabaseDep
from service.api.observability import REGISTRY
from service.api.problems import problem
from service.store.migrate import current_revision, head_revision

router = APIRouter(tags=["operations"])


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is alive."""
    return {"status": "ok"}


@router.get("/readyz", responses={503: {"description": "Database unreachable or not migrated"}})
async def readyz(db: DatabaseDep) -> Response:
    """The database answers and its schema is at the head revision."""
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        current = await current_revision(db.engine)
    except Exception as exc:  # any failure to reach the database means "not ready"
        return problem(503, f"database unreachable ({type(exc).__name__})")
    head = head_revision()
    if current != head:
        return problem(
            503, f"database schema at {current}, expected {head}; run `portfolio-sync db upgrade`"
        )
    return JSONResponse({"status": "ready", "revision": head})


@router.get("/metrics", response_class=Response)
async def metrics() -> Response:
    """Prometheus text exposition."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
