"""syncd: a PostgreSQL job daemon for the sync queue and the document processing queue."""

__version__ = "0.1.0"
