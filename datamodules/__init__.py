"""Data for facebench: readers of on-disk formats (``readers/``), datasets that yield typed batches
(``datasets/``, ``batches.py``) and one LightningDataModule per task on a shared base (``base.py``,
``recognition.py``, ``landmarks.py``)."""
