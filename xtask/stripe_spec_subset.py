#!/usr/bin/env python3
"""Cut Stripe's OpenAPI spec down to what the Stripe connector calls, for the spec-validating fake.

Usage: python3 xtask/stripe_spec_subset.py /path/to/stripe.com.json > api/tests/stripe/spec3.subset.json

Keeps the operations listed in OPERATIONS, every component schema they reference (transitively), and
`event` (webhooks). Nothing is edited: schemas are copied verbatim, so validating against the subset is
validating against Stripe's published spec. Output is minified JSON with sorted keys (reproducible).
"""
import json
import sys

OPERATIONS = [
    ("/v1/payment_intents", "post"),
    ("/v1/payment_intents/{intent}", "get"),
    ("/v1/payment_intents/search", "get"),
    ("/v1/payment_intents/{intent}/confirm", "post"),
    ("/v1/payment_intents/{intent}/cancel", "post"),
    ("/v1/refunds", "post"),
    ("/v1/refunds", "get"),
    ("/v1/refunds/{refund}", "get"),
    ("/v1/payment_methods/{payment_method}", "get"),
]
EXTRA_SCHEMAS = ["event", "error", "dispute"]


def refs(node, out):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            out.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            refs(value, out)
    elif isinstance(node, list):
        for value in node:
            refs(value, out)


def main():
    spec = json.load(open(sys.argv[1]))
    schemas = spec["components"]["schemas"]
    paths = {}
    for path, method in OPERATIONS:
        paths.setdefault(path, {})[method] = spec["paths"][path][method]
    wanted = set(EXTRA_SCHEMAS)
    refs(paths, wanted)
    done = set()
    while wanted - done:
        name = sorted(wanted - done)[0]
        done.add(name)
        refs(schemas[name], wanted)
    subset = {
        "openapi": spec["openapi"],
        "info": spec["info"],
        "servers": spec.get("servers", []),
        "paths": paths,
        "components": {
            "schemas": {name: schemas[name] for name in sorted(done)},
            "securitySchemes": spec["components"].get("securitySchemes", {}),
        },
    }
    json.dump(subset, sys.stdout, separators=(",", ":"), sort_keys=True)


if __name__ == "__main__":
    main()
