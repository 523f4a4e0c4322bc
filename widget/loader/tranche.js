// <tranche-checkout> loader. Served as /widget/v1/tranche.js (with SRI); the build fills in the content-hashed
// names of the wasm, its JS glue and the stylesheet, so those are cached forever and this file for minutes.
const FILES = /*TRANCHE_FILES*/ { glue: "tranche_widget.js", wasm: "tranche_widget_bg.wasm", css: "tranche.css" };
const BASE = new URL(".", import.meta.url);
const ORIGIN = new URL(import.meta.url).origin;

let runtime;
function loadRuntime() {
  // One wasm instance per page, however many elements it has.
  runtime ??= Promise.all([
    import(new URL(FILES.glue, BASE).href).then(async (m) => {
      await m.default({ module_or_path: new URL(FILES.wasm, BASE) });
      return m;
    }),
    fetch(new URL(FILES.css, BASE)).then((r) => (r.ok ? r.text() : "")),
  ]);
  return runtime;
}

class TrancheCheckout extends HTMLElement {
  static observedAttributes = ["token", "locale", "api", "theme"];

  connectedCallback() {
    this.#render();
  }

  disconnectedCallback() {
    this.#teardown();
  }

  attributeChangedCallback(name, oldValue, newValue) {
    // Theme is pure CSS (:host([theme])); anything else needs a fresh view.
    if (name !== "theme" && oldValue !== newValue && this.isConnected && this.#mounted) this.#render();
  }

  #mounted = null;
  #generation = 0;

  #teardown() {
    this.#generation++;
    if (this.#mounted) {
      this.#mounted.unmount();
      this.#mounted.free?.();
      this.#mounted = null;
    }
  }

  async #render() {
    this.#teardown();
    const generation = this.#generation;
    const shadow = this.shadowRoot ?? this.attachShadow({ mode: "open" });
    const [wasm, css] = await loadRuntime();
    // Removed or re-rendered while loading: that newer call owns the element now.
    if (generation !== this.#generation || !this.isConnected) return;
    if (!shadow.querySelector("style[data-tranche]")) {
      const style = document.createElement("style");
      style.dataset.tranche = "";
      style.textContent = css;
      shadow.prepend(style);
    }
    const api = (this.getAttribute("api") || ORIGIN).replace(/\/+$/, "");
    const locale = this.getAttribute("locale") || this.closest("[lang]")?.getAttribute("lang") || navigator.language || "en";
    this.#mounted = wasm.mount(this, shadow, this.getAttribute("token") || "", api, locale);
  }
}

if (!customElements.get("tranche-checkout")) customElements.define("tranche-checkout", TrancheCheckout);
