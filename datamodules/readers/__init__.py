"""Readers of on-disk dataset formats, one module per format family. Each exposes ``detect(path)`` and
``validate(path, report)`` and is registered in :mod:`datamodules.readers.formats` for ``facebench.check``."""
