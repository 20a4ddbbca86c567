from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "octet.notifications"
    label = "notifications"
