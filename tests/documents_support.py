"""The old path of tests.support.documents, kept while branches written against it merge."""

from tests.support.documents import *  # noqa: F403
