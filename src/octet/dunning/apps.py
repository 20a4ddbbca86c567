from django.apps import AppConfig


class DunningConfig(AppConfig):
    name = "octet.dunning"
    label = "dunning"
    verbose_name = "Dunning (reminders, suspension, reconnection)"

    def ready(self) -> None:
        from octet.billing import signals as billing_signals
        from octet.dunning import services
        from octet.payments import signals as payment_signals

        # After payments' receiver (installed earlier): invoices are posted and settled.
        billing_signals.documents_issued.connect(
            services.on_documents_issued, dispatch_uid="dunning-plan"
        )
        payment_signals.balance_changed.connect(
            services.on_balance_changed, dispatch_uid="dunning-reconnect"
        )
        payment_signals.invoices_reopened.connect(
            services.on_invoices_reopened, dispatch_uid="dunning-replan"
        )
