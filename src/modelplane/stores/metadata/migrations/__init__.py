"""Alembic migrations of the metadata store. ``HEAD_REVISION`` must name the newest revision
(a test checks it against the scripts), so opening an up-to-date store never imports Alembic."""

HEAD_REVISION = "0006"
