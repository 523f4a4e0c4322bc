#!/usr/bin/env python3
"""A seller's page that embeds Tranche, minting the checkout token on the server (standard library only).

    TRANCHE_API=http://127.0.0.1:8080 TRANCHE_SECRET_KEY=sk_... python3 server.py
    open http://127.0.0.1:8090/invoices/<invoice id>

Add http://127.0.0.1:8090 to the seller's allowed_origins (POST /v1/sellers {"allowed_origins": [...]}),
or the API refuses checkout calls from this page with 403 origin_not_allowed.
"""
import html
import json
import os
import re
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API = os.environ.get("TRANCHE_API", "http://127.0.0.1:8080").rstrip("/")
SECRET = os.environ["TRANCHE_SECRET_KEY"]  # server-side only: never sent to the browser


def api(method, path, body=None):
    req = urllib.request.Request(
        API + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": "Bearer " + SECRET, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.load(res)


def loader_integrity():
    with urllib.request.urlopen(API + "/widget/v1/manifest.json", timeout=10) as res:
        files = json.load(res)["files"]
    return next(f["integrity"] for f in files if f["name"] == "tranche.js")


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        m = re.fullmatch(r"/invoices/([A-Za-z0-9_-]{1,64})", self.path)
        if not m:
            self.send_error(404)
            return
        # A short-lived token per page view: it only lets the holder see and pay this one invoice.
        link = api("POST", f"/v1/invoices/{m.group(1)}/checkout-links", {"expires_in_seconds": 3600})
        page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Pay your invoice</title>
<script type="module" src="{html.escape(API)}/widget/v1/tranche.js" integrity="{html.escape(loader_integrity())}" crossorigin="anonymous"></script>
</head><body><h1>Pay your invoice</h1>
<tranche-checkout token="{html.escape(link['token'])}"></tranche-checkout>
<script>
  document.addEventListener("tranche:payment-succeeded", (e) => console.log("paid", e.detail));
</script></body></html>"""
        body = page.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PORT", "8090"))), Handler).serve_forever()
