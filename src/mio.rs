//! `mio::event::Source` for the pollable handles (feature `mio`).
//!
//! The behaviour and an example are in the crate docs, section "With mio".

use std::io;
use std::os::fd::AsRawFd;

use mio::event::Source;
use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

use crate::{EventFd, Fd, PidFd, SignalFd, TimerFd};

/// Implements `mio::event::Source` by registering the handle's descriptor.
macro_rules! impl_mio_source {
    ($($ty:ty),* $(,)?) => {$(
        #[cfg_attr(docsrs, doc(cfg(feature = "mio")))]
        impl Source for $ty {
            fn register(
                &mut self,
                registry: &Registry,
                token: Token,
                interests: Interest,
            ) -> io::Result<()> {
                SourceFd(&self.as_raw_fd()).register(registry, token, interests)
            }

            fn reregister(
                &mut self,
                registry: &Registry,
                token: Token,
                interests: Interest,
            ) -> io::Result<()> {
                SourceFd(&self.as_raw_fd()).reregister(registry, token, interests)
            }

            fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
                SourceFd(&self.as_raw_fd()).deregister(registry)
            }
        }
    )*};
}

impl_mio_source!(Fd, EventFd, TimerFd, SignalFd, PidFd);
