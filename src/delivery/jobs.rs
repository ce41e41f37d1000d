//! The delivery job kinds. Each is only a prompt: the ledger says what is left to do.
//! Their handlers live with the work they start: [`super::fanout::fan_out_digest`] and
//! [`super::send::deliver_batch`].

use serde::{Deserialize, Serialize};

use crate::queue::Job;

/// Write the ledger rows of a digest that has started sending, then queue its batches.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FanOutDigest {
    pub digest_id: i64,
}

impl Job for FanOutDigest {
    const QUEUE: &'static str = "delivery-fan-out";
    const MAX_ATTEMPTS: usize = 5;
}

/// A batch of a digest's ledger is ready to send.
///
/// The job does not send: it only wakes the process's sender, which claims rows from
/// the ledger in small chunks as it has room (see [`super::send`]). That keeps a job
/// from tying a whole batch to one process, which could then hold it long after it died.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeliverBatch {
    pub digest_id: i64,
    pub batch_no: i64,
}

impl Job for DeliverBatch {
    const QUEUE: &'static str = "delivery-batch";
    const MAX_ATTEMPTS: usize = 3;
}
