//! The buyer's journey in a real browser: the widget embedded on a seller site (another origin), the
//! gateway's fields in an iframe, the real API and database behind it.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use tranche_e2e::{skip, Harness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_payment_decline_and_paying_the_rest_on_the_seller_site() {
    if skip() {
        return;
    }
    let h = Harness::start().await.unwrap();
    let (invoice_id, token) = h.invoice("E2E-1", "1000.00").await.unwrap();
    h.open_site(vec![("Invoice E2E-1".into(), token.clone())])
        .await
        .unwrap();

    // Rendered inside the shadow root, on the seller's origin.
    h.shadow_text(0, "[data-testid=balance-due]", "$1,000.00")
        .await
        .unwrap();
    let in_light_dom: bool = h
        .browser
        .execute(
            "return document.querySelector('[data-testid=balance-due]') !== null",
            vec![],
        )
        .await
        .unwrap()
        .as_bool()
        .unwrap();
    assert!(!in_light_dom, "the widget's DOM lives in its shadow root");

    // The wasm came precompressed (the build's .br/.gz, picked by Accept-Encoding) and decoded fine.
    let sizes = h
        .browser
        .execute(
            "return performance.getEntriesByType('resource')
                .filter(e => e.name.endsWith('.wasm'))
                .map(e => [e.encodedBodySize, e.decodedBodySize]);",
            vec![],
        )
        .await
        .unwrap();
    let sizes = sizes.as_array().unwrap();
    assert_eq!(sizes.len(), 1, "one wasm download for the page: {sizes:?}");
    let (encoded, decoded) = (sizes[0][0].as_u64().unwrap(), sizes[0][1].as_u64().unwrap());
    assert!(
        encoded > 0 && encoded * 2 < decoded,
        "wasm sent compressed: {encoded} bytes on the wire for {decoded}"
    );

    // 25% shows its amount and the remaining balance.
    h.click(0, "[data-testid='preset-25']").await.unwrap();
    h.shadow_text(0, "[data-testid=remaining]", "$750.00")
        .await
        .unwrap();
    h.screenshot("seller-site-25-percent").await;
    let value = h
        .shadow(0, "[data-testid=amount]")
        .await
        .unwrap()
        .prop("value")
        .await
        .unwrap();
    assert_eq!(value.as_deref(), Some("250.00"));

    // Below the minimum: refused in the widget, before any request.
    let input = h.shadow(0, "[data-testid=amount]").await.unwrap();
    input.clear().await.unwrap();
    input.send_keys("20").await.unwrap();
    h.shadow_text(0, "[data-testid=amount-error]", "The minimum payment is $100.00.")
        .await
        .unwrap();
    let disabled = h
        .shadow(0, "[data-testid=continue]")
        .await
        .unwrap()
        .prop("disabled")
        .await
        .unwrap();
    assert_eq!(disabled.as_deref(), Some("true"));

    // A declined card shows the advice and leaves the balance alone.
    input.clear().await.unwrap();
    input.send_keys("250").await.unwrap();
    h.shadow_text(0, "[data-testid=remaining]", "$750.00")
        .await
        .unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4000000000000002").await.unwrap();
    h.shadow_text(0, "[data-testid=failure]", "Payment declined")
        .await
        .unwrap();
    h.shadow_text(0, "[data-testid=advice]", "declined by the bank")
        .await
        .unwrap();
    h.screenshot("seller-site-declined").await;
    assert_eq!(
        h.invoice_state(&invoice_id).await.unwrap()["balance_due"],
        "1000.00"
    );

    // 4242 succeeds: the new balance is shown.
    h.click(0, "[data-testid=retry]").await.unwrap();
    // The checkout token reaches the fields frame by postMessage, never in its URL.
    let src = h
        .shadow(0, "iframe[data-testid=fields]")
        .await
        .unwrap()
        .attr("src")
        .await
        .unwrap()
        .unwrap();
    assert!(
        src.contains("/sandbox/fields?parent=") && !src.contains(&token),
        "{src}"
    );

    h.pay_with_card(0, "4242424242424242").await.unwrap();
    // Every figure on screen agrees: the summary beside the confirmation shows the payment too.
    h.expect_paid(0, "$250.00", "$250.00", "$750.00").await.unwrap();
    h.shadow_text(0, "[part=status]", "Partially paid").await.unwrap();
    h.screenshot("seller-site-partial-paid").await;
    assert_eq!(
        h.invoice_state(&invoice_id).await.unwrap()["balance_due"],
        "750.00"
    );

    // Pay the rest: the invoice is paid and the widget turns read-only.
    h.click(0, "[data-testid=pay-again]").await.unwrap();
    h.shadow_text(0, "[data-testid=balance-due]", "$750.00")
        .await
        .unwrap();
    h.click(0, "[data-testid=full]").await.unwrap();
    h.click(0, "[data-testid=continue]").await.unwrap();
    h.pay_with_card(0, "4242424242424242").await.unwrap();
    h.shadow_text(0, "[data-testid=new-balance]", "$0.00")
        .await
        .unwrap();
    let state = h.invoice_state(&invoice_id).await.unwrap();
    assert_eq!(state["status"], "paid");
    assert_eq!(state["balance_due"], "0.00");
    // Every card token was requested for this checkout: the fields frame sent its token, which the widget
    // handed over by postMessage (it is in no frame URL).
    let requests = h.sent_headers("/sandbox/v1/tokens").await.unwrap();
    assert_eq!(requests.len(), 3, "three cards entered: {requests:?}");
    for headers in &requests {
        let auth = headers
            .as_object()
            .unwrap()
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
            .map(|(_, v)| v.as_str().unwrap().to_owned());
        assert_eq!(auth, Some(format!("Bearer {token}")), "{headers}");
    }

    // The card numbers typed into the gateway's fields exist nowhere in our database or receipts.
    let leaks = h.card_numbers_at_rest(&["4242424242424242", "4000000000000002"]);
    assert!(leaks.is_empty(), "card data at rest: {leaks:?}");
    // Positive control: the scan does find a planted number.
    std::fs::write(h.data_dir.join("planted.txt"), "x4242424242424242x").unwrap();
    assert_eq!(h.card_numbers_at_rest(&["4242424242424242"]).len(), 1);
    h.close().await;
}
