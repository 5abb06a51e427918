//! The protobuf wire format, read without a schema.
//!
//! A message is a sequence of fields, each a varint key `(tag << 3) | wire type` and a
//! value whose length the wire type fixes: 0 varint, 1 eight bytes, 2 a varint length and
//! that many bytes (strings, bytes, embedded messages, map entries, packed lists), 5 four
//! bytes. Wire types 3 and 4 (proto2 groups) never occur in Kubernetes and are refused.
//! Every read is bounds-checked, so truncated or hostile input is an error, never a panic.

use super::DecodeError;

/// One field's value, as the wire carries it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Value<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

/// Iterates over the `(tag, value)` pairs of one message.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Whether every byte has been read.
    pub(crate) fn is_empty(&self) -> bool {
        self.pos >= self.buf.len()
    }

    pub(crate) fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        // A u64 takes at most 10 groups of 7 bits; a longer run is malformed.
        for shift in (0..70).step_by(7) {
            let byte = *self.buf.get(self.pos).ok_or(DecodeError::Truncated)?;
            self.pos += 1;
            value |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::Malformed("varint longer than 10 bytes"))
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.pos.checked_add(len).ok_or(DecodeError::Truncated)?;
        let bytes = self.buf.get(self.pos..end).ok_or(DecodeError::Truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn fixed<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Eight little-endian bytes: a `double` inside a packed run.
    pub(crate) fn fixed64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.fixed()?))
    }

    /// The next field, or `None` at the end of the message.
    pub(crate) fn field(&mut self) -> Result<Option<(u32, Value<'a>)>, DecodeError> {
        if self.is_empty() {
            return Ok(None);
        }
        let key = self.varint()?;
        let tag = u32::try_from(key >> 3)
            .map_err(|_| DecodeError::Malformed("field tag out of range"))?;
        if tag == 0 {
            return Err(DecodeError::Malformed("field tag 0"));
        }
        let value = match key & 7 {
            0 => Value::Varint(self.varint()?),
            1 => Value::Fixed64(u64::from_le_bytes(self.fixed()?)),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| DecodeError::Truncated)?;
                Value::Bytes(self.take(len)?)
            }
            5 => Value::Fixed32(u32::from_le_bytes(self.fixed()?)),
            _ => {
                return Err(DecodeError::Malformed(
                    "unsupported wire type (group or reserved)",
                ));
            }
        };
        Ok(Some((tag, value)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_wire_type() {
        // tag 1 varint 150; tag 2 bytes "hi"; tag 3 fixed64 1; tag 4 fixed32 2
        let buf = [
            0x08, 0x96, 0x01, 0x12, 2, b'h', b'i', 0x19, 1, 0, 0, 0, 0, 0, 0, 0, 0x25, 2, 0, 0, 0,
        ];
        let mut r = Reader::new(&buf);
        assert_eq!(r.field().ok(), Some(Some((1, Value::Varint(150)))));
        assert_eq!(r.field().ok(), Some(Some((2, Value::Bytes(b"hi")))));
        assert_eq!(r.field().ok(), Some(Some((3, Value::Fixed64(1)))));
        assert_eq!(r.field().ok(), Some(Some((4, Value::Fixed32(2)))));
        assert_eq!(r.field().ok(), Some(None));
    }

    #[test]
    fn refuses_truncation_and_overlong_varints() {
        assert!(Reader::new(&[0x12, 5, b'a']).field().is_err());
        assert!(Reader::new(&[0x08]).field().is_err());
        assert!(
            Reader::new(&[
                0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01
            ])
            .field()
            .is_err()
        );
        assert!(Reader::new(&[0x0b]).field().is_err()); // group start
        assert!(Reader::new(&[0x00]).field().is_err()); // tag 0
    }
}
