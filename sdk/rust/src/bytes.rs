//! Byte-string types: hashes, keys, signatures, secrets and opaque payloads.
//!
//! All of them travel as msgpack `bin` (docs/abi.md, "Encoding"). The `serde_bytes` crate is
//! not available offline, so serialization is written out here: `Serialize` goes through
//! `serialize_bytes`, and `Deserialize` accepts `bin` (borrowed or owned) and, leniently, an
//! array of small integers.

use core::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::Serializer;

struct BytesVisitor;

impl<'de> Visitor<'de> for BytesVisitor {
    type Value = Vec<u8>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a byte string (msgpack bin)")
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
        Ok(v.to_vec())
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
        Ok(v)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
        let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(4096));
        while let Some(b) = seq.next_element::<u8>()? {
            out.push(b);
        }
        Ok(out)
    }
}

/// Deserialize a `bin` (or an array of bytes) into a `Vec<u8>`.
pub fn deserialize_bytes<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    d.deserialize_byte_buf(BytesVisitor)
}

/// Serialize a byte slice as msgpack `bin`.
pub fn serialize_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_bytes(bytes)
}

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// base64url without padding (the alphabet of HoloHash's text form).
pub fn base64url_encode(data: &[u8]) -> String {
    let mut out = String::with_capacity((data.len() * 4 + 2) / 3);
    for chunk in data.chunks(3) {
        let n = match chunk.len() {
            3 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8 | chunk[2] as u32,
            2 => (chunk[0] as u32) << 16 | (chunk[1] as u32) << 8,
            _ => (chunk[0] as u32) << 16,
        };
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Decode base64url without padding (padding `=` is tolerated). `None` on a bad character.
pub fn base64url_decode(text: &str) -> Option<Vec<u8>> {
    let text = text.trim_end_matches('=');
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32;
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

macro_rules! bytes_type {
    ($(#[$meta:meta])* $name:ident, hash) => {
        bytes_type!(@common $(#[$meta])* $name);

        impl $name {
            /// The text form: `u` + base64url (no padding) of the 39 bytes.
            pub fn to_b64(&self) -> String {
                let mut s = String::from("u");
                s.push_str(&base64url_encode(&self.0));
                s
            }

            /// Parse the text form (`u` + base64url).
            pub fn from_b64(text: &str) -> Option<Self> {
                text.strip_prefix('u').and_then(base64url_decode).map($name)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.to_b64())
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(&self.to_b64())
            }
        }
    };
    ($(#[$meta:meta])* $name:ident, plain) => {
        bytes_type!(@common $(#[$meta])* $name);

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
                write!(f, "{}(", stringify!($name))?;
                for b in self.0.iter() {
                    write!(f, "{:02x}", b)?;
                }
                f.write_str(")")
            }
        }
    };
    (@common $(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(pub Vec<u8>);

        impl $name {
            /// Wrap raw bytes (no length check: the host validates what it receives).
            pub fn from_raw(bytes: Vec<u8>) -> Self {
                $name(bytes)
            }

            pub fn as_bytes(&self) -> &[u8] {
                &self.0
            }

            pub fn into_inner(self) -> Vec<u8> {
                self.0
            }

            pub fn len(&self) -> usize {
                self.0.len()
            }

            pub fn is_empty(&self) -> bool {
                self.0.is_empty()
            }
        }

        impl From<Vec<u8>> for $name {
            fn from(v: Vec<u8>) -> Self {
                $name(v)
            }
        }

        impl From<&[u8]> for $name {
            fn from(v: &[u8]) -> Self {
                $name(v.to_vec())
            }
        }

        impl From<$name> for Vec<u8> {
            fn from(v: $name) -> Vec<u8> {
                v.0
            }
        }

        impl AsRef<[u8]> for $name {
            fn as_ref(&self) -> &[u8] {
                &self.0
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(&self.0)
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                deserialize_bytes(d).map($name)
            }
        }
    };
}

bytes_type!(
    /// An agent's public key in HoloHash form (39 bytes: prefix, Ed25519 key, location).
    AgentPubKey, hash
);
bytes_type!(
    /// The hash of an action (39-byte HoloHash).
    ActionHash, hash
);
bytes_type!(
    /// The hash of an entry (39-byte HoloHash).
    EntryHash, hash
);
bytes_type!(
    /// The hash of a DNA (39-byte HoloHash).
    DnaHash, hash
);
bytes_type!(
    /// Either an action hash or an entry hash: the input of `get`.
    AnyDhtHash, hash
);
bytes_type!(
    /// An Ed25519 signature (64 bytes).
    Signature, plain
);
bytes_type!(
    /// A capability secret (64 bytes).
    CapSecret, plain
);
bytes_type!(
    /// Opaque bytes, usually msgpack ("serialized bytes") of an app value.
    Bytes, plain
);

impl From<ActionHash> for AnyDhtHash {
    fn from(h: ActionHash) -> Self {
        AnyDhtHash(h.0)
    }
}

impl From<&ActionHash> for AnyDhtHash {
    fn from(h: &ActionHash) -> Self {
        AnyDhtHash(h.0.clone())
    }
}

impl From<EntryHash> for AnyDhtHash {
    fn from(h: EntryHash) -> Self {
        AnyDhtHash(h.0)
    }
}

impl From<&EntryHash> for AnyDhtHash {
    fn from(h: &EntryHash) -> Self {
        AnyDhtHash(h.0.clone())
    }
}

impl Bytes {
    /// Encode `value` as msgpack (maps with field names) and wrap the bytes.
    pub fn encode<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, crate::WasmError> {
        crate::encode(value).map(Bytes)
    }

    /// Decode the wrapped msgpack bytes into `T`.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<T, crate::WasmError> {
        crate::decode(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_roundtrip() {
        for n in 0..10u8 {
            let data: Vec<u8> = (0..n).map(|i| i.wrapping_mul(37)).collect();
            assert_eq!(base64url_decode(&base64url_encode(&data)).unwrap(), data);
        }
        assert_eq!(base64url_encode(b"foob"), "Zm9vYg");
    }
}
