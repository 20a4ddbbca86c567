"""Print the OpenAPI document of ``/api/v1``: ``python -m octet.api.schema > docs/openapi.json``.

The test suite checks that the served document equals the checked-in one.
"""

import json
import os
import sys


def document() -> dict:
    from octet.api.api import api

    return api.get_openapi_schema(path_prefix="/api/v1/")


def dumps(schema: dict) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "octet.settings")
    import django

    django.setup()
    sys.stdout.write(dumps(document()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
