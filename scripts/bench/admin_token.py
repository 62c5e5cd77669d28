#!/usr/bin/env python3
"""Prints a full (TOTP-verified) admin access token for benchmarks against a running server.

Usage: scripts/bench/admin_token.py BASE_URL EMAIL PASSWORD
The admin must exist (medilink-server user add --email … --password … --role admin).
Standard library only: logs in, enrols TOTP, answers with a code computed here (RFC 6238).
"""
import base64, hashlib, hmac, json, struct, sys, time, urllib.parse, urllib.request


def call(url, body, token=None):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"content-type": "application/json"})
    if token:
        request.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(request) as response:
        return json.load(response)


def totp(secret_b32, at=None):
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    counter = int((at or time.time()) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset:offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


base, email, password = sys.argv[1:4]
login = call(f"{base}/api/auth/login", {"email": email, "password": password})
token = login.get("access_token") or login.get("partial_token")
setup = call(f"{base}/api/auth/totp/setup", {}, token)
secret = urllib.parse.parse_qs(urllib.parse.urlparse(setup["otpauth_uri"]).query)["secret"][0]
verified = call(f"{base}/api/auth/totp/verify", {"code": totp(secret)}, token)
print(verified["access_token"])
