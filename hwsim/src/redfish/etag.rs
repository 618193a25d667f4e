//! ETags and `If-Match`.
//!
//! A resource's ETag is a weak tag over its rendered JSON (FNV-1a 64 of the
//! serialized body), so it changes exactly when the representation changes
//! and needs no bookkeeping.

use serde_json::Value;

/// `W/"<16 hex digits>"` for a rendered resource.
pub fn etag(body: &Value) -> String {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("W/\"{h:016x}\"")
}

/// Whether an `If-Match` header value admits a resource whose ETag is
/// `current`: `*`, or any listed tag equal to it (weak comparison: a `W/`
/// prefix on either side is ignored).
pub fn if_match_admits(header: &str, current: &str) -> bool {
    let opaque = |t: &str| t.trim().trim_start_matches("W/").to_owned();
    let current = opaque(current);
    header
        .split(',')
        .any(|t| t.trim() == "*" || opaque(t) == current)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn etag_follows_the_content() {
        let a = etag(&json!({"PowerState": "On"}));
        assert_eq!(a, etag(&json!({"PowerState": "On"})));
        assert_ne!(a, etag(&json!({"PowerState": "Off"})));
        assert!(a.starts_with("W/\"") && a.ends_with('"') && a.len() == 20);
    }

    #[test]
    fn if_match_uses_weak_comparison_lists_and_star() {
        let cur = "W/\"00000000000000aa\"";
        assert!(if_match_admits(cur, cur));
        assert!(if_match_admits("\"00000000000000aa\"", cur));
        assert!(if_match_admits("\"x\", W/\"00000000000000aa\"", cur));
        assert!(if_match_admits("*", cur));
        assert!(!if_match_admits("W/\"00000000000000ab\"", cur));
        assert!(!if_match_admits("", cur));
    }
}
