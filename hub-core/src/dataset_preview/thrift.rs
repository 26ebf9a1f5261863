//! Just enough of Thrift's compact protocol to read a Parquet page header.
//!
//! The parquet crate keeps its own reader private, and it trusts a page
//! header's sizes when it allocates and decompresses; the viewer reads each
//! header first (`pages`) to check those sizes against its limits.

/// Why bytes are not a page header.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Malformed(pub &'static str);

type Parsed<T> = std::result::Result<T, Malformed>;

/// Nesting deeper than this is refused (a page header nests three levels).
const MAX_DEPTH: u32 = 16;

// Compact protocol type codes.
const BOOL_TRUE: u8 = 1;
const BOOL_FALSE: u8 = 2;
const BYTE: u8 = 3;
const I16: u8 = 4;
const I32: u8 = 5;
const I64: u8 = 6;
const DOUBLE: u8 = 7;
const BINARY: u8 = 8;
const LIST: u8 = 9;
const SET: u8 = 10;
const MAP: u8 = 11;
const STRUCT: u8 = 12;

pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

/// One field of a struct: its id and compact type code.
pub(super) struct Field {
    pub id: i16,
    pub kind: u8,
}

impl<'a> Reader<'a> {
    pub fn new(bytes: &'a [u8]) -> Reader<'a> {
        Reader { bytes, at: 0 }
    }

    /// Bytes read so far.
    pub fn position(&self) -> usize {
        self.at
    }

    fn byte(&mut self) -> Parsed<u8> {
        let b = *self
            .bytes
            .get(self.at)
            .ok_or(Malformed("page header cut short"))?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Parsed<u64> {
        let mut value = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(Malformed("varint too long"))
    }

    fn zigzag(&mut self) -> Parsed<i64> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    /// The next field header of the current struct; `None` at its end.
    /// `last` is the previous field id (ids are sent as deltas).
    pub fn field(&mut self, last: &mut i16) -> Parsed<Option<Field>> {
        let head = self.byte()?;
        if head == 0 {
            return Ok(None);
        }
        let delta = i16::from(head >> 4);
        let id = if delta == 0 {
            i16::try_from(self.zigzag()?).map_err(|_| Malformed("field id out of range"))?
        } else {
            last.checked_add(delta)
                .ok_or(Malformed("field id out of range"))?
        };
        *last = id;
        Ok(Some(Field {
            id,
            kind: head & 0x0f,
        }))
    }

    /// An i32 field's value.
    pub fn i32(&mut self, field: &Field) -> Parsed<i32> {
        if field.kind != I32 {
            return Err(Malformed("expected an i32 field"));
        }
        i32::try_from(self.zigzag()?).map_err(|_| Malformed("i32 out of range"))
    }

    /// A bool field's value (carried in the field header).
    pub fn bool(&mut self, field: &Field) -> Parsed<bool> {
        match field.kind {
            BOOL_TRUE => Ok(true),
            BOOL_FALSE => Ok(false),
            _ => Err(Malformed("expected a bool field")),
        }
    }

    /// Skips a field's value.
    pub fn skip(&mut self, field: &Field) -> Parsed<()> {
        self.skip_value(field.kind, 0, true)
    }

    fn skip_value(&mut self, kind: u8, depth: u32, in_field: bool) -> Parsed<()> {
        if depth > MAX_DEPTH {
            return Err(Malformed("nested too deeply"));
        }
        match kind {
            // A bool field's value is in its header; a list's bools are bytes.
            BOOL_TRUE | BOOL_FALSE if in_field => Ok(()),
            BOOL_TRUE | BOOL_FALSE | BYTE => self.byte().map(drop),
            I16 | I32 | I64 => self.varint().map(drop),
            DOUBLE => self.take(8),
            BINARY => {
                let len = self.varint()?;
                self.take(len)
            }
            LIST | SET => {
                let head = self.byte()?;
                let size = match head >> 4 {
                    15 => self.varint()?,
                    n => u64::from(n),
                };
                for _ in 0..size {
                    self.skip_value(head & 0x0f, depth + 1, false)?;
                }
                Ok(())
            }
            MAP => {
                let size = self.varint()?;
                if size == 0 {
                    return Ok(());
                }
                let kinds = self.byte()?;
                for _ in 0..size {
                    self.skip_value(kinds >> 4, depth + 1, false)?;
                    self.skip_value(kinds & 0x0f, depth + 1, false)?;
                }
                Ok(())
            }
            STRUCT => {
                let mut last = 0;
                while let Some(field) = self.field(&mut last)? {
                    self.skip_value(field.kind, depth + 1, true)?;
                }
                Ok(())
            }
            _ => Err(Malformed("unknown thrift type")),
        }
    }

    fn take(&mut self, len: u64) -> Parsed<()> {
        let end = usize::try_from(len)
            .ok()
            .and_then(|len| self.at.checked_add(len))
            .filter(|&end| end <= self.bytes.len())
            .ok_or(Malformed("page header cut short"))?;
        self.at = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_and_skips_nested_values() {
        // struct { 1: i32 = -3, 2: binary "ab", 3: list<i32> [1, 2],
        //          4: struct { 1: bool true }, 20: i32 = 7 }
        let bytes = [
            0x15, 0x05, // field 1 (delta 1), i32, zigzag(-3) = 5
            0x18, 0x02, b'a', b'b', // field 2, binary of 2
            0x19, 0x25, 0x02, 0x04, // field 3, list of 2 i32
            0x1c, 0x11, 0x00, // field 4, struct { field 1 bool true }, stop
            0x05, 0x28, 0x0e, // field 20 by absolute id (zigzag 20 = 40), i32 7
            0x00,
        ];
        let mut r = Reader::new(&bytes);
        let mut last = 0;
        let f = r.field(&mut last).unwrap().unwrap();
        assert_eq!((f.id, r.i32(&f).unwrap()), (1, -3));
        for _ in 0..3 {
            let f = r.field(&mut last).unwrap().unwrap();
            r.skip(&f).unwrap();
        }
        let f = r.field(&mut last).unwrap().unwrap();
        assert_eq!((f.id, r.i32(&f).unwrap()), (20, 7));
        assert!(r.field(&mut last).unwrap().is_none());
        assert_eq!(r.position(), bytes.len());
    }

    #[test]
    fn cut_and_hostile_input_is_refused() {
        let mut last = 0;
        assert!(Reader::new(&[0x15]).field(&mut last).is_ok());
        let mut r = Reader::new(&[0x15]);
        let f = r.field(&mut last).unwrap().unwrap();
        assert!(r.i32(&f).is_err(), "value missing");
        // A binary claiming 2^60 bytes.
        let mut r = Reader::new(&[0x18, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10]);
        let f = r.field(&mut 0).unwrap().unwrap();
        assert!(r.skip(&f).is_err());
        // Structs nested past the limit.
        let deep = [0x1c; 64];
        let mut r = Reader::new(&deep);
        let f = r.field(&mut 0).unwrap().unwrap();
        assert_eq!(r.skip(&f), Err(Malformed("nested too deeply")));
    }
}
