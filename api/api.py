"""Tally's REST API: /api/v1/…, OpenAPI schema at /api/v1/openapi.json, docs at /api/docs.

Every call carries `Authorization: Bearer <token>` (tokens are created in the admin, under
API tokens) and acts as the token's owner: their role says what they may do (else 403), their
datasets where (anything else is 404, as if it did not exist). Errors are 4xx with a `detail`.
"""

from django.core.exceptions import PermissionDenied
from ninja import NinjaAPI
from ninja.errors import AuthenticationError

from api.auth import TokenAuth
from api.errors import RowErrors
from api.routers import annotations, datasets, exports, jobs, me, predictions, records, search

api = NinjaAPI(
    title="Tally API",
    version="1",
    description=__doc__,
    urls_namespace="api-v1",
    docs_url=None,  # served at /api/docs (config/urls.py), for every version
    auth=TokenAuth(),
)
api.add_router("/me", me.router)
api.add_router("/datasets", datasets.router)
api.add_router("/records", records.router)
api.add_router("/annotations", annotations.router)
api.add_router("/predictions", predictions.router)
# POST /jobs/export before /jobs/{job_id}: Django tries URL patterns in order.
api.add_router("/jobs", exports.router)
api.add_router("/jobs", jobs.router)
api.add_router("/exports", exports.download_router)
api.add_router("/search", search.router)


@api.exception_handler(PermissionDenied)
def forbidden(request, exc):
    return api.create_response(request, {"detail": "Your role may not do this."}, status=403)


@api.exception_handler(RowErrors)
def row_errors(request, exc: RowErrors):
    body = {"detail": exc.detail, "error_count": exc.error_count, "errors": exc.errors}
    return api.create_response(request, body, status=400)


@api.exception_handler(AuthenticationError)
def unauthorized(request, exc):
    response = api.create_response(
        request, {"detail": "A valid API token is needed: Authorization: Bearer <token>."}, status=401
    )
    response["WWW-Authenticate"] = 'Bearer realm="tally"'
    return response
