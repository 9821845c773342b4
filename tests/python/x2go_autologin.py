#!/usr/bin/python3
"""Session autologin with Python X2Go's own broker client: select a session
(the client sends the public half of a key pair it made), then log into the
server the broker named with the private half, as Python X2Go does.

Usage: x2go_autologin.py URL USER PROFILE_ID
Prints one JSON document: the selected session (without key material), the
key the client would use ("client-key" or null) and the output of
`echo autologin-ok` run over SSH with it (or the error).
"""
import json
import sys

import paramiko
from x2go.backends.profiles.httpbroker import X2GoSessionProfiles

url, user, profile_id = sys.argv[1:4]
profiles = X2GoSessionProfiles(broker_url=url, broker_username=user, broker_password="")
profiles.broker_simpleauth(user, "")
selected = profiles.broker_selectsession(profile_id)
pkey = profiles._get_pkey_object(profile_id)
result = {"selected": {k: v for k, v in selected.items() if k != "key"}, "key": None, "output": None}
if pkey is not None:
    result["key"] = "client-key"
    ssh = paramiko.SSHClient()
    ssh.set_missing_host_key_policy(paramiko.AutoAddPolicy())
    try:
        ssh.connect(selected["server"], port=int(selected["port"]), username=user, pkey=pkey,
                    allow_agent=False, look_for_keys=False, timeout=10)
        _, out, _ = ssh.exec_command("echo autologin-ok")
        result["output"] = out.read().decode().strip()
    except Exception as e:  # reported, not raised: the test says what failed
        result["output"] = "error: %s" % e
    finally:
        ssh.close()
print(json.dumps(result))
