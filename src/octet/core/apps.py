from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "octet.core"
    label = "core"
