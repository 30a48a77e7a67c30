"""The old path of tests.support.daemons, kept while branches written against it merge."""

from tests.support.daemons import *  # noqa: F403
