"""The three published formats, read from real files, and what an import refuses."""

from __future__ import annotations

import gzip

import pytest

from accounts.identity.audit import Actor
from accounts.models import AuditEvent
from compliance import importers, services
from compliance.models import SanctionsEntry, SanctionsList, SanctionsName
from outbox.models import OutboxJob
from tests.compliance.conftest import EU, OFAC, UN

SYSTEM = Actor.system("tests")


def test_un_real_file_counts_and_a_known_entry_with_aliases():
    parsed = importers.parse("un", UN)
    assert parsed.version == "2018-10-29T19:09:49.856-04:00"
    assert str(parsed.published) == "2018-10-29"
    assert len(parsed.entries) == 1093
    assert sum(e.kind == "person" for e in parsed.entries) == 703
    assert sum(e.kind == "entity" for e in parsed.entries) == 390
    qaida = next(e for e in parsed.entries if e.reference == "QDe.004")
    assert qaida.kind == "entity"
    assert qaida.names[0] == "AL-QAIDA"
    assert {"القاعدة", "Al Qaeda", "Usama Bin Laden Network"} <= set(qaida.names)
    assert qaida.programme == "Al-Qaida"


def test_ofac_real_files_counts_and_a_known_entry_with_aliases():
    parsed = importers.parse("ofac", OFAC)
    assert len(parsed.entries) == 9043
    assert sum(len(e.names) for e in parsed.entries) == 21452
    assert parsed.version.startswith("sha256:") and parsed.published is None
    kovalchuk = next(e for e in parsed.entries if e.reference == "16680")
    # "KOVALCHUK, Yuri Valentinovich" in sdn.csv, written given name first.
    assert kovalchuk.names == ["Yuri Valentinovich KOVALCHUK", "Yury Valentinovich KOVALCHUK"]
    assert kovalchuk.kind == "person" and kovalchuk.programme == "UKRAINE-EO13661"
    cuba = next(e for e in parsed.entries if e.reference == "306")
    assert cuba.kind == "entity" and "NATIONAL BANK OF CUBA" in cuba.names


def test_eu_sample_in_the_published_structure():
    parsed = importers.parse("eu", EU)
    assert parsed.version == "2026-11-30T18:02:11.437+01:00"
    assert [e.reference for e in parsed.entries] == ["EU.3744.41", "EU.1.64", "EU.27.28", "EU.5.79"]
    saddam = parsed.entries[2]
    assert saddam.names == ["Saddam Hussein Al-Tikriti", "Abu Ali"]  # from first/last names
    assert parsed.entries[0].names[1] == "Юрий Валентинович Ковальчук"
    assert parsed.entries[1].kind == "entity" and parsed.entries[0].kind == "person"


def test_import_twice_changes_nothing(db):
    first, created = services.sanctions_list_import(source="un", paths=UN, actor=SYSTEM)
    assert created and first.current and first.entry_count == 1093
    assert first.name_count == SanctionsName.objects.count()
    events = AuditEvent.objects.count()
    jobs = OutboxJob.objects.count()
    again, created = services.sanctions_list_import(source="un", paths=UN, actor=SYSTEM)
    assert not created and again.pk == first.pk
    assert SanctionsList.objects.count() == 1
    assert SanctionsEntry.objects.count() == 1093
    assert AuditEvent.objects.count() == events
    assert OutboxJob.objects.count() == jobs


def test_import_is_audited_and_schedules_a_screening(db):
    imported, _ = services.sanctions_list_import(source="eu", paths=EU, actor=SYSTEM)
    event = AuditEvent.objects.get(action="sanctions.list_import")
    assert event.target_id == str(imported.pk)
    assert event.after["entries"] == 4 and event.after["sha256"] == imported.sha256
    assert OutboxJob.objects.filter(job=services.SCREEN_JOB, done_at__isnull=True).exists()


def test_a_new_version_becomes_current(db, tmp_path):
    old, _ = services.sanctions_list_import(source="eu", paths=EU, actor=SYSTEM)
    newer = tmp_path / "eu.xml"
    newer.write_bytes(open(EU[0], "rb").read().replace(b"2026-11-30T18:02", b"2026-12-01T18:02"))
    new, created = services.sanctions_list_import(source="eu", paths=[str(newer)], actor=SYSTEM)
    old.refresh_from_db()
    assert created and new.current and not old.current
    assert str(new.published) == "2026-12-01"


def test_gzip_is_read_as_its_content(db, tmp_path):
    packed = tmp_path / "eu.xml.gz"
    packed.write_bytes(gzip.compress(open(EU[0], "rb").read()))
    assert importers.parse("eu", [str(packed)]).sha256 == importers.parse("eu", EU).sha256


@pytest.mark.parametrize(
    ("source", "content", "message"),
    [
        (
            "eu",
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]>'
            b'<export xmlns="http://eu.europa.ec/fpi/fsd/export">&a;</export>',
            "DOCTYPE",
        ),
        ("eu", b"<export>not the namespace</export>", "not an EU financial sanctions file"),
        (
            "eu",
            b'<export xmlns="http://eu.europa.ec/fpi/fsd/export"><sanctionEntity>',
            "well-formed",
        ),
        (
            "eu",
            b'<export xmlns="http://eu.europa.ec/fpi/fsd/export"></export>',
            "no sanctionEntity",
        ),
        ("un", b"<CONSOLIDATED_LIST><INDIVIDUALS/></CONSOLIDATED_LIST>", "no INDIVIDUAL"),
        ("un", b"name,other\n", "not a UN Security Council"),
    ],
)
def test_hostile_or_wrong_files_are_refused(db, tmp_path, source, content, message):
    path = tmp_path / "list.xml"
    path.write_bytes(content)
    with pytest.raises(importers.SanctionsFileError, match=message):
        services.sanctions_list_import(source=source, paths=[str(path)], actor=SYSTEM)
    assert not SanctionsList.objects.exists()


def test_ofac_needs_sdn_csv_and_its_columns(tmp_path):
    with pytest.raises(importers.SanctionsFileError, match="needs sdn.csv"):
        importers.parse("ofac", [OFAC[1]])
    bad = tmp_path / "sdn.csv"
    bad.write_text('1,"NAME",-0- \n')
    with pytest.raises(importers.SanctionsFileError, match="line 1 has 3 columns, not 12"):
        importers.parse("ofac", [str(bad)])
    with pytest.raises(importers.SanctionsFileError, match="unknown list format"):
        importers.parse("uk", [str(bad)])
    with pytest.raises(importers.SanctionsFileError, match="cannot be read"):
        importers.parse("un", [str(tmp_path / "missing.xml")])


def test_a_file_cut_short_is_refused(tmp_path):
    cut = tmp_path / "un.xml"
    content = importers.read_bytes(UN[0])
    cut.write_bytes(content[: len(content) // 2])
    with pytest.raises(importers.SanctionsFileError, match="not well-formed"):
        importers.parse("un", [str(cut)])
