//! The io_uring model (a proactor): to be written; serves with the epoll reactor meanwhile.

use super::Worker;
use crate::error::Result;

pub(crate) fn run(w: Worker) -> Result<()> {
    super::reactor::run(w)
}
