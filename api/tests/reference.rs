//! The API reference: `/docs/` serves Swagger UI from files inside the binary (no CDN), reading the same
//! `/openapi.json` the server serves, which documents every webhook event too.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{spawn_app, Backend};
use serde_json::Value;

#[tokio::test]
async fn the_reference_page_is_served_locally_and_reads_our_document() {
    let app = spawn_app(Backend::Sqlite).await;
    let page = app.client.get(app.url("/docs/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    // Every script and stylesheet the page loads is one of ours: relative URLs, never a CDN.
    for attr in ["src=\"http", "href=\"http", "src=\"//", "href=\"//"] {
        assert!(!html.contains(attr), "external asset ({attr}) in:\n{html}");
    }
    let init = app
        .client
        .get(app.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap();
    assert_eq!(init.status(), 200);
    let init = init.text().await.unwrap();
    assert!(init.contains("/openapi.json"), "{init}");
    for asset in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css"] {
        let r = app.client.get(app.url(asset)).send().await.unwrap();
        assert_eq!(r.status(), 200, "{asset}");
        assert!(
            r.bytes().await.unwrap().len() > 10_000,
            "{asset} is the real file"
        );
    }

    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let hook = &doc["webhooks"]["payment.succeeded"]["post"];
    assert_eq!(hook["operationId"], "webhook_payment_succeeded");
    assert_eq!(
        hook["requestBody"]["content"]["application/json"]["schema"]["properties"]["data"]["$ref"],
        "#/components/schemas/PaymentSucceeded"
    );
    assert!(
        doc["components"]["schemas"]["PaymentSucceeded"]["properties"]["invoice_balance_after"].is_object()
    );
}
