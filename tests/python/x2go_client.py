#!/usr/bin/python3
"""Drive a broker with Python X2Go's own broker client (x2go.backends.profiles.httpbroker).

Usage: x2go_client.py URL USER PASSWORD PROFILE_ID
Prints one JSON document: whether authentication succeeded, the profile ids
listed, the selected session and the last authid cookie held by the client.
"""
import json
import sys

from x2go.backends.profiles.httpbroker import X2GoSessionProfiles

url, user, password, profile_id = sys.argv[1:5]
profiles = X2GoSessionProfiles(broker_url=url, broker_username=user, broker_password=password)
authenticated = profiles.broker_simpleauth(user, password)
listed = profiles.broker_listprofiles() if authenticated else {}
selected = profiles.broker_selectsession(profile_id) if authenticated else {}
print(json.dumps({
    "authenticated": authenticated,
    "profiles": sorted(listed.keys()),
    "names": {k: v.get("name") for k, v in listed.items()},
    "selected": selected,
    "authid": profiles.broker_authid,
}))
