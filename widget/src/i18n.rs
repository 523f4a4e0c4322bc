//! Strings and formatting for the four supported locales. Unknown locales fall back to English; the region
//! part (`de-AT`) only picks the language. Every amount rejection and decline code has its own sentence,
//! so the buyer always reads *why*, never "something went wrong".

use tranche_domain::format::format_amount;
use tranche_domain::{Currency, ErrorCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Locale {
    En,
    De,
    Fr,
    Es,
}

impl Locale {
    /// `"de-DE"`, `"de"`, `"DE_at"` -> German; anything unknown -> English.
    pub fn parse(tag: &str) -> Locale {
        let lang = tag.split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
        match lang.as_str() {
            "de" => Locale::De,
            "fr" => Locale::Fr,
            "es" => Locale::Es,
            _ => Locale::En,
        }
    }

    /// The tag used for number formatting in the domain's `format` module.
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en",
            Locale::De => "de",
            Locale::Fr => "fr",
            Locale::Es => "es",
        }
    }

    /// `"1234.50"` in `currency` -> `"$1,234.50"` / `"1.234,50 $"` / `"1 234,50 $"`.
    pub fn money(self, canonical: &str, currency: Currency) -> String {
        let number = format_amount(canonical, self.tag());
        let symbol = match currency.code() {
            "USD" => "$",
            "EUR" => "€",
            "GBP" => "£",
            "JPY" => "¥",
            "CHF" => "CHF",
            other => other,
        };
        let is_code = symbol.len() == 3 && symbol.bytes().all(|b| b.is_ascii_uppercase());
        match self {
            Locale::En if is_code => format!("{symbol}\u{a0}{number}"),
            Locale::En => format!("{symbol}{number}"),
            _ => format!("{number}\u{a0}{symbol}"),
        }
    }

    /// `"2026-11-01"` -> `"Nov 1, 2026"` / `"1. Nov. 2026"` / `"1 nov. 2026"` / `"1 nov 2026"`.
    pub fn date(self, iso: &str) -> String {
        let mut parts = iso.splitn(3, '-');
        let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
            return iso.to_owned();
        };
        let (Ok(month), Ok(day)) = (m.parse::<usize>(), d.parse::<u32>()) else {
            return iso.to_owned();
        };
        let Some(index) = month.checked_sub(1).filter(|i| *i < 12) else {
            return iso.to_owned();
        };
        const EN: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        const DE: [&str; 12] = [
            "Jan.", "Feb.", "März", "Apr.", "Mai", "Juni", "Juli", "Aug.", "Sept.", "Okt.", "Nov.", "Dez.",
        ];
        const FR: [&str; 12] = [
            "janv.", "févr.", "mars", "avr.", "mai", "juin", "juil.", "août", "sept.", "oct.", "nov.", "déc.",
        ];
        const ES: [&str; 12] = [
            "ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sept", "oct", "nov", "dic",
        ];
        match self {
            Locale::En => format!("{} {day}, {y}", EN[index]),
            Locale::De => format!("{day}. {} {y}", DE[index]),
            Locale::Fr => format!("{day} {} {y}", FR[index]),
            Locale::Es => format!("{day} {} {y}", ES[index]),
        }
    }

    /// A fixed UI string.
    pub fn t(self, key: Key) -> &'static str {
        use Key::*;
        use Locale::*;
        match (key, self) {
            (Invoice, En) => "Invoice",
            (Invoice, De) => "Rechnung",
            (Invoice, Fr) => "Facture",
            (Invoice, Es) => "Factura",
            (Issued, En) => "Issued",
            (Issued, De) => "Ausgestellt",
            (Issued, Fr) => "Émise le",
            (Issued, Es) => "Emitida",
            (Due, En) => "Due",
            (Due, De) => "Fällig",
            (Due, Fr) => "Échéance",
            (Due, Es) => "Vence",
            (Description, En) => "Description",
            (Description, De) => "Beschreibung",
            (Description, Fr) => "Description",
            (Description, Es) => "Descripción",
            (Quantity, En) => "Qty",
            (Quantity, De) => "Menge",
            (Quantity, Fr) => "Qté",
            (Quantity, Es) => "Cant.",
            (UnitPrice, En) => "Unit price",
            (UnitPrice, De) => "Einzelpreis",
            (UnitPrice, Fr) => "Prix unitaire",
            (UnitPrice, Es) => "Precio unitario",
            (Amount, En) => "Amount",
            (Amount, De) => "Betrag",
            (Amount, Fr) => "Montant",
            (Amount, Es) => "Importe",
            (Subtotal, En) => "Subtotal",
            (Subtotal, De) => "Zwischensumme",
            (Subtotal, Fr) => "Sous-total",
            (Subtotal, Es) => "Subtotal",
            (Tax, En) => "Tax",
            (Tax, De) => "Steuer",
            (Tax, Fr) => "Taxes",
            (Tax, Es) => "Impuestos",
            (Total, En) => "Total",
            (Total, De) => "Gesamt",
            (Total, Fr) => "Total",
            (Total, Es) => "Total",
            (AmountPaid, En) => "Amount paid",
            (AmountPaid, De) => "Bereits bezahlt",
            (AmountPaid, Fr) => "Déjà payé",
            (AmountPaid, Es) => "Importe pagado",
            (Discounts, En) => "Discounts taken",
            (Discounts, De) => "Gewährte Skonti",
            (Discounts, Fr) => "Escomptes accordés",
            (Discounts, Es) => "Descuentos aplicados",
            (BalanceDue, En) => "Balance due",
            (BalanceDue, De) => "Offener Betrag",
            (BalanceDue, Fr) => "Solde dû",
            (BalanceDue, Es) => "Saldo pendiente",
            (StatusOpen, En) => "Open",
            (StatusOpen, De) => "Offen",
            (StatusOpen, Fr) => "Ouverte",
            (StatusOpen, Es) => "Abierta",
            (StatusPartiallyPaid, En) => "Partially paid",
            (StatusPartiallyPaid, De) => "Teilweise bezahlt",
            (StatusPartiallyPaid, Fr) => "Partiellement payée",
            (StatusPartiallyPaid, Es) => "Pagada parcialmente",
            (StatusPaid, En) => "Paid",
            (StatusPaid, De) => "Bezahlt",
            (StatusPaid, Fr) => "Payée",
            (StatusPaid, Es) => "Pagada",
            (StatusVoid, En) => "Void",
            (StatusVoid, De) => "Storniert",
            (StatusVoid, Fr) => "Annulée",
            (StatusVoid, Es) => "Anulada",
            (History, En) => "Payments",
            (History, De) => "Zahlungen",
            (History, Fr) => "Paiements",
            (History, Es) => "Pagos",
            (ChooseAmount, En) => "How much do you want to pay?",
            (ChooseAmount, De) => "Wie viel möchten Sie zahlen?",
            (ChooseAmount, Fr) => "Quel montant souhaitez-vous payer ?",
            (ChooseAmount, Es) => "¿Cuánto quiere pagar?",
            (FullBalance, En) => "Full balance",
            (FullBalance, De) => "Gesamter offener Betrag",
            (FullBalance, Fr) => "Solde total",
            (FullBalance, Es) => "Saldo completo",
            (OtherAmount, En) => "Other amount",
            (OtherAmount, De) => "Anderer Betrag",
            (OtherAmount, Fr) => "Autre montant",
            (OtherAmount, Es) => "Otro importe",
            (RemainingAfter, En) => "Remaining after this payment",
            (RemainingAfter, De) => "Verbleibend nach dieser Zahlung",
            (RemainingAfter, Fr) => "Restant après ce paiement",
            (RemainingAfter, Es) => "Pendiente tras este pago",
            (Continue, En) => "Continue to payment",
            (Continue, De) => "Weiter zur Zahlung",
            (Continue, Fr) => "Continuer vers le paiement",
            (Continue, Es) => "Continuar al pago",
            (Back, En) => "Change amount",
            (Back, De) => "Betrag ändern",
            (Back, Fr) => "Modifier le montant",
            (Back, Es) => "Cambiar importe",
            (PaymentMethod, En) => "Payment method",
            (PaymentMethod, De) => "Zahlungsmethode",
            (PaymentMethod, Fr) => "Moyen de paiement",
            (PaymentMethod, Es) => "Método de pago",
            (Pay, En) => "Pay",
            (Pay, De) => "Zahlen",
            (Pay, Fr) => "Payer",
            (Pay, Es) => "Pagar",
            (Paying, En) => "Paying…",
            (Paying, De) => "Zahlung läuft…",
            (Paying, Fr) => "Paiement en cours…",
            (Paying, Es) => "Procesando el pago…",
            (Loading, En) => "Loading invoice…",
            (Loading, De) => "Rechnung wird geladen…",
            (Loading, Fr) => "Chargement de la facture…",
            (Loading, Es) => "Cargando la factura…",
            (ThankYou, En) => "Thank you! Your payment was received.",
            (ThankYou, De) => "Vielen Dank! Ihre Zahlung ist eingegangen.",
            (ThankYou, Fr) => "Merci ! Votre paiement a été reçu.",
            (ThankYou, Es) => "¡Gracias! Hemos recibido su pago.",
            (PendingNote, En) => "Your bank payment is being processed; the balance updates when it clears.",
            (PendingNote, De) => "Ihre Bankzahlung wird bearbeitet; der Saldo wird nach Eingang aktualisiert.",
            (PendingNote, Fr) => "Votre virement est en cours ; le solde sera mis à jour à réception.",
            (PendingNote, Es) => "Su pago bancario se está procesando; el saldo se actualizará al recibirlo.",
            (PaidAmount, En) => "Amount paid now",
            (PaidAmount, De) => "Jetzt bezahlt",
            (PaidAmount, Fr) => "Montant payé",
            (PaidAmount, Es) => "Importe pagado ahora",
            (NewBalance, En) => "New balance",
            (NewBalance, De) => "Neuer offener Betrag",
            (NewBalance, Fr) => "Nouveau solde",
            (NewBalance, Es) => "Nuevo saldo",
            (PayAgain, En) => "Pay another part",
            (PayAgain, De) => "Weiteren Teil zahlen",
            (PayAgain, Fr) => "Payer une autre partie",
            (PayAgain, Es) => "Pagar otra parte",
            (TryAgain, En) => "Try again",
            (TryAgain, De) => "Erneut versuchen",
            (TryAgain, Fr) => "Réessayer",
            (TryAgain, Es) => "Reintentar",
            (Retry, En) => "Retry the same payment",
            (Retry, De) => "Dieselbe Zahlung erneut senden",
            (Retry, Fr) => "Renvoyer le même paiement",
            (Retry, Es) => "Reintentar el mismo pago",
            (InvoicePaid, En) => "This invoice is paid in full. Nothing is due.",
            (InvoicePaid, De) => "Diese Rechnung ist vollständig bezahlt.",
            (InvoicePaid, Fr) => "Cette facture est entièrement payée.",
            (InvoicePaid, Es) => "Esta factura está pagada por completo.",
            (InvoiceVoid, En) => "This invoice was voided by the seller and cannot be paid.",
            (InvoiceVoid, De) => "Diese Rechnung wurde vom Verkäufer storniert und kann nicht bezahlt werden.",
            (InvoiceVoid, Fr) => "Cette facture a été annulée par le vendeur et ne peut pas être payée.",
            (InvoiceVoid, Es) => "El vendedor anuló esta factura y no se puede pagar.",
            (InProgress, En) => "A payment for the whole balance is being processed. Check back shortly.",
            (InProgress, De) => "Eine Zahlung über den gesamten Betrag wird gerade bearbeitet.",
            (InProgress, Fr) => "Un paiement du solde complet est en cours de traitement.",
            (InProgress, Es) => "Se está procesando un pago por el saldo completo.",
            (NetworkError, En) => "We could not reach the payment service. Check your connection; retrying will not charge you twice.",
            (NetworkError, De) => "Der Zahlungsdienst ist nicht erreichbar. Prüfen Sie Ihre Verbindung; ein erneuter Versuch belastet Sie nicht doppelt.",
            (NetworkError, Fr) => "Le service de paiement est injoignable. Vérifiez votre connexion ; réessayer ne vous débitera pas deux fois.",
            (NetworkError, Es) => "No se pudo contactar con el servicio de pago. Compruebe su conexión; reintentar no le cobrará dos veces.",
            (LinkInvalid, En) => "This payment link is invalid or has expired. Ask the seller for a new one.",
            (LinkInvalid, De) => "Dieser Zahlungslink ist ungültig oder abgelaufen. Bitten Sie den Verkäufer um einen neuen.",
            (LinkInvalid, Fr) => "Ce lien de paiement est invalide ou a expiré. Demandez-en un nouveau au vendeur.",
            (LinkInvalid, Es) => "Este enlace de pago no es válido o ha caducado. Pida uno nuevo al vendedor.",
            (OriginBlocked, En) => "This site is not allowed to take payments for this seller.",
            (OriginBlocked, De) => "Diese Website darf keine Zahlungen für diesen Verkäufer annehmen.",
            (OriginBlocked, Fr) => "Ce site n'est pas autorisé à encaisser pour ce vendeur.",
            (OriginBlocked, Es) => "Este sitio no puede cobrar en nombre de este vendedor.",
            (KeyInUse, En) => "This payment is still being processed. Wait a moment, then retry.",
            (KeyInUse, De) => "Diese Zahlung wird noch bearbeitet. Warten Sie kurz und versuchen Sie es erneut.",
            (KeyInUse, Fr) => "Ce paiement est encore en cours. Patientez puis réessayez.",
            (KeyInUse, Es) => "Este pago aún se está procesando. Espere un momento y reintente.",
            (BalanceChanged, En) => "The balance changed while you were paying. The amounts below are up to date.",
            (BalanceChanged, De) => "Der offene Betrag hat sich inzwischen geändert. Die Beträge unten sind aktuell.",
            (BalanceChanged, Fr) => "Le solde a changé pendant votre paiement. Les montants ci-dessous sont à jour.",
            (BalanceChanged, Es) => "El saldo cambió mientras pagaba. Los importes de abajo están actualizados.",
            (ServerError, En) => "The payment service had a problem and nothing was charged. Try again in a moment.",
            (ServerError, De) => "Beim Zahlungsdienst ist ein Fehler aufgetreten; es wurde nichts belastet.",
            (ServerError, Fr) => "Le service de paiement a rencontré un problème ; rien n'a été débité.",
            (ServerError, Es) => "El servicio de pago tuvo un problema y no se cobró nada.",
            (Unconfirmed, En) => "We could not confirm whether your payment went through. Retrying sends the same payment again and can never charge you twice.",
            (Unconfirmed, De) => "Wir konnten nicht bestätigen, ob Ihre Zahlung durchgegangen ist. Ein erneuter Versuch sendet dieselbe Zahlung und belastet Sie nie doppelt.",
            (Unconfirmed, Fr) => "Nous n'avons pas pu confirmer votre paiement. Réessayer renvoie le même paiement et ne peut jamais vous débiter deux fois.",
            (Unconfirmed, Es) => "No pudimos confirmar si su pago se realizó. Reintentar envía el mismo pago y nunca le cobrará dos veces.",
            (Declined, En) => "Payment declined",
            (Declined, De) => "Zahlung abgelehnt",
            (Declined, Fr) => "Paiement refusé",
            (Declined, Es) => "Pago rechazado",
            (DiscountOffer, En) => "Early-payment discount",
            (DiscountOffer, De) => "Skonto bei schneller Zahlung",
            (DiscountOffer, Fr) => "Escompte pour paiement anticipé",
            (DiscountOffer, Es) => "Descuento por pronto pago",
            (SaveBy, En) => "Pay the balance by {date} and save {amount}",
            (SaveBy, De) => "Zahlen Sie bis {date} den offenen Betrag und sparen Sie {amount}",
            (SaveBy, Fr) => "Réglez le solde avant le {date} et économisez {amount}",
            (SaveBy, Es) => "Pague el saldo antes del {date} y ahorre {amount}",
            (MinimumHint, En) => "Minimum {amount}",
            (MinimumHint, De) => "Mindestens {amount}",
            (MinimumHint, Fr) => "Minimum {amount}",
            (MinimumHint, Es) => "Mínimo {amount}",
            (FieldsLoading, En) => "Loading secure payment fields…",
            (FieldsLoading, De) => "Sichere Zahlungsfelder werden geladen…",
            (FieldsLoading, Fr) => "Chargement des champs de paiement sécurisés…",
            (FieldsLoading, Es) => "Cargando campos de pago seguros…",
            (FieldsTitle, En) => "Secure payment fields",
            (FieldsTitle, De) => "Sichere Zahlungsfelder",
            (FieldsTitle, Fr) => "Champs de paiement sécurisés",
            (FieldsTitle, Es) => "Campos de pago seguros",
        }
    }

    /// The buyer-facing sentence for an amount rejection code, with the amounts it needs (any other code
    /// reads as a server error).
    pub fn rejection(self, code: ErrorCode, amount: &str) -> String {
        let s: &str = match (code, self) {
            (ErrorCode::AmountNotPositive, Locale::En) => "Enter an amount greater than zero.",
            (ErrorCode::AmountNotPositive, Locale::De) => "Geben Sie einen Betrag größer als null ein.",
            (ErrorCode::AmountNotPositive, Locale::Fr) => "Saisissez un montant supérieur à zéro.",
            (ErrorCode::AmountNotPositive, Locale::Es) => "Introduzca un importe mayor que cero.",
            (ErrorCode::AmountMalformed, Locale::En) => "Enter the amount as a number, for example {amount}.",
            (ErrorCode::AmountMalformed, Locale::De) => {
                "Geben Sie den Betrag als Zahl ein, zum Beispiel {amount}."
            }
            (ErrorCode::AmountMalformed, Locale::Fr) => {
                "Saisissez le montant en chiffres, par exemple {amount}."
            }
            (ErrorCode::AmountMalformed, Locale::Es) => {
                "Introduzca el importe como número, por ejemplo {amount}."
            }
            (ErrorCode::AmountPrecision, Locale::En) => "Too many decimal places: {amount} allows no more.",
            (ErrorCode::AmountPrecision, Locale::De) => {
                "Zu viele Nachkommastellen: erlaubt ist z. B. {amount}."
            }
            (ErrorCode::AmountPrecision, Locale::Fr) => "Trop de décimales : le format attendu est {amount}.",
            (ErrorCode::AmountPrecision, Locale::Es) => "Demasiados decimales: el formato es {amount}.",
            (ErrorCode::CurrencyMismatch, Locale::En) => "This invoice is payable in {amount} only.",
            (ErrorCode::CurrencyMismatch, Locale::De) => "Diese Rechnung ist nur in {amount} zahlbar.",
            (ErrorCode::CurrencyMismatch, Locale::Fr) => "Cette facture se paie uniquement en {amount}.",
            (ErrorCode::CurrencyMismatch, Locale::Es) => "Esta factura solo se paga en {amount}.",
            (ErrorCode::PartialNotAllowed, Locale::En) => "This invoice must be paid in full: {amount}.",
            (ErrorCode::PartialNotAllowed, Locale::De) => {
                "Diese Rechnung muss vollständig bezahlt werden: {amount}."
            }
            (ErrorCode::PartialNotAllowed, Locale::Fr) => {
                "Cette facture doit être payée en totalité : {amount}."
            }
            (ErrorCode::PartialNotAllowed, Locale::Es) => "Esta factura debe pagarse completa: {amount}.",
            (ErrorCode::AmountBelowMinimum, Locale::En) => "The minimum payment is {amount}.",
            (ErrorCode::AmountBelowMinimum, Locale::De) => "Der Mindestbetrag ist {amount}.",
            (ErrorCode::AmountBelowMinimum, Locale::Fr) => "Le paiement minimum est de {amount}.",
            (ErrorCode::AmountBelowMinimum, Locale::Es) => "El pago mínimo es de {amount}.",
            (ErrorCode::AmountExceedsBalance, Locale::En) => {
                "That is more than the balance due. The most you can pay is {amount}."
            }
            (ErrorCode::AmountExceedsBalance, Locale::De) => {
                "Das ist mehr als offen ist. Höchstens {amount}."
            }
            (ErrorCode::AmountExceedsBalance, Locale::Fr) => {
                "C'est plus que le solde dû. Maximum : {amount}."
            }
            (ErrorCode::AmountExceedsBalance, Locale::Es) => {
                "Es más que el saldo pendiente. Como máximo {amount}."
            }
            (ErrorCode::InvoiceNotPayable, l) => l.t(Key::InvoicePaid),
            (_, l) => l.t(Key::ServerError),
        };
        s.replace("{amount}", amount)
    }

    /// Advice for a gateway decline code, in the buyer's language.
    pub fn decline(self, decline_code: &str) -> &'static str {
        match (decline_code, self) {
            ("insufficient_funds", Locale::En) => "The card has insufficient funds. Pay a smaller part now, or use another card.",
            ("insufficient_funds", Locale::De) => "Die Karte ist nicht ausreichend gedeckt. Zahlen Sie jetzt einen kleineren Teil oder nutzen Sie eine andere Karte.",
            ("insufficient_funds", Locale::Fr) => "Fonds insuffisants. Payez une partie plus petite maintenant ou utilisez une autre carte.",
            ("insufficient_funds", Locale::Es) => "Fondos insuficientes. Pague ahora una parte menor o use otra tarjeta.",
            ("expired_card", Locale::En) => "The card has expired. Check the expiry date or use another card.",
            ("expired_card", Locale::De) => "Die Karte ist abgelaufen. Prüfen Sie das Ablaufdatum oder nutzen Sie eine andere Karte.",
            ("expired_card", Locale::Fr) => "La carte a expiré. Vérifiez la date d'expiration ou utilisez une autre carte.",
            ("expired_card", Locale::Es) => "La tarjeta ha caducado. Revise la fecha o use otra tarjeta.",
            ("incorrect_cvc", Locale::En) => "The security code is incorrect. Check the 3 or 4 digits on the card and try again.",
            ("incorrect_cvc", Locale::De) => "Der Sicherheitscode ist falsch. Prüfen Sie die 3 oder 4 Ziffern auf der Karte.",
            ("incorrect_cvc", Locale::Fr) => "Le code de sécurité est incorrect. Vérifiez les 3 ou 4 chiffres de la carte.",
            ("incorrect_cvc", Locale::Es) => "El código de seguridad es incorrecto. Revise los 3 o 4 dígitos de la tarjeta.",
            (_, Locale::En) => "The card was declined by the bank. Use another card, or contact your bank.",
            (_, Locale::De) => "Die Bank hat die Karte abgelehnt. Nutzen Sie eine andere Karte oder kontaktieren Sie Ihre Bank.",
            (_, Locale::Fr) => "La banque a refusé la carte. Utilisez une autre carte ou contactez votre banque.",
            (_, Locale::Es) => "El banco rechazó la tarjeta. Use otra tarjeta o contacte con su banco.",
        }
    }
}

/// Keys of the fixed UI strings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Invoice,
    Issued,
    Due,
    Description,
    Quantity,
    UnitPrice,
    Amount,
    Subtotal,
    Tax,
    Total,
    AmountPaid,
    Discounts,
    BalanceDue,
    StatusOpen,
    StatusPartiallyPaid,
    StatusPaid,
    StatusVoid,
    History,
    ChooseAmount,
    FullBalance,
    OtherAmount,
    RemainingAfter,
    Continue,
    Back,
    PaymentMethod,
    Pay,
    Paying,
    Loading,
    ThankYou,
    PendingNote,
    PaidAmount,
    NewBalance,
    PayAgain,
    TryAgain,
    Retry,
    InvoicePaid,
    InvoiceVoid,
    InProgress,
    NetworkError,
    LinkInvalid,
    OriginBlocked,
    KeyInUse,
    BalanceChanged,
    ServerError,
    Declined,
    DiscountOffer,
    SaveBy,
    MinimumHint,
    FieldsLoading,
    FieldsTitle,
    /// A success answer that could not be read, and the invoice does not show the payment yet.
    Unconfirmed,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_locales_fall_back_to_english() {
        assert_eq!(Locale::parse("de-AT"), Locale::De);
        assert_eq!(Locale::parse("FR_ca"), Locale::Fr);
        assert_eq!(Locale::parse("es"), Locale::Es);
        assert_eq!(Locale::parse("ja-JP"), Locale::En);
        assert_eq!(Locale::parse(""), Locale::En);
    }

    #[test]
    fn money_is_formatted_per_locale() {
        let usd = Currency::USD;
        assert_eq!(Locale::En.money("1234.50", usd), "$1,234.50");
        assert_eq!(Locale::De.money("1234.50", Currency::EUR), "1.234,50\u{a0}€");
        assert_eq!(
            Locale::Fr.money("1234.50", Currency::EUR),
            "1\u{202f}234,50\u{a0}€"
        );
        assert_eq!(Locale::Es.money("1234.50", usd), "1.234,50\u{a0}$");
        assert_eq!(Locale::En.money("250.000", Currency::KWD), "KWD\u{a0}250.000");
        assert_eq!(Locale::En.money("120000", Currency::JPY), "¥120,000");
    }

    #[test]
    fn dates_are_formatted_per_locale() {
        assert_eq!(Locale::En.date("2026-11-01"), "Nov 1, 2026");
        assert_eq!(Locale::De.date("2026-03-09"), "9. März 2026");
        assert_eq!(Locale::Fr.date("2026-12-31"), "31 déc. 2026");
        assert_eq!(Locale::Es.date("2026-01-05"), "5 ene 2026");
        assert_eq!(Locale::En.date("2026-13-01"), "2026-13-01");
        assert_eq!(Locale::En.date("garbage"), "garbage");
    }

    #[test]
    fn every_rejection_code_has_a_sentence_in_every_locale() {
        for locale in [Locale::En, Locale::De, Locale::Fr, Locale::Es] {
            for code in tranche_domain::AmountRejected::CODES {
                let s = locale.rejection(code, "X");
                assert!(!s.is_empty());
                assert_ne!(s, locale.t(Key::ServerError), "{code} in {locale:?} fell through");
            }
        }
    }
}
