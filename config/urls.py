from django.contrib import admin
from django.urls import path
from django.views.generic import RedirectView
from ninja.openapi.views import openapi_view

from api.api import api

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("api/docs", openapi_view, {"api": api}, name="api-docs"),
]

admin.site.site_title = "Tally"
admin.site.index_title = "Dashboard"
