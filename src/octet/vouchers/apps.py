from django.apps import AppConfig


class VouchersConfig(AppConfig):
    name = "octet.vouchers"
    label = "vouchers"
    verbose_name = "Prepaid vouchers"
