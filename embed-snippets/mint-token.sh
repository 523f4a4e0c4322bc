#!/usr/bin/env bash
# Mint a checkout token for one invoice, server-side. Never put your secret key (sk_...) in a browser.
#   TRANCHE_API=http://127.0.0.1:8080 TRANCHE_SECRET_KEY=sk_... ./mint-token.sh inv_0123...
# Prints {"id", "token", "url", "expires_at"}: put "token" into <tranche-checkout token="...">, or email "url"
# (the hosted page). Revoke with: curl -X DELETE "$TRANCHE_API/v1/checkout-links/<id>" -H "Authorization: Bearer $TRANCHE_SECRET_KEY"
set -euo pipefail
invoice_id="${1:?usage: mint-token.sh <invoice id> [expires_in_seconds]}"
expires="${2:-86400}"
curl --fail-with-body -sS -X POST "${TRANCHE_API:?set TRANCHE_API}/v1/invoices/${invoice_id}/checkout-links" \
  -H "Authorization: Bearer ${TRANCHE_SECRET_KEY:?set TRANCHE_SECRET_KEY}" \
  -H "Content-Type: application/json" \
  -d "{\"expires_in_seconds\": ${expires}}"
echo
