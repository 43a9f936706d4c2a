//! Key epochs at the receiver: the previous epoch's keys through a grace period after a rekey.

use super::recipient::{Membership, Recipient};
use super::shared::epoch_is_newer;
use crate::crypto::{AeadBackend, GroupKeys, RustCryptoCcm};
use crate::replay::ReplayStore;
use crate::Error;

/// Where a [`Recipient`] keeps the previous epoch's keys through a grace period after a
/// rekey. A second key schedule costs RAM (hundreds of bytes with software AES), so a receiver
/// that never needs a grace period chooses [`NoGrace`] and pays nothing.
pub trait GraceSlot<A: AeadBackend>: Default {
    /// Whether this slot can hold keys at all.
    const HOLDS: bool;
    /// The held keys and the caller time until which they are accepted.
    fn held(&self) -> Option<(&GroupKeys<A>, u64)>;
    /// Holds `keys` (or nothing); a slot that cannot hold keys ignores them.
    fn hold(&mut self, keys: Option<(GroupKeys<A>, u64)>);
}

/// No grace period: a rekey switches a receiver at once; [`Recipient::install_epoch`] with a
/// grace period is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoGrace;

impl<A: AeadBackend> GraceSlot<A> for NoGrace {
    const HOLDS: bool = false;
    fn held(&self) -> Option<(&GroupKeys<A>, u64)> {
        None
    }
    fn hold(&mut self, _: Option<(GroupKeys<A>, u64)>) {}
}

/// Room for the previous epoch's keys (the default).
pub struct Grace<A: AeadBackend = RustCryptoCcm>(Option<(GroupKeys<A>, u64)>);

impl<A: AeadBackend> Default for Grace<A> {
    fn default() -> Self {
        Grace(None)
    }
}

impl<A: AeadBackend> GraceSlot<A> for Grace<A> {
    const HOLDS: bool = true;
    fn held(&self) -> Option<(&GroupKeys<A>, u64)> {
        self.0.as_ref().map(|(k, until)| (k, *until))
    }
    fn hold(&mut self, keys: Option<(GroupKeys<A>, u64)>) {
        self.0 = keys;
    }
}

impl<R, M, A, const W: usize, G> Recipient<R, M, A, W, G>
where
    R: ReplayStore<W>,
    M: Membership,
    A: AeadBackend,
    G: GraceSlot<A>,
{
    /// Switches to the keys of a newer epoch of the same group (after a verified rekey
    /// message). With `grace_until`, frames of the epoch being replaced stay accepted until
    /// [`Recipient::expire_epoch`] is called with a later time (the caller's clock, any unit);
    /// with `None` they are refused at once, which is what revoking a compromised member needs.
    ///
    /// Refused as [`Error::InvalidConfig`] for another group, an epoch that is not newer, a
    /// grace period between epochs that share their 2 bits on the wire (a jump by a multiple of
    /// 4), which a receiver could not tell apart, or a grace period with [`NoGrace`].
    pub fn install_epoch(
        &mut self,
        keys: GroupKeys<A>,
        grace_until: Option<u64>,
    ) -> Result<(), Error> {
        let old = self.keys.epoch();
        if keys.group_id() != self.keys.group_id() || !epoch_is_newer(keys.epoch(), old) {
            return Err(Error::InvalidConfig);
        }
        if grace_until.is_some() && (keys.epoch() & 3 == old & 3 || !G::HOLDS) {
            return Err(Error::InvalidConfig);
        }
        let replaced = core::mem::replace(&mut self.keys, keys);
        self.previous
            .hold(grace_until.map(|until| (replaced, until)));
        Ok(())
    }

    /// Drops the previous epoch's keys once `now` is past their grace period; returns whether
    /// it did.
    pub fn expire_epoch(&mut self, now: u64) -> bool {
        if self.previous.held().is_some_and(|(_, until)| now > until) {
            self.previous.hold(None);
            return true;
        }
        false
    }

    /// Drops the previous epoch's keys now, whatever their grace period.
    pub fn retire_previous_epoch(&mut self) {
        self.previous.hold(None);
    }

    /// The epoch still accepted through its grace period, and until when.
    pub fn previous_epoch(&self) -> Option<(u16, u64)> {
        self.previous.held().map(|(k, until)| (k.epoch(), until))
    }
}
