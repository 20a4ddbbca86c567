from django.apps import AppConfig


class SubscriptionsConfig(AppConfig):
    name = "octet.subscriptions"
    label = "subscriptions"
