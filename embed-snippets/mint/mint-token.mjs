// Mint a checkout token for one invoice on your server (Node 18+, no dependencies). Never send the secret
// key to a browser: only the token goes into the page, as <tranche-checkout token="...">.
//   TRANCHE_API=http://127.0.0.1:8080 TRANCHE_SECRET_KEY=sk_... node mint-token.mjs inv_0123...
// Prints the API's answer: {"id", "token", "url", "expires_at"}.

export async function mintCheckoutToken(api, secretKey, invoiceId, expiresInSeconds = 86400) {
  const response = await fetch(`${api.replace(/\/+$/, "")}/v1/invoices/${encodeURIComponent(invoiceId)}/checkout-links`, {
    method: "POST",
    headers: { Authorization: `Bearer ${secretKey}`, "Content-Type": "application/json" },
    body: JSON.stringify({ expires_in_seconds: expiresInSeconds }),
  });
  const body = await response.json();
  // Errors are application/problem+json: `code` is stable, `detail` is for people.
  if (!response.ok) throw new Error(`${response.status} ${body.code}: ${body.detail}`);
  return body;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const [invoiceId, expires] = process.argv.slice(2);
  if (!invoiceId || !process.env.TRANCHE_API || !process.env.TRANCHE_SECRET_KEY) {
    console.error("usage: TRANCHE_API=... TRANCHE_SECRET_KEY=sk_... node mint-token.mjs <invoice id> [expires_in_seconds]");
    process.exit(2);
  }
  mintCheckoutToken(process.env.TRANCHE_API, process.env.TRANCHE_SECRET_KEY, invoiceId, Number(expires || 86400))
    .then((link) => console.log(JSON.stringify(link)))
    .catch((error) => {
      console.error(error.message);
      process.exit(1);
    });
}
