"""Container claims and the public key, against a real hoodyd.

Signatures are verified by implementations that are not ours: the openssl
command line and node's crypto — both by running the verifier examples of
docs/CLAIMS.md verbatim, so the documentation is tested too."""
import base64
import json
import os
import re
import subprocess
import tempfile
import time

from hoody_test import BIN, Daemon, check, main

DOC = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "CLAIMS.md")
HEX24 = re.compile(r"^[0-9a-f]{24}$")
SIG_HEADER = re.compile(
    r"^t=(\d+),kid=([A-Za-z0-9_-]+),m=([A-Z]+),s=(\d{3}),path=([^,]+),sig=([0-9a-f]{128})$")

# A response verified by node's crypto from the public-key document alone:
# argv[2] the header, argv[3] the file holding the exact body, stdin the
# GET /meta/public-key answer. Prints "ok" or exits 1.
NODE_VERIFY_RESPONSE = r"""
const crypto = require('crypto'), fs = require('fs');
const doc = JSON.parse(fs.readFileSync(0, 'utf8')).data;
const f = Object.fromEntries(process.argv[2].split(',').map(kv => kv.split(/=(.*)/s).slice(0, 2)));
const key = doc.keys.find(k => k.kid === f.kid);
if (!key) process.exit(1);
const der = Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'),
                           Buffer.from(key.public_key_hex, 'hex')]);
const pub = crypto.createPublicKey({key: der, format: 'der', type: 'spki'});
const data = Buffer.concat([Buffer.from(`${f.t}\n${f.m}\n${f.s}\n${f.path}\n`),
                            fs.readFileSync(process.argv[3])]);
if (!crypto.verify(null, data, pub, Buffer.from(f.sig, 'hex'))) process.exit(1);
console.log('ok');
"""


def node_verify_response(header, body, public_doc_raw):
    with tempfile.TemporaryDirectory() as tmp:
        js, bf = os.path.join(tmp, "v.js"), os.path.join(tmp, "body")
        with open(js, "w") as f:
            f.write(NODE_VERIFY_RESPONSE)
        with open(bf, "wb") as f:
            f.write(body)
        r = subprocess.run(["node", js, header, bf], input=public_doc_raw, capture_output=True,
                           text=True)
        return r.returncode == 0 and r.stdout.strip() == "ok"


def doc_block(lang):
    """The first fenced block of docs/CLAIMS.md in this language."""
    with open(DOC) as f:
        m = re.search(r"^```" + lang + r"\n(.*?)^```$", f.read(), re.S | re.M)
    check(m, f"no ```{lang} block in {DOC}")
    return m.group(1)


def b64url_decode(s):
    check("=" not in s and "+" not in s and "/" not in s, f"not unpadded base64url: {s}")
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def openssl_verify(pk_b64, data, sig):
    """The shell example of the doc, generalised to any signed bytes."""
    with tempfile.TemporaryDirectory() as tmp:
        pem = os.path.join(tmp, "pub.pem")
        with open(pem, "w") as f:
            f.write(f"-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA{pk_b64}\n-----END PUBLIC KEY-----\n")
        with open(os.path.join(tmp, "data"), "wb") as f:
            f.write(data)
        with open(os.path.join(tmp, "sig"), "wb") as f:
            f.write(sig)
        r = subprocess.run(["openssl", "pkeyutl", "-verify", "-rawin", "-pubin", "-inkey", pem,
                            "-in", "data", "-sigfile", "sig"], cwd=tmp, capture_output=True, text=True)
        return r.returncode == 0 and "Signature Verified Successfully" in r.stdout


def doc_shell_verify(claim, pk_b64):
    """Runs the doc's openssl example as written."""
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, CLAIM=json.dumps(claim), PK_B64=pk_b64)
        r = subprocess.run(["bash", "-c", doc_block("sh")], cwd=tmp, env=env,
                           capture_output=True, text=True)
        return r.returncode == 0


def doc_node_verify(claim, public_doc_raw):
    """Runs the doc's node example as written; returns the payload or None."""
    with tempfile.TemporaryDirectory() as tmp:
        js = os.path.join(tmp, "verify-claim.js")
        with open(js, "w") as f:
            f.write(doc_block("js"))
        r = subprocess.run(["node", js, json.dumps(claim)], input=public_doc_raw,
                           capture_output=True, text=True)
        return json.loads(r.stdout) if r.returncode == 0 else None


def tampered(claim):
    """The claim with one byte of payload_b64 changed."""
    p = claim["payload_b64"]
    i = len(p) // 2
    return dict(claim, payload_b64=p[:i] + ("A" if p[i] != "A" else "B") + p[i + 1:])


def public_keys(d):
    r = d.get("/api/v1/meta/public-key", token=None)
    check(r.status == 200, r)
    return r


def key_of(doc_resp, kid):
    for k in doc_resp.data["keys"]:
        if k["kid"] == kid:
            return k
    check(False, f"kid {kid} not published: {doc_resp}")


def authorize(d, cid, token=..., body=None):
    return d.post(f"/api/v1/containers/{cid}/authorize", body, token=token)


def keys_cmd(d, *args):
    r = subprocess.run([os.path.join(BIN, "hoodyd"), "--state-dir", d.state, "keys", *args],
                       capture_output=True, text=True, timeout=30)
    check(r.returncode == 0, f"hoodyd keys {args}: {r.stderr}")
    return r.stdout.strip()


def check_claim(d, r, cid, pid, want_type, ttl=3600):
    """Everything a container program and a client can check on a 200."""
    check(r.status == 200, r)
    check(r.json["message"] == "Container authorization claim issued", r)
    data = r.data
    check(data["container_id"] == cid and data["project_id"] == pid, r)
    check(data["expires_in"] == ttl, r)
    claim = data["container_claim"]
    check(set(claim) == {"kid", "payload_b64", "signature_hex"}, claim)
    check(re.fullmatch(r"[0-9a-f]{128}", claim["signature_hex"]), claim)

    keys = public_keys(d)
    check(claim["kid"] == keys.data["active_kid"], (claim, keys))
    key = key_of(keys, claim["kid"])
    payload = json.loads(b64url_decode(claim["payload_b64"]))
    check(list(payload) == ["claim_type", "sub", "type", "containerId", "projectId", "iat", "exp"],
          payload)
    check(payload["claim_type"] == "container" and payload["type"] == want_type, payload)
    check(payload["containerId"] == cid and payload["projectId"] == pid, payload)
    check(HEX24.match(payload["sub"]), payload)
    check(payload["exp"] - payload["iat"] == data["expires_in"], payload)
    check(abs(payload["iat"] - time.time()) < 60, payload)

    # independent verifiers: openssl (twice: generic and the doc's script) and node
    sig = bytes.fromhex(claim["signature_hex"])
    check(openssl_verify(key["public_key_b64"], claim["payload_b64"].encode("ascii"), sig), claim)
    check(doc_shell_verify(claim, key["public_key_b64"]), claim)
    check(doc_node_verify(claim, keys.raw) == payload, claim)
    bad = tampered(claim)
    check(not openssl_verify(key["public_key_b64"], bad["payload_b64"].encode("ascii"), sig), bad)
    check(not doc_shell_verify(bad, key["public_key_b64"]), bad)
    check(doc_node_verify(bad, keys.raw) is None, bad)

    check_response_signature(r, f"/api/v1/containers/{cid}/authorize", keys)
    return claim, payload


def check_response_signature(r, path, keys, method="POST"):
    """The header's fields are those of this exchange, and both openssl and
    node's crypto verify it with the published key; a changed byte fails."""
    hdr = r.headers.get("X-Hoody-Signature")
    check(hdr, f"no X-Hoody-Signature on {r}")
    m = SIG_HEADER.match(hdr)
    check(m, hdr)
    t, kid, meth, status, hpath = int(m.group(1)), m.group(2), m.group(3), int(m.group(4)), m.group(5)
    sig = bytes.fromhex(m.group(6))
    check(hpath == path and meth == method and status == r.status, (hdr, r))
    check(abs(time.time() - t) <= keys.data["signing_format"]["replay_tolerance_seconds"], hdr)
    key = key_of(keys, kid)
    signed = f"{t}\n{meth}\n{status}\n{hpath}\n".encode() + r.raw.encode()
    check(openssl_verify(key["public_key_b64"], signed, sig), hdr)
    check(not openssl_verify(key["public_key_b64"], signed + b" ", sig), hdr)
    check(node_verify_response(hdr, r.raw.encode(), keys.raw), f"node rejects {hdr}")
    check(not node_verify_response(hdr, r.raw.encode() + b" ", keys.raw), "node accepts a changed body")
    forged = hdr.replace(f"s={status}", f"s={status + 1}")
    check(not node_verify_response(forged, r.raw.encode(), keys.raw), "node accepts a changed status")


def test_public_key_document():
    with Daemon() as d:
        r = d.get("/api/v1/meta/public-key", token=None)
        check(r.status == 200 and r.json["statusCode"] == 200, r)
        data = r.data
        check(len(data["keys"]) == 1, r)
        k = data["keys"][0]
        check(k["kid"] == data["active_kid"] and k["algorithm"] == "ed25519", r)
        raw = bytes.fromhex(k["public_key_hex"])
        check(len(raw) == 32, k)
        check(base64.b64decode(k["public_key_b64"]) == raw, k)
        check(b64url_decode(k["public_key_b64url"]) == raw, k)
        check(set(data["usage"]) == {"container_claims", "response_signatures"}, data)
        fmt = data["signing_format"]
        check(fmt["response_header"] == "X-Hoody-Signature", fmt)
        check(fmt["replay_tolerance_seconds"] == 300, fmt)
        check("payload_b64" in fmt["container_claim_signed_data"], fmt)
        check("\\n" in fmt["response_signed_data"], fmt)
        # a token does not change the answer
        check(d.get("/api/v1/meta/public-key").data == data, "authenticated differs")


def test_claim_verifies_independently():
    with Daemon() as d:
        pid = d.new_project()
        cid = d.create_container(pid, hoody_kit=False)["id"]
        claim, payload = check_claim(d, authorize(d, cid), cid, pid, "admin")
        # a body, if any, is ignored
        r = authorize(d, cid, body={"expires_in": 5, "container_id": "0" * 24})
        check(r.status == 200 and r.data["expires_in"] == 3600, r)
        check(json.loads(b64url_decode(r.data["container_claim"]["payload_b64"]))["containerId"] == cid, r)

        check(time.time() < payload["exp"] <= time.time() + 3600 + 5, payload)

        # another user sees nothing; its own claim says type "user"
        bob = d.new_user("bob")
        r = authorize(d, cid, token=bob)
        check(r.status == 404 and r.code == "CONTAINER_NOT_FOUND", r)
        bob_pid = d.new_project(token=bob)
        bob_cid = d.create_container(bob_pid, token=bob, hoody_kit=False)["id"]
        _, bob_payload = check_claim(d, authorize(d, bob_cid, token=bob), bob_cid, bob_pid, "user")
        check(bob_payload["sub"] != payload["sub"], (bob_payload, payload))
        d.delete(f"/api/v1/containers/{bob_cid}", token=bob)


def test_signed_routes():
    """Container routes, the project's container list and meta are signed,
    verified by node and openssl; a 401 and other routes are not."""
    with Daemon() as d:
        keys = public_keys(d)
        check_response_signature(keys, "/api/v1/meta/public-key", keys, "GET")
        pid = d.new_project()
        r = d.post(f"/api/v1/projects/{pid}/containers",
                   {"name": "signed", "server_id": d.server_id(), "container_image": "busybox"})
        check(r.status in (200, 201), r)
        check_response_signature(r, f"/api/v1/projects/{pid}/containers", keys)
        cid = r.data["id"]
        for path in (f"/api/v1/containers/{cid}", "/api/v1/containers",
                     f"/api/v1/projects/{pid}/containers"):
            r = d.get(path)
            check(r.status == 200, r)
            check_response_signature(r, path, keys, "GET")
        r = d.get(f"/api/v1/containers/{cid}", token=None)
        check(r.status == 401 and "X-Hoody-Signature" not in r.headers, r)
        r = d.get("/api/v1/projects")
        check(r.status == 200 and "X-Hoody-Signature" not in r.headers, r)
        r = d.delete(f"/api/v1/containers/{cid}")
        check_response_signature(r, f"/api/v1/containers/{cid}", keys, "DELETE")


def test_errors():
    with Daemon() as d:
        r = authorize(d, "not-an-id")
        check(r.status == 400 and r.code == "INVALID_ID_FORMAT", r)
        r = authorize(d, "ABCDEF0123456789abcdef01")
        check(r.status == 400 and r.code == "INVALID_ID_FORMAT", r)
        r = authorize(d, "0123456789abcdef01234567")
        check(r.status == 404 and r.code == "CONTAINER_NOT_FOUND", r)
        # the status is signed too: a 404 cannot be passed off as a 200
        check_response_signature(r, "/api/v1/containers/0123456789abcdef01234567/authorize",
                                 public_keys(d))
        pid = d.new_project()
        cid = d.create_container(pid, hoody_kit=False)["id"]
        r = authorize(d, cid, token=None)
        check(r.status == 401, r)
        r = authorize(d, cid, token="hdy_" + "x" * 40)
        check(r.status == 401, r)
        r = d.delete(f"/api/v1/containers/{cid}")
        check(r.status == 200, r)
        r = authorize(d, cid)
        check(r.status == 404 and r.code == "CONTAINER_NOT_FOUND", r)


def test_restart_and_rotation():
    with Daemon() as d:
        pid = d.new_project()
        cid = d.create_container(pid, hoody_kit=False)["id"]
        before = public_keys(d).data
        old_kid = before["active_kid"]
        old_claim, _ = check_claim(d, authorize(d, cid), cid, pid, "admin")

        d.restart()
        after = public_keys(d).data
        check(after["active_kid"] == old_kid and after["keys"] == before["keys"], (before, after))
        check(keys_cmd(d, "list").startswith(old_kid), "keys list")

        # rotation while the daemon runs
        new_kid = keys_cmd(d, "rotate")
        check(re.fullmatch(r"[0-9a-f]{16}", new_kid) and new_kid != old_kid, new_kid)
        keys = public_keys(d)
        kids = [k["kid"] for k in keys.data["keys"]]
        check(keys.data["active_kid"] == new_kid and set(kids) == {old_kid, new_kid}, keys)
        # the old claim still verifies with the old key, as published now
        check(doc_node_verify(old_claim, keys.raw) is not None, old_claim)
        claim, _ = check_claim(d, authorize(d, cid), cid, pid, "admin")
        check(claim["kid"] == new_kid, claim)
        old_key = key_of(keys, old_kid)
        check(not openssl_verify(old_key["public_key_b64"], claim["payload_b64"].encode(),
                                 bytes.fromhex(claim["signature_hex"])), "new claim verified by old key")

        # and the rotation survives a restart too
        d.restart()
        check(public_keys(d).data["active_kid"] == new_kid, "active kid after restart")
        listing = keys_cmd(d, "list")
        check(new_kid in listing and "retired" in listing, listing)


def test_expired_claim():
    """An expired claim still has a valid signature; exp is what rejects it."""
    # 8 s: check_claim runs four verifiers (node among them) that must all see
    # the claim still valid, which took more than 2 s on a loaded machine
    with Daemon(extra_args=["--claim-ttl", "8"]) as d:
        pid = d.new_project()
        cid = d.create_container(pid, hoody_kit=False)["id"]
        claim, payload = check_claim(d, authorize(d, cid), cid, pid, "admin", ttl=8)
        keys = public_keys(d)
        time.sleep(max(0, payload["exp"] - time.time()) + 1.1)
        check(payload["exp"] < time.time(), payload)
        key = key_of(keys, claim["kid"])
        check(openssl_verify(key["public_key_b64"], claim["payload_b64"].encode("ascii"),
                             bytes.fromhex(claim["signature_hex"])), "signature of expired claim")
        check(doc_node_verify(claim, keys.raw) is None, "the doc's verifier accepted an expired claim")


def test_no_signing_key():
    with Daemon(extra_args=["--no-signing-key"]) as d:
        want = {"statusCode": 503, "error": "SIGNING_NOT_CONFIGURED",
                "message": "Response signing is not available"}
        r = d.get("/api/v1/meta/public-key", token=None)
        check(r.status == 503 and all(r.json.get(k) == v for k, v in want.items()), r)
        pid = d.new_project()
        cid = d.create_container(pid, hoody_kit=False)["id"]
        r = authorize(d, cid)
        check(r.status == 503 and all(r.json.get(k) == v for k, v in want.items()), r)
        check(not os.path.exists(os.path.join(d.state, "signing")) or
              not [f for f in os.listdir(os.path.join(d.state, "signing")) if f.endswith(".key")],
              "a key was created")
        # a key made by hand is used without a restart
        kid = keys_cmd(d, "rotate")
        check(public_keys(d).data["active_kid"] == kid, "rotated key not picked up")
        check_claim(d, authorize(d, cid), cid, pid, "admin")


if __name__ == "__main__":
    main([test_public_key_document, test_claim_verifies_independently, test_errors,
          test_restart_and_rotation, test_expired_claim, test_no_signing_key])
