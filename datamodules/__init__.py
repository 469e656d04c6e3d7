"""LightningDataModules and dataset readers, one module per data family.

Every reader exposes ``detect(path)`` and ``validate(path)`` and registers itself in
:mod:`datamodules.formats`, which ``python -m facebench.check`` uses.
"""
