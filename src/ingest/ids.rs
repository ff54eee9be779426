//! Span and trace ids that are not what the format's spec says: Jaeger UI test traces use
//! opaque strings (`trace-123`, `span-2_1`), redacted collector output reads `xxxxx`, Tempo
//! examples put the words `spanId` / `traceId` in links. Such an id is read as a stable
//! internal id (a hash of its text), so every reference written the same way still resolves
//! to the same span, and nothing is rejected for the spelling of an id.

use super::cloudevents::escape_msg;
use super::spans::{parse_hex_id, parse_otlp_id};

/// A stable id of `N` bytes (never all zeros) for an opaque id text: the same text always
/// gives the same id, in every run and on every machine.
pub fn opaque<const N: usize>(s: &str) -> [u8; N] {
    // FNV-1a over the bytes, then splitmix64 to spread it; one 64-bit lane per 8 bytes, each
    // with its own seed.
    let mut out = [0u8; N];
    for (lane, chunk) in out.chunks_mut(8).enumerate() {
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ (lane as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for &b in s.as_bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        h = h.wrapping_add(0x9e37_79b9_7f4a_7c15);
        h = (h ^ (h >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        h = (h ^ (h >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        h ^= h >> 31;
        let bytes = h.to_be_bytes();
        chunk.copy_from_slice(&bytes[..chunk.len()]);
    }
    if out == [0u8; N] {
        out[N - 1] = 1;
    }
    out
}

/// How an id was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdForm {
    /// As the format's spec writes it (hex, or base64 for OTLP).
    Spec,
    /// An opaque text, read through [`opaque`].
    Opaque,
}

/// A Jaeger or Zipkin id: hex of up to `2 * N` digits, else (not empty, not all zeros) an
/// opaque text. `None` for an empty or all-zero id.
pub fn hex_or_opaque<const N: usize>(s: &str) -> Option<([u8; N], IdForm)> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    if let Some(id) = parse_hex_id::<N>(t) {
        return Some((id, IdForm::Spec));
    }
    if t.bytes().all(|b| b == b'0') {
        return None;
    }
    Some((opaque::<N>(t), IdForm::Opaque))
}

/// An OTLP id: hex or base64 (see [`parse_otlp_id`]), else an opaque text. Errors for an
/// empty or all-zero id only.
pub fn otlp_or_opaque<const N: usize>(s: &str) -> Result<([u8; N], IdForm), String> {
    match parse_otlp_id::<N>(s) {
        Ok(id) => Ok((id, IdForm::Spec)),
        Err(e) if s.is_empty() || e.starts_with("is all zeros") => Err(e),
        Err(_) => Ok((opaque::<N>(s), IdForm::Opaque)),
    }
}

/// The note for a span read with opaque ids (`fields` names them).
pub fn opaque_note(fields: &[(&str, &str)]) -> String {
    let list: Vec<String> = fields
        .iter()
        .map(|(f, v)| format!("{f} \"{}\"", escape_msg(v)))
        .collect();
    format!(
        "{} not a hex (or base64) id: read as an opaque id (references written the same way still resolve)",
        if list.len() == 1 {
            format!("{} is", list[0])
        } else {
            format!("{} are", list.join(", "))
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opaque_ids_are_stable_and_distinct() {
        let a: [u8; 16] = opaque("trace-123");
        assert_eq!(a, opaque::<16>("trace-123"));
        assert_ne!(a, opaque::<16>("trace-124"));
        assert_ne!(opaque::<8>("span-2"), opaque::<8>("span-2_1"));
        assert_eq!(
            hex_or_opaque::<8>("00f067aa0ba902b7"),
            Some((
                [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7],
                IdForm::Spec
            ))
        );
        assert_eq!(hex_or_opaque::<8>("0000"), None);
        assert_eq!(hex_or_opaque::<8>(""), None);
        assert_eq!(
            hex_or_opaque::<8>("span-1").map(|x| x.1),
            Some(IdForm::Opaque)
        );
        assert!(otlp_or_opaque::<8>("").is_err());
        assert!(otlp_or_opaque::<8>("AAAAAAAAAAA=").is_err());
        assert_eq!(
            otlp_or_opaque::<8>("xxxxx").map(|x| x.1),
            Ok(IdForm::Opaque)
        );
        assert_eq!(
            otlp_or_opaque::<8>("spanId").map(|x| x.1),
            Ok(IdForm::Opaque)
        );
    }
}
