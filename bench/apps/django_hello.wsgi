# Hello world through Django (Debian's python3-django): a one-view project in
# one file, with Django's default middleware, URL resolver and response object
# on top of the server's overhead.
import django
from django.conf import settings
from django.http import HttpResponse
from django.urls import path


def hello(request):
    return HttpResponse("Hello, world!\n", content_type="text/plain")


settings.configure(
    DEBUG=False,
    SECRET_KEY="wsgi-fpm benchmark, not a secret",
    ALLOWED_HOSTS=["*"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[
        "django.middleware.security.SecurityMiddleware",
        "django.middleware.common.CommonMiddleware",
    ],
    USE_TZ=True,
)
urlpatterns = [path("", hello)]
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402  (after settings)

application = get_wsgi_application()
