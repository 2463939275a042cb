"""Test-grade C2PA signing: a throw-away CA + signer chain and a one-call signer.

Used by the example generator (``sleuth examples``) and the tests; never by the analyzers.
Nothing here is a production signer: the chain is generated in memory at run time (no
private key is ever committed) and is trusted by nobody unless its root PEM is passed as
``--trust-list``.

What c2pa-rs 0.91 (c2pa-python 0.38.1) demands of a signing certificate, found by trial:
ES256 on P-256, not self-signed (issued by a CA), ``digitalSignature`` key usage, an
extended key usage among emailProtection / documentSigning, and an authority key id;
the CA needs ``keyCertSign`` and basic constraints ``ca=True``. Signing one 512x384 JPEG
takes about 10 ms.
"""
from __future__ import annotations

import datetime as _dt
import io
import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TestChain:
    """PEM strings of a freshly generated chain (signer first, then the CA)."""

    signer_cert_pem: str
    signer_key_pem: str
    ca_cert_pem: str

    @property
    def chain_pem(self) -> str:
        return self.signer_cert_pem + self.ca_cert_pem


def make_test_chain(common_name: str = "sleuth test signer", org: str = "sleuth tests") -> TestChain:
    """Generate an ES256 CA and an end-entity signing certificate valid for a year."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = _dt.datetime.now(_dt.UTC) - _dt.timedelta(days=1)
    later = now + _dt.timedelta(days=366)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"{org} root CA"),
                         x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(later + _dt.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(ca_name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(later)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    return TestChain(
        signer_cert_pem=cert.public_bytes(pem).decode(),
        signer_key_pem=key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        ca_cert_pem=ca_cert.public_bytes(pem).decode(),
    )


_MIME = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp", "TIFF": "image/tiff"}

IPTC_DST = "http://cv.iptc.org/newscodes/digitalsourcetype/"


def sign_image(data: bytes, fmt: str, chain: TestChain, *, actions: list[dict[str, Any]] | None = None,
               title: str = "image", generator: str = "sleuth-examples/0.1",
               ingredients: list[tuple[bytes, str, str]] | None = None, remote_url: str | None = None) -> bytes:
    """Embed a signed C2PA manifest in ``data`` and return the new file bytes.

    ``actions`` are c2pa.actions entries (e.g. ``{"action": "c2pa.created",
    "digitalSourceType": IPTC_DST + "trainedAlgorithmicMedia"}``); ``ingredients`` are
    (bytes, format, relationship) triples, e.g. the parent of an edit. With ``remote_url`` the
    manifest is not embedded: the file only references that URL (what "cloud" credentials do).
    """
    import c2pa

    mime = _MIME[fmt.upper()]
    manifest = {
        "claim_generator_info": [{"name": generator.split("/")[0], "version": (generator.split("/") + ["0"])[1]}],
        "title": title,
        "format": mime,
        "assertions": [{"label": "c2pa.actions", "data": {"actions": actions or [
            {"action": "c2pa.created", "digitalSourceType": IPTC_DST + "digitalCreation"}]}}],
    }
    ctx = c2pa.Context.from_dict({"builder": {"thumbnail": {"enabled": False}},
                                  "verify": {"verify_after_sign": False, "remote_manifest_fetch": False}})
    info = c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain.chain_pem.encode(),
                               private_key=chain.signer_key_pem.encode(), ta_url=None)
    signer = c2pa.Signer.from_info(info)
    with c2pa.Builder(json.dumps(manifest), context=ctx) as builder:
        for i, (ing_bytes, ing_fmt, rel) in enumerate(ingredients or []):
            # actions refer to an ingredient by this label: {"parameters": {"ingredientIds": ["ingredient-0"]}}
            ing_json = {"title": f"{rel}.{ing_fmt.lower()}", "relationship": rel, "label": f"ingredient-{i}"}
            builder.add_ingredient(json.dumps(ing_json), _MIME[ing_fmt.upper()], io.BytesIO(ing_bytes))
        if remote_url:
            builder.set_no_embed()
            builder.set_remote_url(remote_url)
        out = io.BytesIO()
        builder.sign(signer, mime, io.BytesIO(data), out)
    signer.close()
    return out.getvalue()
