"""A fake monday.com API for tests and `syncd demo`: see `app.FakeMonday`.

It needs graphql-core, imported only when a document is first executed, so that
importing syncd does not.
"""

from syncd.fake_monday.app import TOKEN, FakeMonday, Received
from syncd.fake_monday.boards import Board, Column, Item
from syncd.fake_monday.faults import Faults
from syncd.fake_monday.limits import Limits

__all__ = ["TOKEN", "Board", "Column", "FakeMonday", "Faults", "Item", "Limits", "Received"]
