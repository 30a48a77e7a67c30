"""The old path of tests.support.monday, kept while branches written against it merge."""

from tests.support.monday import *  # noqa: F403
