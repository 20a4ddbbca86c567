from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

admin.site.site_header = "Octet back office"
admin.site.site_title = "Octet"
admin.site.index_title = "ISP administration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("billing/", include("octet.billing.urls")),
    path("payments/", include("octet.payments.urls")),
    path("gateways/", include("octet.gateways.urls")),
    path("api/v1/", include("octet.api.urls")),
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
]
