//! The boundary around third-party parsers (PromQL, YAML, templates): a panic
//! inside one must become a precise client error, never a dropped connection.
//!
//! [`no_panic`] runs a closure and turns a panic into the panic's message. While
//! a guarded closure runs on a thread, the process' panic hook stays quiet for
//! that thread (the caller reports the problem instead); panics anywhere else
//! reach the previous hook unchanged.

use std::cell::Cell;
use std::panic::{self, AssertUnwindSafe};
use std::sync::Once;

thread_local! {
    static GUARDED: Cell<u32> = const { Cell::new(0) };
}

static QUIET_HOOK: Once = Once::new();

/// Runs `f`; a panic inside it is returned as `Err(message)`.
///
/// Use it only around code that owns no state a panic could leave half
/// changed (a parser building a value from text).
pub fn no_panic<T>(f: impl FnOnce() -> T) -> Result<T, String> {
    QUIET_HOOK.call_once(|| {
        let previous = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if GUARDED.with(Cell::get) == 0 {
                previous(info);
            }
        }));
    });
    GUARDED.with(|g| g.set(g.get() + 1));
    let outcome = panic::catch_unwind(AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    outcome.map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown failure".to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_pass_through() {
        assert_eq!(no_panic(|| 41 + 1), Ok(42));
    }

    #[test]
    fn panics_become_their_message() {
        assert_eq!(
            no_panic(|| -> u8 { panic!("bad {}", "input") }),
            Err("bad input".to_string())
        );
        assert_eq!(
            no_panic(|| std::time::Duration::from_secs_f64(f64::INFINITY)).map(|_| ()),
            Err("cannot convert float seconds to Duration: value is either too big or NaN".into())
        );
    }

    #[test]
    fn nested_guards_unwind_to_the_inner_one() {
        let outer = no_panic(|| no_panic(|| -> u8 { panic!("inner") }));
        assert_eq!(outer, Ok(Err("inner".to_string())));
        assert_eq!(GUARDED.with(Cell::get), 0);
    }
}
