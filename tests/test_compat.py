"""The compat layer finds every name on the installed Airflow and explains missing features."""

from __future__ import annotations

import pytest

from airflow_provider_inventory import _compat


@pytest.mark.parametrize("name", sorted(_compat._LOCATIONS))
def test_every_name_resolves_on_the_installed_airflow(name: str) -> None:
    assert getattr(_compat, name) is not None


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _compat.Nope  # noqa: B018


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3.0.6", (3, 0, 6)),
        ("3.2.0rc1", (3, 2, 0)),
        ("3.3.2+astro.1", (3, 3, 2)),
        ("3.1", (3, 1)),
        ("unknown", ()),
    ],
)
def test_parse_version(text: str, expected: tuple[int, ...]) -> None:
    assert _compat.parse_version(text) == expected


def test_an_older_airflow_is_refused_with_one_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_compat, "airflow_version_text", lambda: "2.10.5")

    with pytest.raises(
        RuntimeError, match=r"needs apache-airflow >= 3\.0\.2; 2\.10\.5 is installed"
    ):
        _compat.check_airflow_version()


def test_no_asset_state_store_names_the_airflow_release_that_has_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_compat, "airflow_version_text", lambda: "3.2.2")

    reason = _compat.no_asset_state_store_reason()

    assert reason == "the asset state store needs Airflow >= 3.3.0; this is 3.2.2"
    assert _compat.asset_state_store_of(object()) is None


def test_on_a_release_with_the_store_the_reason_says_none_was_given(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_compat, "airflow_version_text", lambda: "3.3.2")

    assert "gave this trigger no asset state store" in _compat.no_asset_state_store_reason()


def test_relative_local_paths_stay_relative_to_the_working_directory(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(str(tmp_path))

    path = _compat.storage_path_of("exports/serials.jsonl")

    assert path.path.endswith(f"{tmp_path}/exports/serials.jsonl")
    assert _compat.storage_conn_id(_compat.storage_path_of("s3://aws_prod@bucket/k.jsonl")) == (
        "aws_prod"
    )


def test_the_legacy_connection_form_mirrors_the_provider_info(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Airflow 3.0/3.1 read the form from hook methods; they are built from get_provider_info()."""
    pytest.importorskip("wtforms")
    monkeypatch.setattr(_compat, "airflow_version_text", lambda: "3.1.8")

    class Hook:
        conn_type = "pack"

    _compat.install_legacy_connection_form(Hook)

    behaviour = Hook.get_ui_field_behaviour()  # type: ignore[attr-defined]
    widgets = Hook.get_connection_form_widgets()  # type: ignore[attr-defined]
    assert behaviour["relabeling"]["password"] == "API token"
    assert "organization_id" in widgets
    assert "max_attempts" in widgets
