// Types for <tranche-checkout>, the Tranche checkout element (loaded from /widget/{version}/tranche.js).
// Shipped beside the loader; checked against the element by `e2e/tests/types.rs`.

/** Amounts are decimal strings in the invoice currency ("250.00", "120000" for JPY): never numbers. */
export type DecimalString = string;

/** `tranche:ready`: the invoice loaded. */
export interface TrancheReadyDetail {
  invoice_id: string;
  number: string;
  /** ISO 4217 code, e.g. "USD". */
  currency: string;
  balance_due: DecimalString;
  status: "open" | "partially_paid" | "paid" | "void";
}

/** `tranche:amount-change`: the buyer picked or typed an amount. */
export interface TrancheAmountChangeDetail {
  invoice_id: string;
  currency: string;
  /** The amount as it would be paid, or null while the input is empty or refused. */
  amount: DecimalString | null;
  valid: boolean;
  /** The rule that refused the amount (e.g. "amount_below_minimum"), or null. */
  code: string | null;
  remaining_after: DecimalString | null;
}

/** `tranche:payment-succeeded`: a payment was made (or is pending, for bank payments). */
export interface TranchePaymentSucceededDetail {
  payment_id: string;
  amount: DecimalString;
  currency: string;
  status: "succeeded" | "pending";
  invoice_id: string;
  amount_paid: DecimalString;
  balance_due: DecimalString;
  invoice_status: "open" | "partially_paid" | "paid" | "void";
}

/** `tranche:payment-failed`: declined, refused, or the outcome is not known yet. */
export interface TranchePaymentFailedDetail {
  code: string;
  decline_code: string | null;
  message: string;
  advice: string | null;
  /** True when retrying with the same Idempotency-Key is the right next step (the widget offers it). */
  retryable: boolean;
}

/** Why the widget could not load. */
export type TrancheErrorCode =
  | "integrity"
  | "network"
  | "invalid_checkout_token"
  | "origin_not_allowed"
  | "rate_limited"
  | "server_error";

/** `tranche:error`: a load failure; the element shows `message` too. */
export interface TrancheErrorDetail {
  code: TrancheErrorCode;
  message: string;
}

/** Every event the element dispatches; all bubble and are composed (they leave the shadow root). */
export interface TrancheCheckoutEventMap {
  "tranche:ready": CustomEvent<TrancheReadyDetail>;
  "tranche:amount-change": CustomEvent<TrancheAmountChangeDetail>;
  "tranche:payment-succeeded": CustomEvent<TranchePaymentSucceededDetail>;
  "tranche:payment-failed": CustomEvent<TranchePaymentFailedDetail>;
  "tranche:error": CustomEvent<TrancheErrorDetail>;
}

export type TrancheTheme = "light" | "dark" | "auto";

/** `<tranche-checkout>`. Each property mirrors its attribute; setting one re-renders (except `theme`). */
export interface TrancheCheckoutElement extends HTMLElement {
  /** Checkout token from POST /v1/invoices/{id}/checkout-links, or an account token from
   *  POST /v1/customers/{id}/account-links for account mode (minted on your server). */
  token: string | null;
  /** BCP 47 tag; en, de, fr, es, it, nl, pt and ja are translated, others fall back to English. */
  locale: string | null;
  /** Base URL of the Tranche API when it differs from where the loader came from. */
  api: string | null;
  theme: TrancheTheme | null;
  /** Re-reads the invoice and starts the view afresh. */
  refresh(): Promise<void>;

  addEventListener<K extends keyof TrancheCheckoutEventMap>(
    type: K,
    listener: (this: TrancheCheckoutElement, event: TrancheCheckoutEventMap[K]) => unknown,
    options?: boolean | AddEventListenerOptions,
  ): void;
  addEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | AddEventListenerOptions,
  ): void;
  removeEventListener<K extends keyof TrancheCheckoutEventMap>(
    type: K,
    listener: (this: TrancheCheckoutElement, event: TrancheCheckoutEventMap[K]) => unknown,
    options?: boolean | EventListenerOptions,
  ): void;
  removeEventListener(
    type: string,
    listener: EventListenerOrEventListenerObject,
    options?: boolean | EventListenerOptions,
  ): void;
}

declare global {
  interface HTMLElementTagNameMap {
    "tranche-checkout": TrancheCheckoutElement;
  }
  interface DocumentEventMap extends TrancheCheckoutEventMap {}
}
