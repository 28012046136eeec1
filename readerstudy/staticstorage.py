"""Static files storage: WhiteNoise's compressed manifest storage that never turns a page into a 500.

``collectstatic`` (run by ``./run demo`` and ``./run serve``) writes hashed, compressed copies and
the manifest; WhiteNoise serves them with a year of caching. Django's manifest storage raises when
a template asks for a file the manifest does not know (nothing collected yet, or collected by an
older checkout), which turned every page into a 500 under DEBUG=0. Here such a file gets its plain
``/static/<name>`` URL instead, which WhiteNoise still serves through the static finders
(``WHITENOISE_USE_FINDERS``), with short-lived caching.
"""

from __future__ import annotations

import logging

from whitenoise.storage import CompressedManifestStaticFilesStorage

logger = logging.getLogger(__name__)


class StaticStorage(CompressedManifestStaticFilesStorage):
    manifest_strict = False

    def hashed_name(self, name, content=None, filename=None):
        try:
            return super().hashed_name(name, content, filename)
        except ValueError:
            if content is not None or filename is not None:
                raise  # during collectstatic a missing file is a real error
            logger.debug("static file %s is not collected; serving it unhashed (run collectstatic)", name)
            return name
