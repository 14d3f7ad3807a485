//! External providers without I/O in the core: calls are answered from results the edge fed
//! back, and the first call that has no result yet is recorded instead of run.
//!
//! The core runs a step that may reach an external provider (answering an ACS request,
//! checking a configuration file, exporting the configuration) against an [`ExternalMemo`].
//! When the step asked for something the memo does not hold, the core throws the step's result
//! away, hands the recorded [`ExternalCall`] to the edge (which runs the provider off the async
//! workers) and, when the result comes back, runs the same step again with the same inputs.
//! Every call is therefore executed once per step — a `set` included — and the step's outcome
//! is what it would have been had the provider been called directly.

use std::cell::RefCell;

use crate::cwmp::{Fault, FaultCode};
use crate::datamodel::external::{ExternalCall, ExternalCalls, ExternalProvider, ExternalResult};

/// Results of the current step's calls, and the first call still missing.
#[derive(Debug, Default)]
pub struct ExternalMemo {
    answered: RefCell<Vec<(ExternalCall, ExternalResult)>>,
    missing: RefCell<Option<ExternalCall>>,
    /// The call handed to the edge, whose result this memo waits for.
    pending: RefCell<Option<ExternalCall>>,
}

impl ExternalMemo {
    /// The call the last run could not answer; the memo now waits for its result.
    pub fn take_missing(&self) -> Option<ExternalCall> {
        let missing = self.missing.borrow_mut().take();
        self.pending.borrow_mut().clone_from(&missing);
        missing
    }

    /// Whether this memo handed out `call` and waits for its result.
    pub fn waits_for(&self, call: &ExternalCall) -> bool {
        self.pending.borrow().as_ref() == Some(call)
    }

    /// The edge ran `call`.
    pub fn answer(&self, call: ExternalCall, result: ExternalResult) {
        *self.pending.borrow_mut() = None;
        self.answered.borrow_mut().push((call, result));
    }

    /// The step is over: its results must not leak into the next one (a provider's values
    /// change between requests).
    pub fn clear(&self) {
        self.answered.borrow_mut().clear();
        *self.missing.borrow_mut() = None;
        *self.pending.borrow_mut() = None;
    }
}

impl ExternalCalls for ExternalMemo {
    fn call(&self, _providers: &[ExternalProvider], call: ExternalCall) -> ExternalResult {
        if let Some((_, result)) = self.answered.borrow().iter().find(|(c, _)| *c == call) {
            return result.clone();
        }
        let mut missing = self.missing.borrow_mut();
        if missing.is_none() {
            *missing = Some(call);
        }
        // Whatever the step makes of this fault is thrown away: the core sees the missing call.
        Err(Fault::with_string(
            FaultCode::InternalError,
            "an external provider's answer is pending",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::datamodel::external::{ExternalAnswer, ExternalOp};

    #[test]
    fn records_the_first_missing_call_then_answers_from_results() {
        let memo = ExternalMemo::default();
        let list = ExternalCall {
            provider: 0,
            op: ExternalOp::List("Device.X.".into()),
        };
        let add = ExternalCall {
            provider: 0,
            op: ExternalOp::Add("Device.X.T.".into()),
        };
        assert!(memo.call(&[], list.clone()).is_err());
        assert!(memo.call(&[], add.clone()).is_err());
        assert_eq!(memo.take_missing(), Some(list.clone()));
        assert!(memo.waits_for(&list) && !memo.waits_for(&add));
        assert_eq!(memo.take_missing(), None);
        memo.answer(list.clone(), Ok(ExternalAnswer::Nodes(Vec::new())));
        assert_eq!(
            memo.call(&[], list.clone()),
            Ok(ExternalAnswer::Nodes(Vec::new()))
        );
        assert!(memo.call(&[], add.clone()).is_err());
        assert_eq!(memo.take_missing(), Some(add));
        memo.clear();
        assert!(memo.call(&[], list).is_err());
    }
}
