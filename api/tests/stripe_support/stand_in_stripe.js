// A stand-in for Stripe.js v3, for the browser test only (served by the fake Stripe at /_test/stripe.js). It
// implements exactly the calls the widget's loader makes: Stripe(pk), stripe.elements({...}),
// elements.create("payment"), element.mount(el), elements.submit(), stripe.createPaymentMethod({elements}),
// stripe.handleNextAction({clientSecret}). Its "Payment Element" is one input whose text names the fake's
// scenario (visa, threeds, insufficientfunds, ...); the PaymentMethod id is pm_<scenario>_<n>, which the
// fake Stripe behind the API understands. handleNextAction stands in for the issuer's challenge: it asks the
// fake to complete the PaymentIntent (the input's data-challenge="fail" fails it). Every call is logged in
// window.standInStripe.calls for the test to read.
(() => {
  const base = new URL(document.currentScript.src).origin;
  const calls = [];
  window.standInStripe = { calls };
  let n = 0;
  window.Stripe = (key) => {
    calls.push(["Stripe", key]);
    let input;
    return {
      elements(options) {
        calls.push(["elements", options]);
        return {
          create(type) {
            calls.push(["create", type]);
            return {
              mount(el) {
                calls.push(["mount", el.getAttribute("slot")]);
                input = Object.assign(document.createElement("input"), { name: "stand-in-card", placeholder: "scenario" });
                el.replaceChildren(input);
              },
            };
          },
          async submit() {
            calls.push(["submit"]);
            return input.value ? {} : { error: { message: "Your card number is incomplete." } };
          },
        };
      },
      async createPaymentMethod({ elements }) {
        calls.push(["createPaymentMethod", !!elements]);
        n += 1;
        return { paymentMethod: { id: `pm_${input.value}_${Date.now()}${n}` } };
      },
      async handleNextAction({ clientSecret }) {
        calls.push(["handleNextAction", clientSecret]);
        const intent = clientSecret.split("_secret_")[0];
        const outcome = input.dataset.challenge || "succeed";
        await fetch(`${base}/_test/next_action/${intent}/${outcome}`, { method: "POST" });
        return { paymentIntent: { id: intent } };
      },
    };
  };
})();
