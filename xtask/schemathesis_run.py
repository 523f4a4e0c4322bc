#!/usr/bin/env python3
"""Schemathesis against Tranche's own /openapi.json (run by `cargo xtask test`).

Starts `tranche serve` on a temp SQLite database, creates a seller, customer, invoice and checkout link, then runs
schemathesis three times: the seller routes with the seller's key, the checkout routes with the checkout token,
and key rolls with a second seller's key.
First validates the document with openapi-spec-validator. Checks: no 5xx, documented status codes and content types, responses match their schemas, schema-violating
input is rejected. Usage: schemathesis_run.py <tranche binary> <schemathesis executable> [max examples]
"""
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
    "negative_data_rejection",
])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(base, method, path, bearer, body=None):
    req = urllib.request.Request(
        base + path,
        method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": "Bearer " + bearer, "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=10) as res:
        return json.load(res)


def main():
    tranche, st = sys.argv[1], sys.argv[2]
    examples = sys.argv[3] if len(sys.argv) > 3 else "25"
    tmp = tempfile.mkdtemp(prefix="tranche-st-")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ,
               TRANCHE_ADDR=f"127.0.0.1:{port}",
               TRANCHE_DATABASE_URL=f"sqlite://{tmp}/st.db",
               TRANCHE_OPERATOR_TOKEN="op_schemathesis",
               TRANCHE_RECEIPTS_DIR=f"{tmp}/receipts",
               TRANCHE_CONFIG=f"{tmp}/none.toml",
               TRANCHE_LOG="warn",
               TRANCHE_RATE_PAYMENTS_PER_LINK="0",
               TRANCHE_RATE_PAYMENTS_PER_IP="0",
               TRANCHE_RATE_TOKENIZE_PER_IP="0",
               TRANCHE_RATE_TOKEN_FAILURES_PER_IP="0")
    server = subprocess.Popen([tranche, "serve"], env=env)
    try:
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/livez", timeout=1)
                break
            except OSError:
                time.sleep(0.05)
        # The document itself first, with a strict validator (OpenAPI 3.1 meta-schema, unique operation ids,
        # resolvable $refs): a tool a seller's team points at it must not choke on it.
        from openapi_spec_validator import validate
        with urllib.request.urlopen(base + "/openapi.json", timeout=10) as res:
            spec = json.load(res)
        validate(spec)
        ids = [op["operationId"] for section in ("paths", "webhooks") for item in spec.get(section, {}).values()
               for op in item.values() if isinstance(op, dict) and "operationId" in op]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            sys.exit(f"duplicate operationIds: {duplicates}")
        print(f"==> openapi-spec-validator: /openapi.json is valid OpenAPI {spec['openapi']} "
              f"({len(ids)} operations incl. {len(spec.get('webhooks', {}))} webhooks, ids unique)", flush=True)
        key = call(base, "POST", "/v1/sellers", "op_schemathesis", {"name": "Schemathesis"})["secret_key"]
        customer = call(base, "POST", "/v1/customers", key, {"name": "B", "email": "b@example.com"})["id"]
        invoice = call(base, "POST", "/v1/invoices", key, {
            "number": "ST-1", "customer_id": customer, "currency": "USD", "issue_date": "2026-11-01",
            "due_date": "2026-12-01", "lines": [{"description": "x", "quantity": "1", "unit_price": "100000.00"}]})["id"]
        token = call(base, "POST", f"/v1/invoices/{invoice}/checkout-links", key, {})["token"]
        # Key rolls run with a seller of their own: a roll with expire_old_in_seconds 0 stops the key that made
        # it, which would lock the other runs out.
        roller = call(base, "POST", "/v1/sellers", "op_schemathesis", {"name": "Roller"})["secret_key"]
        runs = [
            ("seller routes", key,
             ["--exclude-path-regex", "^/v1/checkout|^/pay/|^/v1/sellers$|^/sandbox|^/v1/seller/keys/roll$"]),
            ("checkout routes", token, ["--include-path-regex", "^/v1/checkout|^/sandbox"]),
            ("key roll", roller, ["--include-path-regex", "^/v1/seller/keys/roll$"]),
        ]
        failed = False
        for name, bearer, selection in runs:
            print(f"==> schemathesis: {name}", flush=True)
            code = subprocess.call([st, "run", base + "/openapi.json", "-H", f"Authorization: Bearer {bearer}",
                                    "-c", CHECKS, "-n", examples, "--seed", "1", "--request-timeout", "10",
                                    "--no-color", *selection])
            failed |= code != 0
        sys.exit(1 if failed else 0)
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
