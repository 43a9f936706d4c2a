//! Truncated sequence numbers: how a receiver rebuilds them and how a sender picks their length.
//!
//! Reconstruction follows DTLS 1.3 (RFC 9147 §4.2.2): of all 40-bit numbers whose low bits equal
//! the carried bits, take the one closest to the next number the receiver expects (its highest
//! accepted number plus one). Ties go to the larger candidate, because senders only move forward.
//! With `b` carried bits the result is right whenever the true number lies in
//! `(expected - 2^(b-1), expected + 2^(b-1)]`; outside that range it is wrong, and a wrong number
//! only makes the nonce wrong, so the tag fails: a reconstruction error can never make a replay
//! or a forged frame acceptable.
//!
//! | form | bits | a receiver may have missed at most |
//! |---|---|---|
//! | short | 4 | 8 frames |
//! | 1 byte | 8 | 128 frames |
//! | 2 bytes | 16 | 32 768 frames |
//! | 3 bytes | 24 | 2^23 frames |
//! | 4 bytes | 32 | 2^31 frames |
//! | 5 bytes | 40 | any (full number) |

use crate::frame::{SeqForm, TruncatedSeq, SEQ_MAX};

/// Rebuilds the full sequence number from `t`, given the next number the receiver expects.
///
/// Total: any inputs give a number in `0..=SEQ_MAX` whose low bits equal `t.value`.
pub fn reconstruct(expected: u64, t: TruncatedSeq) -> u64 {
    let bits = t.form.bits();
    if bits >= 40 {
        return t.value & SEQ_MAX;
    }
    let span = 1u64 << bits;
    let mask = span - 1;
    // Top of the window (expected - half, expected + half]; below 2^41, so no overflow.
    let top = expected.min(SEQ_MAX + 1) + span / 2;
    // Distance from the top down to the candidate with the carried low bits.
    let down = top.wrapping_sub(t.value) & mask;
    let x = if down <= top {
        top - down
    } else {
        top + span - down
    };
    if x > SEQ_MAX {
        x - span
    } else {
        x
    }
}

/// The shortest form that a receiver holding at least `reference` reconstructs correctly for
/// `seq` (a receiver's highest accepted number is at least `reference`, at most `seq - 1`).
pub fn shortest_form(seq: u64, reference: u64) -> SeqForm {
    let Some(ahead) = seq.checked_sub(reference) else {
        return SeqForm::FULL;
    };
    // A form of `bits` bits reconstructs up to 2^(bits-1) + 1 ahead. The short form's 4 bits
    // reach 9; `n` bytes reach `ahead` when `ahead - 2 < 2^(8n-1)`, so the smallest `n`
    // follows from the significant bits of `ahead - 2` (a count of leading zeros: no 64-bit
    // shifts on a 32-bit core).
    if ahead <= 9 {
        return SeqForm::Short;
    }
    let n = (64 - (ahead - 2).leading_zeros() + 8) / 8;
    if n >= 5 {
        SeqForm::FULL
    } else {
        SeqForm::Bytes(n as u8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The textbook DTLS 1.3 formulation: three candidates around the expected value.
    fn model(expected: u64, t: TruncatedSeq) -> u64 {
        let bits = t.form.bits();
        if bits >= 40 {
            return t.value;
        }
        let span = 1u64 << bits;
        let expected = expected.min(SEQ_MAX + 1);
        let base = (expected & !(span - 1)) | t.value;
        let mut best: Option<u64> = None;
        for c in [base.checked_sub(span), Some(base), base.checked_add(span)]
            .into_iter()
            .flatten()
        {
            if c > SEQ_MAX {
                continue;
            }
            best = Some(match best {
                None => c,
                Some(b) => {
                    let (dc, db) = (c.abs_diff(expected), b.abs_diff(expected));
                    if dc < db || (dc == db && c > b) {
                        c
                    } else {
                        b
                    }
                }
            });
        }
        best.unwrap()
    }

    fn form() -> impl Strategy<Value = SeqForm> {
        prop::sample::select(SeqForm::ALL.to_vec())
    }

    proptest! {
        #[test]
        fn matches_model(expected in 0..=SEQ_MAX + 1, raw in any::<u64>(), form in form()) {
            let t = TruncatedSeq::of(raw, form);
            let got = reconstruct(expected, t);
            prop_assert!(got <= SEQ_MAX);
            prop_assert_eq!(TruncatedSeq::of(got, form).value, t.value);
            prop_assert_eq!(got, model(expected, t));
        }

        #[test]
        fn correct_inside_documented_range(highest in 0..SEQ_MAX, ahead in 1u64..1 << 24, form in form()) {
            let seq = highest.saturating_add(ahead).min(SEQ_MAX);
            prop_assume!(seq > highest);
            let ok_range = form.is_full() || seq - (highest + 1) < 1u64 << (form.bits() - 1);
            let got = reconstruct(highest + 1, TruncatedSeq::of(seq, form));
            if ok_range {
                prop_assert_eq!(got, seq);
            }
        }

        #[test]
        fn sender_rule_is_sound(reference in 0..SEQ_MAX, ahead in 1u64..1 << 34, behind in 0u64..1 << 34) {
            // Any receiver whose highest lies in [reference, seq - 1] reconstructs correctly.
            let seq = reference.saturating_add(ahead).min(SEQ_MAX);
            prop_assume!(seq > reference);
            let form = shortest_form(seq, reference);
            let highest = (reference + behind).min(seq - 1);
            prop_assert_eq!(reconstruct(highest + 1, TruncatedSeq::of(seq, form)), seq);
            prop_assert_eq!(reconstruct(reference + 1, TruncatedSeq::of(seq, form)), seq);
        }
    }

    #[test]
    fn edges() {
        let short = |v| TruncatedSeq {
            value: v,
            form: SeqForm::Short,
        };
        assert_eq!(reconstruct(0, short(3)), 3);
        assert_eq!(reconstruct(0, short(15)), 15); // nothing below zero
        assert_eq!(reconstruct(16, short(15)), 15);
        assert_eq!(reconstruct(16, short(8)), 24); // tie goes forward
        assert_eq!(reconstruct(SEQ_MAX + 1, short(0)), SEQ_MAX - 15);
        assert_eq!(reconstruct(u64::MAX, short(15)), SEQ_MAX);
        assert_eq!(
            reconstruct(
                5,
                TruncatedSeq {
                    value: SEQ_MAX,
                    form: SeqForm::FULL
                }
            ),
            SEQ_MAX
        );
        assert_eq!(shortest_form(11, 2), SeqForm::Short);
        assert_eq!(shortest_form(12, 2), SeqForm::Bytes(1));
        assert_eq!(shortest_form(2 + 129, 2), SeqForm::Bytes(1));
        assert_eq!(shortest_form(2 + 130, 2), SeqForm::Bytes(2));
        assert_eq!(shortest_form(1, 2), SeqForm::FULL);
        assert_eq!(shortest_form(SEQ_MAX, 0), SeqForm::FULL);
    }

    #[test]
    fn shortest_form_switches_exactly_where_reconstruction_stops_reaching() {
        // A form of b bits reaches 2^(b-1) + 1 ahead of the reference: at its edge it is the
        // shortest form, one past it the next longer form is.
        let forms = SeqForm::ALL;
        for (form, longer) in forms.iter().zip(&forms[1..]) {
            let reach = (1u64 << (form.bits() - 1)) + 1;
            for reference in [0, 1000, SEQ_MAX / 2] {
                assert_eq!(shortest_form(reference + reach, reference), *form);
                assert_eq!(shortest_form(reference + reach + 1, reference), *longer);
                let t = TruncatedSeq::of(reference + reach, *form);
                assert_eq!(reconstruct(reference + 1, t), reference + reach);
            }
        }
    }
}
