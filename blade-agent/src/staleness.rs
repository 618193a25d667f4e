//! The staleness rule: which desired states the agent applies, refuses, or
//! acknowledges without touching the host. Pure; the applier calls it.
//!
//! # The rule
//!
//! Tokens are ordered by generation, then term ([`FencingToken`]'s `Ord`).
//! The agent remembers the newest token it has **accepted** (started to
//! apply, whether or not that succeeded) and the token it has **applied**.
//!
//! 1. `incoming < accepted` → **refuse** (reported as stale, with the
//!    accepted token). Lower generation: an older desired state, whatever its
//!    term. Same generation, lower term: a deposed leader's late push.
//! 2. `incoming == applied` → **already applied**: report Applied again,
//!    do nothing on the host (a resync or a retried push).
//! 3. otherwise → **apply** (a newer generation; the same generation from a
//!    newer term; or a retry of the accepted token whose attempt failed).
//!
//! # Why generation first
//!
//! The generation is the version of the blade's desired state in the
//! replicated state, so it alone says which state is newer. The controller
//! pushes only committed generations, and a new leader holds every committed
//! entry, so a higher term never comes with a *lower* generation unless
//! something is wrong; ordering by term first would then let that push roll
//! the blade back. The term still matters at equal generations: it fences a
//! deposed leader whose push of that generation arrives after the new
//! leader's. The floor is the *accepted* token, not only the applied one, so
//! a late older push cannot slip in after a newer attempt failed.
//!
//! The controller must therefore issue generations that grow **per blade**
//! across servers and releases (for example the log index of the entry that
//! committed the blade's placement), not a per-server counter that restarts
//! when another server lands on the blade.

use crate::protocol::FencingToken;

/// What to do with an incoming desired state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Apply it on the host.
    Apply,
    /// The host already carries exactly this token: report Applied again.
    AlreadyApplied,
    /// Older than `current`, the newest accepted token: refuse and report.
    Refuse { current: FencingToken },
}

/// Judges `incoming` against the newest `accepted` and the `applied` token.
pub fn judge(
    accepted: Option<FencingToken>,
    applied: Option<FencingToken>,
    incoming: FencingToken,
) -> Verdict {
    if let Some(current) = accepted
        && incoming < current
    {
        return Verdict::Refuse { current };
    }
    if applied == Some(incoming) {
        return Verdict::AlreadyApplied;
    }
    Verdict::Apply
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(term: u64, generation: u64) -> FencingToken {
        FencingToken::new(term, generation)
    }

    #[test]
    fn the_first_desired_state_is_applied() {
        assert_eq!(judge(None, None, t(1, 1)), Verdict::Apply);
    }

    #[test]
    fn a_newer_generation_is_applied_whatever_its_term() {
        assert_eq!(judge(Some(t(5, 3)), Some(t(5, 3)), t(5, 4)), Verdict::Apply);
        // A lower term with a higher generation cannot come from a deposed
        // leader that pushes only committed generations; it is newer state.
        assert_eq!(judge(Some(t(5, 3)), Some(t(5, 3)), t(4, 4)), Verdict::Apply);
    }

    #[test]
    fn a_lower_generation_is_refused_whatever_its_term() {
        let current = t(2, 7);
        assert_eq!(
            judge(Some(current), Some(current), t(2, 6)),
            Verdict::Refuse { current }
        );
        assert_eq!(
            judge(Some(current), Some(current), t(9, 6)),
            Verdict::Refuse { current }
        );
    }

    #[test]
    fn same_generation_from_a_deposed_leader_is_refused() {
        let current = t(4, 5);
        assert_eq!(
            judge(Some(current), Some(current), t(3, 5)),
            Verdict::Refuse { current }
        );
    }

    #[test]
    fn same_generation_from_a_newer_leader_is_applied() {
        assert_eq!(judge(Some(t(3, 5)), Some(t(3, 5)), t(4, 5)), Verdict::Apply);
    }

    #[test]
    fn the_applied_token_again_is_acknowledged_without_applying() {
        assert_eq!(
            judge(Some(t(3, 5)), Some(t(3, 5)), t(3, 5)),
            Verdict::AlreadyApplied
        );
    }

    #[test]
    fn a_failed_attempt_may_be_retried_but_not_undercut() {
        // Generation 6 was accepted but failed; the host still carries 5.
        let accepted = Some(t(3, 6));
        let applied = Some(t(3, 5));
        assert_eq!(judge(accepted, applied, t(3, 6)), Verdict::Apply);
        // A late push of 5 is older than the accepted 6: refused, even
        // though the host carries exactly 5.
        assert_eq!(
            judge(accepted, applied, t(3, 5)),
            Verdict::Refuse { current: t(3, 6) }
        );
    }

    #[test]
    fn never_applies_anything_older_than_accepted() {
        // Exhaustive over a small grid: Apply or AlreadyApplied only for
        // tokens at or above the accepted one.
        for ag in 1..4 {
            for at in 1..4 {
                let accepted = t(at, ag);
                for g in 0..5 {
                    for term in 0..5 {
                        let incoming = t(term, g);
                        let verdict = judge(Some(accepted), Some(accepted), incoming);
                        let refused = matches!(verdict, Verdict::Refuse { .. });
                        assert_eq!(refused, incoming < accepted, "{incoming} vs {accepted}");
                    }
                }
            }
        }
    }
}
