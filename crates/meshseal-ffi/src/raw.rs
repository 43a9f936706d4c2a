//! Pointer checks and the layout of caller-owned contexts: the only place where raw pointers
//! become references.
//!
//! A context block holds a [`Slot`]: a magic word that tells an initialized context of the
//! right kind from zeroed or foreign storage, then the Rust value. Every helper checks null
//! and alignment before it touches memory; lengths beyond `isize::MAX` are refused. What no
//! check can establish (that a pointer really addresses `len` valid bytes) is the caller's
//! contract, stated on each `extern "C"` function.

use core::mem::{align_of, size_of};
use core::ptr;

use crate::{MeshsealRecipient, MeshsealResult, MeshsealSender};

/// Result of a checked step.
pub(crate) type Checked<T> = Result<T, MeshsealResult>;

impl From<meshseal::Error> for MeshsealResult {
    fn from(e: meshseal::Error) -> Self {
        crate::result::code(e)
    }
}

/// The layout of an initialized context block.
#[repr(C)]
pub(crate) struct Slot<T> {
    magic: u32,
    value: T,
}

/// A kind of context block, with the magic word that marks it initialized.
pub(crate) trait Block {
    const MAGIC: u32;
}

impl Block for MeshsealSender {
    const MAGIC: u32 = 0x4d53_5458; // "MSTX"
}

impl Block for MeshsealRecipient {
    const MAGIC: u32 = 0x4d53_5258; // "MSRX"
}

/// Compile-time proof that a context fits its public storage block.
macro_rules! fits {
    ($t:ty, $block:ty) => {
        const _: () = assert!(
            core::mem::size_of::<$crate::raw::Slot<$t>>() <= core::mem::size_of::<$block>()
        );
        const _: () = assert!(
            core::mem::align_of::<$crate::raw::Slot<$t>>() <= core::mem::align_of::<$block>()
        );
    };
}
pub(crate) use fits;

pub(crate) const fn slot_size<T>() -> usize {
    size_of::<Slot<T>>()
}

pub(crate) const fn slot_align<T>() -> usize {
    align_of::<Slot<T>>()
}

/// Non-null and aligned for `U`.
#[inline(always)]
fn check_ptr<U>(p: *const U) -> Checked<()> {
    check_addr(p as usize, align_of::<U>())
}

/// [`check_ptr`] out of line: every entry point checks several pointers, and one shared copy
/// of the two tests is smaller on a device than a copy at each (`align` is a power of two).
#[inline(never)]
fn check_addr(addr: usize, align: usize) -> Checked<()> {
    if addr == 0 {
        Err(MeshsealResult::NullPointer)
    } else if addr & (align - 1) != 0 {
        Err(MeshsealResult::Misaligned)
    } else {
        Ok(())
    }
}

/// `block` can hold a `Slot<T>`.
pub(crate) fn check_slot<T, B: Block>(block: *mut B) -> Checked<()> {
    check_ptr(block.cast::<Slot<T>>())
}

/// An output pointer is usable.
pub(crate) fn check_out<U>(p: *mut U) -> Checked<()> {
    check_ptr(p)
}

/// Moves `value` into `block`, dropping (and so zeroizing) a context it held before.
///
/// # Safety
/// `block` passed [`check_slot`] and addresses writable storage of `size_of::<B>()` bytes,
/// zeroed or holding a context of kind `B` with value type `T`.
pub(crate) unsafe fn context_init<T, B: Block>(block: *mut B, value: T) {
    let slot = block.cast::<Slot<T>>();
    // SAFETY: the caller guarantees `slot` is aligned, writable and large enough; a matching
    // magic word means an earlier init of the same kind stored a valid `T` there.
    unsafe {
        if ptr::addr_of!((*slot).magic).read() == B::MAGIC {
            ptr::drop_in_place(ptr::addr_of_mut!((*slot).value));
        }
        slot.write(Slot {
            magic: B::MAGIC,
            value,
        });
    }
}

/// Drops the context in `block` and marks it uninitialized; a block that holds none is left
/// alone.
///
/// # Safety
/// `block` is null or addresses storage as for [`context_init`].
pub(crate) unsafe fn context_clear<T, B: Block>(block: *mut B) -> Checked<()> {
    check_slot::<T, B>(block)?;
    let slot = block.cast::<Slot<T>>();
    // SAFETY: checked non-null and aligned; the caller guarantees the storage; the magic word
    // is only ever written together with a valid `T`.
    unsafe {
        let magic = ptr::addr_of_mut!((*slot).magic);
        if magic.read() != B::MAGIC {
            return Err(MeshsealResult::NotInitialized);
        }
        magic.write(0);
        ptr::drop_in_place(ptr::addr_of_mut!((*slot).value));
    }
    Ok(())
}

/// The context in `block`.
///
/// # Safety
/// `block` is null or addresses storage as for [`context_init`], not otherwise borrowed for
/// `'a`.
pub(crate) unsafe fn context<'a, T, B: Block>(block: *mut B) -> Checked<&'a mut T> {
    check_slot::<T, B>(block)?;
    let slot = block.cast::<Slot<T>>();
    // SAFETY: checked non-null and aligned; a matching magic word was written with a valid
    // `T` by `context_init` and is cleared before that value is dropped.
    unsafe {
        if ptr::addr_of!((*slot).magic).read() != B::MAGIC {
            return Err(MeshsealResult::NotInitialized);
        }
        Ok(&mut *ptr::addr_of_mut!((*slot).value))
    }
}

/// `len` bytes at `p`; a null `p` is allowed for an empty slice.
///
/// # Safety
/// When `len > 0`, `p` addresses `len` readable bytes not written through for `'a`.
pub(crate) unsafe fn bytes<'a>(p: *const u8, len: usize) -> Checked<&'a [u8]> {
    if len == 0 {
        return Ok(&[]);
    }
    check_len(p, len)?;
    // SAFETY: non-null, length bounded by isize::MAX and not wrapping the address space;
    // readability for `len` bytes is the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// `len` writable bytes at `p`; a null `p` is allowed for an empty slice.
///
/// # Safety
/// When `len > 0`, `p` addresses `len` writable bytes not otherwise accessed for `'a`.
pub(crate) unsafe fn bytes_mut<'a>(p: *mut u8, len: usize) -> Checked<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    check_len(p, len)?;
    // SAFETY: as in `bytes`, with writability and exclusive access the caller's contract.
    Ok(unsafe { core::slice::from_raw_parts_mut(p, len) })
}

/// A buffer argument: non-null, and `len` bytes from `p` within the address space. Out of line
/// for the reason [`check_addr`] is.
#[inline(never)]
fn check_len(p: *const u8, len: usize) -> Checked<()> {
    if p.is_null() {
        return Err(MeshsealResult::NullPointer);
    }
    if len > isize::MAX as usize || (p as usize).checked_add(len).is_none() {
        return Err(MeshsealResult::BadArgument);
    }
    Ok(())
}

/// Refuses an input buffer that overlaps an output buffer.
pub(crate) fn disjoint(a: *const u8, a_len: usize, b: *const u8, b_len: usize) -> Checked<()> {
    if a_len == 0 || b_len == 0 {
        return Ok(());
    }
    let (a0, b0) = (a as usize, b as usize);
    if a0 < b0.saturating_add(b_len) && b0 < a0.saturating_add(a_len) {
        return Err(MeshsealResult::BadArgument);
    }
    Ok(())
}

/// A readable value at `p`.
///
/// # Safety
/// `p` is null or addresses a valid `U` not written through for `'a`.
pub(crate) unsafe fn in_ref<'a, U>(p: *const U) -> Checked<&'a U> {
    check_ptr(p)?;
    // SAFETY: checked non-null and aligned; validity is the caller's contract. `U` is one of
    // this crate's `repr(C)` structs of integers, byte arrays and raw pointers, valid for every
    // initialized bit pattern (enumerations are carried as integers and checked after reading).
    Ok(unsafe { &*p })
}

/// The value at `p`, or `None` when `p` is null (an optional argument).
///
/// # Safety
/// `p` is null or addresses a valid `U` not written through for `'a`.
pub(crate) unsafe fn opt_ref<'a, U>(p: *const U) -> Checked<Option<&'a U>> {
    if p.is_null() {
        return Ok(None);
    }
    // SAFETY: forwarded from this function's contract.
    unsafe { in_ref(p) }.map(Some)
}

/// A copy of the value at `p`, or `default` when `p` is null (options a caller may omit).
///
/// # Safety
/// `p` is null or addresses a valid `U`.
pub(crate) unsafe fn copy_or<U: Copy>(p: *const U, default: U) -> Checked<U> {
    if p.is_null() {
        return Ok(default);
    }
    // SAFETY: forwarded from this function's contract.
    Ok(*unsafe { in_ref(p)? })
}

/// `len` values at `p`; a null `p` is allowed for an empty slice.
///
/// # Safety
/// When `len > 0`, `p` addresses `len` valid values of `U` not written through for `'a`; `U`
/// is one of this crate's `repr(C)` structs as for [`in_ref`].
pub(crate) unsafe fn slice<'a, U>(p: *const U, len: usize) -> Checked<&'a [U]> {
    if len == 0 {
        return Ok(&[]);
    }
    check_ptr(p)?;
    let size = len
        .checked_mul(size_of::<U>())
        .ok_or(MeshsealResult::BadArgument)?;
    check_len(p.cast::<u8>(), size)?;
    // SAFETY: non-null and aligned, `len` values spanning at most isize::MAX bytes without
    // wrapping the address space; validity of every value is the caller's contract, and `U`
    // is valid for every initialized bit pattern (see `in_ref`).
    Ok(unsafe { core::slice::from_raw_parts(p, len) })
}

/// A writable, initialized value at `p`.
///
/// # Safety
/// `p` is null or addresses a valid `U` not otherwise accessed for `'a`.
pub(crate) unsafe fn out_ref<'a, U>(p: *mut U) -> Checked<&'a mut U> {
    check_ptr(p)?;
    // SAFETY: as in `in_ref`, with exclusive access the caller's contract.
    Ok(unsafe { &mut *p })
}

/// Writes `v` to `p`.
///
/// # Safety
/// `p` is null or addresses writable storage for a `U`.
pub(crate) unsafe fn put<U>(p: *mut U, v: U) -> Checked<()> {
    check_ptr(p)?;
    // SAFETY: checked non-null and aligned; writability is the caller's contract. `U` is
    // `Copy` plain data here, so nothing is leaked by not dropping the old value.
    unsafe { p.write(v) };
    Ok(())
}
