"""``/api/v1/``: the API, and a JSON 404 for anything under it that is not an endpoint."""

from django.http import HttpRequest, JsonResponse
from django.urls import path, re_path
from django.views.decorators.csrf import csrf_exempt

from octet.api.api import api


@csrf_exempt
def not_found(request: HttpRequest, rest: str = "") -> JsonResponse:
    return JsonResponse({"detail": "no such API endpoint", "field": None}, status=404)


urlpatterns = [
    path("", api.urls),
    re_path(r"^(?P<rest>.*)$", not_found),
]
