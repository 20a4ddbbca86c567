from django.apps import AppConfig


class NetworkConfig(AppConfig):
    name = "octet.network"
    label = "network"
    verbose_name = "Network (NAS, RADIUS sessions)"

    def ready(self) -> None:
        from octet.network import services
        from octet.subscriptions import signals

        signals.state_changed.connect(services.on_state_changed, dispatch_uid="network-state")
        signals.plan_changed.connect(services.on_plan_changed, dispatch_uid="network-plan")
