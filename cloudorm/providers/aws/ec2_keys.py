"""EC2 key pairs: importing a cluster's login key (settled by a look when the answer is lost), finding and
deleting it; RunInstances and DeleteKeyPair take a key's name, so names are remembered by id."""

from __future__ import annotations

import threading
import uuid

from botocore import exceptions as bx

from cloudorm import errors as ce
from cloudorm.providers.aws.clients import ClientFactory
from cloudorm.providers.aws.ec2_api import Ec2Api
from cloudorm.providers.aws.errors import map_error
from cloudorm.providers.aws.settle import send_settled
from cloudorm.providers.contract import KeyInfo, Wire

IMPORT_TAG = "cloudorm:import"
"""The tag whose value is a token unique to one ``import_key`` call: the key pair that call imported carries it."""


class Ec2KeyPairs(Ec2Api):
    """The key pair part of ``AwsComputeService``: ``import_key``, ``find_key`` and ``delete_key``."""

    def __init__(self, clients: ClientFactory, provider: str, secrets: tuple[str, ...] = ()) -> None:
        super().__init__(clients, provider, secrets)
        self._key_names: dict[str, str] = {}  # key pair id -> name (RunInstances and DeleteKeyPair take the name)
        self._key_lock = threading.Lock()
        # (settled by a look instead: a re-send would be "duplicate" for what the first send did)
        clients.no_resend("ec2", ("ImportKeyPair",))

    def import_key(self, name: str, public_key: str) -> KeyInfo:
        """ImportKeyPair; an identical key already registered under ``name`` is returned (``created`` False), a
        different one is ``AlreadyExists``. After a lost answer DescribeKeyPairs settles it: the key this call
        imported (it carries this call's ``IMPORT_TAG`` token) is ``created`` True; none is imported again."""
        if not isinstance(public_key, str) or len(public_key.split()) < 2:
            raise ce.InvalidInput("public_key", "must be one OpenSSH public key line ('ssh-ed25519 AAAA… comment')")
        token = uuid.uuid4().hex

        def send() -> KeyInfo:
            raw: Wire = self.client.import_key_pair(
                KeyName=name, PublicKeyMaterial=public_key.encode(),
                TagSpecifications=[{"ResourceType": "key-pair", "Tags": [{"Key": IMPORT_TAG, "Value": token}]}])
            return {"id": raw["KeyPairId"], "name": name, "fingerprint": raw.get("KeyFingerprint"), "created": True}

        def look() -> KeyInfo | None:
            try:
                return self._same_key(name, public_key, token)
            except ce.NotFound:
                return None

        try:
            key = send_settled(send, look, attempts=self.clients.options.max_attempts)
        except bx.ClientError as e:
            if e.response.get("Error", {}).get("Code") != "InvalidKeyPair.Duplicate":
                raise map_error(e, self.provider, "ImportKeyPair", self.secrets) from None
            key = self._same_key(name, public_key, token)
        except bx.BotoCoreError as e:
            raise map_error(e, self.provider, "ImportKeyPair", self.secrets) from None
        with self._key_lock:
            self._key_names[key["id"]] = name
        return key

    def _same_key(self, name: str, public_key: str, token: str) -> KeyInfo:
        """The key registered as ``name`` if it holds ``public_key`` (``created`` True when it carries the import
        ``token``), else ``AlreadyExists``; ``NotFound`` when there is none."""
        found = self._call("DescribeKeyPairs", KeyNames=[name], IncludePublicKey=True).get("KeyPairs") or []
        if not found:
            raise ce.NotFound(f"key pair {name!r} vanished while being imported", provider=self.provider,
                              operation="DescribeKeyPairs")
        key = found[0]
        registered = (key.get("PublicKey") or "").split()[:2]
        if registered != public_key.split()[:2]:
            raise ce.AlreadyExists(f"key pair {name!r} is registered with a different public key (fingerprint "
                                   f"{key.get('KeyFingerprint')}); delete it or use that key",
                                   provider=self.provider, operation="ImportKeyPair",
                                   code="InvalidKeyPair.Duplicate")
        with self._key_lock:
            self._key_names[key["KeyPairId"]] = name
        created = {"Key": IMPORT_TAG, "Value": token} in (key.get("Tags") or [])
        return {"id": key["KeyPairId"], "name": name, "fingerprint": key.get("KeyFingerprint"), "created": created}

    def _key_name(self, key_id: str, remembered: bool = True) -> str:
        """The name of key pair ``key_id`` (remembered from import_key, else looked up: ``NotFound`` if missing)."""
        with self._key_lock:
            name = self._key_names.get(key_id) if remembered else None
        if name is None:
            found = self._call("DescribeKeyPairs", Filters=[{"Name": "key-pair-id", "Values": [key_id]}])
            pairs = found.get("KeyPairs") or []
            if not pairs:
                raise ce.NotFound(f"key pair {key_id!r} does not exist in {self.region}", provider=self.provider,
                                  operation="DescribeKeyPairs", code="InvalidKeyPair.NotFound")
            name = str(pairs[0]["KeyName"])
            with self._key_lock:
                self._key_names[key_id] = name
        return name

    def find_key(self, name: str) -> KeyInfo | None:
        """The key pair named ``name`` (DescribeKeyPairs), or None."""
        if not isinstance(name, str) or not name.strip():
            raise ce.InvalidInput("name", f"{name!r} is not a key pair name")
        try:
            found = self._call("DescribeKeyPairs", KeyNames=[name]).get("KeyPairs") or []
        except ce.NotFound:
            return None
        if not found:
            return None
        key = found[0]
        with self._key_lock:
            self._key_names[key["KeyPairId"]] = name
        return {"id": key["KeyPairId"], "name": name, "fingerprint": key.get("KeyFingerprint"), "created": False}

    def delete_key(self, key_id: str) -> None:
        """DeleteKeyPair by name, looked up by id first (EC2 answers success for a missing name; some emulators
        ignore ``KeyPairId``): a missing key is ``NotFound``."""
        name = self._key_name(key_id, remembered=False)
        self._call("DeleteKeyPair", KeyName=name)
        with self._key_lock:
            self._key_names.pop(key_id, None)
