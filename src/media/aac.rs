//! AAC configuration and framing, pure: the fields of an AudioSpecificConfig (ISO 14496-3
//! 1.6.2.1) that ADTS needs, and the 7-byte ADTS header (ISO 13818-7 6.2) that turns raw AAC
//! access units into a self-describing stream. Malformed input is an error, never a panic.

use bytes::{Bytes, BytesMut};

/// What an AudioSpecificConfig says, as far as ADTS needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Asc {
    pub object_type: u8,
    /// Index into the MPEG-4 sampling frequency table (`None`: an explicit frequency).
    pub frequency_index: Option<u8>,
    pub channels: u8,
}

impl Asc {
    /// Parses the first fields of an AudioSpecificConfig (ISO 14496-3 1.6.2.1).
    pub fn parse(data: &[u8]) -> Result<Self, String> {
        let mut bits = Bits { data, at: 0 };
        let mut object_type = bits.take(5)?;
        if object_type == 31 {
            object_type = 32 + bits.take(6)?;
        }
        let index = bits.take(4)?;
        let frequency_index = if index == 15 {
            bits.take(24)?;
            None
        } else {
            Some(index as u8)
        };
        let channels = bits.take(4)? as u8;
        Ok(Self {
            object_type: object_type as u8,
            frequency_index,
            channels,
        })
    }

    /// The 7-byte ADTS header writer for this config, if ADTS can describe it (AAC Main, LC,
    /// SSR or LTP; a tabled sampling frequency; a standard channel configuration).
    pub fn adts(&self) -> Result<Adts, String> {
        let index = self
            .frequency_index
            .filter(|i| *i < 13)
            .ok_or("an explicit sampling frequency")?;
        if !(1..=4).contains(&self.object_type) {
            return Err(format!("audio object type {}", self.object_type));
        }
        if !(1..=7).contains(&self.channels) {
            return Err(format!("channel configuration {}", self.channels));
        }
        Ok(Adts {
            profile: self.object_type - 1,
            frequency_index: index,
            channels: self.channels,
        })
    }
}

struct Bits<'a> {
    data: &'a [u8],
    at: usize,
}

impl Bits<'_> {
    fn take(&mut self, n: usize) -> Result<u32, String> {
        let mut v = 0u32;
        for _ in 0..n {
            let byte = self
                .data
                .get(self.at / 8)
                .ok_or("AudioSpecificConfig too short")?;
            v = (v << 1) | u32::from((byte >> (7 - self.at % 8)) & 1);
            self.at += 1;
        }
        Ok(v)
    }
}

/// Writes ADTS headers (MPEG-4, no CRC, one raw data block per frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Adts {
    profile: u8,
    frequency_index: u8,
    channels: u8,
}

impl Adts {
    /// `payload` with its ADTS header in front.
    pub fn frame(&self, payload: &[u8]) -> Result<Bytes, String> {
        let len = payload.len() + 7;
        if len >= 1 << 13 {
            return Err(format!(
                "AAC frame of {} bytes is too long for ADTS",
                payload.len()
            ));
        }
        let (p, f, c) = (self.profile, self.frequency_index, self.channels);
        let header = [
            0xFF,
            0xF1,
            (p << 6) | (f << 2) | (c >> 2),
            ((c & 3) << 6) | (len >> 11) as u8,
            (len >> 3) as u8,
            (((len & 7) as u8) << 5) | 0x1F,
            0xFC,
        ];
        let mut out = BytesMut::with_capacity(len);
        out.extend_from_slice(&header);
        out.extend_from_slice(payload);
        Ok(out.freeze())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asc_parses_and_makes_adts_headers() {
        // AAC-LC, 16 kHz (index 8), mono: 00010 1000 0001 000 = 0x14 0x08.
        let asc = Asc::parse(&[0x14, 0x08]).unwrap();
        assert_eq!(
            asc,
            Asc {
                object_type: 2,
                frequency_index: Some(8),
                channels: 1
            }
        );
        let frame = asc.adts().unwrap().frame(&[0xAB; 100]).unwrap();
        // 0xFFF sync, MPEG-4, no CRC; LC (profile 1), index 8, 1 channel, length 107.
        assert_eq!(&frame[..7], &[0xFF, 0xF1, 0x60, 0x40, 0x0D, 0x7F, 0xFC]);
        assert_eq!(frame.len(), 107);
        // HE-AAC (object type 5) and explicit frequencies cannot be described by ADTS.
        assert!(
            Asc::parse(&[0x2B, 0x8A, 0x08, 0x00])
                .unwrap()
                .adts()
                .is_err()
        );
        let explicit = Asc::parse(&[0x17, 0x80, 0x1F, 0x40, 0x08]).unwrap();
        assert_eq!(explicit.frequency_index, None);
        assert!(explicit.adts().is_err());
        assert!(Asc::parse(&[0x14]).is_err());
    }
}
