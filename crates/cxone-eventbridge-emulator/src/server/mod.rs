//! The server's machinery, apart from the routes: the listener that can drop connections,
//! startup and the handle, the shared state, the clock, the token store and the error answers.

pub(crate) mod clock;
pub(crate) mod handle;
pub(crate) mod listener;
pub(crate) mod reject;
pub(crate) mod state;
pub(crate) mod tokens;

pub use handle::EmulatorHandle;
pub(crate) use handle::start;
