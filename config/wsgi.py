import gc
import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()

# What is loaded now (Django, the apps, the URLconf with the admin and the API) lives as long as
# the process. Frozen, the garbage collector's full passes skip it: on a loaded machine such a
# pass over it took ~75 ms, paid by whichever request happened to trigger it.
get_resolver().url_patterns  # noqa: B018 (imports the URLconf now rather than at the first request)
gc.collect()
gc.freeze()
