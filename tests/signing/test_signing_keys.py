"""Key directory, trust store and rotation windows, on an injected clock."""

from __future__ import annotations

from datetime import timedelta

import pytest
import yaml

from signing import CertificateExpired, KeyDirectory, TrustConfigError, TrustStore
from signing.keydir import SANDBOX_AGENCIES
from signing.parties import GATEWAY_PARTY


def test_init_lays_out_keys_and_a_readable_trust_list(keydir):
    assert keydir.ca_cert_path.is_file() and keydir.ca_key_path.is_file()
    text = keydir.trust_file.read_text(encoding="utf-8")
    assert text.startswith("# Certificates the gateway accepts")
    document = yaml.safe_load(text)
    assert set(document["parties"]) == {GATEWAY_PARTY, *SANDBOX_AGENCIES}
    for party, entries in document["parties"].items():
        (entry,) = entries
        assert entry["certificate"].startswith(f"parties/{party}/")
        assert (keydir.path / entry["certificate"]).is_file()
        assert (keydir.path / entry["key"]).stat().st_mode & 0o077 == 0  # owner-only key
        assert entry["accepted_from"] == "2026-03-02T00:00:00Z"
        assert len(entry["fingerprint"]) == 64


def test_init_refuses_to_overwrite(keydir):
    with pytest.raises(FileExistsError):
        keydir.init()


def test_trust_store_from_dir_matches_the_key_directory(keydir):
    store = TrustStore.from_dir(keydir.path)
    assert store.parties() == sorted([GATEWAY_PARTY, *SANDBOX_AGENCIES])
    key = keydir.agency_key("MO-FSS", now=keydir_now(keydir))
    (registration,) = store.certificates_for("MO-FSS")
    assert registration.fingerprint == key.fingerprint
    assert store.by_fingerprint(key.fingerprint) is registration
    assert store.certificates_for("HK-NOBODY") == ()


def keydir_now(keydir: KeyDirectory):
    return keydir.entries()[0].accepted_from + timedelta(days=1)


def test_a_certificate_belongs_to_one_party(kit):
    store = TrustStore()
    store.register("HK-TD", kit.key("HK-TD").certificate)
    with pytest.raises(TrustConfigError, match="one party"):
        store.register("HK-CR", kit.key("HK-TD").certificate)


def test_certificate_swapped_on_disk_is_refused(small_keydir):
    keys = small_keydir()
    entries = {e.party: e for e in keys.entries()}
    gateway_cert = (keys.path / entries[GATEWAY_PARTY].certificate).read_bytes()
    (keys.path / entries["HK-TD"].certificate).write_bytes(gateway_cert)
    with pytest.raises(TrustConfigError, match="fingerprint"):
        keys.trust_store()


def test_missing_trust_file_says_how_to_create_it(tmp_path):
    with pytest.raises(TrustConfigError, match="keys init"):
        KeyDirectory(tmp_path / "nowhere").trust_store()


def test_rotation_window_accepts_both_then_only_the_new(kit, small_keydir):
    keys = small_keydir()
    t1 = kit.t0 + timedelta(days=10)
    old = keys.agency_key("HK-TD", now=t1)

    new_entry = keys.rotate("HK-TD", timedelta(days=7), now=t1)
    new = keys.agency_key("HK-TD", now=t1)
    assert new.fingerprint == new_entry.fingerprint != old.fingerprint
    assert type(new.private_key) is type(old.private_key)

    trust = TrustStore.from_dir(keys.path)  # reloaded from disk, as a new process would
    assert [r.fingerprint for r in trust.certificates_for("HK-TD")] == [
        old.fingerprint,
        new.fingerprint,
    ]

    def check(key, sent):
        data = kit.signed(kit.hk_doc("HK-TD", sent_at=sent), key)
        return kit.verify(data, trust=trust, now=sent + timedelta(minutes=1))

    during = t1 + timedelta(days=6)
    assert check(old, during).fingerprint == old.fingerprint
    assert check(new, during).fingerprint == new.fingerprint
    assert len(trust.accepted_for("HK-TD", during)) == 2

    after = t1 + timedelta(days=7, hours=1)
    assert check(new, after).fingerprint == new.fingerprint
    with pytest.raises(CertificateExpired, match="rotation"):
        check(old, after)
    assert [r.fingerprint for r in trust.accepted_for("HK-TD", after)] == [new.fingerprint]


def test_message_signed_in_the_window_but_received_after_it(kit, small_keydir):
    keys = small_keydir()
    t1 = kit.t0 + timedelta(days=10)
    old = keys.agency_key("HK-TD", now=t1)
    keys.rotate("HK-TD", timedelta(days=1), now=t1)
    trust = keys.trust_store()
    data = kit.signed(kit.hk_doc("HK-TD", sent_at=t1 + timedelta(hours=23)), old)
    assert kit.verify(data, trust=trust, now=t1 + timedelta(hours=23, minutes=1))
    with pytest.raises(CertificateExpired, match="verification time"):
        kit.verify(data, trust=trust, now=t1 + timedelta(days=2))


def test_rotation_keeps_the_key_type_and_works_for_the_gateway(kit, small_keydir):
    keys = small_keydir(key_type="ec")
    t1 = kit.t0 + timedelta(days=3)
    before = keys.gateway_key(now=t1)
    keys.rotate(GATEWAY_PARTY, now=t1)
    after = keys.gateway_key(now=t1)
    assert after.fingerprint != before.fingerprint
    assert after.signature_method == before.signature_method
    until = {e.fingerprint: e.accepted_until for e in keys.entries()}
    assert until[before.fingerprint] == t1 + timedelta(days=7)  # the default window


def test_rotation_can_register_a_certificate_an_agency_sent(kit, small_keydir):
    keys = small_keydir()
    t1 = kit.t0 + timedelta(days=3)
    theirs = kit.issue("HK-TD", t1, t1 + timedelta(days=365))
    entry = keys.rotate("HK-TD", timedelta(days=2), now=t1, certificate=theirs.certificate)
    assert entry.key is None
    data = kit.signed(kit.hk_doc("HK-TD", sent_at=t1 + timedelta(days=5)), theirs)
    result = kit.verify(data, trust=keys.trust_store(), now=t1 + timedelta(days=5, minutes=1))
    assert result.fingerprint == theirs.fingerprint
    with pytest.raises(KeyError):  # the gateway never holds an agency's real private key
        keys.agency_key("HK-TD", now=t1 + timedelta(days=5))


def test_rotating_an_unknown_party_fails(small_keydir):
    with pytest.raises(KeyError, match="HK-NOBODY"):
        small_keydir().rotate("HK-NOBODY")


def test_operator_can_shorten_acceptance_by_editing_trust_yaml(kit, small_keydir):
    keys = small_keydir()
    text = keys.trust_file.read_text(encoding="utf-8")
    document = yaml.safe_load(text)
    document["parties"]["HK-TD"][0]["accepted_until"] = "2026-03-02T12:00:00+08:00"
    keys.trust_file.write_text(yaml.safe_dump(document), encoding="utf-8")
    (registration,) = keys.trust_store().certificates_for("HK-TD")
    assert registration.valid_until == kit.t0 + timedelta(hours=4)
