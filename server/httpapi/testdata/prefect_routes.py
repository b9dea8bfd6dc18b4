"""Print Prefect's API routes, one "METHOD /path" a line, relative to the API's base (/api):
the HTTP routes from the app's OpenAPI document, then its WebSockets (which OpenAPI leaves out)
as GET. Read from the pinned prefect in the venv, which builds the app without starting a
server or touching a database. Its output is testdata/prefect_routes.txt.
"""

from fastapi.routing import APIWebSocketRoute
from prefect.server.api.server import create_api_app

app = create_api_app()
lines = set()
for path, operations in app.openapi()["paths"].items():
    for method in operations:
        lines.add(f"{method.upper()} {path}")


def websockets(routes, prefix=""):
    for route in routes:
        if isinstance(route, APIWebSocketRoute):
            lines.add(f"GET {prefix}{route.path}")
        inner = getattr(route, "original_router", None)
        if inner is not None:
            websockets(inner.routes, prefix + (getattr(route.include_context, "prefix", "") or ""))


websockets(app.routes)
for line in sorted(lines):
    print(line)
