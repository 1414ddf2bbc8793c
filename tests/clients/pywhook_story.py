"""A user's story with pywhook, the PyPI wrapper of webhook.site's API,
unmodified except for its base URL (the class attribute BASE_URL, as its
source reads it on every call): make a token, set its answer, send it a
JSON request and a file upload, read both back through the library, delete
the token. Run by tests/pywhook_client.rs with the server's URL as the only
argument; prints one JSON line of what it saw, fails on any mismatch.
"""

import json
import sys

import requests
from pywhook import Webhook, WebhookError

base = sys.argv[1].rstrip("/")
Webhook.BASE_URL = base

token = Webhook.create_token(json={"default_status": 200})
uuid = token["uuid"]
hook = Webhook(uuid)

answer = hook.set_response("hello from pywhook", status=202, content_type="text/plain")
assert answer["default_status"] == 202, answer
assert hook.get_token_details()["default_content"] == "hello from pywhook"
assert hook.get_latest_request() is None, "a new token has no requests"

# A JSON webhook, as a sender writes it.
sent = requests.post(
    f"{base}/{uuid}/orders?id=7",
    json={"event": "order.paid", "note": "zebrafish"},
    headers={"X-Shop-Event": "order.paid"},
)
assert sent.status_code == 202, sent.status_code
assert sent.text == "hello from pywhook", sent.text
json_id = sent.headers["X-Request-Id"]

latest = hook.get_latest_request()
assert latest["uuid"] == json_id, latest["uuid"]
assert latest["method"] == "POST"
assert json.loads(latest["content"]) == {"event": "order.paid", "note": "zebrafish"}
assert latest["query"] == {"id": "7"}, latest["query"]
assert latest["headers"]["x-shop-event"] == ["order.paid"], latest["headers"]
assert latest["url"].endswith(f"/{uuid}/orders?id=7"), latest["url"]

# A file upload, read back byte for byte through the library's download.
upload = bytes(range(256))
sent = requests.post(
    f"{base}/{uuid}/upload",
    files={"report": ("report.bin", upload, "application/octet-stream")},
    data={"kind": "nightly"},
)
assert sent.status_code == 202, sent.status_code
upload_id = sent.headers["X-Request-Id"]
latest = hook.get_latest_request()
assert latest["uuid"] == upload_id
assert latest["request"] == {"kind": "nightly"}, latest["request"]
files = hook.download_request_content(latest)
assert set(files) == {"report"}, files.keys()
assert files["report"]["bytes"] == upload, "file bytes differ"
assert files["report"]["filename"] == "report.bin"
assert files["report"]["size"] == len(upload)
assert files["report"]["content_type"] == "application/octet-stream"

# The list, newest first, with a search and a page size.
page = hook.get_requests(sorting="newest", per_page=10)
assert [r["uuid"] for r in page["data"]] == [upload_id, json_id], page
assert page["total"] == 2 and page["is_last_page"] is True, page
found = hook.get_requests(query="zebrafish")
assert [r["uuid"] for r in found["data"]] == [json_id], found

hook.delete_token()
try:
    hook.get_token_details()
except WebhookError:
    pass
else:
    raise AssertionError("the deleted token still reads")

print(json.dumps({"token": uuid, "requests": [json_id, upload_id]}))
