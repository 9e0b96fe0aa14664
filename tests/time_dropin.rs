//! `iofd::time` as a drop-in for `tokio::time`: the same program, with
//! only the import changed, runs on both; the free functions panic where
//! tokio's do.

#![cfg(feature = "tokio")]

mod common;

use std::time::Duration;

use common::{on_both_runtimes, within};

/// A typical `tokio::time` program, written once, used with the module
/// given (`tokio::time` or `iofd::time`).
macro_rules! typical_program {
    ($krate:ident :: $module:ident) => {
        async {
            use tokio::time::Instant;
            use $krate::$module::{
                MissedTickBehavior, interval, interval_at, sleep, sleep_until, timeout, timeout_at,
            };

            let start = Instant::now();
            sleep(Duration::from_millis(1)).await;
            sleep_until(Instant::now() + Duration::from_millis(1)).await;
            assert!(start.elapsed() >= Duration::from_millis(2));

            let mut ticker = interval(Duration::from_millis(2));
            assert_eq!(ticker.missed_tick_behavior(), MissedTickBehavior::Burst);
            let first = ticker.tick().await;
            let second = ticker.tick().await;
            assert_eq!(
                second - first,
                Duration::from_millis(2),
                "Burst keeps the grid"
            );
            ticker.reset_immediately();
            ticker.tick().await;
            ticker.reset_after(Duration::from_millis(1));
            ticker.tick().await;
            ticker.reset_at(Instant::now() + Duration::from_millis(1));
            ticker.tick().await;
            ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut late = interval_at(Instant::now(), Duration::from_millis(1));
            late.tick().await;

            assert_eq!(
                timeout(Duration::from_secs(5), async { 5 }).await.unwrap(),
                5
            );
            assert!(
                timeout_at(
                    Instant::now() + Duration::from_millis(1),
                    std::future::pending::<()>()
                )
                .await
                .is_err()
            );
            // `timeout` takes `IntoFuture`.
            struct Ready7;
            impl std::future::IntoFuture for Ready7 {
                type Output = u8;
                type IntoFuture = std::future::Ready<u8>;
                fn into_future(self) -> Self::IntoFuture {
                    std::future::ready(7)
                }
            }
            assert_eq!(timeout(Duration::from_secs(5), Ready7).await.unwrap(), 7);

            // A pinned sleep, reset as with tokio.
            let sleep = sleep(Duration::from_secs(3600));
            tokio::pin!(sleep);
            let deadline = Instant::now() + Duration::from_millis(1);
            sleep.as_mut().reset(deadline);
            sleep.await;
            assert!(Instant::now() >= deadline);
        }
    };
}

#[test]
fn a_tokio_time_program_runs_with_only_the_import_changed() {
    on_both_runtimes(|| async {
        within(typical_program!(tokio::time)).await;
        within(typical_program!(iofd::time)).await;
    });
}

/// iofd's extra, one call away: the periods a tick stood for.
#[test]
fn the_missed_count_is_one_call_away() {
    on_both_runtimes(|| async {
        let period = Duration::from_millis(1);
        let start = std::time::Instant::now() - period * 10;
        let mut ticker = iofd::time::interval_at(start, period);
        ticker.set_missed_tick_behavior(iofd::time::MissedTickBehavior::Skip);
        let first = within(ticker.tick()).await;
        assert_eq!(first, start);
        assert!(ticker.missed() >= 10, "{}", ticker.missed());
    });
}

#[test]
#[should_panic(expected = "`period` must be non-zero.")]
fn a_zero_period_panics_as_with_tokio() {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let _ = iofd::time::interval(Duration::ZERO);
        });
}

#[test]
#[should_panic(expected = "no tokio runtime is current")]
fn outside_a_runtime_it_panics_as_tokio_does() {
    drop(iofd::time::sleep(Duration::from_millis(1)));
}

/// Each runtime has its own default `Timers`: a sleep armed through one
/// runtime's default is not in the other's.
#[test]
fn each_runtime_has_its_own_default() {
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut sleep = {
        let _runtime = first.enter();
        tokio_test::task::spawn(iofd::time::sleep(Duration::from_secs(3600)))
    };
    first.block_on(async {
        tokio_test::assert_pending!(sleep.poll());
        assert_eq!(iofd::time::Timers::current().unwrap().armed(), 1);
    });
    second.block_on(async {
        assert_eq!(iofd::time::Timers::current().unwrap().armed(), 0);
    });
    first.block_on(async {
        assert_eq!(iofd::time::Timers::current().unwrap().armed(), 1);
        sleep.reset(std::time::Instant::now());
    });
}
