#!/usr/bin/env python3
"""Mint a checkout token for one invoice on your server (Python 3 standard library). Never send the secret
key to a browser: only the token goes into the page, as <tranche-checkout token="...">.

    TRANCHE_API=http://127.0.0.1:8080 TRANCHE_SECRET_KEY=sk_... python3 mint_token.py inv_0123...

Prints the API's answer: {"id", "token", "url", "expires_at"}.
"""
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request


def mint_checkout_token(api, secret_key, invoice_id, expires_in_seconds=86400):
    req = urllib.request.Request(
        f"{api.rstrip('/')}/v1/invoices/{urllib.parse.quote(invoice_id, safe='')}/checkout-links",
        method="POST",
        data=json.dumps({"expires_in_seconds": expires_in_seconds}).encode(),
        headers={"Authorization": "Bearer " + secret_key, "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return json.load(res)
    except urllib.error.HTTPError as e:
        # Errors are application/problem+json: `code` is stable, `detail` is for people.
        problem = json.load(e)
        raise RuntimeError(f"{e.code} {problem.get('code')}: {problem.get('detail')}") from None


if __name__ == "__main__":
    if len(sys.argv) < 2 or "TRANCHE_API" not in os.environ or "TRANCHE_SECRET_KEY" not in os.environ:
        sys.exit("usage: TRANCHE_API=... TRANCHE_SECRET_KEY=sk_... python3 mint_token.py <invoice id> [expires_in_seconds]")
    expires = int(sys.argv[2]) if len(sys.argv) > 2 else 86400
    try:
        link = mint_checkout_token(os.environ["TRANCHE_API"], os.environ["TRANCHE_SECRET_KEY"], sys.argv[1], expires)
    except RuntimeError as e:
        sys.exit(str(e))
    print(json.dumps(link))
