from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "octet.catalog"
    label = "catalog"
