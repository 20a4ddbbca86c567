from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "octet.api"
    label = "api"
    verbose_name = "REST API (tokens)"
