from django.apps import AppConfig


class MeteringConfig(AppConfig):
    name = "octet.metering"
    label = "metering"

    def ready(self) -> None:
        from octet.metering import services
        from octet.subscriptions import signals

        def refresh(sender, subscription, **kwargs):
            services.refresh_allowance(subscription)

        def terminated(sender, subscription, target, **kwargs):
            # A period cut short by termination keeps only its served days' allowance.
            # Metering comes before billing in INSTALLED_APPS, so the final bill sees it.
            if target == "terminated":
                services.refresh_allowance(subscription)

        signals.plan_changed.connect(refresh, dispatch_uid="metering-allowance", weak=False)
        signals.state_changed.connect(terminated, dispatch_uid="metering-terminated", weak=False)
