from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "octet.payments"
    label = "payments"
    verbose_name = "Payments (receipts, allocations)"

    def ready(self) -> None:
        from octet.billing import signals
        from octet.payments import services

        signals.documents_issued.connect(
            services.on_documents_issued, dispatch_uid="payments-settle"
        )
