// <tranche-checkout> loader. Served as /widget/v1/tranche.js (with SRI); the build fills in the content-hashed
// names of the wasm, its JS glue and the stylesheet, so those are cached forever and this file for minutes,
// and their SRI hashes, so every byte the widget runs is the byte the build made.
const FILES = /*TRANCHE_FILES*/ { glue: "tranche_widget.js", wasm: "tranche_widget_bg.wasm", css: "tranche.css", i18n: {}, integrity: {} };
const BASE = new URL(".", import.meta.url);
const ORIGIN = new URL(import.meta.url).origin;

const MESSAGES = {
  integrity: "The checkout's files failed their integrity check, so it was not started. Nothing was charged.",
  network: "The checkout could not be loaded. Check your connection, then reload the page.",
};

// Why a checked download failed: if the file downloads fine without the check, it was altered. A loader
// without hashes (not built by `cargo xtask build-widget`) has nothing to check against: it runs nothing.
const failure = (url) =>
  fetch(url, { cache: "no-store" }).then((r) => r.ok, () => false).then((ok) => ({ code: ok ? "integrity" : "network" }));
const hash = (name) => FILES.integrity[name] || Promise.reject({ code: "integrity" });

// The browser checks the bytes against `integrity` before the promise resolves; a mismatch rejects.
async function verified(name, path = FILES[name]) {
  const url = new URL(path, BASE);
  const response = await fetch(url, { integrity: await hash(name) }).catch(() => failure(url).then((e) => Promise.reject(e)));
  return response.ok ? response : Promise.reject({ code: "network" });
}

// `import()` takes no integrity, so the glue first goes into the page's module map through a modulepreload
// link with the hash: a mismatch fails the link (and leaves the map entry failed, so no later import can
// run the altered file); only after the link loaded is the verified module imported.
async function verifiedGlue() {
  const url = new URL(FILES.glue, BASE).href;
  const link = Object.assign(document.createElement("link"), { rel: "modulepreload", integrity: await hash("glue"), crossOrigin: "anonymous", href: url });
  await new Promise((resolve, reject) => {
    link.onload = resolve;
    link.onerror = () => failure(url).then(reject);
    (document.head || document.documentElement).append(link);
  });
  return import(url);
}

let runtime;
function loadRuntime() {
  if (runtime) return runtime;
  // One wasm instance per page, however many elements it has. The three downloads run in parallel.
  const wasm = verified("wasm");
  // Awaited below; this only keeps a failure that the glue's failure overtakes from being "unhandled".
  wasm.catch(() => {});
  runtime = Promise.all([
    // The glue instantiates the wasm from this verified response, never from a URL of its own.
    verifiedGlue().then((m) => m.default({ module_or_path: wasm }).then(() => m)),
    // A constructed stylesheet: a seller's strict style-src needs no exception for it.
    verified("css").then(async (r) => {
      const sheet = new CSSStyleSheet();
      sheet.replaceSync(await r.text());
      return sheet;
    }),
  ]).catch((error) => {
    // Asked again on the next render (a network failure may pass).
    runtime = undefined;
    throw error;
  });
  return runtime;
}

// A language's strings (English is in the wasm): fetched once per page, only for a page in that language,
// and checked like every other file.
const strings = {};
function loadStrings(lang) {
  const path = FILES.i18n[lang];
  if (!path) return undefined;
  return (strings[lang] ??= verified("i18n:" + lang, path)
    .then((r) => r.json())
    .catch((error) => {
      delete strings[lang];
      throw error;
    }));
}

// Stripe.js, loaded from the address the checkout view names (Stripe's, in production) once per page and
// never bundled: Stripe requires it be served by Stripe.
let stripeJs;

const ATTRIBUTES = ["token", "locale", "api", "theme"];
// What the card fields take of the theme: the resolved `--_*` properties of tranche.css.
const THEME = ["bg", "text", "muted", "border", "danger", "focus", "primary", "radius", "font", "scheme"];
const DARK = matchMedia("(prefers-color-scheme: dark)");

class TrancheCheckout extends HTMLElement {
  static observedAttributes = ATTRIBUTES;

  connectedCallback() {
    // A property set before the element was defined (a framework rendering first) is an own property that
    // hides the accessor: move it onto the attribute.
    for (const name of ATTRIBUTES) {
      if (Object.prototype.hasOwnProperty.call(this, name)) {
        const value = this[name];
        delete this[name];
        this[name] = value;
      }
    }
    this.#started = true;
    this.addEventListener("tranche:stripe-mount", this.#onStripeMount);
    DARK.addEventListener("change", this.#postTheme);
    this.#render();
  }

  // Re-reads the invoice and starts the view afresh (e.g. after the seller's page learned of a payment).
  refresh() {
    return this.isConnected ? this.#render() : Promise.resolve();
  }

  disconnectedCallback() {
    this.#started = false;
    DARK.removeEventListener("change", this.#postTheme);
    this.#teardown();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    // Theme is pure CSS (:host([theme])); anything else needs a fresh view (also after a failed load: a new
    // token may well work).
    if (name !== "theme" && oldValue !== newValue && this.#started) this.#render();
    if (name === "theme") this.#postTheme();
  }

  // A theme change while the card fields are shown (the attribute, or the system's scheme under `auto`)
  // reaches them too; the fields page applies only allow-listed values. Posted to the frame's origin only.
  #postTheme = () => {
    const frame = this.shadowRoot?.querySelector("iframe[part~=fields]");
    if (!frame?.contentWindow) return;
    const theme = Object.fromEntries(this.#theme());
    frame.contentWindow.postMessage({ type: "tranche:theme", theme }, new URL(frame.src).origin);
  };

  #theme() {
    const style = getComputedStyle(this);
    return THEME.map((name) => [name, style.getPropertyValue("--_" + name).trim()]);
  }

  // The sandbox fields page's address, from `page` (its URL, a newline, the locale): the page's origin, the
  // locale and the resolved theme (tranche.css sets each) as query parameters; the wasm asks.
  _trancheFieldsSrc(page) {
    const [url, locale] = page.split("\n");
    return url + "?" + new URLSearchParams([["parent", location.origin], ["locale", locale], ...this.#theme()]);
  }

  #started = false;

  // Stripe's Payment Element (docs/gateways.md). Stripe's iframes refuse a shadow root, so the wasm's view asks
  // (event `tranche:stripe-mount`, kept from the page) for the Element in a light-DOM child of this element,
  // which the shadow root shows through a `<slot name="stripe">` put in the view's fields section (made here,
  // in place of the blank frame, not by the view: one more element type costs the wasm 1.5 KB). The theme reaches it as Stripe Appearance
  // variables; the amount, a canonical decimal string ("250.00", "1200", "10.250"), as Stripe's minor units
  // (its digits: never a float).
  #stripe;
  #onStripeMount = async (event) => {
    event.stopPropagation();
    // Sent while the view is being drawn: once it is, the slot takes the place of the (blank) sandbox frame
    // (the view is drawn afresh at each step, so this runs each time; the Element itself stays, below).
    await null;
    this.shadowRoot.querySelector("iframe[part~=fields]")?.replaceWith(Object.assign(document.createElement("slot"), { name: "stripe" }));
    const { key, src, amount, currency } = event.detail;
    // The view re-renders while paying: the Element mounted for this amount stays, with what the buyer typed.
    const id = amount + currency;
    if (this.#stripe?.id === id) return;
    this.#unmountStripe();
    const slot = this.appendChild(Object.assign(document.createElement("div"), { slot: "stripe" }));
    try {
      await (stripeJs ??= new Promise((onload, onerror) => document.head.append(Object.assign(document.createElement("script"), { src, onload, onerror }))));
      const stripe = Stripe(key);
      // tranche.css gives every one of these a default, so none is empty.
      const t = Object.fromEntries(this.#theme());
      const variables = { colorBackground: t.bg, colorText: t.text, colorDanger: t.danger, colorPrimary: t.primary, borderRadius: t.radius, fontFamily: t.font };
      const elements = stripe.elements({ mode: "payment", amount: +amount.replace(".", ""), currency: currency.toLowerCase(), paymentMethodCreation: "manual", appearance: { variables } });
      elements.create("payment").mount(slot);
      this.#stripe = { id, stripe, elements };
    } catch {
      // Stripe.js did not load (offline, or the page's CSP refuses js.stripe.com): reloading the page may help.
      slot.textContent = "Stripe.js could not be loaded.";
    }
  };

  // The PaymentMethod id (`pm_...`) for the attempt with Idempotency-Key `key` (its retry sends the same
  // request); refused (an incomplete card), the Element says why.
  #pm = [];
  async _trancheStripePay(key) {
    if (this.#pm[0] === key) return this.#pm[1];
    const { stripe, elements } = this.#stripe;
    if ((await elements.submit()).error) throw 0;
    const { paymentMethod, error } = await stripe.createPaymentMethod({ elements });
    if (error) throw 0;
    this.#pm = [key, paymentMethod.id];
    return paymentMethod.id;
  }

  // 3-D Secure: the issuer's check, in Stripe's own frame; how it ended is the API's confirm to say.
  _trancheStripeAction(clientSecret) {
    return this.#stripe.stripe.handleNextAction({ clientSecret });
  }

  #mounted = null;
  #generation = 0;

  #unmountStripe() {
    this.#stripe = undefined;
    this.querySelector(":scope>[slot=stripe]")?.remove();
  }

  #teardown() {
    this.#generation++;
    this.#unmountStripe();
    if (this.#mounted) {
      this.#mounted.unmount();
      this.#mounted.free?.();
      this.#mounted = null;
    }
  }

  // Nothing payable stays on screen: the shadow root holds only the message; the page hears `tranche:error`.
  #fail(shadow, error) {
    const code = error?.code === "integrity" ? "integrity" : "network";
    const message = MESSAGES[code];
    const p = Object.assign(document.createElement("p"), { textContent: message });
    p.setAttribute("role", "alert");
    p.setAttribute("part", "message");
    p.dataset.testid = "load-error";
    p.style.color = "#b42318";
    shadow.replaceChildren(p);
    this.dispatchEvent(new CustomEvent("tranche:error", { bubbles: true, composed: true, detail: { code, message } }));
  }

  async #render() {
    this.#teardown();
    const generation = this.#generation;
    const shadow = this.shadowRoot ?? this.attachShadow({ mode: "open" });
    const locale = this.getAttribute("locale") || this.closest("[lang]")?.getAttribute("lang") || navigator.language || "en";
    let wasm, sheet, table;
    try {
      [[wasm, sheet], table] = await Promise.all([loadRuntime(), loadStrings(locale.split(/[-_]/)[0].toLowerCase())]);
    } catch (error) {
      if (generation === this.#generation && this.isConnected) this.#fail(shadow, error);
      return;
    }
    // Removed or re-rendered while loading: that newer call owns the element now.
    if (generation !== this.#generation || !this.isConnected) return;
    shadow.querySelector("[data-testid=load-error]")?.remove();
    if (!shadow.adoptedStyleSheets.includes(sheet)) shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, sheet];
    const api = (this.getAttribute("api") || ORIGIN).replace(/\/+$/, "");
    this.#mounted = wasm.mount(this, shadow, this.getAttribute("token") || "", api, locale, table);
  }
}

// Properties mirror the attributes (`el.token = "..."` re-renders like setAttribute does).
for (const name of ATTRIBUTES) {
  Object.defineProperty(TrancheCheckout.prototype, name, {
    get() {
      return this.getAttribute(name);
    },
    set(value) {
      if (value == null) this.removeAttribute(name);
      else this.setAttribute(name, String(value));
    },
    configurable: true,
  });
}

if (!customElements.get("tranche-checkout")) customElements.define("tranche-checkout", TrancheCheckout);
