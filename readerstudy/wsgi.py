import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "readerstudy.settings")
_django = get_wsgi_application()

# Granted image GETs with an access token skip Django's middleware (readerstudy/reading/serving.py).
from readerstudy.reading.serving import TokenFastPath  # noqa: E402

application = TokenFastPath(_django)
