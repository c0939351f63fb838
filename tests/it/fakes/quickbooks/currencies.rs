//! Currencies: the codes QBO knows and their names, a customer's currency, and an invoice's
//! currency and exchange rate under the home-currency and multicurrency rules.

use rust_decimal::Decimal;
use serde_json::{Map, Value, json};

use super::super::harness::wire::listed;

use super::answers::{
    Answer, business, currency_locked, currency_mismatch, inactive_currency, invalid_currency,
    multicurrency_off, required,
};
use super::fields::{amount_field, ref_id};
use super::state::Company;

impl Company {
    /// A customer's currency, checked, and whether it must be added to the currency list.
    ///
    /// Documented (Intuit, Customer `CurrencyRef`): "Reference to the currency in which all
    /// amounts associated with this customer are expressed. Once set, it cannot be changed.
    /// If specified currency is not currently in the company's currency list, it is added.
    /// If not specified, currency for this customer is the home currency of the company".
    /// So a known currency missing from the list is added, not refused. [I] Refused: a
    /// currency QBO does not know (2220), a non-home currency while multicurrency is off, a
    /// currency of the list made inactive, and an update naming another currency than the
    /// customer's (a full update without `CurrencyRef` keeps it).
    pub(super) fn customer_currency(
        &self,
        input: &Map<String, Value>,
        current: Option<&str>,
    ) -> Result<(String, Option<String>), Answer> {
        let given = match input.get("CurrencyRef") {
            None | Some(Value::Null) => None,
            Some(reference) => {
                Some(ref_id(Some(reference)).ok_or_else(|| required("CurrencyRef"))?)
            }
        };
        if let Some(current) = current {
            return match given {
                Some(given) if given != current => Err(currency_locked()),
                _ => Ok((current.to_string(), None)),
            };
        }
        let code = given.unwrap_or_else(|| self.home_currency.clone());
        if !known_currency(&code) {
            return Err(invalid_currency("CurrencyRef", &code));
        }
        if code == self.home_currency {
            return Ok((code, None));
        }
        if !self.multicurrency {
            return Err(multicurrency_off(&code, &self.home_currency));
        }
        match self.currency(&code) {
            Some(listed) if !listed.active => Err(inactive_currency(&code)),
            Some(_) => Ok((code, None)),
            None => Ok((code.clone(), Some(code))),
        }
    }
}

impl Company {
    /// The invoice's currency code and, in a multicurrency company, its exchange rate.
    ///
    /// Intuit, Invoice `CurrencyRef`: "Reference to the currency in which all amounts on the
    /// associated transaction are expressed. This must be defined if multicurrency is
    /// enabled for the company." [I] When it is absent, the customer's currency applies
    /// (the fake accepts the omission). Refused: a code QBO does not know (2220), a
    /// non-home currency while multicurrency is off, a currency that is not active in the
    /// company's list, and a currency other than the customer's (a customer has "only one
    /// currency" and its transactions are in it: Intuit, "Manage multiple currencies"; "All
    /// invoices must use the vendor's assigned currency" [S], Procore's QBO guide).
    ///
    /// `ExchangeRate` ("the number of home currency units it takes to equal one foreign
    /// currency unit", Intuit) is "Valid only if the company file is set up to use
    /// Multi-Currency": with multicurrency on it is 1 for the home currency [I], else the
    /// request's, else the rate set with [`FakeQuickBooks::set_exchange_rate`], else 1 [S];
    /// with multicurrency off a sent `ExchangeRate` is dropped [I].
    pub(super) fn invoice_currency(
        &self,
        input: &Map<String, Value>,
        customer: &Value,
    ) -> Result<(String, Option<Decimal>), Answer> {
        let customer_currency = customer["CurrencyRef"]["value"]
            .as_str()
            .unwrap_or(&self.home_currency);
        let code = match input.get("CurrencyRef") {
            None | Some(Value::Null) => customer_currency.to_string(),
            Some(reference) => ref_id(Some(reference)).ok_or_else(|| required("CurrencyRef"))?,
        };
        if !known_currency(&code) {
            return Err(invalid_currency("CurrencyRef", &code));
        }
        if code != self.home_currency {
            if !self.multicurrency {
                return Err(multicurrency_off(&code, &self.home_currency));
            }
            if !self.currency(&code).is_some_and(|c| c.active) {
                return Err(inactive_currency(&code));
            }
        }
        if code != customer_currency {
            return Err(currency_mismatch());
        }
        if !self.multicurrency {
            return Ok((code, None));
        }
        if code == self.home_currency {
            return Ok((code, Some(Decimal::ONE)));
        }
        let rate = match amount_field(input, "ExchangeRate")? {
            // [I] Code and wording.
            Some(rate) if rate <= Decimal::ZERO => {
                return Err(business("The exchange rate must be greater than zero."));
            }
            Some(rate) => rate,
            None => self
                .exchange_rates
                .get(&code)
                .copied()
                .unwrap_or(Decimal::ONE),
        };
        Ok((code, Some(rate)))
    }
}

/// The currency codes QBO knows: the `currencyCode` enumeration of Intuit's
/// `IntuitBaseTypes.xsd` (QuickBooks-V3-Java-SDK), plus [I] a few codes newer than it.
const CURRENCY_CODES: &str = "\
    AED AFA ALL ANG AOA AOK ARP ARS AMD ATS AUD AWF AWG AZM BAM BBD BDT BEF BGL BHD BIF BMD \
    BND BOB BRC BRL BSD BTN BUK BWP BYR BYB BZD CAD CDF CHF CLP CNY COP CRC CZK CUP CVE DDM \
    DEM DJF DKK DOP DZD ECS EEK EGP ERN ESP ETB EUR FIM FJD FKP FRF GBP GEL GHC GIP GMD GNF \
    GRD GTQ GWP GYD HKD HNL HRK HTG HUF IDR IEP ILS INR IQD IRR ISK ITL JMD JOD KES KGS KHR \
    KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LTL LUF LVL LYD MAD MDL MGF MKD MMK MNT MOP \
    MRO MUR MVR MWK MXN MXP MYR MZM NAD NGN NIC NIO NLG NOK NPR NZD OMR PAB PEN PES PGK PHP \
    PKR PLN PLZ PTE PYG QAR ROL RUR RWF SAR SBD SCR SDD SDP SEK SGD SHP SIT SKK SLL SM SOS \
    SRG STD SUR SVC SYP SZL THB TMM TND TOP TRL TTD TWD TZS UAH UGS UGX USD UYP UYU UZS VND \
    VUV VAL WST XAF XCD XOF XPF YER YUD ZAR ZMK ZRZ ZWD \
    BYN GHS MZN RON RSD RUB TRY VES ZMW";

/// QBO's names of currencies (`CurrencyRef.name`, `CompanyCurrency.Name`). As in Intuit's
/// samples: USD, EUR, GBP, CAD, AUD, JPY; [I] the others. A code missing here is named by
/// itself [I].
const CURRENCY_NAMES: [(&str, &str); 20] = [
    ("USD", "United States Dollar"),
    ("EUR", "Euro"),
    ("GBP", "British Pound Sterling"),
    ("CAD", "Canadian Dollar"),
    ("AUD", "Australian Dollar"),
    ("JPY", "Japanese Yen"),
    ("NZD", "New Zealand Dollar"),
    ("CHF", "Swiss Franc"),
    ("INR", "Indian Rupee"),
    ("ZAR", "South African Rand"),
    ("SGD", "Singapore Dollar"),
    ("HKD", "Hong Kong Dollar"),
    ("SEK", "Swedish Krona"),
    ("NOK", "Norwegian Krone"),
    ("DKK", "Danish Krone"),
    ("MXN", "Mexican Peso"),
    ("BRL", "Brazilian Real"),
    ("CNY", "Chinese Yuan Renminbi"),
    ("PLN", "Polish Zloty"),
    ("AED", "UAE Dirham"),
];

pub(super) fn known_currency(code: &str) -> bool {
    listed(CURRENCY_CODES, code)
}

pub(super) fn currency_name(code: &str) -> &str {
    CURRENCY_NAMES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or(code, |(_, name)| name)
}

/// `{"value": "EUR", "name": "Euro"}`, the `CurrencyRef` of customers, invoices, accounts.
pub(super) fn currency_ref(code: &str) -> Value {
    json!({ "value": code, "name": currency_name(code) })
}
