"""The receiver as a FastAPI app: ``POST /webhooks/{conn_id}``, mounted by the provider's Airflow plugin.

No Airflow here: the plugin hands in a :class:`~airflow_provider_truto.webhooks.receiver.Receiver` wired
to Airflow's connections and asset events; a test hands in one of its own. The body is read up to the size
cap and no further; the receiver's work (a connection read, one short transaction) runs in a worker thread,
so the event loop keeps serving other requests. The app publishes no OpenAPI schema or docs pages.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from airflow_provider_truto.webhooks.delivery import MAX_BODY_BYTES
from airflow_provider_truto.webhooks.receiver import Receiver
from airflow_provider_truto.webhooks.signature import SIGNATURE_HEADER

WEBHOOK_ROUTE = "/webhooks/{conn_id}"


def create_app(receiver: Receiver, *, max_bytes: int = MAX_BODY_BYTES) -> FastAPI:
    """A FastAPI app serving :data:`WEBHOOK_ROUTE` with ``receiver``."""
    app = FastAPI(title="Truto webhooks", docs_url=None, redoc_url=None, openapi_url=None)

    @app.post(WEBHOOK_ROUTE)
    async def receive_webhook(conn_id: str, request: Request) -> JSONResponse:
        body = await read_capped(request, max_bytes)
        if body is None:
            return JSONResponse({"error": f"the body is larger than {max_bytes} bytes"}, status_code=400)
        answer = await run_in_threadpool(
            receiver.receive, conn_id, body, request.headers.get(SIGNATURE_HEADER)
        )
        return JSONResponse(answer.body, status_code=answer.status)

    return app


async def read_capped(request: Request, max_bytes: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it is known to exceed ``max_bytes`` (the rest is not read)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
