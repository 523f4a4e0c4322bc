// <tranche-checkout> in a React 19 app. React passes `token`, `locale` and `theme` to the element (as
// properties once it is defined); the element's events are DOM CustomEvents, so listen with a ref.
import { useEffect, useRef, useState } from "react";
import { createRoot } from "react-dom/client";

function TrancheCheckout({ token, locale, theme, onPaid, onError }) {
  const ref = useRef(null);
  useEffect(() => {
    const el = ref.current;
    const paid = (e) => onPaid?.(e.detail);
    const failed = (e) => onError?.(e.detail);
    el.addEventListener("tranche:payment-succeeded", paid);
    el.addEventListener("tranche:error", failed);
    return () => {
      el.removeEventListener("tranche:payment-succeeded", paid);
      el.removeEventListener("tranche:error", failed);
    };
  }, [onPaid, onError]);
  return <tranche-checkout ref={ref} token={token} locale={locale} theme={theme} />;
}

function App() {
  // In your app the token comes from your server, minted with your secret key (see ../mint/); this example
  // reads it from the address (?token=...) so it runs anywhere.
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const [paid, setPaid] = useState(null);
  const [error, setError] = useState(null);
  return (
    <main>
      <h1>Pay your invoice</h1>
      <TrancheCheckout token={token} locale="en" theme="auto" onPaid={setPaid} onError={setError} />
      {paid && (
        <p data-testid="app-paid">
          Received {paid.amount} {paid.currency}; {paid.balance_due} left to pay.
        </p>
      )}
      {error && <p data-testid="app-error">{error.code}</p>}
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
