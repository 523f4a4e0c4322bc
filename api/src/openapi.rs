//! The OpenAPI document, assembled from the `#[utoipa::path]` annotations on the handlers and the
//! `ToSchema` derives on the wire types, so it cannot drift from the code.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::erp::events::{self, EventType};
use crate::routes;

#[derive(OpenApi)]
#[openapi(
    info(title = "Tranche API", description = "Partial payments for B2B invoices: seller API, buyer checkout, sandbox gateway."),
    paths(
        routes::parties::create_seller,
        routes::seller::get,
        routes::seller::update,
        routes::seller::roll_key,
        routes::parties::create_customer,
        routes::parties::get_customer,
        routes::parties::list_customers,
        routes::parties::create_terms,
        routes::parties::get_terms,
        routes::edits::update_invoice,
        routes::edits::update_customer,
        routes::edits::list_terms,
        routes::edits::update_terms,
        routes::edits::archive_terms,
        routes::audit::list,
        routes::invoices::create,
        routes::invoices::get,
        routes::invoices::list,
        routes::invoices::void,
        routes::invoices::create_link,
        routes::invoices::revoke_link,
        routes::sending::send,
        routes::sending::put_invoice_email_settings,
        routes::payments::list,
        routes::payments::get,
        routes::refunds::create,
        routes::refunds::list,
        routes::refunds::get,
        routes::offline::create_credit_note,
        routes::offline::list_credit_notes,
        routes::offline::create_offline_payment,
        routes::checkout::view,
        routes::checkout::pay,
        routes::account::create_link,
        routes::account::revoke_link,
        routes::account::view,
        routes::account::pay,
        routes::checkout::confirm,
        routes::sandbox::create_token,
        routes::stripe_webhook::receive,
        crate::erp::routes::create_endpoint,
        crate::erp::routes::list_endpoints,
        crate::erp::routes::get_endpoint,
        crate::erp::routes::delete_endpoint,
        crate::erp::routes::list_deliveries,
        crate::erp::routes::retry_delivery,
        crate::erp::routes::put_receipt_settings,
        routes::alerts::list,
        routes::disputes::create,
        routes::disputes::list,
        routes::disputes::get,
        routes::disputes::resolve,
        routes::exceptions::list,
        routes::exceptions::get,
        routes::exceptions::resolve,
        routes::reminder_settings::put,
        routes::ops::healthz,
        routes::ops::livez,
        routes::ops::readyz,
    ),
    components(schemas(
        events::PaymentSucceeded,
        events::ReceiptAllocation,
        events::InvoicePaid,
        events::RefundSucceeded,
        events::InvoiceSent,
        events::CreditNoteCreated,
        events::InvoiceReminder,
        events::InstallmentMissed,
        events::InvoiceLateFeeApplied,
        events::DisputeOpened,
        events::DisputeResolved,
        events::InvoiceWrittenOff,
    )),
    modifiers(&SecuritySchemes, &ProblemResponses, &OperationIds)
)]
pub struct ApiDoc;

/// The component schema of each event's `data` (exhaustive: a new event type does not compile until it
/// has one, and `webhooks_document_every_event` checks the schema exists).
fn event_schema(event: EventType) -> &'static str {
    match event {
        EventType::PaymentSucceeded => "PaymentSucceeded",
        EventType::InvoicePaid => "InvoicePaid",
        EventType::RefundSucceeded => "RefundSucceeded",
        EventType::InvoiceSent => "InvoiceSent",
        EventType::CreditNoteCreated => "CreditNoteCreated",
        EventType::InvoiceReminder => "InvoiceReminder",
        EventType::InstallmentMissed => "InstallmentMissed",
        EventType::InvoiceLateFeeApplied => "InvoiceLateFeeApplied",
        EventType::DisputeOpened => "DisputeOpened",
        EventType::DisputeResolved => "DisputeResolved",
        EventType::InvoiceWrittenOff => "InvoiceWrittenOff",
    }
}

/// The served document: [`ApiDoc`] plus OpenAPI 3.1's `webhooks`, one entry per event type, each the
/// signed `POST` an endpoint receives (utoipa 5 has no `webhooks` field, so it is added to the JSON here).
pub fn document() -> serde_json::Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or_default();
    let header = |name: &str, description: &str| serde_json::json!({"name": name, "in": "header", "required": true, "description": description, "schema": {"type": "string"}});
    let webhooks: serde_json::Map<String, serde_json::Value> = EventType::ALL
        .iter()
        .map(|event| {
            let name = event.as_str();
            let operation = serde_json::json!({
                "post": {
                    "operationId": format!("webhook_{}", name.replace('.', "_")),
                    "tags": ["webhooks"],
                    "summary": format!("The `{name}` event, sent to each active endpoint of the seller"),
                    "description": "Standard Webhooks: verify `webhook-signature` before trusting the body, deduplicate on `webhook-id`. Catalogue: docs/webhooks.md.",
                    "parameters": [
                        header("webhook-id", "The event id; the same on every retry"),
                        header("webhook-timestamp", "Unix seconds of this attempt"),
                        header("webhook-signature", "`v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` under the endpoint's secret"),
                    ],
                    "requestBody": {
                        "required": true,
                        "content": {"application/json": {"schema": {
                            "type": "object",
                            "required": ["id", "type", "created_at", "data"],
                            "properties": {
                                "id": {"type": "string", "description": "The event id (`evt_...`), equal to `webhook-id`"},
                                "type": {"type": "string", "enum": [name]},
                                "created_at": {"type": "string", "format": "date-time"},
                                "data": {"$ref": format!("#/components/schemas/{}", event_schema(*event))},
                            },
                        }}},
                    },
                    "responses": {
                        "2XX": {"description": "Acknowledged; anything else is retried with backoff (410 disables the endpoint)"},
                    },
                },
            });
            (name.to_owned(), operation)
        })
        .collect();
    if let Some(object) = doc.as_object_mut() {
        object.insert("webhooks".to_owned(), serde_json::Value::Object(webhooks));
    }
    doc
}

struct SecuritySchemes;

/// Operation ids are `{tag}_{handler}` (`invoices_list`, `payments_list`): utoipa's default is the handler's
/// name alone, and several modules name theirs `list` or `get`, which SDK generators turn into clashing methods.
struct OperationIds;

impl Modify for OperationIds {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for op in operations.into_iter().flatten() {
                let tag = op
                    .tags
                    .as_ref()
                    .and_then(|t| t.first())
                    .map(|t| t.replace(' ', "_"));
                if let (Some(tag), Some(id)) = (tag, op.operation_id.as_mut()) {
                    if !id.starts_with(&format!("{tag}_")) {
                        *id = format!("{tag}_{id}");
                    }
                }
            }
        }
    }
}

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let bearer = |format: &str, description: &str| {
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format(format)
                    .description(Some(description))
                    .build(),
            )
        };
        components.add_security_scheme(
            "operator_token",
            bearer("opaque", "TRANCHE_OPERATOR_TOKEN: may create sellers"),
        );
        components.add_security_scheme("seller_key", bearer("sk_...", "A seller's secret key"));
        components.add_security_scheme(
            "checkout_token",
            bearer("JWT", "A checkout token (EdDSA JWT) for one invoice"),
        );
        components.add_security_scheme(
            "account_token",
            bearer(
                "JWT",
                "An account token (EdDSA JWT) for every open invoice of one customer",
            ),
        );
    }
}

/// Makes the document say what the server does for every operation, in one place rather than in each
/// handler's annotation: problems are `application/problem+json`; every authenticated operation can answer
/// 401 (and checkout operations 403 for a foreign origin and 429 when rate limited); every operation with a
/// JSON body can answer 400 (malformed or unknown fields), 413 (too large) and 415 (not JSON).
struct ProblemResponses;

impl Modify for ProblemResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    "application/problem+json",
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        for (path, item) in openapi.paths.paths.iter_mut() {
            let operations = [
                item.get.as_mut(),
                item.post.as_mut(),
                item.put.as_mut(),
                item.delete.as_mut(),
                item.patch.as_mut(),
            ];
            for op in operations.into_iter().flatten() {
                let responses = &mut op.responses.responses;
                for response in responses.values_mut() {
                    if let utoipa::openapi::RefOr::T(r) = response {
                        let is_problem = r.content.get("application/json").is_some_and(|c| {
                            matches!(&c.schema, Some(utoipa::openapi::RefOr::Ref(re)) if re.ref_location.ends_with("/Problem"))
                        });
                        if is_problem {
                            if let Some(c) = r.content.shift_remove("application/json") {
                                r.content.insert("application/problem+json".to_owned(), c);
                            }
                        }
                    }
                }
                let mut add = |code: &str, description: &str| {
                    responses
                        .entry(code.to_owned())
                        .or_insert_with(|| problem(description).into());
                };
                if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
                    add("401", "Missing or invalid credentials");
                }
                if path.starts_with("/v1/checkout")
                    || path.starts_with("/v1/account/")
                    || path == "/v1/account"
                {
                    add("403", "Origin not in the seller's allowed_origins");
                    add("429", "Rate limited; see Retry-After");
                }
                let has_query = op.parameters.as_ref().is_some_and(|ps| {
                    ps.iter()
                        .any(|p| matches!(p.parameter_in, utoipa::openapi::path::ParameterIn::Query))
                });
                if has_query {
                    add("400", "Invalid query parameter");
                }
                if op.request_body.is_some() {
                    add("400", "Malformed body, unknown field or invalid value");
                    add("413", "Body too large");
                    add("415", "Body is not application/json");
                }
            }
        }
    }
}

#[cfg(test)]
mod route_tests {
    use std::collections::{BTreeMap, BTreeSet};

    use utoipa::OpenApi;

    use super::{document, ApiDoc, EventType};
    use crate::routes::route_table;

    /// Path -> methods (lowercase, without HEAD and OPTIONS, which the document does not list) of every
    /// documented route the server registers.
    fn served() -> BTreeMap<String, BTreeSet<String>> {
        route_table()
            .into_iter()
            .filter(|r| r.documented)
            .map(|r| {
                let methods = r
                    .methods
                    .iter()
                    .filter(|m| !matches!(**m, "HEAD" | "OPTIONS"))
                    .map(|m| m.to_ascii_lowercase())
                    .collect();
                (r.path, methods)
            })
            .collect()
    }

    fn documented() -> BTreeMap<String, BTreeSet<String>> {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
        doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .map(|(path, item)| {
                let methods = item
                    .as_object()
                    .expect("path item")
                    .keys()
                    .filter(|k| matches!(k.as_str(), "get" | "post" | "put" | "delete" | "patch"))
                    .cloned()
                    .collect();
                (path.clone(), methods)
            })
            .collect()
    }

    #[test]
    fn every_route_is_documented_and_every_documented_operation_is_served() {
        let served = served();
        let documented = documented();
        for (path, methods) in &served {
            assert_eq!(
                documented.get(path),
                Some(methods),
                "{path}: served {methods:?}, documented {:?}",
                documented.get(path)
            );
        }
        for (path, methods) in &documented {
            assert_eq!(
                served.get(path),
                Some(methods),
                "{path} documented but not served as {methods:?}"
            );
        }
    }

    #[test]
    fn the_buyer_and_seller_invoice_views_are_separate_schemas() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
        let schemas = &doc["components"]["schemas"];
        let seller = &schemas["InvoiceView"]["properties"];
        let buyer = &schemas["CheckoutInvoiceView"]["properties"];
        assert!(seller.is_object() && buyer.is_object(), "{schemas}");
        assert_ne!(seller, buyer);
        let checkout = doc["paths"]["/v1/checkout"]["get"]["responses"]["200"].to_string();
        let view = checkout
            .split("#/components/schemas/")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .unwrap_or_default()
            .to_owned();
        let invoice_ref = schemas[view.as_str()]["properties"]["invoice"].to_string();
        assert!(
            invoice_ref.contains("CheckoutInvoiceView"),
            "{view}: {invoice_ref}"
        );
    }

    /// A problem's `code` is documented as the closed set of codes, so clients can generate an enum.
    #[test]
    fn the_problem_code_is_the_error_code_enum() {
        let doc = serde_json::to_value(ApiDoc::openapi()).expect("the document serialises");
        let schemas = &doc["components"]["schemas"];
        let code = &schemas["Problem"]["properties"]["code"];
        let target = code["$ref"]
            .as_str()
            .and_then(|r| r.strip_prefix("#/components/schemas/"))
            .map_or(code, |name| &schemas[name]);
        let listed: Vec<&str> = target["enum"]
            .as_array()
            .unwrap_or_else(|| panic!("Problem.code is not an enum: {code}"))
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        let codes: Vec<&str> = tranche_domain::ErrorCode::ALL
            .iter()
            .map(|c| c.as_str())
            .collect();
        assert_eq!(listed, codes);
    }

    #[test]
    fn webhooks_document_every_event() {
        let doc = document();
        for event in EventType::ALL {
            let hook = &doc["webhooks"][event.as_str()]["post"];
            assert!(hook.is_object(), "{} has no webhook entry", event.as_str());
            let reference = hook["requestBody"]["content"]["application/json"]["schema"]["properties"]
                ["data"]["$ref"]
                .as_str()
                .expect("data refers to a schema");
            let name = reference.trim_start_matches("#/components/schemas/");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{reference} is not in components"
            );
        }
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = document();
        let mut seen = BTreeMap::new();
        let paths = doc["paths"].as_object().expect("paths").iter();
        let webhooks = doc["webhooks"].as_object().expect("webhooks").iter();
        for (path, item) in paths.chain(webhooks) {
            for (method, operation) in item.as_object().expect("path item") {
                if let Some(id) = operation.get("operationId").and_then(|v| v.as_str()) {
                    if let Some(first) = seen.insert(id.to_owned(), format!("{method} {path}")) {
                        panic!("operationId {id} used by {first} and {method} {path}");
                    }
                }
            }
        }
        assert!(seen.len() > 20, "{seen:?}");
    }
}
