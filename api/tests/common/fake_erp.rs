//! A real HTTP server playing a seller's ERP: the webhook receiver and Intuit (OAuth token endpoint and the
//! QuickBooks Payment API). It records every `(path, JSON body)` it gets and answers as they would.

use std::sync::Arc;

use serde_json::{json, Value};

use super::stand_in::Recorder;
use super::{SellerCtx, TestApp};

/// The QuickBooks company (realm) the fake plays.
pub const REALM: &str = "4620816365";

/// A [`Recorder`] registered as a seller's ERP.
pub struct FakeErp {
    recorder: Arc<Recorder>,
    port: u16,
}

impl FakeErp {
    /// Starts the server on a free loopback port.
    pub async fn start() -> Arc<FakeErp> {
        let (recorder, port) = Recorder::start().await;
        Arc::new(FakeErp { recorder, port })
    }

    /// The bodies received at paths ending in `path_end` (`/hooks`, `/payment`), in order.
    pub fn bodies(&self, path_end: &str) -> Vec<Value> {
        self.recorder.bodies(path_end)
    }

    /// Registers this ERP as the seller's webhook endpoint (`/hooks`) and QuickBooks endpoint.
    pub async fn connect(&self, app: &TestApp, seller: &SellerCtx) {
        let base = format!("http://127.0.0.1:{}", self.port);
        for body in [
            json!({"kind": "webhook", "url": format!("{base}/hooks")}),
            json!({"kind": "quickbooks", "url": format!("{base}/v3/company/{REALM}/payment"),
                   "token_url": format!("{base}/oauth2/v1/tokens/bearer"), "realm_id": REALM,
                   "client_id": "cid", "client_secret": "csecret", "refresh_token": "rt-1"}),
        ] {
            let r = app.post("/v1/erp/endpoints", &seller.key, body).await;
            assert_eq!(r.status(), 201, "{}", r.text().await.unwrap());
        }
    }
}
