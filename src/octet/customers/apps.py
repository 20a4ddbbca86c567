from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "octet.customers"
    label = "customers"
