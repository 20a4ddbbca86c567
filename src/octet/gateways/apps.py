from django.apps import AppConfig


class GatewaysConfig(AppConfig):
    name = "octet.gateways"
    label = "gateways"
    verbose_name = "Payment gateways (checkout, webhooks, auto-pay)"
