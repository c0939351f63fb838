//! The watcher: pauses webhook connections whose deliveries have all failed for too
//! long (raising `connection.paused`), and marks finished recoveries done (raising
//! `recovery.done`). Every host runs it; the store's conditional updates make each
//! change, and its alert, happen once.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::store::{Store, StoreResult, now_ms};

/// How often finished recoveries are looked for.
const RECOVERY_TICK: Duration = Duration::from_millis(500);

/// Watches until `shutdown` fires. `auto_pause_after`: how long a run of failures
/// (with no success) must last before a webhook pauses itself; `None` never pauses.
pub async fn run(store: Store, auto_pause_after: Option<Duration>, shutdown: CancellationToken) {
    // A check every tenth of the window (between 100 ms and a minute) pauses a
    // connection at most a tenth late.
    let pause_every = auto_pause_after
        .map(|w| (w / 10).clamp(Duration::from_millis(100), Duration::from_secs(60)));
    let mut last_pause_check = tokio::time::Instant::now();
    loop {
        if let Err(e) = store.finish_recoveries().await {
            tracing::error!(error = %e, "checking recoveries failed; trying again shortly");
        }
        if let (Some(window), Some(every)) = (auto_pause_after, pause_every) {
            if last_pause_check.elapsed() >= every {
                last_pause_check = tokio::time::Instant::now();
                if let Err(e) = pause_failing(&store, window).await {
                    tracing::error!(error = %e, "checking failing connections failed; trying again shortly");
                }
            }
        }
        let tick = pause_every.map_or(RECOVERY_TICK, |p| p.min(RECOVERY_TICK));
        tokio::select! {
            _ = tokio::time::sleep(tick) => {}
            _ = shutdown.cancelled() => return,
        }
    }
}

/// Pauses each active webhook whose failures began at least `window` ago, with no
/// success since, and still fail within the window (a connection that simply had no
/// traffic for a day is left alone).
async fn pause_failing(store: &Store, window: Duration) -> StoreResult<()> {
    let window_ms = window.as_millis() as i64;
    for connection in store.active_webhooks().await? {
        let Some((first, last)) = store.failing_run(&connection).await? else {
            continue;
        };
        let now = now_ms();
        if now - first >= window_ms
            && now - last < window_ms
            && store.pause_for_failures(&connection, first).await?
        {
            tracing::warn!(connection = %connection.id, tenant = %connection.tenant_id,
                failing_since = %crate::store::format_ms(first), "a webhook failed every delivery for too long and paused itself");
        }
    }
    Ok(())
}
