"""The REST routes of ``FakeDigitalOcean``: what each v2 API request does to the fake account's droplets, keys,
tags and firewalls, answered in DigitalOcean's JSON shapes."""

from __future__ import annotations

import json
import threading
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlencode

from cloudorm.providers.contract import Wire
from cloudorm.testing.digitalocean_firewalls import FirewallRoutes
from cloudorm.testing.digitalocean_model import (
    IMAGES,
    MAX_NAMES,
    REGION_NAMES,
    REGIONS,
    FakeDroplet,
    _ApiError,
    _check_tag,
    _made_of,
    _not_found,
    _now,
    _unprocessable,
)

if TYPE_CHECKING:
    from cloudorm.testing.digitalocean import FakeDigitalOcean


class DigitalOceanRoutes:
    """Answers the API requests of one ``FakeDigitalOcean`` (which holds the state and the lock)."""

    def __init__(self, fake: FakeDigitalOcean) -> None:
        self.fake = fake
        self._firewalls = FirewallRoutes(fake)

    def handle(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Wire | None]:
        """Answer one authenticated API request: (status, JSON body)."""
        parts = [unquote(p) for p in path.strip("/").split("/")]
        if parts[:1] != ["v2"] or len(parts) < 2:
            raise _not_found()
        resource, rest = parts[1], parts[2:]
        with self.fake._lock:
            if resource == "sizes" and not rest and method == "GET":
                return 200, self._page("sizes", self.fake.sizes, query, path)
            if resource == "images" and len(rest) == 1 and method == "GET":
                return 200, {"image": self._image(rest[0])}
            if resource == "images" and not rest and method == "GET":
                return 200, self._page("images", self._images(query), query, path)
            if resource == "regions" and not rest and method == "GET":
                return 200, self._page("regions", [self._region(r) for r in REGIONS], query, path)
            if resource == "account" and rest[:1] == ["keys"]:
                return self._keys_api(method, rest[1:], query, body, path)
            if resource == "account" and not rest and method == "GET":
                return 200, {"account": {"droplet_limit": self.fake.droplet_limit, "floating_ip_limit": 3,
                                         "email": "fake@example.com", "email_verified": True, "uuid": str(uuid.uuid5(
                                             uuid.NAMESPACE_DNS, "fake.digitalocean")), "status": "active",
                                         "status_message": "", "team": {"name": "fake", "uuid": str(uuid.uuid5(
                                             uuid.NAMESPACE_DNS, "team.fake.digitalocean"))}}}
            if resource == "droplets":
                return self._droplets_api(method, rest, query, body, path)
            if resource == "actions" and len(rest) == 1 and method == "GET":
                action = self.fake._actions.get(int(rest[0])) if rest[0].isdigit() else None
                if action is None:
                    raise _not_found()
                return 200, {"action": dict(action)}
            if resource == "tags":
                return self._tags_api(method, rest, query, body, path)
            if resource == "firewalls":
                return self._firewalls.handle(method, rest, query, body, path, self._page)
        raise _not_found()

    def _page(self, key: str, items: list[Wire], query: dict[str, str], path: str) -> Wire:
        try:
            per_page = max(1, min(int(query.get("per_page", 20)), 200, self.fake.max_per_page))
            page = max(1, int(query.get("page", 1)))
        except ValueError:
            raise _ApiError(400, "bad_request", "page and per_page must be integers") from None
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page:page * per_page]
        extra = {k: v for k, v in query.items() if k not in ("page", "per_page")}

        def link(n: int) -> str:
            return f"{self.fake.url}{path}?{urlencode({**extra, 'page': n, 'per_page': per_page})}"

        pages: Wire = {}
        if page > 1:
            pages.update(first=link(1), prev=link(page - 1))
        if page < last:
            pages.update(next=link(page + 1), last=link(last))
        return {key: [json.loads(json.dumps(i)) for i in chunk], "links": {"pages": pages},
                "meta": {"total": len(items)}}

    def _region(self, slug: str) -> Wire:
        return {"slug": slug, "name": REGION_NAMES.get(slug, slug), "available": True,
                "features": ["backups", "ipv6", "metadata", "install_agent", "storage", "image_transfer"],
                "sizes": [s["slug"] for s in self.fake.sizes if slug in (s.get("regions") or [])]}

    def _images(self, query: dict[str, str]) -> list[Wire]:
        """The images a list request asks for: ``type=distribution`` (or ``application``), ``private=true``."""
        kind, private = query.get("type"), query.get("private") == "true"
        return [dict(i) for i in IMAGES.values()
                if not private and (kind is None or (kind == "distribution" and i["type"] == "base"))]

    def _image(self, ref: Any) -> Wire:
        for image in IMAGES.values():
            if ref in (image["slug"], image["id"], str(image["id"])):
                return dict(image)
        raise _not_found()

    # ---- keys

    def _find_key(self, ref: str) -> Wire:
        for key in self.fake._keys.values():
            if ref in (str(key["id"]), key["fingerprint"]):
                return key
        raise _not_found()

    def _keys_api(self, method: str, rest: list[str], query: dict[str, str], body: Any,
                  path: str) -> tuple[int, Wire | None]:
        if not rest and method == "GET":
            return 200, self._page("ssh_keys", list(self.fake._keys.values()), query, path)
        if not rest and method == "POST":
            from cloudorm.compute.keys import md5_fingerprint, public_key_blob

            name, public = (body or {}).get("name"), (body or {}).get("public_key")
            if not name or not isinstance(public, str):
                raise _unprocessable("name and public_key are required")
            try:
                fingerprint = md5_fingerprint(public_key_blob(public)[1])
            except Exception:
                raise _unprocessable("Key invalid type, we support 'ssh-rsa', 'ssh-ed25519', 'ecdsa-sha2-nistp256', "
                                     "'ecdsa-sha2-nistp384', or 'ecdsa-sha2-nistp521'") from None
            if any(k["fingerprint"] == fingerprint for k in self.fake._keys.values()):
                raise _unprocessable("SSH Key is already in use on your account")
            key = {"id": self.fake._new_id("key"), "fingerprint": fingerprint, "public_key": public.strip(),
                   "name": name}
            self.fake._keys[key["id"]] = key
            return 201, {"ssh_key": dict(key)}
        if len(rest) == 1 and method == "GET":
            return 200, {"ssh_key": dict(self._find_key(rest[0]))}
        if len(rest) == 1 and method == "DELETE":
            del self.fake._keys[self._find_key(rest[0])["id"]]
            return 204, None
        raise _not_found()

    # ---- droplets

    def _droplets_api(self, method: str, rest: list[str], query: dict[str, str], body: Any,
                      path: str) -> tuple[int, Wire | None]:
        if not rest and method == "GET":
            tag, name = query.get("tag_name"), query.get("name")
            if tag is not None and name is not None:
                raise _ApiError(400, "bad_request", "tag_name and name cannot be combined")
            found = [d.data for d in sorted(self.fake._droplets.values(), key=lambda d: d.id)
                     if (tag is None or tag in d.data["tags"]) and (name is None or d.data["name"] == name)]
            return 200, self._page("droplets", found, query, path)
        if not rest and method == "POST":
            return self._create_droplets(body or {})
        if not rest and method == "DELETE":
            tag = query.get("tag_name")
            if not tag:
                raise _ApiError(400, "bad_request", "tag_name is required")
            for tagged in [d for d in self.fake._droplets.values() if tag in d.data["tags"]]:
                self._delete_droplet(tagged)
            return 204, None
        target = self.fake._droplets.get(int(rest[0])) if rest[0].isdigit() else None
        if target is None:
            raise _not_found()
        droplet = target
        if len(rest) == 1 and method == "GET":
            return 200, {"droplet": json.loads(json.dumps(droplet.data))}
        if len(rest) == 1 and method == "DELETE":
            self._delete_droplet(droplet)
            return 204, None
        if rest[1:] == ["actions"] and method == "POST":
            return 201, {"action": self._droplet_action(droplet, (body or {}).get("type"))}
        if rest[1:] == ["actions"] and method == "GET":
            mine = sorted((a for a in self.fake._actions.values() if a["resource_id"] == droplet.id),
                          key=lambda a: -int(a["id"]))  # newest first
            return 200, self._page("actions", mine, query, path)
        if len(rest) == 3 and rest[1] == "actions" and method == "GET":
            one = self.fake._actions.get(int(rest[2])) if rest[2].isdigit() else None
            if one is None or one["resource_id"] != droplet.id:
                raise _not_found()
            return 200, {"action": dict(one)}
        raise _not_found()

    def _droplet_action(self, droplet: FakeDroplet, kind: Any) -> Wire:
        """Start a droplet action: a reboot takes the droplet off and on again, a power-off (or shutdown) stops its
        sshd, a power-on starts it; one that finds the droplet as it asks already completes at once."""
        if kind not in ("reboot", "power_cycle", "power_off", "shutdown", "power_on"):
            raise _unprocessable(f"action type {kind!r} is not supported by this fake")
        if droplet.data["locked"]:  # booting or in another action: what DigitalOcean answers
            raise _unprocessable("Droplet already has a pending event.")
        action = self.fake._action(kind, droplet.data)
        if kind in ("reboot", "power_cycle"):
            droplet.data.update(status="off", locked=True)
            self.fake._later(self.fake.reboot_delay, self.fake._reboot, droplet.id, action)
        elif (droplet.data["status"] == "active") == (kind == "power_on"):  # on already, or off already
            self.fake._finish(action)
        else:
            droplet.data.update(locked=True)
            self.fake._later(self.fake.reboot_delay, self.fake._switch, droplet.id, action, kind == "power_on")
        return dict(action)

    def _delete_droplet(self, droplet: FakeDroplet) -> None:
        self.fake._droplets.pop(droplet.id, None)
        thread = threading.Thread(target=self.fake._halt, args=(droplet,), daemon=True)
        self.fake._halts = [t for t in self.fake._halts if t.is_alive()]
        self.fake._halts.append(thread)  # stop() waits for it
        thread.start()

    def _create_droplets(self, body: Wire) -> tuple[int, Wire]:
        self.fake._creates.append(json.loads(json.dumps(body)))
        single = "name" in body
        names = [body["name"]] if single else body.get("names")
        if not isinstance(names, list) or not names or ("name" in body and "names" in body):
            raise _unprocessable("give either name or names")
        if len(names) > MAX_NAMES:
            raise _unprocessable(f"You can only create up to {MAX_NAMES} Droplets at once.")
        if len(self.fake._droplets) + len(names) > self.fake.droplet_limit:
            raise _unprocessable("creating this/these droplet(s) will exceed your droplet limit")
        for name in names:
            if not _made_of(name, ".-") or name[0] in ".-" or name[-1] in ".-":
                raise _unprocessable("Only valid hostname characters are allowed. (a-z, A-Z, 0-9, . and -)")
        region = body.get("region")
        if region not in REGIONS:
            raise _unprocessable("You specified an invalid region for Droplet creation.")
        size = next((s for s in self.fake.sizes if s["slug"] == body.get("size")), None)
        if size is None:
            raise _unprocessable("You specified an invalid size for Droplet creation.")
        try:
            image = self._image(body.get("image"))
        except _ApiError:
            raise _unprocessable("You specified an invalid image for Droplet creation.") from None
        authorized = []
        for ref in body.get("ssh_keys") or []:
            try:
                authorized.append(self._find_key(str(ref))["public_key"])
            except _ApiError:
                raise _unprocessable(f"ssh_keys: key {ref!r} was not found on this account") from None
        user_data = body.get("user_data")
        if user_data is not None and (not isinstance(user_data, str) or len(user_data.encode()) > 64 * 1024):
            raise _unprocessable("user_data must be a string of at most 64 KiB")
        tags = [_check_tag(tag) for tag in body.get("tags") or []]
        for tag in tags:
            self.fake._tags.setdefault(tag, {"name": tag})
        features = [f for f, on in (("monitoring", body.get("monitoring")), ("ipv6", body.get("ipv6")),
                                    ("backups", body.get("backups"))) if on]
        created, actions = [], []
        for name in names:
            droplet_id = self.fake._new_id("droplet")
            data: Wire = {
                "id": droplet_id, "name": name, "memory": size["memory"], "vcpus": size["vcpus"],
                "disk": size["disk"], "locked": True, "status": "new", "kernel": None, "created_at": _now(),
                "features": features, "backup_ids": [], "next_backup_window": None, "snapshot_ids": [],
                "image": image, "volume_ids": [], "size": dict(size), "size_slug": size["slug"],
                "networks": {"v4": [], "v6": []},
                "region": {"name": region, "slug": region, "features": ["metadata", "install_agent"],
                           "available": True, "sizes": [s["slug"] for s in self.fake.sizes]},
                "tags": tags, "vpc_uuid": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"vpc.{region}")),
            }
            droplet = FakeDroplet(data=data, user_data=user_data, authorized_keys=list(authorized))
            self.fake._droplets[droplet_id] = droplet
            action = self.fake._action("create", data)
            actions.append({"id": action["id"], "rel": "create",
                            "href": f"{self.fake.url}/v2/actions/{action['id']}"})
            created.append(json.loads(json.dumps(data)))
            self.fake._later(self.fake.boot_delay, self.fake._boot, droplet_id, action)
        if single:
            return 202, {"droplet": created[0], "links": {"actions": actions}}
        return 202, {"droplets": created, "links": {"actions": actions}}

    # ---- tags

    def _tag_json(self, name: str) -> Wire:
        count = sum(1 for d in self.fake._droplets.values() if name in d.data["tags"])
        last = next((f"/v2/droplets/{d.id}" for d in self.fake._droplets.values() if name in d.data["tags"]), None)
        return {"name": name, "resources": {"count": count, "last_tagged_uri": last,
                                            "droplets": {"count": count, "last_tagged_uri": last},
                                            "images": {"count": 0}, "volumes": {"count": 0},
                                            "volume_snapshots": {"count": 0}, "databases": {"count": 0}}}

    def _tags_api(self, method: str, rest: list[str], query: dict[str, str], body: Any,
                  path: str) -> tuple[int, Wire | None]:
        if not rest and method == "GET":
            return 200, self._page("tags", [self._tag_json(n) for n in sorted(self.fake._tags)], query, path)
        if not rest and method == "POST":
            name = _check_tag((body or {}).get("name"))
            self.fake._tags.setdefault(name, {"name": name})
            return 201, {"tag": self._tag_json(name)}
        if len(rest) == 1 and rest[0] in self.fake._tags:
            if method == "GET":
                return 200, {"tag": self._tag_json(rest[0])}
            if method == "DELETE":
                del self.fake._tags[rest[0]]
                for droplet in self.fake._droplets.values():
                    if rest[0] in droplet.data["tags"]:
                        droplet.data["tags"] = [t for t in droplet.data["tags"] if t != rest[0]]
                return 204, None
        raise _not_found()
