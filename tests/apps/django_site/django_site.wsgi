# A Django project's wsgi.py, as `django-admin startproject` writes it, for
# Debian's python3-django. The pool puts this directory on python-path (so
# the project package wfpm_django imports) and may set DJANGO_SETTINGS_MODULE
# in its environment.
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "wfpm_django.settings")

application = get_wsgi_application()
