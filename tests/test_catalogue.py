"""The catalogue (rdbench.analysis.catalogue): one object over the store, or none, that every analysis asks
which names and datasets exist and what NAME@SELECTOR means; read once, and accepted wherever the public
functions took a store."""

from __future__ import annotations

import pytest

import rdbench
from rdbench.analysis.catalogue import Catalogue
from rdbench.errors import UsageError
from rdbench.store.sqlite import Store


def test_without_a_database_only_shipped_curves_exist(tmp_path) -> None:
    catalogue = Catalogue.open(tmp_path / "missing.sqlite")
    assert catalogue.store is None and catalogue.path is None
    assert catalogue.measured_codecs() == [] and catalogue.dataset_names() == []
    assert "kodak" in catalogue.published_names()["mlicpp-paper"]
    assert "kodak" in catalogue.curve_datasets()
    assert catalogue.resolve("jpeg").codec == "jpeg"
    with pytest.raises(UsageError, match=r"'jpeg' has no measured records in any store \(no database\)"):
        catalogue.resolve("jpeg@3fa2")
    assert catalogue.published_curve("vtm17-rdbench", "kodak")["bpp"]


def test_a_store_s_names_datasets_and_selectors(measured_store) -> None:
    with Catalogue.open(measured_store.db) as catalogue:
        assert catalogue.path == measured_store.db
        assert catalogue.measured_codecs() == ["jpeg", "webp"]
        assert catalogue.dataset_names() == [measured_store.dataset]
        assert catalogue.measured("jpeg") and catalogue.measured("jpeg", measured_store.dataset)
        assert not catalogue.measured("jpeg", "kodak")
        assert {c for c, _, n in catalogue.codec_datasets() if n} == {"jpeg", "webp"}
        (config,) = {g["config_hash"] for g in catalogue.store.record_groups(selections=[{"codec": "jpeg"}])}
        chosen = catalogue.resolve(f"jpeg@{config[:6]}@cpu")
        assert (chosen.codec, chosen.config_hash, chosen.device) == ("jpeg", config, "cpu")
        with pytest.raises(UsageError, match="no stored configuration, device or weights 'zz'"):
            catalogue.resolve("jpeg@zz")


def test_name_lists_are_read_once_per_catalogue(measured_store) -> None:
    """WHY: a table asks for the measured codecs once per name and per check; the store answered each time."""
    with Store(measured_store.db, readonly=True) as store:
        statements: list[str] = []
        store.conn.set_trace_callback(statements.append)
        catalogue = Catalogue(store)
        rdbench.bd_table(catalogue, "jpeg", ["webp", "mlicpp-paper", "webp@cpu"], [measured_store.dataset, "kodak"])
        listed = [s for s in statements if "SELECT DISTINCT codec FROM records" in s]
        assert len(listed) == 1
        statements.clear()
        catalogue.measured_codecs(), catalogue.resolve("webp@cpu"), catalogue.imported_names()
        assert statements == []


def test_public_functions_take_a_path_a_store_none_or_a_catalogue(measured_store) -> None:
    dataset = measured_store.dataset
    with Store(measured_store.db, readonly=True) as store:
        by_store = rdbench.bd_table(store, "jpeg", ["webp", "mlicpp-paper"], [dataset, "kodak"])
        by_catalogue = rdbench.bd_table(Catalogue(store), "jpeg", ["webp", "mlicpp-paper"], [dataset, "kodak"])
        assert by_store.rows == by_catalogue.rows and by_store.all_notes() == by_catalogue.all_notes()
        assert rdbench.curve(store, "webp", dataset, "psnr") == rdbench.curve(Catalogue(store), "webp", dataset, "psnr")
    with Catalogue.open(measured_store.db) as catalogue:
        assert rdbench.load_curves(catalogue, ["webp"]).equals(rdbench.load_curves(measured_store.db, ["webp"]))
        assert rdbench.load_records(catalogue).equals(rdbench.load_records(measured_store.db))
    assert rdbench.published_names(None) == Catalogue(None).published_names()
