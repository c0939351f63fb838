//! The closed sets of values erp-sync keeps as text: providers, connection statuses, job
//! and log-entry kinds. Text in the database and on the wire, enums everywhere in
//! between, so that a typo is a compile error and a `match` names every case.

use std::fmt;

/// Writes `as_str`, `parse`, `Display` and `TryFrom<String>` for an enum of text values.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vdoc])* #[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The value as stored and sent.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// The value of a text, if it is one.
            pub fn parse(text: &str) -> Option<Self> {
                match text {
                    $($text => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        // Bound and read as their text, by both backends (sqlx) and the SQLite writer
        // (rusqlite).
        impl<DB: sqlx::Database> sqlx::Type<DB> for $name
        where
            str: sqlx::Type<DB>,
        {
            fn type_info() -> DB::TypeInfo {
                <str as sqlx::Type<DB>>::type_info()
            }

            fn compatible(ty: &DB::TypeInfo) -> bool {
                <str as sqlx::Type<DB>>::compatible(ty)
            }
        }

        impl<'q, DB: sqlx::Database> sqlx::Encode<'q, DB> for $name
        where
            &'q str: sqlx::Encode<'q, DB>,
        {
            fn encode_by_ref(
                &self,
                buf: &mut <DB as sqlx::Database>::ArgumentBuffer<'q>,
            ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
                <&str as sqlx::Encode<'q, DB>>::encode(self.as_str(), buf)
            }
        }

        impl<'r, DB: sqlx::Database> sqlx::Decode<'r, DB> for $name
        where
            &'r str: sqlx::Decode<'r, DB>,
        {
            fn decode(value: <DB as sqlx::Database>::ValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
                let text = <&str as sqlx::Decode<'r, DB>>::decode(value)?;
                Ok($name::try_from(text.to_string())?)
            }
        }

        impl rusqlite::ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(self.as_str().into())
            }
        }

        impl rusqlite::types::FromSql for $name {
            fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
                let text = value.as_str()?;
                $name::parse(text).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(format!(concat!("unknown ", stringify!($name), " {:?}"), text).into())
                })
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(text: String) -> Result<Self, String> {
                Self::parse(&text).ok_or_else(|| {
                    format!(concat!("unknown ", stringify!($name), " {:?}"), text)
                })
            }
        }
    };
}

text_enum! {
    /// A destination erp-sync delivers to.
    Provider {
        Webhook = "webhook",
        QuickBooks = "quickbooks",
        Xero = "xero",
        NetSuite = "netsuite",
    }
}

impl Provider {
    /// The name people know it by, for pages and messages.
    pub fn label(self) -> &'static str {
        match self {
            Provider::Webhook => "Webhook",
            Provider::QuickBooks => "QuickBooks Online",
            Provider::Xero => "Xero",
            Provider::NetSuite => "NetSuite",
        }
    }
}

text_enum! {
    /// Where a connection is in its life.
    ConnectionStatus {
        /// Created, waiting for its OAuth authorization (or its organisation).
        PendingAuth = "pending_auth",
        /// Delivering.
        Active = "active",
        /// The provider refused its refresh token: deliveries are held until an operator
        /// authorizes it again.
        NeedsReauth = "needs_reauth",
        /// Paused by an operator, or by itself after failing every delivery for a day:
        /// documents still queue, nothing is sent, nothing is cancelled.
        Paused = "paused",
        /// Stopped for good; nothing is deleted.
        Disconnected = "disconnected",
    }
}

text_enum! {
    /// An operational event raised to the tenant (console, and its `alert_url`).
    AlertKind {
        /// An OAuth connection lost its authorization; its deliveries wait.
        NeedsReauth = "connection.needs_reauth",
        /// A connection paused itself after failing every delivery for too long.
        Paused = "connection.paused",
        /// A document failed on a connection after its last retry.
        SyncFailed = "sync.failed",
        /// A bulk recovery has no document left to send.
        RecoveryDone = "recovery.done",
    }
}

text_enum! {
    /// Why a job exists.
    JobKind {
        /// An ingest routed the invoice version here.
        Sync = "sync",
        /// An operator asked for a re-sync.
        Manual = "manual",
    }
}

text_enum! {
    /// What a sync-log entry records.
    LogKind {
        /// An attempt of an automatic delivery (or its cancellation).
        Sync = "sync",
        /// An attempt of an operator's re-sync (or its cancellation).
        Manual = "manual",
        /// A connection's test sync.
        Test = "test",
    }
}

text_enum! {
    /// How an attempt (or a test sync, or a dry run) ended.
    LogStatus {
        Success = "SUCCESS",
        /// Failed, cancelled, or waiting (the entry's error says which).
        Failed = "FAILED",
    }
}

impl LogStatus {
    /// `Success` when `ok`.
    pub fn of(ok: bool) -> Self {
        if ok {
            LogStatus::Success
        } else {
            LogStatus::Failed
        }
    }
}

impl From<JobKind> for LogKind {
    fn from(kind: JobKind) -> Self {
        match kind {
            JobKind::Sync => LogKind::Sync,
            JobKind::Manual => LogKind::Manual,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_reads_back_and_serializes_as_its_text() {
        for p in Provider::ALL {
            assert_eq!(Provider::parse(p.as_str()), Some(*p));
            assert_eq!(serde_json::to_value(p).unwrap(), p.as_str());
        }
        for s in ConnectionStatus::ALL {
            assert_eq!(ConnectionStatus::try_from(s.as_str().to_string()), Ok(*s));
        }
        assert_eq!(
            Provider::parse("QuickBooks"),
            None,
            "the stored text is lowercase"
        );
        assert!(JobKind::try_from("retry".to_string()).is_err());
        assert_eq!(LogKind::from(JobKind::Manual), LogKind::Manual);
    }
}
