#!/usr/bin/env python3
"""A SMART standalone launch against MediLink with SMART's own Python client, `fhirclient`.

Run by dashboards/scripts/e2e.sh after dashboards/e2e/smart.mjs, which registers and approves
a public client and writes what this needs to a JSON file (the first argument): the server's
base URL, the client id and redirect URI, a patient's e-mail, password and TOTP secret, the
patient's id and another patient's. What a browser would do, it does over HTTP with
`requests`: follows the authorize URL to the consent request, signs the patient in (TOTP
included) and approves all but one scope through the portal API, then hands the app's redirect
to `fhirclient`.

Steps (a line each; the first failure exits 1):
 1. discovery: `FHIRClient.prepare()` reads the server's CapabilityStatement and finds its
    OAuth endpoints;
 2. `authorize_url` (PKCE S256, state, aud) leads to the consent request;
 3. the patient approves `patient/Patient.rs` and `patient/Observation.rs`, not
    `patient/Condition.rs`;
 4. `handle_callback` exchanges the code (with the PKCE verifier): patient context, refresh token;
 5. reads and searches as the scope allows: the Patient, their Observations; Condition refused;
    another patient's record refused;
 6. `reauthorize()` refreshes the access token, which then works;
 7. the patient revokes the app (Settings → Connected apps, `DELETE /api/smart/authorizations`):
    the access token and the refresh token stop working.
"""

import base64
import hashlib
import hmac
import json
import struct
import sys
import time
from urllib.parse import parse_qs, urlsplit

import requests
from fhirclient import client
from fhirclient.models.condition import Condition
from fhirclient.models.observation import Observation
from fhirclient.models.patient import Patient

SCOPE = "launch/patient openid fhirUser offline_access patient/Patient.rs patient/Observation.rs patient/Condition.rs"
NARROWED = "patient/Condition.rs"


def totp(secret, at=None):
    """RFC 6238 (SHA-1, 6 digits, 30 s)."""
    key = base64.b32decode(secret.upper() + "=" * (-len(secret) % 8))
    counter = int((at or time.time()) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    code = (struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF) % 1_000_000
    return f"{code:06d}"


def fresh_totp(secret):
    """A code of a window the e2e story did not use (a code is accepted once)."""
    window = int(time.time() // 30)
    time.sleep((window + 1) * 30 - time.time() + 0.5)
    return totp(secret)


def step(number, text):
    print(f"ok   {number} {text}", flush=True)


def fail(text):
    print(f"FAIL {text}", flush=True)
    sys.exit(1)


def check(condition, text):
    if not condition:
        fail(text)


def status_of(call):
    """The HTTP status of a fhirclient call that failed (or 200 when it did not)."""
    try:
        call()
        return 200
    except requests.HTTPError as error:
        return error.response.status_code
    except Exception as error:  # fhirclient raises its own for 401/403/404
        response = getattr(error, "response", None)
        return getattr(response, "status_code", None) or str(error)


def main():
    handoff = json.load(open(sys.argv[1]))
    base = handoff["base"]
    fhir_base = f"{base}/fhir/R4"
    http = requests.Session()

    smart = client.FHIRClient(
        settings={"app_id": handoff["client_id"], "api_base": fhir_base, "redirect_uri": handoff["redirect_uri"], "scope": SCOPE}
    )
    smart.prepare()
    auth = smart.server.auth
    check(auth is not None and getattr(auth, "_authorize_uri", None), "discovery found no authorize endpoint in the CapabilityStatement")
    step(1, f"discovery: authorize {auth._authorize_uri}, token {auth._token_uri}")

    authorize = http.get(smart.authorize_url, allow_redirects=False)
    check(authorize.status_code in (302, 303), f"authorize: {authorize.status_code} {authorize.text[:300]}")
    location = authorize.headers["location"]
    request_id = parse_qs(urlsplit(location).query).get("request", [None])[0]
    check(location.split("?")[0].endswith("/smart/authorize") and request_id, f"authorize sent the browser to {location}")
    step(2, "authorize_url (PKCE S256) leads to the consent request")

    login = http.post(f"{base}/api/auth/login", json={"email": handoff["email"], "password": handoff["password"]})
    if login.ok and login.json().get("mfa_required"):
        login = http.post(
            f"{base}/api/auth/login",
            json={"email": handoff["email"], "password": handoff["password"], "totp_code": fresh_totp(handoff["totp_secret"])},
        )
    check(login.ok and "access_token" in login.json(), f"sign-in: {login.status_code} {login.text[:300]}")
    portal = {"authorization": f"Bearer {login.json()['access_token']}"}
    request = http.get(f"{base}/api/smart/requests/{request_id}", headers=portal)
    check(request.ok, f"the consent request: {request.status_code} {request.text[:300]}")
    scopes = [s["scope"] for s in request.json()["scopes"] if s["scope"] != NARROWED]
    decision = http.post(f"{base}/api/smart/requests/{request_id}/decision", headers=portal, json={"approve": True, "scopes": scopes})
    check(decision.ok, f"decision: {decision.status_code} {decision.text[:300]}")
    redirect = decision.json()["redirect_to"]
    check(redirect.startswith(handoff["redirect_uri"]) and "code=" in redirect, f"redirect_to {redirect}")
    step(3, f"signed in with TOTP and approved all but {NARROWED}")

    smart.handle_callback(redirect)
    check(smart.ready, "not ready after handle_callback")
    check(smart.patient_id == handoff["patient_id"], f"patient context {smart.patient_id}, not {handoff['patient_id']}")
    check(auth.refresh_token, "no refresh token (offline_access)")
    step(4, f"handle_callback exchanged the code: patient {smart.patient_id}, refresh token")

    patient = Patient.read(smart.patient_id, smart.server)
    check(patient.name and patient.name[0].family, "the Patient has no family name")
    observations = Observation.where(struct={"patient": smart.patient_id}).perform_resources(smart.server)
    check(len(observations) > 0, "no Observation found")
    check(all(o.subject.reference == f"Patient/{smart.patient_id}" for o in observations), "an Observation of another patient")
    refused = status_of(lambda: Condition.where(struct={"patient": smart.patient_id}).perform(smart.server))
    check(refused == 403, f"Condition search outside the scope answered {refused}")
    other = status_of(lambda: Patient.read(handoff["other_patient_id"], smart.server))
    check(other in (403, 404), f"another patient's record answered {other}")
    step(5, f"read {patient.name[0].family}, {len(observations)} Observations; Condition {refused}; another patient {other}")

    before = auth.access_token
    smart.reauthorize()
    check(auth.access_token and auth.access_token != before, "reauthorize() gave no new access token")
    Patient.read(smart.patient_id, smart.server)
    step(6, "reauthorize() refreshed the access token, which works")

    refresh = auth.refresh_token
    revoked = http.delete(f"{base}/api/smart/authorizations/{handoff['client_id']}", headers=portal)
    check(revoked.status_code == 204, f"revoke: {revoked.status_code} {revoked.text[:300]}")
    read = http.get(f"{fhir_base}/Patient/{smart.patient_id}", headers={"authorization": f"Bearer {auth.access_token}"})
    check(read.status_code == 401, f"the revoked access token still reads: {read.status_code}")
    again = http.post(
        auth._token_uri, data={"grant_type": "refresh_token", "refresh_token": refresh, "client_id": handoff["client_id"]}
    )
    check(again.status_code in (400, 401) and again.json().get("error") == "invalid_grant", f"the revoked refresh token: {again.status_code} {again.text[:200]}")
    step(7, "revoked: the access token and the refresh token no longer work")
    print("fhirclient: 7 steps passed", flush=True)


if __name__ == "__main__":
    main()
