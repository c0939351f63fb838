//! Requests that arrive together, served by one call: a Xero bill run sends its invoices
//! in multi-invoice requests and resolves its customers' contacts a batch at a time.
//!
//! Each attempt submits its item under a key (a connection) and waits for its own
//! answer. The first to find no one leading becomes the **leader**: it waits until the
//! call may go out (`ready`, typically a slot within the ERP's limits: while it waits,
//! the batch fills), then until the batch is full or arrivals pause (see [`Fill`]),
//! takes up to `max` items, hands leadership to the next waiting item at once (so
//! several batches can be in flight within the ERP's concurrency), runs the call, and
//! hands each item its own result. Nothing is shared between keys, so one connection's
//! token never carries another's data.
//!
//! Written here rather than taken from a crate: the batching crates at hand flush on
//! size or time alone, while this one flushes when the ERP's limits let a call out.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::Outcome;

/// When a leader with leave to send stops waiting for more items.
#[derive(Debug, Clone, Copy)]
pub struct Fill {
    /// Most items per call.
    pub max: usize,
    /// Send once no item arrived for this long…
    pub quiet: Duration,
    /// …or the oldest item waited this long.
    pub max_wait: Duration,
}

/// What a waiting item is told.
enum Signal<O> {
    Done(Result<O, Outcome>),
    /// Lead the next batch.
    Lead,
}

struct Waiting<I, O> {
    item: I,
    since: Instant,
    tell: mpsc::UnboundedSender<Signal<O>>,
}

struct Queue<I, O> {
    waiting: VecDeque<Waiting<I, O>>,
    led: bool,
    last_arrival: Instant,
}

impl<I, O> Default for Queue<I, O> {
    fn default() -> Self {
        Queue {
            waiting: VecDeque::new(),
            led: false,
            last_arrival: Instant::now(),
        }
    }
}

type Shared<I, O> = Arc<Mutex<Queue<I, O>>>;

/// The waiting items of every key.
pub struct Coalescer<I, O> {
    queues: Mutex<HashMap<String, Shared<I, O>>>,
    fill: Fill,
}

/// Ends a lead on every path: a leader that stops early (an error, a panic, a dropped
/// future) hands the lead on, so no waiting item is left without one.
struct Lead<I, O> {
    queue: Shared<I, O>,
    done: bool,
}

impl<I, O> Lead<I, O> {
    fn hand_on(queue: &mut Queue<I, O>) {
        // The first waiting item that still listens leads next.
        while let Some(first) = queue.waiting.front() {
            if first.tell.send(Signal::Lead).is_ok() {
                return;
            }
            queue.waiting.pop_front();
        }
        queue.led = false;
    }
}

impl<I, O> Drop for Lead<I, O> {
    fn drop(&mut self) {
        if !self.done {
            let mut q = self.queue.lock().expect("coalescer queue");
            Self::hand_on(&mut q);
        }
    }
}

impl<I: Send, O: Send> Coalescer<I, O> {
    /// A coalescer that fills each call as `fill` says.
    pub fn new(fill: Fill) -> Self {
        Coalescer {
            queues: Mutex::new(HashMap::new()),
            fill,
        }
    }

    fn queue(&self, key: &str) -> Shared<I, O> {
        self.queues
            .lock()
            .expect("coalescer queues")
            .entry(key.to_string())
            .or_default()
            .clone()
    }

    /// How many items wait under `key` now.
    pub fn waiting(&self, key: &str) -> usize {
        self.queue(key)
            .lock()
            .expect("coalescer queue")
            .waiting
            .len()
    }

    /// Submits `item` and waits for its result. If this attempt leads a batch, `ready`
    /// waits until the call may go out and `run` makes it, answering one result per
    /// item, in order; any other attempt's closures are never called.
    pub async fn submit<T>(
        &self,
        key: &str,
        item: I,
        ready: impl AsyncFnOnce() -> Result<T, Outcome>,
        run: impl AsyncFnOnce(T, Vec<I>) -> Vec<Result<O, Outcome>>,
    ) -> Result<O, Outcome> {
        let queue = self.queue(key);
        let (tell, mut told) = mpsc::unbounded_channel();
        let leads = {
            let mut q = queue.lock().expect("coalescer queue");
            let now = Instant::now();
            q.waiting.push_back(Waiting {
                item,
                since: now,
                tell,
            });
            q.last_arrival = now;
            !std::mem::replace(&mut q.led, true)
        };
        if !leads {
            match told.recv().await {
                Some(Signal::Done(result)) => return result,
                Some(Signal::Lead) => {}
                None => return Err(abandoned()),
            }
        }
        let mut lead = Lead {
            queue: queue.clone(),
            done: false,
        };
        let leading = Instant::now();
        let ticket = ready().await;
        let ready_after = leading.elapsed();
        if ticket.is_ok() {
            self.gather(&queue).await;
        }
        let taken: Vec<Waiting<I, O>> = {
            let mut q = queue.lock().expect("coalescer queue");
            let n = q.waiting.len().min(self.fill.max);
            let taken = q.waiting.drain(..n).collect();
            Lead::hand_on(&mut q);
            lead.done = true;
            taken
        };
        tracing::debug!(
            key,
            taken = taken.len(),
            ready_ms = ready_after.as_millis() as u64,
            led_ms = leading.elapsed().as_millis() as u64,
            "a batch leaves"
        );
        let (items, tells): (Vec<I>, Vec<_>) = taken.into_iter().map(|w| (w.item, w.tell)).unzip();
        match ticket {
            Ok(ticket) => {
                let mut results = run(ticket, items).await.into_iter();
                for tell in tells {
                    let result = results.next().unwrap_or_else(|| {
                        Err(Outcome::retryable(
                            None,
                            "the batch answered fewer results than it carried",
                            None,
                        ))
                    });
                    let _ = tell.send(Signal::Done(result));
                }
            }
            Err(outcome) => {
                for tell in tells {
                    let _ = tell.send(Signal::Done(Err(outcome.clone())));
                }
            }
        }
        // This attempt's own item was the oldest, so it was in the batch just sent.
        loop {
            match told.recv().await {
                Some(Signal::Done(result)) => return result,
                // Leadership may have come back to this item before it was answered.
                Some(Signal::Lead) => continue,
                None => return Err(abandoned()),
            }
        }
    }

    /// Waits until the batch is full, arrivals paused for [`Fill::quiet`], or the oldest
    /// item waited [`Fill::max_wait`].
    async fn gather(&self, queue: &Shared<I, O>) {
        let step = (self.fill.quiet / 2).max(Duration::from_millis(5));
        loop {
            let (len, oldest, last) = {
                let q = queue.lock().expect("coalescer queue");
                (
                    q.waiting.len(),
                    q.waiting.front().map(|w| w.since),
                    q.last_arrival,
                )
            };
            let now = Instant::now();
            let Some(oldest) = oldest else { return };
            if len >= self.fill.max
                || now.duration_since(last) >= self.fill.quiet
                || now.duration_since(oldest) >= self.fill.max_wait
            {
                return;
            }
            tokio::time::sleep(step).await;
        }
    }
}

fn abandoned() -> Outcome {
    Outcome::retryable(None, "the batch carrying this delivery was abandoned", None)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn items_arriving_together_share_calls_and_each_gets_its_own_answer() {
        let c: Arc<Coalescer<u32, u32>> = Arc::new(Coalescer::new(Fill {
            max: 10,
            quiet: Duration::from_millis(30),
            max_wait: Duration::from_secs(1),
        }));
        let calls = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for i in 0..25u32 {
            let (c, calls) = (c.clone(), calls.clone());
            tasks.push(tokio::spawn(async move {
                c.submit(
                    "k",
                    i,
                    async || Ok(()),
                    async |(), items: Vec<u32>| {
                        calls.fetch_add(1, Ordering::SeqCst);
                        items.into_iter().map(|i| Ok(i * 2)).collect()
                    },
                )
                .await
            }));
        }
        for (i, t) in tasks.into_iter().enumerate() {
            assert_eq!(t.await.unwrap().unwrap(), i as u32 * 2);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3, "25 items in calls of 10");
    }

    #[tokio::test]
    async fn a_refused_ready_fails_the_batch_and_the_next_item_leads() {
        let c: Arc<Coalescer<u32, u32>> = Arc::new(Coalescer::new(Fill {
            max: 1,
            quiet: Duration::from_millis(5),
            max_wait: Duration::from_millis(50),
        }));
        let first = {
            let c = c.clone();
            tokio::spawn(async move {
                c.submit(
                    "k",
                    1,
                    async || {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Err::<(), _>(Outcome::permanent(None, "no"))
                    },
                    async |(), items: Vec<u32>| items.into_iter().map(Ok).collect(),
                )
                .await
            })
        };
        tokio::time::sleep(Duration::from_millis(10)).await;
        let second = c
            .submit(
                "k",
                2,
                async || Ok(()),
                async |(), items: Vec<u32>| items.into_iter().map(Ok).collect(),
            )
            .await;
        assert!(first.await.unwrap().is_err());
        assert_eq!(second.unwrap(), 2, "the second item led its own batch");
    }
}
