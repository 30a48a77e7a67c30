"""Row values become monday column values in monday's formats, and come back again."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.fake_monday.boards import Column, Item, check, raw, text
from syncd.handlers.monday import columns
from syncd.handlers.monday.settings import ColumnMapping, EntityMapping, MondaySettings


def col(kind: str, **extra: Any) -> ColumnMapping:
    return ColumnMapping(column="c", type=kind, **extra)


@pytest.mark.parametrize(
    ("kind", "value", "sent"),
    [
        ("text", "Engineer", "Engineer"),
        ("text", 42, "42"),
        ("long_text", "line 1\nline 2", {"text": "line 1\nline 2"}),
        ("email", " ada@example.com ", {"email": "ada@example.com", "text": "ada@example.com"}),
        ("status", "Done", {"label": "Done"}),
        ("date", "2024-02-29", {"date": "2024-02-29"}),
        ("date", "2024-02-29T23:30:00+02:00", {"date": "2024-02-29", "time": "21:30:00"}),
        ("numbers", 3.5, "3.5"),
        ("numbers", "-12", "-12"),
        (
            "link",
            "https://example.com",
            {"url": "https://example.com", "text": "https://example.com"},
        ),
        ("dropdown", "a, b", {"labels": ["a", "b"]}),
        ("dropdown", ["x"], {"labels": ["x"]}),
        ("country", "de", {"countryCode": "DE", "countryName": "Germany"}),
        ("country", "United States", {"countryCode": "US", "countryName": "United States"}),
    ],
)
def test_each_column_type_is_sent_in_mondays_format(kind: str, value: Any, sent: Any) -> None:
    assert columns.encode(col(kind), value) == sent


def test_a_phone_number_is_sent_with_its_country() -> None:
    assert columns.encode(col("phone", country="us"), "+1 (202) 555-0169") == {
        "phone": "+12025550169",
        "countryShortName": "US",
    }


@pytest.mark.parametrize("kind", ["text", "numbers"])
def test_null_clears_a_plain_column_with_an_empty_string(kind: str) -> None:
    assert columns.encode(col(kind), None) == ""


@pytest.mark.parametrize(
    "kind", ["email", "phone", "status", "date", "long_text", "link", "dropdown", "country"]
)
def test_null_clears_a_json_column_with_an_empty_object(kind: str) -> None:
    assert columns.encode(col(kind), None) == {}


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("numbers", "twelve"),
        ("numbers", True),
        ("email", "not-an-address"),
        ("phone", "call me"),
        ("date", "31/12/2024"),
        ("country", "Atlantis"),
    ],
)
def test_a_value_that_cannot_fit_its_column_is_refused(kind: str, value: Any) -> None:
    with pytest.raises(columns.InvalidValue):
        columns.encode(col(kind), value)


def test_the_refusal_names_the_field_and_column() -> None:
    mapping = EntityMapping(
        table="t", board_id=1, key_column="k", columns={"size": {"column": "n", "type": "numbers"}}
    )
    with pytest.raises(columns.InvalidValue, match="field 'size' \\(numbers column n\\)"):
        columns.column_values(mapping, {"size": "big"})


@pytest.mark.parametrize(
    ("kind", "value", "text", "current", "pulled"),
    [
        ("text", '"Engineer"', "Engineer", None, "Engineer"),
        ("email", '{"email": "a@b.co", "text": "a@b.co"}', "a@b.co", None, "a@b.co"),
        (
            "phone",
            '{"phone": "+12025550169", "countryShortName": "US"}',
            "+1",
            None,
            "+12025550169",
        ),
        ("status", '{"index": 1}', "Retail", None, "Retail"),
        (
            "date",
            '{"date": "2024-01-02", "time": "10:00:00"}',
            "",
            None,
            "2024-01-02T10:00:00+00:00",
        ),
        ("link", '{"url": "https://x.io", "text": "x"}', "x - https://x.io", None, "https://x.io"),
        (
            "country",
            '{"countryCode": "DE", "countryName": "Germany"}',
            "Germany",
            "France",
            "Germany",
        ),
        ("country", '{"countryCode": "DE", "countryName": "Germany"}', "Germany", "FR", "DE"),
        ("text", None, "", "old", None),
    ],
)
def test_monday_values_are_read_back_into_row_values(
    kind: str, value: str | None, text: str, current: Any, pulled: Any
) -> None:
    assert columns.decode(col(kind), value, text, current) == pulled


# -- does the item already hold it? (a retried create skips a needless update) ------

CHANGED = '"changed_at":"2026-10-01T09:30:00.123Z"'


@pytest.mark.parametrize(
    ("kind", "value"),
    [
        ("text", "Engineer"),
        ("numbers", "-12.5"),
        ("long_text", "line 1\nline 2"),
        ("email", "ada@example.com"),
        ("phone", "+1 202 555 0169"),
        ("status", "Retail"),
        ("date", "2024-02-29"),
        ("date", "2024-02-29T23:30:00+02:00"),
        ("link", "https://example.com"),
        ("country", "Germany"),
    ],
)
def test_a_value_monday_stored_as_sent_is_held(kind: str, value: Any) -> None:
    labels = ["Software", "Retail"]
    sent = columns.encode(col(kind), value)
    board = Column("c", kind, "c", labels)
    item = Item(1, 1, "topics", "Ada", {"c": check(board, sent)}, updated_at="2026-10-01")
    found = {"id": "c", "type": kind, "value": raw(board, item), "label": text(board, item)}
    assert columns.holds(col(kind), sent, found)
    other = columns.encode(col(kind), "Software" if kind == "status" else _other(kind))
    assert not columns.holds(col(kind), other, found)


def _other(kind: str) -> Any:
    others = {
        "numbers": "7",
        "date": "2024-03-01",
        "country": "FR",
        "email": "b@example.com",
        "phone": "+12025550100",
    }
    return others.get(kind, "https://other.example")


@pytest.mark.parametrize(
    ("kind", "sent", "stored", "label"),
    [
        ("text", "Engineer", '"Engineer"', None),
        ("numbers", "3.5", '"3.5"', None),
        (
            "email",
            {"email": "a@b.co", "text": "a@b.co"},
            f'{{"email":"a@b.co","text":"a@b.co",{CHANGED}}}',
            None,
        ),
        ("date", {"date": "2024-01-02"}, f'{{"date":"2024-01-02","time":null,{CHANGED}}}', None),
        (
            "phone",
            {"phone": "+12025550169", "countryShortName": "US"},
            f'{{"phone":"+12025550169","countryShortName":"US",{CHANGED}}}',
            None,
        ),
        ("status", {"label": "Retail"}, f'{{"index":1,"post_id":null,{CHANGED}}}', "Retail"),
        ("text", "", None, None),
        ("email", {}, None, None),
        ("dropdown", {}, None, None),
    ],
)
def test_mondays_own_fields_and_nulls_are_not_differences(
    kind: str, sent: Any, stored: str | None, label: str | None
) -> None:
    found = {"id": "c", "type": kind, "value": stored, "label": label}
    assert columns.holds(col(kind), sent, found)


@pytest.mark.parametrize(
    ("kind", "sent", "found"),
    [
        # Not the same value, as monday compares it.
        ("numbers", "3.50", {"type": "numbers", "value": '"3.5"'}),
        ("text", "Engineer", {"type": "text", "value": '"Engineer "'}),
        ("text", "x", {"type": "text", "value": None}),
        ("text", "", {"type": "text", "value": '"x"'}),
        ("email", {}, {"type": "email", "value": f'{{"email":"a@b.co",{CHANGED}}}'}),
        (
            "date",
            {"date": "2024-01-02", "time": "10:00:00"},
            {"type": "date", "value": '{"date":"2024-01-02"}'},
        ),
        (
            "phone",
            {"phone": "2025550169"},
            {"type": "phone", "value": '{"phone":"2025550169","countryShortName":"US"}'},
        ),
        (
            "status",
            {"label": "Retail"},
            {"type": "status", "value": '{"index":1}', "label": "Software"},
        ),
        # Doubt: written again.
        ("status", {"label": "Retail"}, {"type": "status", "value": '{"index":1}'}),
        (
            "email",
            {"email": "a@b.co", "text": "a@b.co"},
            {"type": "email", "value": '{"email":"a@b.co","text":"a@b.co","unknown":1}'},
        ),
        ("text", "42", {"type": "text", "value": "not json"}),
        ("text", "42", {"type": "text", "value": 42}),
        ("numbers", "42", {"type": "numbers", "value": "42"}),
        ("numbers", "42", {"type": "text", "value": '"42"'}),
        ("dropdown", {"labels": ["a"]}, {"type": "dropdown", "value": f'{{"ids":[1],{CHANGED}}}'}),
        ("text", "x", None),
    ],
)
def test_any_difference_or_doubt_means_the_column_is_written(
    kind: str, sent: Any, found: dict[str, Any] | None
) -> None:
    assert not columns.holds(col(kind), sent, None if found is None else {"id": "c", **found})


def test_the_item_name_is_the_template_filled_from_the_row() -> None:
    mapping = EntityMapping(table="t", board_id=1, key_column="k", item_name="{first} {last}")
    assert columns.item_name(mapping, {"first": "Ada", "last": None}, "fallback") == "Ada"
    assert columns.item_name(mapping, {"first": None, "last": None}, "fallback") == "fallback"
    assert len(columns.item_name(mapping, {"first": "x" * 300, "last": ""}, "f")) == 255


def test_the_hash_changes_with_any_value_and_not_with_key_order() -> None:
    one = columns.values_hash("Ada", "g", {"a": "1", "b": {"x": 1, "y": 2}})
    assert one == columns.values_hash("Ada", "g", {"b": {"y": 2, "x": 1}, "a": "1"})
    assert one != columns.values_hash("Ada", "g", {"a": "2", "b": {"x": 1, "y": 2}})
    assert one != columns.values_hash("Ada Lovelace", "g", {"a": "1", "b": {"x": 1, "y": 2}})


# -- the [monday] section ---------------------------------------------------------


def write_config(tmp_path: Path, text: str) -> str:
    path = tmp_path / "syncd.toml"
    path.write_text(text)
    return str(path)


MAPPING = """
[monday]
token = "tok-secret-123"
[monday.entities.contact]
table = "contacts"
board_id = 1
key_column = "text_syncd_id"
item_name = "{first_name}"
"""


def test_a_bad_column_type_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        MAPPING + '[monday.entities.contact.columns]\nemail = { column = "e", type = "mail" }\n',
    )
    with pytest.raises(
        config.ConfigError, match=r"monday\.entities\.contact\.columns\.email\.type"
    ):
        config.load(path)


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("board_id = -1\n", "monday.entities.contact.board_id"),
        ('item_name = "{first name}"\n', "monday.entities.contact.item_name"),
        ('table = ""\n', "monday.entities.contact.table"),
        ("colour = 1\n", "monday.entities.contact.colour"),
    ],
)
def test_invalid_mapping_keys_are_named(tmp_path: Path, extra: str, key: str) -> None:
    text = MAPPING.replace("board_id = 1\n", "").replace('item_name = "{first_name}"\n', "")
    if "board_id" not in extra:
        text += "board_id = 1\n"
    if "table" in extra:
        text = text.replace('table = "contacts"\n', "")
    path = write_config(tmp_path, text + extra)
    with pytest.raises(config.ConfigError, match=key.replace(".", r"\.")):
        config.load(path)


def test_two_fields_cannot_feed_one_column(tmp_path: Path) -> None:
    path = write_config(
        tmp_path,
        MAPPING
        + "[monday.entities.contact.columns]\n"
        + 'a = { column = "x", type = "text" }\nb = { column = "x", type = "text" }\n',
    )
    with pytest.raises(config.ConfigError, match=r"monday\.entities\.contact.*already fed"):
        config.load(path)


def test_entities_without_a_token_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    path = write_config(tmp_path, MAPPING.replace('token = "tok-secret-123"\n', ""))
    with pytest.raises(config.ConfigError, match=r"monday.*token"):
        config.load(path)


def test_the_token_comes_from_a_file_or_a_systemd_credential(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    assert MondaySettings(token_file=secret).resolve_token().get_secret_value() == "from-file"
    (tmp_path / "monday-token").write_text("from-credential")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert MondaySettings().resolve_token().get_secret_value() == "from-credential"


def test_the_token_is_never_shown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SYNCD_MONDAY__TOKEN", "tok-from-env-456")
    settings = config.load(write_config(tmp_path, MAPPING))
    assert settings.monday.resolve_token().get_secret_value() == "tok-from-env-456"
    shown = repr(settings) + str(settings) + str(config.redacted(settings))
    assert "tok-from-env-456" not in shown and "tok-secret-123" not in shown
    assert os.environ["SYNCD_MONDAY__TOKEN"] == "tok-from-env-456"
