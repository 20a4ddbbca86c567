from django.apps import AppConfig


class BillingConfig(AppConfig):
    name = "octet.billing"
    label = "billing"
    verbose_name = "Billing (invoices, credit notes, runs)"

    def ready(self) -> None:
        from octet.billing import services
        from octet.subscriptions import signals

        signals.state_changed.connect(services.on_state_changed, dispatch_uid="billing-state")
        signals.plan_changed.connect(services.on_plan_changed, dispatch_uid="billing-plan")
