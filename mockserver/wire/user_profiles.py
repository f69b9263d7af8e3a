"""User profiles as the API keeps them: the checks a create or an update passes, the one stored
record of a profile and the shape it is answered in (which depends on the ``anthropic-beta``
header: the GA shape, the legacy ``user-profiles-2026-03-24`` and ``user-profiles-2026-08-18``
shapes, or the newer beta shape), the links the API hands out (action URLs, enrollment URLs),
and a profile's Google-managed data controls.

The links are the mock's own: deterministic URLs under the server's public base, which nothing
serves; they expire :data:`LINK_TTL_S` after they are made. The data controls keep what the
caller sets; every region a key or bucket is set for reads ``pending`` (the mock never checks a
key or a bucket, so no region applies one, and none is ever retired).

Pure: no aiohttp. Hand-written: a few dictionaries checked field by field, as the API names the
field in its 400s.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mockserver.wire.errors import invalid
from mockserver.wire.resources import Obj, timestamp

KIND = "user_profile"
NOUN = "User profile"
CONTROLS = "google_managed_data_controls"
LEGACY_BETAS = ("user-profiles-2026-03-24", "user-profiles-2026-08-18")
BETA_PREFIX = "user-profiles-"
DATA_CONTROLS_BETA = "google-managed-data-controls-2026-09-01"
LINK_TTL_S = 24 * 3600
MAX_TEXT = 255
MAX_METADATA = 16
REGIONS = ("us", "eu", "sg", "global")
_ACCESS = ("application", "passthrough")
_DETAILS: dict[str, tuple[str, ...] | None] = {  # field -> allowed values (None: any string)
    "account_status": ("active", "suspended", "blocked"),
    "country": None,
    "email_hash": None,
    "entity_type": ("individual", "business", "non_profit", "government"),
    "name_hash": None,
    "onboarded_at": None,
    "reference_id": None,
}


def object_body(raw: bytes, parse: Any) -> dict[str, Any]:
    """The JSON object a body holds (``{}`` for none); the 400 for anything else."""
    if not raw.strip():
        return {}
    body = parse(raw)
    if not isinstance(body, dict):
        raise invalid("body: Input should be a valid dictionary")
    return body


def header_version(betas: str) -> str | None:
    """The ``user-profiles-*`` beta the request names (the last one), or None (the GA API)."""
    named = [b.strip() for b in betas.split(",") if b.strip().startswith(BETA_PREFIX)]
    return named[-1] if named else None


def _text(body: Mapping[str, Any], name: str, *, nullable: bool = True, most: int = MAX_TEXT) -> Any:
    value = body[name]
    if value is None and nullable:
        return None
    if not isinstance(value, str):
        raise invalid(f"{name}: Input should be a valid string")
    if len(value) > most:
        raise invalid(f"{name}: String should have at most {most} characters")
    return value


def _instant(name: str, value: Any, now: float) -> str:
    """An RFC 3339 timestamp no more than a minute ahead, normalised to the API's form."""
    if not isinstance(value, str):
        raise invalid(f"{name}: Input should be a valid datetime")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise invalid(f"{name}: Input should be a valid RFC 3339 datetime") from None
    if moment.tzinfo is None:
        raise invalid(f"{name}: the timestamp must name its time zone")
    if moment.timestamp() > now + 60:
        raise invalid(f"{name}: must be no more than 1 minute in the future")
    return timestamp(moment.timestamp())


def _metadata(raw: Any, *, updating: bool) -> dict[str, str]:
    if not isinstance(raw, dict):
        raise invalid("metadata: Input should be a valid dictionary")
    for key, value in raw.items():
        if len(key) > 64:
            raise invalid("metadata: keys can have at most 64 characters")
        if not isinstance(value, str):
            raise invalid(f"metadata.{key}: Input should be a valid string")
        if len(value) > 512:
            raise invalid("metadata: values can have at most 512 characters")
        if not value and not updating:
            raise invalid("metadata: values must be non-empty strings")
    return dict(raw)


def _details(raw: Any, now: float) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid("external_user_details: Input should be a valid dictionary")
    found: dict[str, Any] = {}
    for name, value in raw.items():
        if name not in _DETAILS:
            raise invalid(f"external_user_details.{name}: Extra inputs are not permitted")
        if value is None:
            raise invalid(f"external_user_details.{name}: once set, a value cannot be cleared")
        allowed = _DETAILS[name]
        if name == "onboarded_at":
            value = _instant(f"external_user_details.{name}", value, now)
        elif not isinstance(value, str) or (allowed is not None and value not in allowed):
            choices = " or ".join(repr(a) for a in allowed) if allowed else "a valid string"
            raise invalid(f"external_user_details.{name}: Input should be {choices}")
        found[name] = value
    return found


def check_fields(body: Mapping[str, Any], version: str | None, now: float, *, updating: bool) -> Obj:
    """The changes a create or an update body asks for (keys of the stored record), or the 400."""
    legacy = version in LEGACY_BETAS
    changes: Obj = {}
    if "access_type" in body:
        if body["access_type"] not in _ACCESS and not (updating and body["access_type"] is None):
            raise invalid("access_type: Input should be 'application' or 'passthrough'")
        if body["access_type"] is not None:
            changes["access_type"] = body["access_type"]
    if "name" in body:
        changes["name"] = _text(body, "name")
    if "metadata" in body:
        changes["metadata"] = _metadata(body["metadata"], updating=updating)
    details: dict[str, Any] = {}
    if "external_id" in body:
        if not legacy:
            raise invalid("external_id: send external_user_details.reference_id instead")
        details["reference_id"] = _text(body, "external_id")
    if "external_user_onboarded_at" in body:
        if version != LEGACY_BETAS[1]:
            raise invalid("external_user_onboarded_at: send external_user_details.onboarded_at instead")
        details["onboarded_at"] = _instant(
            "external_user_onboarded_at", body["external_user_onboarded_at"], now
        )
    if "external_user_details" in body:
        if legacy:
            raise invalid(f"external_user_details: not accepted under the {version} beta header")
        details.update(_details(body["external_user_details"], now))
    if details:
        changes["external_user_details"] = details
    return changes


def new_profile(ident: str, changes: Obj, now: float) -> Obj:
    """The stored record of a new profile (every detail present, ``null`` until supplied)."""
    stamp = timestamp(now)
    record: Obj = {
        "id": ident,
        "created_at": stamp,
        "updated_at": stamp,
        "access_type": "application",
        "name": None,
        "metadata": {},
        "external_user_details": dict.fromkeys(_DETAILS),
    }
    apply_changes(record, changes, None)
    return record


def apply_changes(record: Obj, changes: Obj, now: float | None) -> Obj:
    """Merge an update into the stored record: metadata merges (an empty value removes the
    key), details merge field by field, the rest replaces."""
    for name, value in changes.items():
        if name == "metadata":
            merged = {**record["metadata"], **value}
            record["metadata"] = {k: v for k, v in merged.items() if v}
            if len(record["metadata"]) > MAX_METADATA:
                raise invalid(f"metadata: at most {MAX_METADATA} keys")
        elif name == "external_user_details":
            record["external_user_details"] = {**record["external_user_details"], **value}
        else:
            record[name] = value
    if now is not None:
        record["updated_at"] = timestamp(now)
    return record


def render(record: Obj, version: str | None) -> Obj:
    """The profile as the API answers it under the beta header ``version`` (None: GA)."""
    details = record["external_user_details"]
    common: Obj = {
        "id": record["id"],
        "type": "user_profile",
        "created_at": record["created_at"],
        "updated_at": record["updated_at"],
        "metadata": dict(record["metadata"]),
        "name": record["name"],
    }
    if version is None:
        return {
            **common,
            "access_type": record["access_type"],
            "enforcement_actions": [],
            "enforcement_status": "unrestricted",
            "external_user_details": dict(details),
            "programs": {"cyber": None, "efs": None},
        }
    common["trust_grants"] = {}
    if version == LEGACY_BETAS[0]:
        return {**common, "external_id": details["reference_id"]}
    if version == LEGACY_BETAS[1]:
        return {
            **common,
            "access_type": record["access_type"],
            "external_id": details["reference_id"],
            "external_user_onboarded_at": details["onboarded_at"],
        }
    return {**common, "access_type": record["access_type"], "external_user_details": dict(details)}


def _name_key(record: Obj) -> str:
    name = record["name"]
    return name.translate(_ASCII_LOWER) if isinstance(name, str) else ""


_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def listing(records: list[Obj], query: Mapping[str, str]) -> list[Obj]:
    """The records in the order ``order`` / ``order_by`` ask for (``records`` oldest first);
    profiles without a name come last in either direction."""
    order = query.get("order", "desc")
    order_by = query.get("order_by", "created_at")
    if order not in ("asc", "desc"):
        raise invalid("order: Input should be 'asc' or 'desc'")
    if order_by not in ("created_at", "name"):
        raise invalid("order_by: Input should be 'created_at' or 'name'")
    ordered = records if order == "asc" else list(reversed(records))
    if order_by == "name":
        named = sorted((r for r in ordered if r["name"] is not None), key=_name_key, reverse=order == "desc")
        ordered = named + [r for r in ordered if r["name"] is None]
    return ordered


def check_limit(query: Mapping[str, str], most: int = 100) -> None:
    """The 400 for a ``limit`` past ``most`` (the paging module checks the rest)."""
    raw = query.get("limit", "")
    if raw.isdigit() and int(raw) > most:
        raise invalid(f"limit: Input should be less than or equal to {most}")


def link(kind: str, url: str, now: float) -> Obj:
    """An action URL (``user_profile_action_url``) or an enrollment URL (``enrollment_url``)."""
    return {"type": kind, "url": url, "expires_at": timestamp(now + LINK_TTL_S)}


def link_path(profile_id: str, action: str) -> str:
    """The path (under the server's base) of the mock's link for ``action`` on a profile."""
    return f"/busysignal/user_profiles/{profile_id}/{action}"


def check_action(body: Mapping[str, Any]) -> str:
    """The action an action-URL body asks for, or the 400."""
    if "action" not in body:
        raise invalid("action: Field required")
    action = body["action"]
    if not isinstance(action, dict) or "type" not in action:
        raise invalid("action.type: Field required")
    if action["type"] != "enroll_end_user":
        raise invalid("action.type: Input should be 'enroll_end_user'")
    return "enroll_end_user"


def new_controls(profile_id: str, created_at: str) -> Obj:
    """A profile's data controls before any update: both controls off."""
    label = "uprof-" + hashlib.sha256(profile_id.encode()).hexdigest()[:24]
    return {
        "id": profile_id,
        "type": "google_managed_data_controls",
        "user_profile_id": profile_id,
        "bucket_label_value": label,
        "updated_at": created_at,
        "cmek": {"type": "disabled", "retired_keys": []},
        "storage": {"type": "disabled", "retired_buckets": []},
    }


def render_controls(controls: Obj) -> Obj:
    return {k: v for k, v in controls.items() if k != "id"}


def _regions(raw: Any, name: str) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise invalid(f"{name}: Input should be a valid dictionary")
    for region in raw:
        if region not in REGIONS:
            raise invalid(f"{name}.{region}: unknown region; one of {', '.join(REGIONS)}")
    return raw


def _control_type(raw: Any, name: str) -> str:
    if not isinstance(raw, dict):
        raise invalid(f"{name}: Input should be a valid dictionary")
    kind = raw.get("type")
    if kind not in ("enabled", "disabled"):
        raise invalid(f"{name}.type: Input should be 'enabled' or 'disabled'")
    return str(kind)


def _cmek(current: Obj, raw: Any) -> Obj:
    if _control_type(raw, "cmek") == "disabled":
        return {"type": "disabled", "retired_keys": []}
    keys: dict[str, str] = dict(current.get("external_key_ids", {}))
    for region, key in _regions(raw.get("external_key_ids") or {}, "cmek.external_key_ids").items():
        if key is None:
            keys.pop(region, None)
        elif not isinstance(key, str) or not key.startswith("ekey_"):
            raise invalid(f"cmek.external_key_ids.{region}: Input should be an External Key ID (ekey_...)")
        else:
            keys[region] = key
    if not keys:
        raise invalid(
            "cmek.external_key_ids: while the control is enabled, at least one region must have a key"
        )
    status = {r: {"type": "pending", "effective_external_key_id": None, "error": None} for r in keys}
    return {"type": "enabled", "external_key_ids": keys, "status": status, "retired_keys": []}


def _bucket(raw: Any, name: str) -> Obj:
    if not isinstance(raw, dict):
        raise invalid(f"{name}: Input should be a valid dictionary")
    for field in ("bucket_name", "project_number"):
        if field not in raw:
            raise invalid(f"{name}.{field}: Field required")
        if not isinstance(raw[field], str) or not raw[field]:
            raise invalid(f"{name}.{field}: Input should be a non-empty string")
    if not raw["project_number"].isdigit():
        raise invalid(f"{name}.project_number: the project number is written in decimal")
    return {
        "bucket_name": raw["bucket_name"],
        "project_number": raw["project_number"],
        "kms_key_name": None,
        "location": None,
        "project_id": None,
    }


def _storage(current: Obj, raw: Any) -> Obj:
    if _control_type(raw, "storage") == "disabled":
        return {"type": "disabled", "retired_buckets": []}
    buckets: dict[str, Obj] = dict(current.get("buckets", {}))
    for region, ref in _regions(raw.get("buckets") or {}, "storage.buckets").items():
        if ref is None:
            buckets.pop(region, None)
        else:
            buckets[region] = _bucket(ref, f"storage.buckets.{region}")
    named = [(b["project_number"], b["bucket_name"]) for b in buckets.values()]
    if len(set(named)) != len(named):
        raise invalid("storage.buckets: a bucket can serve only one region")
    if not buckets:
        raise invalid("storage.buckets: while the control is enabled, at least one region must have a bucket")
    status: dict[str, Obj] = {
        r: {"type": "pending", "effective_bucket": None, "failed_checks": []} for r in buckets
    }
    return {"type": "enabled", "buckets": buckets, "status": status, "retired_buckets": []}


def update_controls(controls: Obj, body: Mapping[str, Any], now: float) -> Obj:
    """Apply a data-controls update (``cmek``, ``storage`` or both) to the stored controls."""
    if "cmek" not in body and "storage" not in body:
        raise invalid("body: send cmek, storage, or both")
    changed = dict(controls)
    if "cmek" in body:
        changed["cmek"] = _cmek(controls["cmek"], body["cmek"])
    if "storage" in body:
        changed["storage"] = _storage(controls["storage"], body["storage"])
    if changed != controls:
        changed["updated_at"] = timestamp(now)
    controls.update(changed)
    return controls
