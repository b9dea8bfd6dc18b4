"""Print Prefect's API routes, one "METHOD /path" a line, relative to the API's base (/api).

The browser suite names each call the UIs make by the route it matches here, with the parameter
names of Prefect's routers. Read from the app's OpenAPI document, which builds the app without
starting a server or touching a database.
"""

from prefect.server.api.server import create_api_app

spec = create_api_app().openapi()
for path, operations in spec["paths"].items():
    for method in operations:
        print(method.upper(), path)
