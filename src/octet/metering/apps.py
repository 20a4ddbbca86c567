from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "octet.metering"
    label = "metering"

    def ready(self) -> None:
        from octet.metering import services
        from octet.subscriptions import signals

        def refresh(sender, subscription, **kwargs):
            services.refresh_allowance(subscription)

        signals.plan_changed.connect(refresh, dispatch_uid="metering-allowance", weak=False)
