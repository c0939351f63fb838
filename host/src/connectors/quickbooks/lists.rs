//! The company's lists a mapping page picks from: Items (by `Id`, for `item_map` and
//! `default_item_id`), Accounts, TaxCodes (by `Id`, for `tax_code_map`; a US company has
//! only `TAX` and `NON`) and currencies (the home currency, then the company's others).

use serde_json::Value;

use super::QuickBooksConnector;
use super::client::Session;
use crate::connectors::mapping_aids::EntryShape;
use crate::connectors::{ErpEntry, ErpList, Outcome};

/// The most entries a list answers.
const MAX_ENTRIES: usize = 10_000;

const ITEMS: EntryShape = EntryShape {
    id: "/Id",
    name: &["/Name"],
    details: &[
        ("type", "/Type"),
        ("income_account", "/IncomeAccountRef/name"),
    ],
};
const ACCOUNTS: EntryShape = EntryShape {
    id: "/Id",
    name: &["/Name"],
    details: &[
        ("type", "/AccountType"),
        ("subtype", "/AccountSubType"),
        ("number", "/AcctNum"),
    ],
};
const TAX_CODES: EntryShape = EntryShape {
    id: "/Id",
    name: &["/Name"],
    details: &[("taxable", "/Taxable"), ("description", "/Description")],
};
const CURRENCIES: EntryShape = EntryShape {
    id: "/Code",
    name: &["/Name"],
    details: &[],
};

impl QuickBooksConnector {
    /// One of the company's lists, read with `session`.
    pub(super) async fn list(
        &self,
        session: &mut Session,
        list: ErpList,
    ) -> Result<Vec<ErpEntry>, Outcome> {
        let (entity, shape) = match list {
            ErpList::Currencies => return self.currencies(session).await,
            ErpList::Items => ("Item", &ITEMS),
            ErpList::Accounts => ("Account", &ACCOUNTS),
            ErpList::TaxRates => ("TaxCode", &TAX_CODES),
        };
        let records = self.query_all(session, entity, "", MAX_ENTRIES).await?;
        Ok(records.iter().filter_map(|r| shape.read(r)).collect())
    }

    /// The home currency, then the company's other active ones (with multicurrency on).
    async fn currencies(&self, session: &mut Session) -> Result<Vec<ErpEntry>, Outcome> {
        let company = self.company(session).await?;
        let mut entries = vec![ErpEntry::new(
            company.home_currency.clone(),
            company.home_currency.clone(),
            [("home", Value::Bool(true))],
        )];
        if company.multicurrency {
            let others = self
                .query_all(session, "CompanyCurrency", "", MAX_ENTRIES)
                .await?;
            entries.extend(
                others
                    .iter()
                    .filter(|r| r["Active"] != false)
                    .filter_map(|r| CURRENCIES.read(r)),
            );
        }
        Ok(entries)
    }
}
